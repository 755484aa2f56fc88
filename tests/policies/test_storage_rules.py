"""S3 buckets and SNS topics: a bare bucket and a public, unencrypted topic are refused; the program's shapes (the
AccessLogBucket component, the alert and cache-event topics) pass."""

import json
from typing import Any

import pytest
from policy_support import check, check_stack, resource

from policies.facts import UNVERSIONED_TAG

BUCKET = "aws:s3/bucket:Bucket"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
S3_RULES = ("s3-public-access-blocked", "s3-tls-only", "s3-encryption", "s3-ownership-enforced", "s3-versioning")
ARN = "arn:aws:s3:::envstack-prod-alb-logs-1"
DENY_INSECURE = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": "s3:*", "Principal": "*",
                 "Resource": [ARN, f"{ARN}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
WRITES = {"Sid": "ElbLogDeliveryWrites", "Effect": "Allow", "Action": "s3:PutObject",
          "Principal": {"AWS": "arn:aws:iam::797873946194:root"}, "Resource": f"{ARN}/alb/AWSLogs/1/*"}


def settings(bucket: Any, **changes: dict[str, Any] | None) -> list[Any]:
    """The AccessLogBucket component's resources for `bucket` (a change of None leaves that resource out)."""
    shapes: dict[str, tuple[str, dict[str, Any]]] = {
        "block": (BLOCK, {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
                          "restrictPublicBuckets": True}),
        "policy": (POLICY, {"policy": json.dumps({"Version": "2012-10-17", "Statement": [WRITES, DENY_INSECURE]})}),
        "encryption": (ENCRYPTION, {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
        "ownership": (OWNERSHIP, {"rule": {"objectOwnership": "BucketOwnerEnforced"}}),
        "versioning": (VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}),
    }
    made = []
    for key, (type_, props) in shapes.items():
        if key in changes and changes[key] is None:
            continue
        made.append(resource(type_, f"{bucket.name}-{key}", {"bucket": f"{bucket.name}-id", **props,
                                                             **(changes.get(key) or {})},
                             property_dependencies={"bucket": [bucket]}))
    return made


def bucket(**props: Any) -> Any:
    return resource(BUCKET, "logs", {"bucketPrefix": "envstack-prod-alb-logs-", **props})


def findings(rule: str, resources: list[Any], config: dict[str, Any] | None = None) -> list[str]:
    return [message for message, _ in check_stack(rule, resources, config)]


@pytest.mark.parametrize("rule", S3_RULES)
def test_the_access_log_bucket_passes_and_a_bare_bucket_is_refused(rule: str) -> None:
    logs = bucket()
    assert findings(rule, [logs, *settings(logs)]) == []
    bare = bucket()
    assert [urn for _, urn in check_stack(rule, [bare])] == [bare.urn]


@pytest.mark.parametrize(("rule", "change", "fragment"), [
    ("s3-public-access-blocked", {"block": {"restrictPublicBuckets": False}}, "leaves restrictPublicBuckets off"),
    ("s3-public-access-blocked", {"block": None}, "no aws.s3.BucketPublicAccessBlock"),
    ("s3-tls-only", {"policy": {"policy": json.dumps({"Statement": [WRITES]})}}, "denying requests made without TLS"),
    ("s3-tls-only", {"policy": {"policy": json.dumps({"Statement": [WRITES, {**DENY_INSECURE, "Action":
                                                                             "s3:GetObject"}]})}}, "without TLS"),
    ("s3-encryption", {"encryption": {"rules": []}}, "no default encryption"),
    ("s3-ownership-enforced", {"ownership": {"rule": {"objectOwnership": "ObjectWriter"}}}, "ACLs still apply"),
    ("s3-versioning", {"versioning": {"versioningConfiguration": {"status": "Suspended"}}}, "records no reason"),
])
def test_each_bucket_setting_is_required(rule: str, change: dict[str, Any], fragment: str) -> None:
    logs = bucket()
    found = findings(rule, [logs, *settings(logs, **change)])
    assert len(found) == 1 and fragment in found[0], found


def test_an_unversioned_bucket_records_why_where_allowed() -> None:
    recorded = bucket(tags={UNVERSIONED_TAG: "alb-logs versioning turned off by configuration"})
    stack = [recorded, *settings(recorded, versioning=None)]
    assert findings("s3-versioning", stack, {"allowRecordedExceptions": True}) == []
    assert findings("s3-versioning", stack) == [  # prod: the default allows no exception
        "bucket logs is not versioned (alb-logs versioning turned off by configuration); this environment allows no "
        "exception"]
    silent = bucket()
    assert findings("s3-versioning", [silent, *settings(silent, versioning=None)],
                    {"allowRecordedExceptions": True}) == [
        f"bucket logs is not versioned, and records no reason ({UNVERSIONED_TAG} tag)"]


def test_inline_bucket_arguments_count() -> None:
    inline = bucket(policy=json.dumps({"Statement": [DENY_INSECURE]}), versioning={"enabled": True},
                    serverSideEncryptionConfiguration={"rule": {"applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms"}}})
    for rule in ("s3-tls-only", "s3-versioning", "s3-encryption"):
        assert findings(rule, [inline]) == [], rule


ALERT_POLICY = {"Statement": [{"Sid": "AlertPublishers", "Effect": "Allow", "Action": "SNS:Publish",
                               "Principal": {"Service": ["cloudwatch.amazonaws.com"]},
                               "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]}
CACHE_POLICY = {"Statement": [{"Sid": "AllowElastiCachePublish", "Effect": "Allow", "Principal": {"AWS": "*"},
                               "Action": "SNS:Publish",
                               "Condition": {"StringEquals": {"AWS:SourceOwner": "123456789012"}}}]}


def test_topics_are_encrypted_but_the_one_elasticache_notifies() -> None:
    alerts = resource(TOPIC, "alerts", {"kmsMasterKeyId": "arn:aws:kms:us-west-2:1:key/k"})
    events = resource(TOPIC, "cache-events", {"name": "envstack-prod-cache-events"})
    cache = resource(REDIS, "cache", {"notificationTopicArn": "x"},
                     property_dependencies={"notificationTopicArn": [events]})
    assert findings("sns-topic-encrypted", [alerts, events, cache]) == []
    assert findings("sns-topic-encrypted", [alerts, events]) == [
        "topic cache-events is not encrypted (kmsMasterKeyId)"]


@pytest.mark.parametrize("policy", [ALERT_POLICY, CACHE_POLICY])
def test_the_programs_topic_policies_are_not_public(policy: dict[str, Any]) -> None:
    assert check("sns-topic-policy-not-public", TOPIC_POLICY, {"arn": "x", "policy": json.dumps(policy)}) == []


@pytest.mark.parametrize("condition", [None, {"Bool": {"aws:SecureTransport": "true"}},
                                       {"StringNotEquals": {"aws:SourceOwner": "123456789012"}},
                                       {"StringLike": {"aws:SourceAccount": "*"}}])
def test_a_public_topic_policy_is_refused(condition: dict[str, Any] | None) -> None:
    statement = {**CACHE_POLICY["Statement"][0], "Condition": condition}
    found = check("sns-topic-policy-not-public", TOPIC, {"policy": json.dumps({"Statement": [statement]})})
    assert found == ["policy Statement[0] allows Principal * without a condition naming the accounts or "
                     "organisations it admits: anyone could use the topic"]
