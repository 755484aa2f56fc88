"""The offline evaluator over records shaped like `envstack synth --json`'s resources."""

import json
from pathlib import Path
from typing import Any

import pytest
from policy_support import record, urn
from pulumi_policy import ResourceValidationPolicy
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE

from policies.evaluate import PolicyConfigError, evaluate, has_mandatory
from policies.pack import all_policies
from policies.rules import DEPLOYABILITY

DEPLOYABLE = {name: "mandatory" for name in DEPLOYABILITY}  # never relaxed: a configuration names them
POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
PROVIDER = urn("pulumi:providers:aws", "aws")
TAGS = {"Project": "envstack", "Environment": "dev", "Stack": "dev", "ManagedBy": "pulumi", "Owner": "o", "Team": "t"}
DB_PARENT = urn("envstack:data:Database", "db")
RDS_INPUTS: dict[str, Any] = {
    "engine": "postgres", "storageEncrypted": True, "kmsKeyId": "arn:aws:kms:us-west-2:1:key/1", "multiAz": True,
    "backupRetentionPeriod": 30.0, "deletionProtection": True, "performanceInsightsEnabled": True,
    "performanceInsightsKmsKeyId": "arn:aws:kms:us-west-2:1:key/1",
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade", "iam-db-auth-error"],
    "monitoringInterval": 60.0, "monitoringRoleArn": "arn:role", "parameterGroupName": "pg",
    "iamDatabaseAuthenticationEnabled": True, "password": "[secret]",
}


def stack(rds: dict[str, Any] | None = None, protect: bool = True) -> list[dict[str, Any]]:
    """A provider (default tags JSON-encoded as the engine sends them), a component, an RDS instance with alarms."""
    db = record("aws:rds/instance:Instance", "db-instance", {**RDS_INPUTS, **(rds or {})}, protect=protect,
                provider=PROVIDER, parent=DB_PARENT)
    alarms = [record("aws:cloudwatch/metricAlarm:MetricAlarm", f"db-{m}", {"metricName": m, "alarmActions": ["arn:sns"],
                                                                           "dimensions": {"DBInstanceIdentifier": "x"}},
                     dependencies=(db["urn"],), provider=PROVIDER) for m in ("CPUUtilization", "FreeStorageSpace")]
    return [
        record("pulumi:providers:aws", "aws", {"region": "us-west-2", "defaultTags": json.dumps({"tags": TAGS})}),
        record("envstack:data:Database", "db", {"storageEncrypted": False}, custom=False),
        db, *alarms,
    ]


def found(report: Any, policy: str | None = None) -> list[tuple[str, str, str | None]]:
    return [(v["policy"], v["level"], v["urn"]) for v in report.violations if policy in (None, v["policy"])]


def test_compliant_stack_has_no_violation() -> None:
    report = evaluate(stack(), POLICIES_DIR / "prod.json")
    assert report.violations == []
    assert report.rules_evaluated == len(all_policies())
    assert not has_mandatory(report)


def test_dev_settings_break_prod_but_only_advise_in_dev() -> None:
    dev_db = {"multiAz": False, "backupRetentionPeriod": 7.0, "deletionProtection": False}
    records = stack(dev_db, protect=False)
    db_urn = records[2]["urn"]
    prod = evaluate(records, POLICIES_DIR / "prod.json")
    expected = {("rds-multi-az", "mandatory", db_urn), ("rds-backup-retention", "mandatory", db_urn),
                ("rds-deletion-protection", "mandatory", db_urn), ("protect-stateful-resources", "mandatory", db_urn)}
    assert set(found(prod)) == expected
    assert has_mandatory(prod)
    dev = evaluate(records, POLICIES_DIR / "dev.json")
    # Dev: everything advisory, 7-day backups are enough, protect is disabled.
    assert set(found(dev)) == {("rds-multi-az", "advisory", db_urn), ("rds-deletion-protection", "advisory", db_urn)}
    assert not has_mandatory(dev)
    assert dev.rules_evaluated == len(all_policies()) - 1


def test_staging_thresholds_and_levels() -> None:
    records = stack({"backupRetentionPeriod": 14.0, "multiAz": False}, protect=False)
    report = evaluate(records, POLICIES_DIR / "staging.json")
    assert {(p, lvl) for p, lvl, _ in found(report)} == {("rds-multi-az", "advisory"),
                                                         ("protect-stateful-resources", "advisory")}


def test_levels_disabled_all_and_fallback_to_rule_level() -> None:
    records = stack({"multiAz": False})
    assert found(evaluate(records, {"rds-multi-az": "disabled"}), "rds-multi-az") == []
    assert found(evaluate(records, {}), "rds-multi-az")[0][1] == "mandatory"  # the rule's own level
    assert found(evaluate(records, {"all": "advisory", **DEPLOYABLE}), "rds-multi-az")[0][1] == "advisory"
    raised = {"all": "advisory", **DEPLOYABLE, "rds-multi-az": {"enforcementLevel": "mandatory"}}
    assert found(evaluate(records, raised), "rds-multi-az")[0][1] == "mandatory"
    assert found(evaluate(records, {"all": "disabled", **DEPLOYABLE})) == []
    assert evaluate(records, {"all": "disabled", **DEPLOYABLE, "rds-multi-az": "remediate"}).rules_evaluated == \
        len(DEPLOYABLE) + 1


def test_options_from_the_file_override_schema_defaults() -> None:
    records = stack({"backupRetentionPeriod": 14.0})
    assert found(evaluate(records, {}), "rds-backup-retention")  # default 30
    assert found(evaluate(records, {"rds-backup-retention": {"minimumDays": 14}}), "rds-backup-retention") == []


def test_components_are_skipped_but_eks_components_checked() -> None:
    eks = record("eks:index:Cluster", "eks", {"endpointPublicAccess": True}, custom=False)
    report = evaluate([*stack(), eks], {"all": "mandatory"})
    urns = {v["urn"] for v in report.violations}
    assert DB_PARENT not in urns  # the envstack component's inputs are not a database
    assert eks["urn"] in urns
    assert {"eks-private-endpoint", "eks-secrets-encryption"} <= {v["policy"] for v in report.violations}


def test_stack_rules_link_by_dependencies() -> None:
    alb = record("aws:lb/loadBalancer:LoadBalancer", "alb", {"internal": False, "subnets": ["a", "b"]},
                 provider=PROVIDER)
    vpc = record("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"}, provider=PROVIDER)
    redis = record("aws:elasticache/replicationGroup:ReplicationGroup", "cache", {}, provider=PROVIDER)
    bare = [*stack(), alb, vpc, redis]
    stack_rules = {"all": "disabled", **DEPLOYABLE, "alb-waf-association": "mandatory", "vpc-flow-logs": "mandatory",
                   "datastore-alarms": "mandatory"}
    assert set(found(evaluate(bare, stack_rules))) == {
        ("alb-waf-association", "mandatory", alb["urn"]), ("vpc-flow-logs", "mandatory", vpc["urn"]),
        ("datastore-alarms", "mandatory", redis["urn"])}
    linked = [*bare,
              record("aws:wafv2/webAclAssociation:WebAclAssociation", "waf",
                     {"resourceArn": "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/app/alb-1234/abc",
                      "webAclArn": "arn:acl"}, dependencies=(alb["urn"],)),
              record("aws:ec2/flowLog:FlowLog", "flow", {"vpcId": "vpc-id"}, dependencies=(vpc["urn"],)),
              *[record("aws:cloudwatch/metricAlarm:MetricAlarm", f"cache-{m}", {"metricName": m},
                       dependencies=(redis["urn"],))
                for m in ("EngineCPUUtilization", "DatabaseMemoryUsagePercentage")]]
    assert found(evaluate(linked, stack_rules)) == []


def test_unknown_values_and_broken_rules_are_advisory_notes() -> None:
    records = stack({"backupRetentionPeriod": UNKNOWN_NUMBER_VALUE})
    report = evaluate(records, POLICIES_DIR / "prod.json")
    assert [(v["policy"], v["level"]) for v in report.violations] == [("rds-backup-retention", "advisory")]
    assert "can't run during preview" in report.violations[0]["message"]

    def boom(args: Any, report_violation: Any) -> None:
        raise RuntimeError("bug")

    broken = ResourceValidationPolicy("broken", "always raises", validate=boom)
    report = evaluate(stack(), {"broken": "mandatory"}, policies=[broken])
    assert {v["level"] for v in report.violations} == {"advisory"}
    assert "rule failed: RuntimeError: bug" in report.violations[0]["message"]


@pytest.mark.parametrize("config", [{"no-such-rule": "mandatory"}, {"rds-multi-az": "strict"},
                                    {"rds-backup-retention": {"minimumDayz": 3}}, {"all": "sometimes"},
                                    {"all": ["mandatory"]}, {"rds-multi-az": {"enforcementLevel": {}}}])
def test_bad_configuration_is_a_config_error(config: dict[str, Any]) -> None:
    with pytest.raises(PolicyConfigError):
        evaluate(stack(), config)


def test_report_serializes() -> None:
    report = evaluate(stack({"multiAz": False}), POLICIES_DIR / "prod.json")
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["rules_evaluated"] == report.rules_evaluated
    assert as_json["violations"][0].keys() == {"policy", "level", "urn", "message"}
