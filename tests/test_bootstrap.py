"""bootstrap/: the backend project (state bucket + KMS key), run under the same mocks as the main program."""

import json

import pulumi
import pytest
import yaml

from envstack.synth import ROOT, Synthesis, synthesize

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
