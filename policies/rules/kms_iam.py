"""KMS keys and IAM policies."""

import re
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import Severity

from .base import Resource, as_list, as_mapping, resource_rule
from .documents import actions, admits_anyone, limits_to_account, statements

KEY = "aws:kms/key:Key"
# A key policy set apart from its key (aws.kms.KeyPolicy: PutKeyPolicy on an existing key), judged as the key's own.
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
POLICY_DOCUMENTS = {  # type -> prop holding a JSON policy document
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ROLE = "aws:iam/role:Role"
ATTACHMENTS = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/userPolicyAttachment:UserPolicyAttachment",
               "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment")
ADMIN_POLICIES = ["arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess",
                  "arn:aws:iam::aws:policy/IAMFullAccess"]


def documents(r: Resource) -> Iterator[tuple[str, Any]]:
    if r.type == ROLE:
        for i, inline in enumerate(as_list(r.get("inlinePolicies"))):
            yield f"inlinePolicies[{i}]", inline.get("policy")
    else:
        yield POLICY_DOCUMENTS[r.type], r.get(POLICY_DOCUMENTS[r.type])


@resource_rule("kms-key-rotation", "Symmetric customer-managed KMS keys must rotate.", [KEY], severity=Severity.MEDIUM,
               checkov="CKV_AWS_7")
def key_rotation(r: Resource) -> Iterator[str]:
    symmetric = r.get("customerMasterKeySpec", default="SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    if symmetric and not r.true("enableKeyRotation"):
        yield "enableKeyRotation is not true"


@resource_rule("kms-no-wildcard-principal",
               "KMS key policies must not allow any principal (*) unless a condition limits the caller to named "
               "accounts or organisations (aws:PrincipalAccount, kms:CallerAccount, aws:PrincipalOrgID, ...).",
               [KEY, KEY_POLICY], severity=Severity.CRITICAL, checkov="CKV_AWS_33")
def no_wildcard_principal(r: Resource) -> Iterator[str]:
    for i, statement in statements(r.get("policy")):
        if admits_anyone(statement) and not limits_to_account(statement.get("Condition")):
            yield (f"policy Statement[{i}] allows Principal * without a condition naming the caller's account or "
                   "organisation (aws:PrincipalAccount, kms:CallerAccount, aws:PrincipalOrgID)")


@resource_rule("iam-role-trust-not-public",
               "A role's trust policy must not let any principal (*, or NotPrincipal) assume it unless a condition "
               "limits the caller to named accounts or organisations (aws:PrincipalAccount, aws:PrincipalOrgID, ...).",
               [ROLE], severity=Severity.CRITICAL, checkov="CKV_AWS_60")
def trust_not_public(r: Resource) -> Iterator[str]:
    for i, statement in statements(r.get("assumeRolePolicy")):
        if admits_anyone(statement) and not limits_to_account(statement.get("Condition")):
            yield (f"assumeRolePolicy Statement[{i}] lets any principal of any account assume the role, without a "
                   "condition naming the caller's account or organisation (aws:PrincipalAccount, aws:PrincipalOrgID)")


def _allows(statement: Mapping[str, Any], action: str) -> bool:
    """Does the statement's Action list cover `action` (IAM's wildcards * and ?, case-insensitive)?"""
    return any(fnmatchcase(action.lower(), a) for a in actions(statement))


# KMS API reference, CreateKey / PutKeyPolicy (BypassPolicyLockoutSafetyCheck): KMS refuses, with
# MalformedPolicyDocumentException, a policy that would not let the caller change it again. Who calls is not
# readable here; an IAM principal (the account root delegates to IAM) that may kms:PutKeyPolicy unconditionally is.
@resource_rule("kms-key-policy-manageable",
               "An explicit key policy must let an IAM principal change it (KMS's lockout safety check refuses it "
               "otherwise).", [KEY, KEY_POLICY], deployability=True,
               source="KMS API reference, CreateKey / PutKeyPolicy")
def key_policy_manageable(r: Resource) -> Iterator[str]:
    if not r.present("policy") or r.true("bypassPolicyLockoutSafetyCheck"):
        return  # no policy: the default lets the account administer the key; a bypass: KMS accepts it
    if not any("AWS" in as_mapping(s.get("Principal")) and not s.get("Condition") and _allows(s, "kms:PutKeyPolicy")
               for _, s in statements(r.get("policy"))):
        yield ("no statement lets an IAM principal kms:PutKeyPolicy without a condition: KMS refuses a policy that "
               "locks its caller out")


# KMS API reference, PutKeyPolicy (BypassPolicyLockoutSafetyCheck): KMS accepts the policy unchecked.
@resource_rule("kms-no-lockout-bypass",
               "KMS keys and key policies must not bypass KMS's lockout safety check: a policy that locks out its "
               "caller leaves a key only AWS Support can recover.", [KEY, KEY_POLICY], severity=Severity.HIGH)
def no_lockout_bypass(r: Resource) -> Iterator[str]:
    if r.true("bypassPolicyLockoutSafetyCheck"):
        yield "bypassPolicyLockoutSafetyCheck is true: AWS's check that the key stays manageable is skipped"


def _service_wide(action: str) -> bool:
    """`*`, `*:*`, `s3:*`, `kms:*`, `*:Get*`: a wildcard standing for every action of a service (or of all)."""
    service, _, name = action.partition(":")
    return not name or set(service) & {"*", "?"} != set() or set(name) <= {"*", "?"}


def _any_role(resource: Any) -> bool:
    """`*`, or an ARN pattern naming no role in particular (`arn:aws:iam::123456789012:role/*`, `...:*`)."""
    text = str(resource)
    if text == "*":
        return True
    parts = text.split(":", 5)
    name = parts[5] if len(parts) == 6 else ""
    return len(parts) == 6 and fnmatchcase("iam", parts[2].lower()) and set(name.removeprefix("role/")) <= set("*?/")


def _passes_any_role(statement: Mapping[str, Any]) -> bool:
    """iam:PassRole (or a wildcard covering it) on any role: Resource "*", `role/*` of an account, or NotResource
    (every role but some): any role to any service, the escalation path."""
    return any(fnmatchcase("iam:passrole", a) for a in actions(statement)) and (
        statement.get("NotResource") is not None or any(_any_role(r) for r in as_list(statement.get("Resource"))))


@resource_rule("iam-no-wildcard-actions",
               "IAM policies must not allow every action (*), every action of a service (s3:*, kms:*), everything "
               "but some (NotAction), or iam:PassRole on any role (Resource *, role/*, NotResource).",
               [*POLICY_DOCUMENTS, ROLE], severity=Severity.CRITICAL, checkov="CKV_AWS_62, CKV_AWS_63")
def no_wildcard_actions(r: Resource) -> Iterator[str]:
    for where, document in documents(r):
        for i, statement in statements(document):
            if statement.get("NotAction") is not None:
                yield f"{where} Statement[{i}] allows NotAction, i.e. everything else"
            if wide := [a for a in as_list(statement.get("Action")) if isinstance(a, str) and _service_wide(a)]:
                yield f"{where} Statement[{i}] allows Action {', '.join(wide)}: every action of the service"
            if _passes_any_role(statement):
                yield (f"{where} Statement[{i}] allows iam:PassRole on Resource * (or every role of an account): "
                       "any role could be handed to any service; name the roles")


# AWS names the managed policies that grant every action of a service `...FullAccess` (AmazonS3FullAccess: s3:*,
# AWSLambda_FullAccess, CloudWatchFullAccessV2): attaching one is the `s3:*` iam-no-wildcard-actions refuses in a
# document, out of sight of the pack (it cannot read a managed policy's text offline).
FULL_ACCESS = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(.+/)?[^/]*FullAccess(V\d+)?$")


@resource_rule("iam-no-admin-policy",
               "No role, user or group may get an administrator managed policy, nor an AWS managed *FullAccess policy "
               "(every action of a service).",
               [*ATTACHMENTS, ROLE], severity=Severity.CRITICAL, checkov="CKV_AWS_274",
               options={"forbiddenPolicyArns": {"type": "array", "items": {"type": "string"},
                                                "default": ADMIN_POLICIES}})
def no_admin_policy(r: Resource) -> Iterator[str]:
    arns = as_list(r.get("managedPolicyArns")) if r.type == ROLE else [r.get("policyArn")]
    for arn in arns:
        # Compare across partitions (aws, aws-us-gov, aws-cn).
        if isinstance(arn, str) and re.sub(r"^arn:aws[a-z-]*:", "arn:aws:", arn) in r.cfg["forbiddenPolicyArns"]:
            yield f"{arn} is attached"
        elif isinstance(arn, str) and FULL_ACCESS.match(arn):
            yield (f"{arn} is attached: an AWS managed *FullAccess policy allows every action of its service (as "
                   "s3:* would); attach a policy that names the actions")
