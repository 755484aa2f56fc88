"""Required tags (own and provider default tags), protect on stateful resources, and preview's unknown values."""

import json
from collections.abc import Callable

import pytest
from policy_support import POLICIES, check, make_args, run
from pulumi_policy import PolicyProviderResource
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

VPC = "aws:ec2/vpc:Vpc"
RDS = "aws:rds/instance:Instance"
TAGS = {"Project": "envstack", "Environment": "prod", "Stack": "prod", "Owner": "o", "Team": "t",
        "ManagedBy": "pulumi"}


def provider(default_tags: object) -> PolicyProviderResource:
    return PolicyProviderResource("pulumi:providers:aws", unknown_checking_proxy({"region": "us-west-2",
                                                                                   "defaultTags": default_tags}),
                                  "urn:pulumi:prod::envstack::pulumi:providers:aws::aws", "aws")


def test_required_tags_from_own_tags() -> None:
    assert check("required-tags", VPC, {"tags": TAGS}) == []
    assert check("required-tags", VPC, {"tags": {"Project": "envstack"}}) == [
        "missing tags: Environment, Stack, Owner, Team, ManagedBy"]


@pytest.mark.parametrize("encode", [lambda t: {"tags": t}, lambda t: json.dumps({"tags": t})],
                         ids=["object", "json-string"])
def test_required_tags_from_provider_default_tags(encode: Callable[[dict], object]) -> None:
    """The engine sends provider config objects JSON-encoded; mocks/other callers may send objects."""
    partial = {k: v for k, v in TAGS.items() if k != "Owner"}
    assert check("required-tags", VPC, {"cidrBlock": "10.0.0.0/16"}, provider=provider(encode(TAGS))) == []
    assert check("required-tags", VPC, {"tags": {"Name": "vpc"}}, provider=provider(encode(partial))) == [
        "missing tags: Owner"]
    assert check("required-tags", VPC, {"tags": {"Owner": "me"}}, provider=provider(encode(partial))) == []


def test_required_tags_configurable_and_skips_untaggable() -> None:
    assert check("required-tags", VPC, {"tags": {"CostCenter": "42"}}, {"requiredTags": ["CostCenter"]}) == []
    assert check("required-tags", "aws:ec2/route:Route", {}) == []
    assert check("required-tags", "envstack:network:Network", {}) == []


def test_protect_stateful_resources() -> None:
    assert check("protect-stateful-resources", RDS, {}, protect=True) == []
    assert check("protect-stateful-resources", RDS, {}) == [
        "aws:rds/instance:Instance is not protected: set ResourceOptions(protect=True)"]
    assert check("protect-stateful-resources", "aws:s3/bucketV2:BucketV2", {}) != []
    assert check("protect-stateful-resources", VPC, {}) == []
    assert check("protect-stateful-resources", RDS, {}, {"types": ["aws:kms/key:Key"]}) == []


def test_unknown_ids_and_arns_count_as_set() -> None:
    """A key ARN or bucket created in the same update is unknown at preview: no violation, no error."""
    rds = {"storageEncrypted": True, "kmsKeyId": UNKNOWN_STRING_VALUE, "performanceInsightsEnabled": True,
           "performanceInsightsKmsKeyId": UNKNOWN_STRING_VALUE, "monitoringInterval": 60.0,
           "monitoringRoleArn": UNKNOWN_STRING_VALUE, "engine": "postgres", "parameterGroupName": UNKNOWN_STRING_VALUE}
    for rule in ("rds-storage-encrypted", "rds-performance-insights", "rds-enhanced-monitoring", "rds-force-ssl"):
        assert check(rule, RDS, rds) == [], rule
    assert check("eks-secrets-encryption", "aws:eks/cluster:Cluster",
                 {"encryptionConfig": {"provider": {"keyArn": UNKNOWN_STRING_VALUE}, "resources": ["secrets"]}}) == []
    assert check("eks-secrets-encryption", "eks:index:Cluster", {"encryptionConfigKeyArn": UNKNOWN_STRING_VALUE}) == []
    assert check("alb-access-logs", "aws:lb/loadBalancer:LoadBalancer",
                 {"accessLogs": {"bucket": UNKNOWN_STRING_VALUE, "enabled": True}}) == []
    assert check("alarm-actions-enabled", "aws:cloudwatch/metricAlarm:MetricAlarm",
                 {"alarmActions": [UNKNOWN_STRING_VALUE]}) == []


def test_unknown_tag_values_are_fine() -> None:
    tags = {**TAGS, "Owner": UNKNOWN_STRING_VALUE}
    assert check("required-tags", VPC, {"tags": tags}) == []


@pytest.mark.parametrize(("rule", "type_", "props"), [
    ("rds-backup-retention", RDS, {"backupRetentionPeriod": UNKNOWN_NUMBER_VALUE}),
    ("rds-multi-az", RDS, {"multiAz": UNKNOWN_BOOLEAN_VALUE}),
    ("eks-control-plane-logs", "eks:index:Cluster", {"enabledClusterLogTypes": UNKNOWN_ARRAY_VALUE}),
    ("required-tags", VPC, {"tags": "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"}),
])
def test_unknown_judged_values_raise_for_the_sdk_not_violate(rule: str, type_: str, props: dict) -> None:
    """A value the rule must judge is unknown: the SDK's proxy raises, which the policy server reports as an
    advisory "can't run during preview" note; the rule must not report a violation first."""
    found: list[str] = []
    with pytest.raises(UnknownValueError):
        POLICIES[rule].validate(make_args(type_, props), lambda m, urn=None: found.append(m))
    assert found == []


def test_run_helper_reports_nothing_for_other_types() -> None:
    assert run("rds-multi-az", make_args(VPC, {"multiAz": UNKNOWN_BOOLEAN_VALUE})) == []


def test_unknown_or_default_cluster_subnets_are_not_counted() -> None:
    """Subnet lists made in the same update are unknown at preview; a pulumi-eks cluster given no subnets uses the
    default VPC's: neither is judged."""
    rule = "eks-cluster-two-availability-zones"
    assert check(rule, "aws:eks/cluster:Cluster", {"vpcConfig": {"subnetIds": UNKNOWN_ARRAY_VALUE}}) == []
    assert check(rule, "eks:index:Cluster", {"privateSubnetIds": UNKNOWN_ARRAY_VALUE, "publicSubnetIds": ["a"]}) == []
    assert check(rule, "eks:index:Cluster", {}) == []
    assert check(rule, "eks:index:Cluster", {"subnetIds": ["a"]}) != []
