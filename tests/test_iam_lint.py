"""Every IAM document the program and bootstrap write passes parliament (duo-labs' IAM linter, with its offline copy
of AWS's Service Authorization Reference: actions, resource ARN formats, condition keys and their types): trust,
inline, managed, key, bucket, topic and log resource policies, from the synthesis of every committed stack and of
bootstrap. What parliament cannot know is excused below, each with its reason; anything else fails the test."""

import json
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import yaml
from conftest import STACKS, synth

from envstack.tools.synth import ROOT, Synthesis, synthesize

with warnings.catch_warnings():  # parliament imports pkg_resources, deprecated by setuptools
    warnings.simplefilter("ignore")
    from parliament import analyze_policy_string

POLICY_INPUTS = ("assumeRolePolicy", "policy", "policyDocument")  # the inputs that hold an IAM document
KEY = "aws:kms/key:Key"


@dataclass(frozen=True)
class Document:
    where: str  # "<stack> <type> <name>.<input>"
    type: str
    input: str
    text: str


@dataclass(frozen=True)
class Excuse:
    issue: str
    applies: Callable[[Document, str], bool]  # (document, finding detail)
    reason: str


EXCUSES = (
    Excuse("MALFORMED", lambda d, detail: d.input == "assumeRolePolicy" and "neither Resource" in detail,
               "a trust policy has no Resource: the role is its resource (IAM guide, 'Role trust policies')"),
    Excuse("UNKNOWN_FEDERATION_SOURCE",
           lambda d, detail: bool(re.match(r"arn:aws[\w-]*:iam::\d{12}:oidc-provider/", detail)),
               "an IAM OIDC provider of the account (EKS's for IRSA, GitHub's for CI): parliament knows only the "
               "built-in web identity federation sources"),
    Excuse("INVALID_ARN", lambda d, detail: "Account expected" in detail and ":iam::aws:policy/" in d.text,
               "AWS managed policies' ARNs name the account 'aws' (arn:aws:iam::aws:policy/...; IAM guide, 'IAM "
               "identifiers'): the deploy role reads the managed policies it attaches"),
    Excuse("RESOURCE_STAR", lambda d, detail: d.type == KEY,
               "in a key policy Resource '*' is the key itself (KMS guide, 'Key policies in AWS KMS')"),
    Excuse("MISMATCHED_TYPE",
           lambda d, detail: d.type == KEY and "ArnEquals requires a value of type Arn" in detail,
               "ArnEquals on kms:EncryptionContext:aws:logs:arn, as the CloudWatch Logs guide prescribes ('Encrypt "
               "log data in CloudWatch Logs using AWS KMS'); parliament types encryption-context keys as String"),
    Excuse("UNKNOWN_CONDITION_FOR_ACTION",
               lambda d, detail: d.type == KEY and "kms:EncryptionContext:aws:logs:arn" in detail,
               "the CloudWatch Logs guide's key policy grants kms:Describe* under the same encryption-context "
               "condition (the service calls DescribeKey with it)"),
    Excuse("UNKNOWN_CONDITION_FOR_ACTION",
           lambda d, detail: "AWS:SourceOwner" in detail and "sns:Publish" in detail,
               "ElastiCache signs its event notifications with AWS:SourceOwner only (ElastiCache guide, 'Event "
               "notifications and Amazon SNS'; components/alerts.py)"),
)


def documents(synthesis: Synthesis, label: str) -> Iterator[Document]:
    for record in synthesis.resources:
        for key in POLICY_INPUTS:
            value = record.inputs.get(key)
            if isinstance(value, str) and value.lstrip().startswith("{") and '"Statement"' in value:
                yield Document(f"{label} {record.type} {record.name}.{key}", record.type, key, value)


def findings(document: Document) -> list[tuple[str, str]]:
    """(issue, detail) of every finding no exception covers."""
    found = analyze_policy_string(document.text, include_community_auditors=False).findings
    return [(f.issue, str(f.detail)) for f in found
            if not any(e.issue == f.issue and e.applies(document, str(f.detail)) for e in EXCUSES)]


def unexcused(synthesis: Synthesis, label: str) -> list[str]:
    checked = list(documents(synthesis, label))
    assert checked, label
    return [f"{d.where}: {issue} {detail}" for d in checked for issue, detail in findings(d)]


@pytest.mark.parametrize("stack", STACKS)
def test_every_iam_document_of_the_program_passes_the_linter(stack):
    synthesis = synth(stack)
    kinds = {d.type for d in documents(synthesis, stack)}
    assert {"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", KEY} <= kinds  # trust, inline and key policies
    assert unexcused(synthesis, stack) == []


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory) -> Synthesis:
    """The committed bootstrap stack, plus an environment in another account (its provider and policies)."""
    root = tmp_path_factory.mktemp("bootstrap")
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((ROOT / "bootstrap" / name).read_text())
    config = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.state.yaml").read_text())["config"]
    config["envstack-bootstrap:environments"] = {**config["envstack-bootstrap:environments"],
                                                 "prod": {"account": "111111111111"}}
    config["envstack-bootstrap:accounts"] = {"111111111111": {"roleArn": "arn:aws:iam::111111111111:role/admin"}}
    (root / "Pulumi.state.yaml").write_text(yaml.safe_dump({"config": config}))
    return synthesize("state", root=root)


def test_every_iam_document_of_bootstrap_passes_the_linter(bootstrap):
    kinds = {d.type for d in documents(bootstrap, "bootstrap")}
    assert {"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", KEY,
            "aws:s3/bucketPolicy:BucketPolicy"} <= kinds
    assert unexcused(bootstrap, "bootstrap") == []


@pytest.mark.parametrize(("statement", "issue"), [
    ({"Effect": "Allow", "Action": "s3:PutObjectLockConfiguration", "Resource": "arn:aws:s3:::b"}, "UNKNOWN_ACTION"),
    ({"Effect": "Allow", "Action": "logs:DescribeLogGroups",
      "Resource": "arn:aws:logs:us-west-2:123456789012:log-group:*"},
     "RESOURCE_MISMATCH"),
    ({"Effect": "Allow", "Action": "iam:CreateRole", "Resource": "*",
      "Condition": {"StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::123456789012:policy/b"}}},
     "MISMATCHED_TYPE_BUT_USABLE"),
    ({"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": "x"},
      "Resource": "*"}, "RESOURCE_STAR"),
])
def test_the_linter_refuses_what_aws_would_not_grant_and_the_exceptions_are_narrow(statement, issue):
    """What parliament found in envstack's own documents before they were fixed, and that an exception stays
    specific: the same finding on an identity policy is not excused."""
    document = Document("test", "aws:iam/rolePolicy:RolePolicy", "policy",
                        json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    assert issue in {found for found, _ in findings(document)}
