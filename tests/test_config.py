"""The typed configuration: profiles, overrides, guardrails and the errors for bad values."""

from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel

from envstack.program import paths
from envstack.program.config import ConfigError, StackConfig, load_profile, load_stack_config
from envstack.program.config import profiles as environments
from envstack.program.config.guardrails import Guardrails
from envstack.program.config.loader import deep_merge, parse_value

OWNERSHIP = {"owner": "ops@example.com", "team": "platform", "repository": "github.com/example/envstack"}
# What every stack file names itself: ownership, its account, the account's ACM certificate (staging and prod require
# TLS) and who may reach a public API endpoint (dev and staging have one).
CERTIFICATE = "arn:aws:acm:us-west-2:111111111111:certificate/00000000-0000-4000-8000-000000000000"
# The runners' network (apiAccessCidrs) is routed to the VPC through a transit gateway (prod's private endpoint).
RUNNERS = {"transitGateway": {"id": "tgw-0123456789abcdef0", "cidrs": ["10.250.0.0/24"]}}
# Staging and prod want at least one alert address, which the stack file names (no profile holds an example one).
STACK_FILE = {**OWNERSHIP, "allowedAccountIds": ["111111111111"], "network": RUNNERS,
              "monitoring": {"notificationEmails": ["oncall@acme-corp.io"]},
              "loadBalancer": {"tls": True, "certificateArn": CERTIFICATE},
              "cluster": {"publicAccessCidrs": ["52.94.0.0/22"], "apiAccessCidrs": ["10.250.0.0/24"],
                          "deployerRoleArn": "arn:aws:iam::111111111111:role/envstack-deployer"}}


def load(environment: str = "dev", stack: str = "test", region: str | None = "us-west-2", **raw: Any):
    return load_stack_config(stack, deep_merge({"environment": environment, **STACK_FILE}, raw), region)


def problems_of(environment: str, raw: dict[str, Any], region: str | None = "us-west-2") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_stack_config("broken", deep_merge({"environment": environment, **STACK_FILE}, raw), region)
    return caught.value.render().splitlines()[1:]


def problems(environment: str = "dev", **raw: Any) -> list[str]:
    return problems_of(environment, raw)


@pytest.mark.parametrize(("environment", "cidr", "azs", "nat", "retention", "budget"), [
    ("dev", "10.0.0.0/16", 2, "single", 14, 325),
    ("staging", "10.1.0.0/16", 3, "single", 30, 650),
    ("prod", "10.2.0.0/16", 3, "perAz", 90, 2000),
])
def test_profile_defaults(environment, cidr, azs, nat, retention, budget):
    cfg = load(environment)
    assert str(cfg.network.cidr) == cidr
    assert cfg.network.az_count == azs
    assert cfg.network.nat_gateways == nat
    assert cfg.monitoring.log_retention_days == retention
    assert cfg.monitoring.monthly_budget_usd == budget


def test_stack_file_overrides_only_what_it_names():
    cfg = load("prod", network={"cidr": "10.20.0.0/16"})
    assert str(cfg.network.cidr) == "10.20.0.0/16"
    assert cfg.network.az_count == 3 and cfg.network.nat_gateways == "perAz"


def test_new_stack_is_just_a_file_naming_its_environment():
    cfg = load("dev", stack="pr-42")
    assert cfg.stack == "pr-42" and cfg.name_prefix == "envstack-pr-42"
    assert str(cfg.network.cidr) == "10.0.0.0/16"


def test_tags_name_the_owner_and_never_change_per_deploy():
    cfg = load("staging", stack="staging")
    assert cfg.tags == {"Project": "envstack", "Environment": "staging", "Stack": "staging", "ManagedBy": "pulumi",
                        "Owner": "ops@example.com", "Team": "platform", "Repository": "github.com/example/envstack"}


def test_deep_merge_replaces_lists_and_merges_maps():
    assert deep_merge({"a": {"x": 1, "y": [1]}, "b": 1}, {"a": {"y": [2]}}) == {"a": {"x": 1, "y": [2]}, "b": 1}


def test_pulumi_strings_are_parsed_as_json_when_they_are_json():
    assert parse_value('{"azCount": 3}') == {"azCount": 3}
    assert parse_value("3") == 3
    assert parse_value("prod") == "prod"


def test_guardrails_are_not_configurable_from_a_stack_file():
    assert any("envstack:guardrails" in line for line in problems("prod", guardrails={"minAzCount": 1}))


def test_every_problem_is_reported_at_once():
    lines = problems("prod", network={"cidr": "10.2.0.0/33", "azCount": 9})
    assert len(lines) == 2
    assert all(line.startswith("stack broken: envstack:network.") for line in lines)


# One invalid configuration per row: (environment, raw values, region, key path named, words expected).
INVALID = [
    ("dev", {"network": {"cidr": "10.0.0.0/33"}}, "us-west-2", "envstack:network.cidr", "IPv4"),
    ("dev", {"network": {"cidr": "10.0.0.1/16"}}, "us-west-2", "envstack:network.cidr", "IPv4"),
    ("dev", {"network": {"cidr": "10.0.0.0/24"}}, "us-west-2", "envstack:network.cidr", "/16 and /20"),
    ("dev", {"network": {"cidr": "8.8.0.0/16"}}, "us-west-2", "envstack:network.cidr", "private"),
    # YAML numbers and booleans are addresses to ipaddress (167772160 is 10.0.0.0/32): a CIDR is text.
    ("dev", {"network": {"cidr": 167772160}}, "us-west-2", "envstack:network.cidr", "written as text"),
    ("dev", {"network": {"cidr": True}}, "us-west-2", "envstack:network.cidr", "written as text"),
    ("prod", {"loadBalancer": {"allowedCidrs": ["0.0.0.0/0", 1]}}, "us-west-2",
     "envstack:loadBalancer.allowedCidrs[1]", "written as text"),
    ("dev", {"network": {"azCount": 1}}, "us-west-2", "envstack:network.azCount", "at least 2 availability zones"),
    ("dev", {"network": {"azCount": 0}}, "us-west-2", "envstack:network.azCount", "at least 2 availability zones"),
    ("dev", {"network": {"azCount": 5}}, "us-west-2", "envstack:network.azCount", "less than or equal to 4"),
    ("dev", {"network": {"azCount": "three"}}, "us-west-2", "envstack:network.azCount", "integer"),
    ("dev", {"network": {"natGateways": "many"}}, "us-west-2", "envstack:network.natGateways", "'perAz'"),
    ("dev", {"network": {"cidrBlock": "10.0.0.0/16"}}, "us-west-2", "envstack:network.cidrBlock", "unknown key"),
    ("dev", {"network": {"interfaceEndpoints": ["sts", "s3"]}}, "us-west-2", "envstack:network.interfaceEndpoints[1]",
     "'ecr.api'"),
    ("staging", {"network": {"interfaceEndpoints": ["sts", "logs", "sts"]}}, "us-west-2",
     "envstack:network.interfaceEndpoints", "listed twice: ['sts']"),
    ("dev", {"netwrok": {"cidr": "10.0.0.0/16"}}, "us-west-2", "envstack:netwrok", "unknown key"),
    ("dev", {"monitoring": {"logRetentionDays": 10}}, "us-west-2", "envstack:monitoring.logRetentionDays",
     "retention values"),
    ("dev", {"monitoring": {"monthlyBudgetUsd": 0}}, "us-west-2", "envstack:monitoring.monthlyBudgetUsd",
     "greater than 0"),
    ("dev", {"allowedAccountIds": ["1234"]}, "us-west-2", "envstack:allowedAccountIds[0]", "12-digit"),
    # Numbers as YAML reads them unquoted: one that cannot be an account id as written is refused, asking for quotes.
    ("dev", {"allowedAccountIds": ["111111111111", 1234]}, "us-west-2", "envstack:allowedAccountIds[1]",
     "quote it"),
    ("dev", {"allowedAccountIds": [0o12345670123]}, "us-west-2", "envstack:allowedAccountIds[0]",
     "a leading 0 read as octal"),
    ("dev", {"database": {"engineVersion": 16.4}}, "us-west-2", "envstack:database.engineVersion", "quote it"),
    ("dev", {"database": {"engineVersion": 15}}, "us-west-2", "envstack:database.engineVersion", "(16, 17)"),
    ("dev", {}, "Oregon", "aws:region", "AWS region"),
    ("dev", {}, "us-west-9", "aws:region", "did you mean us-west-2"),
    ("dev", {"monitoring": {"notificationEmails": ["a@example.com", "b@example.com", "c@example", "d@example.com"]}},
     "us-west-2", "envstack:monitoring.notificationEmails[2]", "an email address"),
    ("dev", {"monitoring": {"notificationEmails": ["a@example.com", "a@example.com"]}}, "us-west-2",
     "envstack:monitoring.notificationEmails", "listed more than once: ['a@example.com']"),
    ("dev", {"netwrok": {}}, "us-west-2", "envstack:netwrok", "did you mean network?"),
    # `pulumi config set envstack:network.azCount 3` without --path sets a flat key.
    ("dev", {"network.azCount": 3}, "us-west-2", "envstack:network.azCount", "pulumi config set --path"),
    ("dev", {"loadBalancer": {"accessLogs": {"transitions": [{"days": 40, "storageClass": "GLACIER", "x": 1}]}}},
     "us-west-2", "envstack:loadBalancer.accessLogs.transitions[0].x", "expected one of: days, storageClass"),
    ("dev", {}, None, "aws:region", "required"),
    ("dev", {"owner": ""}, "us-west-2", "envstack:owner", "at least 1 character"),
    ("dev", {"stack": "other"}, "us-west-2", "envstack:stack", "not configurable"),
    ("dev", {"project": "other"}, "us-west-2", "envstack:project", "not configurable"),
    ("qa", {}, "us-west-2", "envstack:environment", "dev, staging, prod"),
    ("prod", {"network": {"azCount": 2}}, "us-west-2", "envstack:network.azCount", "at least 3"),
    ("prod", {"network": {"natGateways": "single"}}, "us-west-2", "envstack:network.natGateways",
     "one NAT gateway per availability zone"),
    ("prod", {"network": {"natGateways": "none"}}, "us-west-2", "envstack:network.natGateways", "perAz"),
    ("prod", {"protectStatefulResources": False}, "us-west-2", "envstack:protectStatefulResources",
     "requires true"),
    ("dev", {"protectStatefulResources": "sometimes"}, "us-west-2", "envstack:protectStatefulResources", "boolean"),
    ("prod", {"allowedAccountIds": []}, "us-west-2", "envstack:allowedAccountIds", "at least one account id"),
    ("staging", {"allowedAccountIds": []}, "us-west-2", "envstack:allowedAccountIds", "at least one account id"),
    # Each environment's least retention (its guardrails, and so its policy pack's thresholds).
    ("staging", {"database": {"backupRetentionDays": 7}}, "us-west-2", "envstack:database.backupRetentionDays",
     "staging requires at least 14 days of backups"),
    ("staging", {"monitoring": {"logRetentionDays": 14}}, "us-west-2", "envstack:monitoring.logRetentionDays",
     "staging requires at least 30 days of logs"),
    ("prod", {"monitoring": {"logRetentionDays": 60}}, "us-west-2", "envstack:monitoring.logRetentionDays",
     "prod requires at least 90 days of logs"),
    # Prod's gate (issue 21): a private API endpoint, WAF logs, a TLS 1.3 policy, versioned access logs.
    ("prod", {"cluster": {"endpointPublicAccess": True}}, "us-west-2", "envstack:cluster.endpointPublicAccess",
     "prod requires a private API endpoint (false)"),
    ("prod", {"loadBalancer": {"waf": {"logging": False}}}, "us-west-2", "envstack:loadBalancer.waf.logging",
     "prod requires WAF request logs (true)"),
    ("prod", {"loadBalancer": {"sslPolicy": "ELBSecurityPolicy-TLS-1-2-2017-01"}}, "us-west-2",
     "envstack:loadBalancer.sslPolicy", "prod requires a TLS 1.3 policy"),
    ("prod", {"loadBalancer": {"accessLogs": {"versioning": False}}}, "us-west-2",
     "envstack:loadBalancer.accessLogs.versioning", "prod requires versioned access logs (true)"),
    # Nodes in the private subnets need NAT (no ECR/STS/EC2 interface endpoints), whatever the environment.
    ("dev", {"network": {"natGateways": "none"}}, "us-west-2", "envstack:network.natGateways",
     "cannot pull images or join the cluster without NAT"),
]


@pytest.mark.parametrize(("environment", "raw", "region", "key", "expected"), INVALID,
                         ids=[f"{row[3]}-{i}" for i, row in enumerate(INVALID)])
def test_invalid_configuration_names_stack_key_value_and_expectation(environment, raw, region, key, expected):
    lines = problems_of(environment, raw, region)
    matching = [line for line in lines if line.startswith(f"stack broken: {key} = ")]
    assert matching, lines
    assert expected in matching[0], matching[0]


def test_missing_environment_is_named():
    with pytest.raises(ConfigError) as caught:
        load_stack_config("s", dict(OWNERSHIP), "us-west-2")
    assert "stack s: envstack:environment = (not set): expected one of dev, staging, prod" in caught.value.render()


def test_prod_profile_carries_the_production_guardrails():
    guardrails = load_profile("prod").guardrails
    assert guardrails.min_az_count == 3 and guardrails.nat_gateway_per_az


def test_outside_prod_the_gate_allows_a_public_endpoint_tls_1_2_and_unversioned_logs():
    cfg = load("staging", cluster={"endpointPublicAccess": True},
               loadBalancer={"sslPolicy": "ELBSecurityPolicy-TLS-1-2-2017-01", "accessLogs": {"versioning": False}})
    assert cfg.cluster.endpoint_public_access and cfg.load_balancer.ssl_policy.startswith("ELBSecurityPolicy-TLS-1-2")


def test_outside_prod_a_single_nat_gateway_is_enough():
    assert load("dev", network={"natGateways": "single"}).network.nat_gateway_count == 1


def test_in_dev_the_account_list_is_optional():
    assert load("dev", allowedAccountIds=[]).allowed_account_ids == ()


@pytest.mark.parametrize("name", ["Prod", "1dev", "my_stack", "dev-", "pr--42", "a-very-long-feature-stack"])
def test_stack_names_that_would_break_physical_names_are_refused(name):
    with pytest.raises(ConfigError) as caught:
        load("dev", stack=name)
    [line] = caught.value.render().splitlines()[1:]
    assert line.startswith(f"stack {name}: stack name = {name!r}: expected a Pulumi stack name"), line


@pytest.mark.parametrize("name", ["dev", "pr-42", "feature-x1", "a" * 20])
def test_short_lowercase_stack_names_are_accepted(name):
    assert load("dev", stack=name).stack == name


def test_guardrails_are_reported_with_the_type_errors_of_other_areas():
    lines = problems("prod", network={"azCount": "x"}, database={"multiAz": False})
    assert any(line.startswith("stack broken: envstack:network.azCount = 'x'") for line in lines)
    assert any(line.startswith("stack broken: envstack:database.multiAz = False") for line in lines)


def test_common_settings_lie_under_every_profile(monkeypatch, tmp_path):
    from envstack.program.config import loader

    (tmp_path / "dev.yaml").write_text((paths.PROFILES / "dev.yaml").read_text())
    common = yaml.safe_load((paths.PROFILES / "common.yaml").read_text())
    common["settings"]["monitoring"].update({"logRetentionDays": 7, "monthlyBudgetUsd": 1})
    (tmp_path / "common.yaml").write_text(yaml.safe_dump(common))
    monkeypatch.setattr(paths, "PROFILES", tmp_path)
    environments.clear()
    loader.load_profile.cache_clear()
    try:
        cfg = load("dev")
        assert cfg.monitoring.log_retention_days == 14  # the environment's profile wins
        assert cfg.monitoring.monthly_budget_usd == load_profile("dev").settings["monitoring"]["monthlyBudgetUsd"]
        dev = tmp_path / "dev.yaml"
        dev.write_text(dev.read_text().replace("    logRetentionDays: 14\n", ""))
        loader.load_profile.cache_clear()
        assert load("dev").monitoring.log_retention_days == 7  # the common setting fills the gap
    finally:
        loader.load_profile.cache_clear()
        environments.clear()


def test_numbers_written_by_pulumi_config_set_path_are_read_as_text():
    """`pulumi config set --path 'envstack:allowedAccountIds[0]' 123456789012` writes a YAML number, as does
    `envstack:database.engineVersion 17`: what they mean is the text."""
    cfg = load("dev", allowedAccountIds=[123456789012, "012345678901"], database={"engineVersion": 16})
    assert cfg.allowed_account_ids == ("123456789012", "012345678901")
    assert cfg.database.engine_version == "16"


def test_a_refused_account_list_adds_no_second_problem():
    lines = problems("prod", allowedAccountIds=[1234])
    assert [line.split(" = ")[0] for line in lines] == ["stack broken: envstack:allowedAccountIds[0]"], lines


@pytest.mark.parametrize("raw", [
    {"cluster": {"nodeGroups": {"main": {"instanceType": "m7i.large"}}}},
    {"cluster": {"baseline": {"quota": {"cpu": "1"}}}},
    {"loadBalancer": {"accessLogs": {"transitions": [{"days": 40, "storageClass": "GLACIER", "after": 1}]}}},
    {"monitoring": {"alarmThresholds": {"rdsCpu": 80}}},
])
def test_an_unknown_key_lists_the_keys_of_its_place_never_none(raw):
    [line] = [line for line in problems("dev", **raw) if "unknown key" in line]
    assert "expected one of: " in line and "one of: none" not in line, line


def test_cross_area_rules_are_reported_with_the_errors_of_other_areas():
    lines = problems("dev", network={"natGateways": "none", "azCount": "two"}, cluster={"version": "1.x"})
    assert [line.split(" = ")[0].removeprefix("stack broken: ") for line in lines] == [
        "envstack:network.azCount", "envstack:cluster.version", "envstack:network.natGateways"], lines
    assert "without NAT" in lines[2]


def test_a_rule_never_reads_a_default_in_place_of_a_refused_value():
    # The cluster's own error hides only the cluster's values: the add-on pins of its version still apply.
    lines = problems("dev", cluster={"nodeGroups": {"main": {"minSize": 1, "maxSize": 2, "desiredSize": 5}}})
    assert len(lines) == 1 and lines[0].startswith("stack broken: envstack:cluster.nodeGroups.main.desiredSize = 5")


def test_a_list_whose_only_element_is_refused_is_not_also_too_short():
    lines = problems("dev", cluster={"baseline": {"namespaces": ["App_1"]}})
    assert lines == ["stack broken: envstack:cluster.baseline.namespaces[0] = 'App_1': expected a lowercase DNS label "
                     "such as app"]


@pytest.fixture
def edited_profiles(monkeypatch, tmp_path):
    """A function that copies the common and dev profiles to tmp_path, replacing `old` with `new` in `name`.yaml,
    and has the loader read them there."""
    from envstack.program.config import loader

    def edit(name: str, old: str, new: str) -> Path:
        for profile in ("common", "dev"):
            (tmp_path / f"{profile}.yaml").write_text((paths.PROFILES / f"{profile}.yaml").read_text())
        path = tmp_path / f"{name}.yaml"
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
        monkeypatch.setattr(paths, "PROFILES", tmp_path)
        monkeypatch.setattr(paths, "ROOT", tmp_path.parent)
        loader.load_profile.cache_clear()
        environments.clear()
        return path

    yield edit
    loader.load_profile.cache_clear()
    environments.clear()


def test_a_profile_without_a_guardrail_is_refused_naming_the_file_and_key(edited_profiles):
    """No guardrail has a value in code: a profile that leaves one out is an error, never a silent default."""
    path = edited_profiles("dev", "  minLogRetentionDays: 1\n", "")
    assert problems("dev") == [f"stack broken: {path.parent.name}/dev.yaml: guardrails.minLogRetentionDays: a value "
                               "is required"]


def _fields_with_defaults(model: type[BaseModel], prefix: str = "") -> list[str]:
    found = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        if not field.is_required():
            found.append(key)
        for inner in (field.annotation, *get_args(field.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found += _fields_with_defaults(inner, key + ".")
    return found


def test_the_models_hold_no_defaults_the_profiles_are_the_only_source():
    """Only the add-on versions (filled from addon_versions.yaml; unset means unpinned, a problem of its own) and the
    project's name (not configurable) are not required."""
    assert [k for k in _fields_with_defaults(StackConfig) if not k.startswith("cluster.addonVersions.")] == ["project"]
    assert _fields_with_defaults(Guardrails) == []


def test_a_node_group_takes_what_it_does_not_set_from_node_group_defaults():
    gpu = {"instanceTypes": ["g6.xlarge"], "minSize": 0, "maxSize": 2, "desiredSize": 0}
    cfg = load("dev", cluster={"nodeGroups": {"gpu": gpu}, "nodeGroupDefaults": {"diskSizeGib": 100}})
    defaults = load_profile("dev").settings["cluster"]["nodeGroupDefaults"]
    assert cfg.cluster.node_groups["gpu"].ami_type == defaults["amiType"]
    assert {g.disk_size_gib for name, g in cfg.cluster.node_groups.items()} == {100, 20}  # main sets its own 20
    assert cfg.cluster.node_groups["gpu"].disk_size_gib == 100


def test_a_wrong_node_group_default_is_reported_once_where_it_is_set():
    lines = problems("dev", cluster={"nodeGroupDefaults": {"diskSizeGib": 5, "diskSize": 30}})
    assert [line.split(" = ")[0] for line in lines] == ["stack broken: envstack:cluster.nodeGroupDefaults.diskSizeGib",
                                                        "stack broken: envstack:cluster.nodeGroupDefaults.diskSize"]


def test_a_setting_no_profile_gives_is_required_of_the_stack_file(edited_profiles):
    edited_profiles("common", "    slowQueryMs: 500", "    # slowQueryMs left out")
    assert problems("dev") == ["stack broken: envstack:database.slowQueryMs = (not set): a value is required"]
    assert load("dev", database={"slowQueryMs": 250}).database.slow_query_ms == 250
