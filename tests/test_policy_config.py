"""Each environment's policy thresholds come from its guardrails (envstack/tools/policy_config.py)."""

import json

import pytest

from envstack.program.config import ENVIRONMENTS, load_profile
from envstack.program.config.cluster import pinned_addon_versions
from envstack.tools import policy_config
from envstack.tools.policy_config import GUARDED_BY, THRESHOLDS, with_thresholds
from policies.evaluate import evaluate, resolve
from policies.pack import all_policies


def test_every_environments_policy_thresholds_are_its_guardrails():
    assert policy_config.stale() == [], "policies/<env>.json disagrees with the guardrails: run `make policy-config`"


# The property each threshold rule reads, on the resource type it checks.
CHECKED = {"rds-backup-retention": ("aws:rds/instance:Instance", "backupRetentionPeriod"),
           "redis-snapshot-retention": ("aws:elasticache/replicationGroup:ReplicationGroup", "snapshotRetentionLimit"),
           "log-group-retention": ("aws:cloudwatch/logGroup:LogGroup", "retentionInDays")}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_pack_accepts_the_guardrails_least_and_refuses_one_day_less(environment):
    """What the configuration accepts, the environment's pack accepts; one day less both refuse."""
    guardrails = load_profile(environment).guardrails
    assert {rule for rule, _ in THRESHOLDS} == set(CHECKED)
    for (rule, _), threshold in THRESHOLDS.items():
        type_, prop = CHECKED[rule]
        least = getattr(guardrails, threshold.guardrail)
        records = [{"urn": f"urn:pulumi:s::envstack::{type_}::{name}", "type": type_, "name": name, "parent": None,
                    "dependencies": [], "protect": True, "provider": None, "inputs": {prop: float(days)}}
                   for name, days in (("least", least), ("less", least - 1)) if days >= 0]
        report = evaluate(records, policy_config.policy_config_path(environment))
        refused = {"less"} if least else set()  # 0: no minimum
        assert {v["urn"].rsplit("::", 1)[-1] for v in report.violations if v["policy"] == rule} == refused, rule


def test_only_the_threshold_options_are_written_and_levels_kept():
    guardrails = load_profile("prod").guardrails.model_copy(update={"min_backup_retention_days": 21})
    written = with_thresholds({"all": "mandatory", "rds-backup-retention": "advisory",
                               "log-group-retention": {"enforcementLevel": "disabled", "minimumDays": 1},
                               "rds-multi-az": "advisory"}, guardrails)
    assert written["all"] == "mandatory" and written["rds-multi-az"] == "advisory"
    assert written["rds-backup-retention"] == {"enforcementLevel": "advisory", "minimumDays": 21}
    assert written["log-group-retention"] == {"enforcementLevel": "disabled",
                                              "minimumDays": guardrails.min_log_retention_days}
    assert written["redis-snapshot-retention"] == {"minimumDays": guardrails.min_cache_snapshot_retention_days}


def test_a_stale_file_is_named_and_rewritten(monkeypatch, tmp_path):
    for environment in ENVIRONMENTS:
        source = policy_config.policy_config_path(environment)
        (tmp_path / source.name).write_text(source.read_text())
    monkeypatch.setattr(policy_config, "POLICY_DIR", tmp_path)
    stale = tmp_path / "staging.json"
    stale.write_text(stale.read_text().replace('"minimumDays": 14', '"minimumDays": 7'))
    assert policy_config.stale() == ["staging"]
    assert policy_config.write() == [stale]
    assert policy_config.stale() == []


def record(type_: str, name: str, inputs: dict, **extra) -> dict:
    return {"urn": f"urn:pulumi:s::envstack::{type_}::{name}", "type": type_, "name": name, "parent": None,
            "dependencies": [], "protect": True, "provider": None, "inputs": inputs, **extra}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_packs_switches_follow_the_guardrails(environment):
    """Where the guardrails require a TLS 1.3 policy or versioned log buckets, the environment's pack refuses a
    TLS 1.2 listener or a bucket that only records why it is unversioned; elsewhere it accepts them."""
    guardrails = load_profile(environment).guardrails
    listener = record("aws:lb/listener:Listener", "https", {"protocol": "HTTPS", "certificateArn": "arn:cert",
                                                            "sslPolicy": "ELBSecurityPolicy-TLS-1-2-2017-01"})
    bucket = record("aws:s3/bucket:Bucket", "logs", {"tags": {"envstack:unversioned": "alb-logs versioning off"}})
    report = evaluate([listener, bucket], policy_config.policy_config_path(environment))
    refused = {v["policy"] for v in report.violations}
    assert ("alb-tls-policy" in refused) is guardrails.load_balancer_tls13
    assert ("s3-versioning" in refused) is not guardrails.unversioned_log_buckets


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_pack_accepts_every_kubernetes_version_envstack_can_deploy(environment):
    """The pack stands alone with its own list of supported versions: the version each profile runs and every
    version with add-on pins (what a stack file may choose) must be in it, or a valid stack fails its preview."""
    options = resolve(all_policies(), json.loads(policy_config.policy_config_path(environment).read_text()))
    supported = options["eks-supported-version"][1]["supportedVersions"]
    deployable = {load_profile(environment).settings["cluster"]["version"], *pinned_addon_versions()}
    assert deployable <= set(supported), f"{sorted(deployable - set(supported))} missing from eks-supported-version"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_mandatory_rule_a_stack_file_can_break_is_refused_by_the_guardrails_first(environment):
    """Where the environment's pack makes such a rule mandatory, its guardrails are on: a stack `envstack validate`
    accepts never fails its preview on it."""
    levels = resolve(all_policies(), json.loads(policy_config.policy_config_path(environment).read_text()))
    guardrails = load_profile(environment).guardrails
    unguarded = [(rule, field) for rule, fields in GUARDED_BY.items() for field in fields
                 if levels[rule][0].value == "mandatory" and not getattr(guardrails, field)]
    assert unguarded == [], f"{environment}: mandatory in policies/{environment}.json, allowed by its guardrails"
