"""envstack's Pulumi backend: an S3 bucket for state and a KMS key for state encryption and stack secrets.

    KMS key (rotation on) <- alias         used as `--secrets-provider awskms://<alias>`
    S3 bucket: versioned, SSE-KMS with that key, public access blocked, owner-enforced, TLS-only policy
      -> `pulumi login s3://<bucket>`

Both are protected: losing either loses every stack's state or secrets.

With `envstack-bootstrap:environments` (dev, staging, prod, review: each with its deployRoleArns and
previewRoleArns), each environment gets a prefix of the bucket (`s3://<bucket>/<env>`, the diy backend opens a
prefixed bucket for a URL path, pulumi/pulumi pkg/backend/diy/backend.go) and a secrets key of its own
(`alias/envstack-<env>`). The bucket policy denies every other principal the prefix's objects and listing, and
denies the preview roles any write but the stack locks (`pulumi refresh` takes one); each key's policy denies its
use to any principal but the environment's roles. Explicit denies hold even against a role with broad IAM
permissions in the same account (a dev deploy role, a review role). `adminRoleArns` are exempt (break glass, and
whoever runs `pulumi stack init` by hand).
"""

import json

import pulumi
import pulumi_aws as aws

config = pulumi.Config("envstack-bootstrap")
bucket_name = config.require("bucketName")
key_alias = config.get("keyAlias") or "alias/envstack-pulumi"
noncurrent_days = config.get_int("noncurrentVersionDays") or 90
region = pulumi.Config("aws").require("region")
environments: dict[str, dict[str, list[str]]] = config.get_object("environments") or {}
admin_role_arns: list[str] = config.get_object("adminRoleArns") or []
CRYPTO = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
OBJECTS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
for name, settings in environments.items():
    if not settings.get("deployRoleArns"):
        raise ValueError(f"envstack-bootstrap:environments.{name}.deployRoleArns = {settings.get('deployRoleArns')!r}:"
                         f" expected at least one IAM role ARN (the role that deploys the {name} stacks)")
tags = {"Project": "envstack", "ManagedBy": "pulumi", "Purpose": "pulumi-backend"}
keep = pulumi.ResourceOptions(protect=True)


def roles(environment: str) -> tuple[list[str], list[str]]:
    settings = environments[environment]
    return list(settings.get("deployRoleArns", [])), list(settings.get("previewRoleArns", []))


def prefix_statements(bucket_arn: str, environment: str) -> list[dict]:
    """Only the environment's roles (and the admins) reach `<env>/`; its preview roles write only its locks."""
    deploy, preview = roles(environment)
    prefix, members = f"{bucket_arn}/{environment}", deploy + preview
    others = {"ArnNotLike": {"aws:PrincipalArn": members + admin_role_arns}}
    allow = [{"Sid": f"{environment}Read", "Effect": "Allow", "Principal": {"AWS": members},
              "Action": "s3:GetObject", "Resource": f"{prefix}/*"},
             {"Sid": f"{environment}List", "Effect": "Allow", "Principal": {"AWS": members}, "Action": "s3:ListBucket",
              "Resource": bucket_arn, "Condition": {"StringLike": {"s3:prefix": f"{environment}/*"}}}]
    if deploy:
        allow.append({"Sid": f"{environment}Write", "Effect": "Allow", "Principal": {"AWS": deploy},
                      "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": f"{prefix}/*"})
    if preview:
        allow.append({"Sid": f"{environment}PreviewLocks", "Effect": "Allow", "Principal": {"AWS": preview},
                      "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": f"{prefix}/.pulumi/locks/*"})
        allow.append({"Sid": f"{environment}PreviewWritesLocksOnly", "Effect": "Deny", "Principal": "*",
                      "Action": ["s3:PutObject", "s3:DeleteObject"], "NotResource": f"{prefix}/.pulumi/locks/*",
                      "Condition": {"ArnLike": {"aws:PrincipalArn": preview}}})
    return [
        *allow,
        {"Sid": f"{environment}OthersDenied", "Effect": "Deny", "Principal": "*", "Action": OBJECTS,
         "Resource": f"{prefix}/*", "Condition": others},
        {"Sid": f"{environment}OthersDeniedListing", "Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket",
         "Resource": bucket_arn, "Condition": {**others, "StringLike": {"s3:prefix": f"{environment}/*"}}}]


def bucket_policy(bucket_arn: str) -> str:
    """Refuse every request that does not come over TLS (state holds resource IDs and encrypted secrets); keep each
    environment to its prefix."""
    tls = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
           "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    prefixes = [s for environment in environments for s in prefix_statements(bucket_arn, environment)]
    return json.dumps({"Version": "2012-10-17", "Statement": [tls, *prefixes]})


def secrets_key_policy(account_id: str, environment: str) -> str:
    """The account administers the key; only the environment's roles (and the admins) encrypt and decrypt."""
    members = [arn for arns in roles(environment) for arn in arns]
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "EnvironmentUses", "Effect": "Allow", "Principal": {"AWS": members}, "Action": CRYPTO,
         "Resource": "*"},
        {"Sid": "OthersDenied", "Effect": "Deny", "Principal": "*", "Action": CRYPTO, "Resource": "*",
         "Condition": {"ArnNotLike": {"aws:PrincipalArn": members + admin_role_arns}}}]})


key = aws.kms.Key("backend-key", description="envstack: Pulumi state bucket encryption and stack secrets",
                  enable_key_rotation=True, deletion_window_in_days=30, tags=tags, opts=keep)
alias = aws.kms.Alias("backend-key-alias", name=key_alias, target_key_id=key.key_id)

bucket = aws.s3.Bucket("state", bucket=bucket_name, tags=tags, opts=keep)
of_bucket = pulumi.ResourceOptions(parent=bucket)
aws.s3.BucketOwnershipControls("state-ownership", bucket=bucket.id,
                               rule={"object_ownership": "BucketOwnerEnforced"}, opts=of_bucket)
public_access = aws.s3.BucketPublicAccessBlock(
    "state-public-access", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
    ignore_public_acls=True, restrict_public_buckets=True, opts=of_bucket)
aws.s3.BucketVersioning("state-versioning", bucket=bucket.id,
                        versioning_configuration={"status": "Enabled"}, opts=of_bucket)
aws.s3.BucketServerSideEncryptionConfiguration(
    "state-encryption", bucket=bucket.id,
    rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
            "bucket_key_enabled": True}],
    opts=of_bucket)
aws.s3.BucketLifecycleConfiguration(
    "state-history", bucket=bucket.id,
    rules=[{"id": "expire-old-state-versions", "status": "Enabled", "filter": {"prefix": ""},
            "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}],
    opts=of_bucket)
aws.s3.BucketPolicy("state-tls-only", bucket=bucket.id, policy=bucket.arn.apply(bucket_policy),
                    opts=pulumi.ResourceOptions(parent=bucket, depends_on=[public_access]))

account_id = aws.get_caller_identity().account_id
for environment in environments:
    env_key = aws.kms.Key(f"secrets-{environment}", description=f"envstack: secrets of the {environment} stacks",
                          enable_key_rotation=True, deletion_window_in_days=30,
                          policy=secrets_key_policy(account_id, environment), tags=tags, opts=keep)
    aws.kms.Alias(f"secrets-{environment}-alias", name=f"alias/envstack-{environment}", target_key_id=env_key.key_id)

# Plain strings from the configuration, so they show in the very first preview.
backend_url = f"s3://{bucket_name}?region={region}"
secrets_provider = f"awskms://{key_alias}?region={region}"
pulumi.export("backendUrl", backend_url)
pulumi.export("secretsProvider", secrets_provider)
pulumi.export("loginCommand", f"pulumi login '{backend_url}'")
pulumi.export("stackInitCommand", f"pulumi stack init <stack> --secrets-provider '{secrets_provider}'")
pulumi.export("kmsKeyArn", key.arn)
pulumi.export("backendUrls", {e: f"s3://{bucket_name}/{e}?region={region}" for e in environments})
pulumi.export("secretsProviders", {e: f"awskms://alias/envstack-{e}?region={region}" for e in environments})
