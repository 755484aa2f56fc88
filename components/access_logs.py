"""AccessLogBucket: an S3 bucket AWS delivers logs to: an Application Load Balancer's access logs (writer `elb`) or
VPC flow logs (writer `log-delivery`, CloudWatch Logs' log delivery service).

SSE-S3 (AES256): ALB access logs support no KMS key. ACLs are disabled (BucketOwnerEnforced); the bucket policy
lets the writer put objects under `<prefix>/AWSLogs/<account>/` only and refuses every request not made over TLS.
The lifecycle (transitions, expiry) is data from the profile.
"""

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from policies.facts import ELB_LOG_ACCOUNTS, ELB_LOG_DELIVERY, UNVERSIONED_TAG

from .base import Component, policy_document
from .partition import Where

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


LogWriter = Literal["elb", "log-delivery"]
LOG_DELIVERY = "delivery.logs.amazonaws.com"


@dataclass(frozen=True)
class LogLifecycle:
    """Where the logs go in the bucket and how long they stay: what a stack configures."""

    prefix: str
    expiration_days: int
    transitions: tuple[Transition, ...]
    versioning: bool
    force_destroy: bool  # let `pulumi destroy` empty the bucket: disposable environments only


@dataclass(frozen=True)
class AccessLogArgs(LogLifecycle):
    """A lifecycle, and what the owning component knows: who writes, the bucket's kind, its stack and protection."""

    writer: LogWriter
    kind: str  # in the bucket's name: <name_prefix>-<kind>-<suffix>
    name_prefix: str
    protect: bool

    @classmethod
    def of(cls, lifecycle: LogLifecycle, **owner: Any) -> "AccessLogArgs":
        return cls(**vars(lifecycle), **owner)

    @property
    def bucket_prefix(self) -> str:
        """S3 adds a unique suffix; the prefix must be lowercase and at most 37 characters."""
        return f"{self.name_prefix[:35 - len(self.kind)].lower()}-{self.kind}-"


def bucket_policy(bucket_arn: str, *writes: dict[str, Any]) -> str:
    """The writers' statements; nobody may use the bucket without TLS."""
    return policy_document(*writes, {
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": "s3:*", "Principal": "*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}})


def elb_log_writer(region: str, partition: str) -> dict[str, str]:
    """Who delivers a region's ALB access logs (ELB guide, "Enable access logs for your Application Load Balancer",
    step 2): the region's Elastic Load Balancing account where it has one (regions available before August 2022),
    else the log delivery service principal. aws.elb.getServiceAccount knows only the former: the provider fails
    with "unsupported AWS Region" in the others, so the table is read here instead (policies/facts.py)."""
    account = ELB_LOG_ACCOUNTS.get(region)
    return {"AWS": f"arn:{partition}:iam::{account}:root"} if account else {"Service": ELB_LOG_DELIVERY}


def elb_writes(bucket_arn: str, account_id: str, writer: dict[str, str], prefix: str) -> dict[str, Any]:
    """ELB may only put objects under this account's log prefix."""
    return {"Sid": "ElbLogDeliveryWrites", "Effect": "Allow", "Action": "s3:PutObject",
            "Principal": writer, "Resource": f"{bucket_arn}/{prefix}/AWSLogs/{account_id}/*"}


def log_delivery_writes(bucket_arn: str, where: Where, prefix: str) -> list[dict[str, Any]]:
    """VPC guide, "Amazon S3 bucket permissions for flow logs": log delivery writes under this account's prefix and
    checks the bucket's ACL, only for this account's deliveries (aws:SourceAccount / aws:SourceArn)."""
    only_ours = {"StringEquals": {"aws:SourceAccount": where.account},
                 "ArnLike": {"aws:SourceArn": where.arn("logs", "*")}}
    return [
        {"Sid": "AWSLogDeliveryWrite", "Effect": "Allow", "Principal": {"Service": LOG_DELIVERY},
         "Action": "s3:PutObject", "Resource": f"{bucket_arn}/{prefix}/AWSLogs/{where.account}/*",
         "Condition": {**only_ours, "StringEquals": {"aws:SourceAccount": where.account,
                                                     "s3:x-amz-acl": "bucket-owner-full-control"}}},
        {"Sid": "AWSLogDeliveryAclCheck", "Effect": "Allow", "Principal": {"Service": LOG_DELIVERY},
         "Action": ["s3:GetBucketAcl", "s3:ListBucket"], "Resource": bucket_arn, "Condition": only_ours},
    ]


def _versioning_tags(args: AccessLogArgs) -> dict[str, str]:
    """Logs are evidence: an unversioned log bucket records why it is one, for the pack's s3-versioning rule (which
    accepts that outside prod). S3 tag values allow letters, digits, spaces and + - = . _ : / @ only."""
    return {} if args.versioning else {UNVERSIONED_TAG: f"{args.kind} versioning turned off by configuration"}


class AccessLogBucket(Component):
    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy

    def __init__(self, name: str, args: AccessLogArgs, opts: pulumi.ResourceOptions | None = None,
                 token: str = "envstack:edge:AccessLogBucket"):
        super().__init__(token, name, {
            "prefix": args.prefix, "writer": args.writer, "expirationDays": args.expiration_days,
            "transitions": [f"{t.storage_class}@{t.days}d" for t in args.transitions],
            "versioning": args.versioning, "forceDestroy": args.force_destroy}, opts, protect=args.protect,
            name_prefix=args.name_prefix)
        self._args = args
        self.bucket = aws.s3.Bucket(
            name, bucket_prefix=args.bucket_prefix, force_destroy=args.force_destroy, tags=_versioning_tags(args),
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
        prefix = self._args.prefix
        if self._args.writer == "elb":
            document = pulumi.Output.all(self.bucket.arn, self.where).apply(lambda v: bucket_policy(
                v[0], elb_writes(v[0], v[1].account, elb_log_writer(v[1].region, v[1].partition), prefix)))
        else:
            document = pulumi.Output.all(self.bucket.arn, self.where).apply(
                lambda v: bucket_policy(v[0], *log_delivery_writes(v[0], v[1], prefix)))
        return aws.s3.BucketPolicy(self.label, bucket=self.bucket.id, policy=document,
                                   opts=self.child(depends_on=[self.public_access_block]))
