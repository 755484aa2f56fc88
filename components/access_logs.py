"""AccessLogBucket: the S3 bucket an Application Load Balancer writes its access logs to.

ALB access logs support only SSE-S3 (AES256) encryption, not KMS. ACLs are disabled (BucketOwnerEnforced); the
bucket policy lets the region's Elastic Load Balancing account write under `<prefix>/AWSLogs/<account>/` and
refuses every request not made over TLS. The lifecycle (transitions, expiry) is data from the profile.
"""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .base import Component, policy_document

NONCURRENT_VERSION_DAYS = 30  # how long an overwritten or deleted log object survives when versioning is on
ABORT_INCOMPLETE_UPLOAD_DAYS = 7  # parts of an upload never completed are billed until aborted
# S3 guide, "Transitioning objects": objects under 128 KB are not transitioned by default (a transition request
# costs more than the storage it saves). Set explicitly: buckets made before September 2024 had the opposite
# default, and a provider-computed value shows as drift.
TRANSITION_MINIMUM_OBJECT_SIZE = "all_storage_classes_128K"


@dataclass(frozen=True)
class Transition:
    days: int
    storage_class: str  # STANDARD_IA, GLACIER, ...


@dataclass(frozen=True)
class AccessLogArgs:
    prefix: str = "alb"
    expiration_days: int = 90
    transitions: tuple[Transition, ...] = ()
    versioning: bool = False
    force_destroy: bool = False  # let `pulumi destroy` empty the bucket: disposable environments only
    name_prefix: str = "envstack"
    protect: bool = False

    @property
    def bucket_prefix(self) -> str:
        """S3 adds a unique suffix; the prefix must be lowercase and at most 37 characters."""
        return f"{self.name_prefix[:27].lower()}-alb-logs-"


def log_delivery_policy(bucket_arn: str, account_id: str, elb_account_arn: str, prefix: str) -> str:
    """ELB may only put objects under this account's log prefix; nobody may use the bucket without TLS."""
    return policy_document(
        {"Sid": "ElbLogDeliveryWrites", "Effect": "Allow", "Action": "s3:PutObject",
         "Principal": {"AWS": elb_account_arn}, "Resource": f"{bucket_arn}/{prefix}/AWSLogs/{account_id}/*"},
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": "s3:*", "Principal": "*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    )


class AccessLogBucket(Component):
    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy

    def __init__(self, name: str, args: AccessLogArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("envstack:edge:AccessLogBucket", name, {
            "prefix": args.prefix, "expirationDays": args.expiration_days,
            "transitions": [f"{t.storage_class}@{t.days}d" for t in args.transitions],
            "versioning": args.versioning, "forceDestroy": args.force_destroy}, opts, protect=args.protect)
        self._args = args
        self.bucket = aws.s3.Bucket(
            name, bucket_prefix=args.bucket_prefix, force_destroy=args.force_destroy,
            opts=self.child(protect=self.protect))
        self._lock_down()
        self._lifecycle()
        self.policy = self._policy()
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})

    def _lock_down(self) -> None:
        bucket = self.bucket.id
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            self.label, bucket=bucket, block_public_acls=True, block_public_policy=True, ignore_public_acls=True,
            restrict_public_buckets=True, opts=self.child())
        aws.s3.BucketOwnershipControls(
            self.label, bucket=bucket, rule={"object_ownership": "BucketOwnerEnforced"}, opts=self.child())
        aws.s3.BucketServerSideEncryptionConfiguration(
            self.label, bucket=bucket,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=self.child())
        if self._args.versioning:
            aws.s3.BucketVersioning(self.label, bucket=bucket, versioning_configuration={"status": "Enabled"},
                                    opts=self.child())

    def _lifecycle(self) -> None:
        args = self._args
        rule = {
            "id": "access-logs", "status": "Enabled", "filter": {"prefix": f"{args.prefix}/"},
            "expiration": {"days": args.expiration_days},
            "transitions": [{"days": t.days, "storage_class": t.storage_class} for t in args.transitions],
            "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
            # The bucket policy lets ELB write under the prefix only, so this rule covers every upload.
            "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_INCOMPLETE_UPLOAD_DAYS},
        }
        aws.s3.BucketLifecycleConfiguration(
            self.label, bucket=self.bucket.id, rules=[rule],
            transition_default_minimum_object_size=TRANSITION_MINIMUM_OBJECT_SIZE, opts=self.child())

    def _policy(self) -> aws.s3.BucketPolicy:
        # us-west-2 and every region launched before August 2022 deliver ALB logs as the region's ELB account;
        # only newer regions accept the logdelivery.elasticloadbalancing.amazonaws.com service principal.
        elb_account = aws.elb.get_service_account_output(opts=pulumi.InvokeOutputOptions(parent=self))
        document = pulumi.Output.all(self.bucket.arn, self.account_id, elb_account.arn).apply(
            lambda v: log_delivery_policy(v[0], v[1], v[2], self._args.prefix))
        return aws.s3.BucketPolicy(self.label, bucket=self.bucket.id, policy=document,
                                   opts=self.child(depends_on=[self.public_access_block]))
