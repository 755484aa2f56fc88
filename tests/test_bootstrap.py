"""bootstrap/: the backend project (state bucket + KMS key), run under the same mocks as the main program."""

import fnmatch
import json

import pulumi
import pytest
import yaml

from envstack.tools.synth import ROOT, Synthesis, synthesize

BOOTSTRAP = ROOT / "bootstrap"
CONFIG = yaml.safe_load((BOOTSTRAP / "Pulumi.state.yaml").read_text())["config"]


@pytest.fixture(scope="module")
def backend() -> Synthesis:
    return synthesize("state", root=BOOTSTRAP)


def only(backend: Synthesis, kind: str) -> dict:
    return backend.one(f"aws:{kind}").inputs


def test_state_bucket_and_key_are_protected(backend):
    bucket = backend.one("aws:s3/bucket:Bucket")
    key = backend.one("aws:kms/key:Key")
    assert bucket.protect and key.protect
    assert bucket.inputs["bucket"] == CONFIG["envstack-bootstrap:bucketName"]


def test_key_rotates_and_has_the_configured_alias(backend):
    assert only(backend, "kms/key:Key")["enableKeyRotation"] is True
    assert only(backend, "kms/alias:Alias")["name"] == CONFIG["envstack-bootstrap:keyAlias"]


def test_bucket_is_versioned_kms_encrypted_and_private(backend):
    bucket_urn = backend.one("aws:s3/bucket:Bucket").urn
    settings = [r for r in backend.resources if r.parent == bucket_urn]
    assert {r.type.rsplit(":", 1)[-1] for r in settings} >= {
        "BucketVersioning", "BucketServerSideEncryptionConfiguration", "BucketPublicAccessBlock", "BucketPolicy",
        "BucketOwnershipControls"}
    assert only(backend, "s3/bucketVersioning:BucketVersioning")["versioningConfiguration"]["status"] == "Enabled"
    rule = only(backend, "s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[
        "rules"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": backend.outputs["kmsKeyArn"]}
    block = only(backend, "s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(block[k] is True for k in (
        "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))


def test_bucket_policy_refuses_requests_without_tls(backend):
    statement, = json.loads(only(backend, "s3/bucketPolicy:BucketPolicy")["policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    bucket_arn = statement["Resource"][0]
    assert statement["Resource"] == [bucket_arn, f"{bucket_arn}/*"]


def test_outputs_are_the_login_and_secrets_provider_strings(backend):
    region, bucket, alias = (CONFIG[k] for k in (
        "aws:region", "envstack-bootstrap:bucketName", "envstack-bootstrap:keyAlias"))
    assert backend.outputs["backendUrl"] == f"s3://{bucket}?region={region}"
    assert backend.outputs["secretsProvider"] == f"awskms://{alias}?region={region}"
    assert backend.outputs["loginCommand"] == f"pulumi login 's3://{bucket}?region={region}'"
    assert f"--secrets-provider 'awskms://{alias}?region={region}'" in backend.outputs["stackInitCommand"]


def test_missing_bucket_name_is_refused(tmp_path):
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).write_text((BOOTSTRAP / name).read_text())
    (tmp_path / "Pulumi.state.yaml").write_text("config:\n  aws:region: us-west-2\n")
    with pytest.raises(pulumi.ConfigMissingError, match="envstack-bootstrap:bucketName"):
        synthesize("state", root=tmp_path)


# --- one prefix and one secrets key per environment ------------------------------------------------------------------

ACCOUNT = "arn:aws:iam::123456789012:role"
ROLES = {"dev": {"deployRoleArns": [f"{ACCOUNT}/envstack-dev-deployer"],
                 "previewRoleArns": [f"{ACCOUNT}/envstack-dev-preview"]},
         "prod": {"deployRoleArns": ["arn:aws:iam::111111111111:role/envstack-prod-deployer"],
                  "previewRoleArns": ["arn:aws:iam::111111111111:role/envstack-prod-preview"]},
         "review": {"deployRoleArns": [f"{ACCOUNT}/envstack-review"]}}
ADMIN = f"{ACCOUNT}/platform-admin"


@pytest.fixture(scope="module")
def per_environment(tmp_path_factory) -> Synthesis:
    root = tmp_path_factory.mktemp("bootstrap")
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((BOOTSTRAP / name).read_text())
    config = {**CONFIG, "envstack-bootstrap:environments": ROLES, "envstack-bootstrap:adminRoleArns": [ADMIN]}
    (root / "Pulumi.state.yaml").write_text(yaml.safe_dump({"config": config}))
    return synthesize("state", root=root)


def matches(pattern: str | list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in ([pattern] if isinstance(pattern, str) else pattern))


def denied(policy: dict, principal: str, action: str, resource: str, prefix: str | None = None) -> bool:
    """Whether an explicit Deny of `policy` applies (the Deny statements use only the conditions below)."""
    for statement in policy["Statement"]:
        if statement["Effect"] != "Deny" or not matches(statement["Action"], action):
            continue
        if "Resource" in statement and not matches(statement["Resource"], resource):
            continue
        if "NotResource" in statement and matches(statement["NotResource"], resource):
            continue
        condition = statement.get("Condition", {})
        if "Bool" in condition:
            continue  # aws:SecureTransport: every request here comes over TLS
        if "ArnNotLike" in condition and matches(condition["ArnNotLike"]["aws:PrincipalArn"], principal):
            continue
        if "ArnLike" in condition and not matches(condition["ArnLike"]["aws:PrincipalArn"], principal):
            continue
        if "StringLike" in condition and not (prefix and matches(condition["StringLike"]["s3:prefix"], prefix)):
            continue
        return True
    return False


def bucket_policy(s: Synthesis) -> tuple[dict, str]:
    policy = json.loads(only(s, "s3/bucketPolicy:BucketPolicy")["policy"])
    return policy, policy["Statement"][0]["Resource"][0]


@pytest.mark.parametrize(("principal", "action", "key", "is_denied"), [
    (ROLES["review"]["deployRoleArns"][0], "s3:PutObject", "review/.pulumi/stacks/envstack/pr-7.json", False),
    (ROLES["review"]["deployRoleArns"][0], "s3:PutObject", "dev/.pulumi/stacks/envstack/dev.json", True),
    (ROLES["review"]["deployRoleArns"][0], "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", True),
    (ROLES["dev"]["deployRoleArns"][0], "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", True),
    (ROLES["dev"]["deployRoleArns"][0], "s3:PutObject", "review/.pulumi/stacks/envstack/pr-7.json", True),
    (ROLES["prod"]["deployRoleArns"][0], "s3:PutObject", "prod/.pulumi/stacks/envstack/prod-eu.json", False),
    (ROLES["prod"]["previewRoleArns"][0], "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", False),
    (ROLES["prod"]["previewRoleArns"][0], "s3:PutObject", "prod/.pulumi/locks/organization/envstack/prod/1.json",
     False),
    (ROLES["prod"]["previewRoleArns"][0], "s3:PutObject", "prod/.pulumi/stacks/envstack/prod.json", True),
    (ROLES["prod"]["previewRoleArns"][0], "s3:DeleteObject", "prod/.pulumi/history/envstack/prod/x.json", True),
    (ADMIN, "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", False),
])
def test_each_environment_reaches_only_its_own_prefix(per_environment, principal, action, key, is_denied):
    policy, bucket_arn = bucket_policy(per_environment)
    assert denied(policy, principal, action, f"{bucket_arn}/{key}") is is_denied


def test_listing_another_environments_stacks_is_denied(per_environment):
    policy, bucket_arn = bucket_policy(per_environment)
    review = ROLES["review"]["deployRoleArns"][0]
    assert denied(policy, review, "s3:ListBucket", bucket_arn, prefix="prod/.pulumi/stacks/")
    assert not denied(policy, review, "s3:ListBucket", bucket_arn, prefix="review/.pulumi/stacks/")


def test_each_environment_has_its_own_secrets_key_only_its_roles_use(per_environment):
    keys = {r.name: r for r in per_environment.of_type("aws:kms/key:Key")}
    assert set(keys) == {"backend-key", "secrets-dev", "secrets-prod", "secrets-review"}
    assert all(k.protect and k.inputs["enableKeyRotation"] for k in keys.values())
    aliases = {r.inputs["name"] for r in per_environment.of_type("aws:kms/alias:Alias")}
    assert {"alias/envstack-dev", "alias/envstack-prod", "alias/envstack-review"} <= aliases
    prod = json.loads(keys["secrets-prod"].inputs["policy"])
    for principal, is_denied in [(ROLES["prod"]["previewRoleArns"][0], False), (ROLES["prod"]["deployRoleArns"][0],
                                 False), (ROLES["dev"]["previewRoleArns"][0], True),
                                 (ROLES["review"]["deployRoleArns"][0], True), (ADMIN, False)]:
        assert denied(prod, principal, "kms:Decrypt", "*") is is_denied, principal
    assert not denied(prod, ROLES["dev"]["previewRoleArns"][0], "kms:PutKeyPolicy", "*")  # administration stays
    assert per_environment.outputs["secretsProviders"]["prod"] == "awskms://alias/envstack-prod?region=us-west-2"
    assert per_environment.outputs["backendUrls"]["review"] == (
        f"s3://{CONFIG['envstack-bootstrap:bucketName']}/review?region=us-west-2")


def test_an_environment_without_a_deploy_role_is_refused(tmp_path):
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).write_text((BOOTSTRAP / name).read_text())
    config = {**CONFIG, "envstack-bootstrap:environments": {"prod": {"previewRoleArns": [ADMIN]}}}
    (tmp_path / "Pulumi.state.yaml").write_text(yaml.safe_dump({"config": config}))
    with pytest.raises(Exception, match=r"environments.prod.deployRoleArns = None: expected at least one IAM role"):
        synthesize("state", root=tmp_path)
