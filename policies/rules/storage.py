"""S3 buckets and SNS topics.

A bucket's settings are separate resources since AWS provider v4 (public access block, policy, encryption,
ownership controls, versioning), each naming the bucket; the rules find them by property dependency, dependency or
the bucket's id/name, and also read the bucket's own deprecated inline arguments (`policy`, `versioning`,
`serverSideEncryptionConfiguration`).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ..facts import UNVERSIONED_TAG
from .base import Resource as Checked
from .base import as_list, as_mapping, known, linked, of_type, present, resource_rule, stack_rule, truthy
from .documents import SOURCE_KEYS, actions, admits_anyone, limits_to_account, statements, wildcard_principal
from .redis import REPLICATION_GROUP

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ENCRYPTION = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
              "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
BLOCKS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
Findings = Iterator[tuple[str, str | None]]


def _settings(bucket: PolicyResource, resources: list[PolicyResource], *types: str) -> list[PolicyResource]:
    """The bucket's setting resources of these types (each names the bucket in its `bucket` argument)."""
    return [r for r in of_type(resources, *types) if linked(r, bucket, "bucket")]


def _buckets(resources: list[PolicyResource]) -> Iterator[PolicyResource]:
    return of_type(resources, *BUCKETS)


def _unknown(props: Any, *path: str) -> bool:
    """Set, but not known yet (preview): judged at `up`."""
    return present(props, *path) and known(props, *path) is None


@stack_rule("s3-public-access-blocked",
            "Every bucket has a public access block with all four settings on (public ACLs and policies blocked and "
            "ignored).", severity=Severity.CRITICAL, checkov="CKV2_AWS_6, CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, "
                                                              "CKV_AWS_56")
def public_access_blocked(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    for bucket in _buckets(resources):
        blocks = _settings(bucket, resources, PUBLIC_ACCESS_BLOCK)
        if not blocks:
            yield f"bucket {bucket.name} has no aws.s3.BucketPublicAccessBlock", bucket.urn
        elif off := [key for key in BLOCKS
                     if not any(truthy(known(b.props, key)) or _unknown(b.props, key) for b in blocks)]:
            yield f"bucket {bucket.name}'s public access block leaves {', '.join(off)} off", bucket.urn


def _denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    """A Deny for everyone of every S3 action when aws:SecureTransport is false (S3 guide, "Enforcing encryption in
    transit with TLS")."""
    if not wildcard_principal(statement.get("Principal")) or not {"s3:*", "*"} & set(actions(statement)):
        return False
    for operator, tests in as_mapping(statement.get("Condition")).items():
        if str(operator).lower() == "bool":
            values = {str(v).lower() for k, v in as_mapping(tests).items() if str(k).lower() == "aws:securetransport"}
            if values == {"false"}:
                return True
    return False


@stack_rule("s3-tls-only", "Every bucket's policy denies requests not made over TLS (aws:SecureTransport false).",
            severity=Severity.HIGH, checkov="CKV_AWS_379")
def tls_only(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    for bucket in _buckets(resources):
        policies = [*_settings(bucket, resources, BUCKET_POLICY), bucket]
        if any(_unknown(p.props, "policy") for p in policies):
            continue
        documents = [known(p.props, "policy") for p in policies]
        if not any(_denies_insecure_transport(s) for d in documents if d for _, s in statements(d, "Deny")):
            yield (f"bucket {bucket.name} has no policy statement denying requests made without TLS "
                   "(Deny s3:* to * when aws:SecureTransport is false)"), bucket.urn


def _default_encryption(rules: Any) -> bool:
    return any(known(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") for rule in as_list(rules))


@stack_rule("s3-encryption", "Every bucket has default server-side encryption configured (SSE-S3, SSE-KMS or DSSE).",
            severity=Severity.HIGH, checkov="CKV_AWS_19")
def encryption(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    for bucket in _buckets(resources):
        configs = _settings(bucket, resources, *ENCRYPTION)
        inline = known(bucket.props, "serverSideEncryptionConfiguration", "rule")
        if not _default_encryption(inline) and not any(
                _default_encryption(known(c.props, "rules")) or _unknown(c.props, "rules") for c in configs):
            yield f"bucket {bucket.name} has no default encryption (aws.s3.BucketServerSideEncryptionConfiguration)", \
                bucket.urn


@stack_rule("s3-ownership-enforced",
            "Every bucket enforces bucket-owner object ownership: ACLs disabled (BucketOwnerEnforced).",
            severity=Severity.MEDIUM, checkov="CKV2_AWS_65")
def ownership_enforced(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    for bucket in _buckets(resources):
        owners = [known(c.props, "rule", "objectOwnership") for c in _settings(bucket, resources, OWNERSHIP)]
        if "BucketOwnerEnforced" not in owners:
            yield (f"bucket {bucket.name} does not enforce bucket-owner ownership (aws.s3.BucketOwnershipControls "
                   "with objectOwnership BucketOwnerEnforced): ACLs still apply"), bucket.urn


def _versioned(bucket: PolicyResource, resources: list[PolicyResource]) -> bool:
    separate = [known(v.props, "versioningConfiguration", "status") for v in _settings(bucket, resources, *VERSIONING)]
    return "Enabled" in separate or known(bucket.props, "versioning", "enabled") is True


def _exception(bucket: PolicyResource) -> str:
    return str(known(as_mapping(known(bucket.props, "tags", default={})), UNVERSIONED_TAG, default="") or "")


@stack_rule("s3-versioning",
            f"Every bucket is versioned (logs are evidence: an overwrite or delete keeps the old version), unless it "
            f"records why not in its {UNVERSIONED_TAG} tag where the configuration allows that.",
            severity=Severity.MEDIUM, checkov="CKV_AWS_21",
            options={"allowRecordedExceptions": {
                "type": "boolean", "default": False,
                "description": f"accept an unversioned bucket whose {UNVERSIONED_TAG} tag gives the reason"}})
def versioning(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    for bucket in _buckets(resources):
        if _versioned(bucket, resources):
            continue
        reason = _exception(bucket)
        if not reason:
            yield f"bucket {bucket.name} is not versioned, and records no reason ({UNVERSIONED_TAG} tag)", bucket.urn
        elif not cfg["allowRecordedExceptions"]:
            yield (f"bucket {bucket.name} is not versioned ({reason}); this environment allows no exception"), \
                bucket.urn


def _elasticache_topics(resources: list[PolicyResource]) -> list[PolicyResource]:
    caches = list(of_type(resources, REPLICATION_GROUP))
    return [t for t in of_type(resources, TOPIC) if any(linked(c, t, "notificationTopicArn") for c in caches)]


# The exception: ElastiCache guide, "Event Notifications and Amazon SNS": ElastiCache cannot publish to an encrypted
# topic (it marks it inactive), and its events do not reach EventBridge (node-based clusters), so the topic a
# replication group notifies stays unencrypted (its messages are cluster events, no data). The rule
# elasticache-notification-topic checks the other side of that bargain.
@stack_rule("sns-topic-encrypted",
            "Every SNS topic is encrypted with a KMS key, except a topic an ElastiCache replication group notifies "
            "(ElastiCache cannot publish to an encrypted topic).", severity=Severity.MEDIUM, checkov="CKV_AWS_26")
def topic_encrypted(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    exempt = _elasticache_topics(resources)
    for topic in of_type(resources, TOPIC):
        if topic not in exempt and not present(topic.props, "kmsMasterKeyId"):
            yield f"topic {topic.name} is not encrypted (kmsMasterKeyId)", topic.urn


@resource_rule("sns-topic-policy-not-public",
               "A topic policy allows any principal (*) only under a condition naming the accounts or organisations "
               "of the callers or sources (aws:SourceAccount, aws:SourceOwner, aws:PrincipalOrgID, ...).",
               [TOPIC, TOPIC_POLICY], severity=Severity.CRITICAL, checkov="CKV_AWS_169")
def topic_policy_not_public(r: Checked) -> Iterator[str]:
    for i, statement in statements(r.get("policy")):
        if admits_anyone(statement) and \
                not limits_to_account(statement.get("Condition"), SOURCE_KEYS):
            yield (f"policy Statement[{i}] allows Principal * without a condition naming the accounts or "
                   "organisations it admits: anyone could use the topic")
