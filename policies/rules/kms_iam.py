"""KMS keys and IAM policies."""

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from .base import Resource, as_list, as_mapping, resource_rule

KEY = "aws:kms/key:Key"
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


def statements(document: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The Allow statements of a policy document (a JSON string or an object)."""
    for i, statement in enumerate(as_list(as_mapping(document).get("Statement"))):
        if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
            yield i, statement


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


def _wildcard(principal: Any) -> bool:
    if isinstance(principal, Mapping):
        return any("*" in as_list(v) for v in principal.values())
    return "*" in as_list(principal)


@resource_rule("kms-no-wildcard-principal", "KMS key policies must not allow any principal (*) without a condition.",
               [KEY], severity=Severity.CRITICAL, checkov="CKV_AWS_33")
def no_wildcard_principal(r: Resource) -> Iterator[str]:
    for i, statement in statements(r.get("policy")):
        if _wildcard(statement.get("Principal")) and not statement.get("Condition"):
            yield f"policy Statement[{i}] allows Principal * without a Condition"


def _allows(statement: Mapping[str, Any], action: str) -> bool:
    """Does the statement's Action list cover `action` (exactly, `*`, `service:*` or a `prefix*` wildcard)?"""
    return any(a == action or a in ("*", "kms:*") or (a.endswith("*") and action.startswith(a[:-1]))
               for a in as_list(statement.get("Action")) if isinstance(a, str))


# KMS API reference, CreateKey / PutKeyPolicy (BypassPolicyLockoutSafetyCheck): KMS refuses, with
# MalformedPolicyDocumentException, a policy that would not let the caller change it again. Who calls is not
# readable here; an IAM principal (the account root delegates to IAM) that may kms:PutKeyPolicy unconditionally is.
@resource_rule("kms-key-policy-manageable",
               "An explicit key policy must let an IAM principal change it (KMS's lockout safety check refuses it "
               "otherwise).", [KEY], deployability=True,
               source="KMS API reference, CreateKey / PutKeyPolicy")
def key_policy_manageable(r: Resource) -> Iterator[str]:
    if not r.present("policy"):
        return  # no policy: the default key policy lets the account administer the key
    if not any("AWS" in as_mapping(s.get("Principal")) and not s.get("Condition") and _allows(s, "kms:PutKeyPolicy")
               for _, s in statements(r.get("policy"))):
        yield ("no statement lets an IAM principal kms:PutKeyPolicy without a condition: KMS refuses a policy that "
               "locks its caller out")


@resource_rule("iam-no-wildcard-actions", "IAM policies must not allow every action (*).",
               [*POLICY_DOCUMENTS, ROLE], severity=Severity.CRITICAL, checkov="CKV_AWS_62, CKV_AWS_63, CKV_AWS_355")
def no_wildcard_actions(r: Resource) -> Iterator[str]:
    for where, document in documents(r):
        for i, statement in statements(document):
            if statement.get("NotAction") is not None:
                yield f"{where} Statement[{i}] allows NotAction, i.e. everything else"
            elif any(a in ("*", "*:*") for a in as_list(statement.get("Action"))):
                yield f"{where} Statement[{i}] allows Action *"


@resource_rule("iam-no-admin-policy", "No role, user or group may get an administrator managed policy.",
               [*ATTACHMENTS, ROLE], severity=Severity.CRITICAL, checkov="CKV_AWS_274",
               options={"forbiddenPolicyArns": {"type": "array", "items": {"type": "string"},
                                                "default": ADMIN_POLICIES}})
def no_admin_policy(r: Resource) -> Iterator[str]:
    arns = as_list(r.get("managedPolicyArns")) if r.type == ROLE else [r.get("policyArn")]
    for arn in arns:
        # Compare across partitions (aws, aws-us-gov, aws-cn).
        if isinstance(arn, str) and re.sub(r"^arn:aws[a-z-]*:", "arn:aws:", arn) in r.cfg["forbiddenPolicyArns"]:
            yield f"{arn} is attached"
