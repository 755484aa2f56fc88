"""Reading IAM policy documents (identity policies, key policies, topic and bucket policies), JSON or objects.

Condition keys and actions are case-insensitive in IAM (IAM User Guide, "IAM JSON policy elements: Condition":
condition key names are not case-sensitive; "Action": action names are not case-sensitive).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from .base import as_list, as_mapping

# Condition keys that tie the caller of a wildcard principal to an account or an organisation: a principal of the
# account (aws:PrincipalAccount, KMS's kms:CallerAccount) or of the organisation (aws:PrincipalOrgID,
# aws:PrincipalOrgPaths).
CALLER_KEYS = frozenset({"aws:principalaccount", "kms:calleraccount", "aws:principalorgid", "aws:principalorgpaths"})
# For a service publishing on behalf of a resource (SNS topic policies): the resource's owner too (aws:SourceAccount,
# and aws:SourceOwner, which ElastiCache and a few older services set).
SOURCE_KEYS = CALLER_KEYS | {"aws:sourceaccount", "aws:sourceowner"}
# Operators that require the key to match (not to differ); `...IfExists` passes when the key is absent, and so does
# `ForAllValues:...` (IAM User Guide, "Set operators for multivalued context keys": ForAllValues returns true when
# the key is missing or empty, e.g. aws:PrincipalOrgID for a principal outside any organisation).
MATCHING = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "foranyvalue:stringequals",
                      "foranyvalue:stringlike"})
ORG_PATHS = "aws:principalorgpaths"


def statements(document: Any, effect: str = "Allow") -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The statements of a policy document (a JSON string or an object) with this effect, by index."""
    for i, statement in enumerate(as_list(as_mapping(document).get("Statement"))):
        if isinstance(statement, Mapping) and statement.get("Effect") == effect:
            yield i, statement


def actions(statement: Mapping[str, Any]) -> list[str]:
    return [a.lower() for a in as_list(statement.get("Action")) if isinstance(a, str)]


def wildcard_principal(principal: Any) -> bool:
    """`"Principal": "*"` or `{"AWS": "*"}` (any principal of any account)."""
    if isinstance(principal, Mapping):
        return any("*" in as_list(v) for v in principal.values())
    return "*" in as_list(principal)


def admits_anyone(statement: Mapping[str, Any]) -> bool:
    """Does an Allow statement admit any principal: `Principal: "*"` / `{"AWS": "*"}`, or `NotPrincipal` (everyone but
    those named)?"""
    return wildcard_principal(statement.get("Principal")) or statement.get("NotPrincipal") is not None


def limits_to_account(condition: Any, keys: frozenset[str] = CALLER_KEYS) -> bool:
    """Does the Condition block require the caller (with SOURCE_KEYS: or the resource a service acts for) to belong
    to named accounts or organisations: a matching operator on one of `keys` with values that are not wildcards?"""
    for operator, tests in as_mapping(condition).items():
        if str(operator).lower() not in MATCHING:
            continue
        for key, values in as_mapping(tests).items():
            named = [str(v) for v in as_list(values)]
            if str(key).lower() in keys and named and all(_names(str(key).lower(), v) for v in named):
                return True
    return False


def _names(key: str, value: str) -> bool:
    """Does this condition value name particular accounts or organisations? Not a policy variable
    (`${aws:PrincipalAccount}` matches every caller), nor a pattern (`*`, `1234*`: StringLike matches many); an
    organisation path may end in a pattern once its organisation id is written out (`o-a1b2c3d4e5/*`)."""
    if "${" in value:
        return False
    literal = value.split("*")[0].split("?")[0]
    return literal == value or (key == ORG_PATHS and "/" in literal and literal.startswith("o-"))
