"""envstack's Pulumi backend: an S3 bucket for state and a KMS key for state encryption and stack secrets.

    KMS key (rotation on) <- alias         used as `--secrets-provider awskms://<alias>`
    S3 bucket: versioned, SSE-KMS with that key, public access blocked, owner-enforced, TLS-only policy
      -> `pulumi login s3://<bucket>`

Both are protected: losing either loses every stack's state or secrets.
"""

import json

import pulumi
import pulumi_aws as aws

config = pulumi.Config("envstack-bootstrap")
bucket_name = config.require("bucketName")
key_alias = config.get("keyAlias") or "alias/envstack-pulumi"
noncurrent_days = config.get_int("noncurrentVersionDays") or 90
region = pulumi.Config("aws").require("region")
tags = {"Project": "envstack", "ManagedBy": "pulumi", "Purpose": "pulumi-backend"}
keep = pulumi.ResourceOptions(protect=True)


def tls_only(bucket_arn: str) -> str:
    """Refuse every request that does not come over TLS (state holds resource IDs and encrypted secrets)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }]})


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
aws.s3.BucketPolicy("state-tls-only", bucket=bucket.id, policy=bucket.arn.apply(tls_only),
                    opts=pulumi.ResourceOptions(parent=bucket, depends_on=[public_access]))

# Plain strings from the configuration, so they show in the very first preview.
backend_url = f"s3://{bucket_name}?region={region}"
secrets_provider = f"awskms://{key_alias}?region={region}"
pulumi.export("backendUrl", backend_url)
pulumi.export("secretsProvider", secrets_provider)
pulumi.export("loginCommand", f"pulumi login '{backend_url}'")
pulumi.export("stackInitCommand", f"pulumi stack init <stack> --secrets-provider '{secrets_provider}'")
pulumi.export("kmsKeyArn", key.arn)
