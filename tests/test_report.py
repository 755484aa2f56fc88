"""The synth summary: components in the order they build on each other, resources counted per type."""

import copy
import json
import re
from collections import Counter

import pytest
from conftest import stack_config, synth
from pydantic import BaseModel

from envstack.program.config import ENVIRONMENTS, StackConfig, load_profile, load_stack_config
from envstack.tools import policy_gate
from envstack.tools.policy_config import THRESHOLDS, policy_config_path
from envstack.tools.report import alert_emails, architecture_order, connections, readable, summary, top_components
from policies.evaluate import resolve
from policies.pack import all_policies


def test_components_come_after_what_they_build_on(stack):
    order = [c.name for c in architecture_order(stack)]
    assert order[0] == "network" and order[-1] == "monitoring"
    assert order.index("cluster") < order.index("baseline")
    assert order.index("cluster") < order.index("edge")  # the edge attaches to the node groups
    assert order[1] == "alerts"  # the data stores notify its topic
    assert order.index("alerts") < min(order.index("database"), order.index("cache"))


def test_every_resource_belongs_to_one_listed_component(stack):
    owner = top_components(stack)
    components = {c.name for c in architecture_order(stack)}
    assert {owner[r.urn] for r in stack.resources} - components == {"(stack)"}  # only the provider
    assert [r.type for r in stack.resources if owner[r.urn] == "(stack)"] == ["pulumi:providers:aws"]


def test_summary_counts_match_the_synthesis():
    s = synth("prod")
    text = summary(s)
    owner = top_components(s)
    network = Counter(r.type for r in s.resources if owner[r.urn] == "network" and r.custom)
    assert f"{network['aws:ec2/subnet:Subnet']:3d}  aws:ec2/subnet:Subnet" in text
    assert f"network  [envstack:network:Network]  {sum(network.values())} resources" in text


# --- what a reviewer asks about ----------------------------------------------------------------------------------

def typed_config(stack: str) -> StackConfig:
    values = stack_config(stack)
    raw = {k.removeprefix("envstack:"): v for k, v in values.items() if k.startswith("envstack:")}
    return load_stack_config(stack, raw, values["aws:region"])


def test_header_names_region_account_owner_and_every_alert_email(stack):
    cfg = typed_config(stack.stack)
    header = summary(stack).split("\n\n", 1)[0]
    assert f"region {cfg.region}" in header
    if cfg.allowed_account_ids:
        assert f"account {', '.join(cfg.allowed_account_ids)} (envstack:allowedAccountIds)" in header
    else:
        assert "account any: envstack:allowedAccountIds is empty" in header
    assert f"owner {cfg.owner}" in header and f"team {cfg.team}" in header
    emails = list(cfg.monitoring.notification_emails)
    assert alert_emails(stack) == sorted(emails)
    assert ("alert e-mail " + ", ".join(sorted(emails)) if emails else "alert e-mail none") in header


def test_header_says_when_no_account_is_pinned():
    s = copy.deepcopy(synth("prod"))
    provider = next(r for r in s.resources if r.type == "pulumi:providers:aws")
    assert f"account {typed_config('prod').allowed_account_ids[0]}" in summary(s)
    provider.inputs.pop("allowedAccountIds")
    assert "account any: envstack:allowedAccountIds is empty" in summary(s)


def test_node_groups_show_types_sizes_and_capacity(stack):
    cfg = typed_config(stack.stack)
    text = summary(stack)
    assert cfg.cluster.node_groups, "no node groups to show"
    for name, group in cfg.cluster.node_groups.items():
        capacity = "spot" if group.capacity_type == "SPOT" else "on demand"
        assert (f"node group {name}: {group.desired_size} x {' | '.join(group.instance_types)} {capacity} "
                f"(min {group.min_size}, max {group.max_size}), {group.ami_type}, "
                f"Kubernetes {cfg.cluster.version}") in text


def test_connections_name_both_components_and_the_port(stack):
    cfg = typed_config(stack.stack)
    lines = connections(stack)
    rules = stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    from_ranges = [r for r in rules if "referencedSecurityGroupId" not in r.inputs]
    assert len(lines) == len(stack.connections) + len(from_ranges)
    assert any(line.startswith("cluster-nodes -> database ") and " tcp/5432 " in line for line in lines)
    assert any(line.startswith("cluster-nodes -> cache ") and " tcp/6379 " in line for line in lines)
    assert any(line.startswith("alb -> cluster-nodes ") and f" tcp/{cfg.load_balancer.target_port} " in line
               for line in lines)
    public = {line.split(" -> ")[0] for line in lines if " -> edge " in line}
    assert public == {str(c) for c in cfg.load_balancer.allowed_cidrs}
    assert "who may reach whom" in summary(stack)


def test_settings_read_as_written_not_as_python():
    text = summary(synth("prod"))
    assert "{'" not in text and "True" not in text and "False" not in text
    assert not re.search(r"(=|: )\d+\.0(?![\d.])", text)  # 100, not 100.0
    assert re.search(r"quota=\{[^}]*pods: \d+[,}]", text)
    assert "multiAz=true" in text and "podSecurity={enforce: restricted, warn: restricted" in text
    assert readable({"a": 2.0, "b": [True, None]}) == "{a: 2, b: [true, none]}"


def test_values_made_up_by_the_mocks_are_marked():
    s = synth("prod")
    text = summary(s)
    mock = set(s.mock_outputs())
    assert {"vpcId", "alertTopicArn", "databaseEndpoint", "natPublicIps"} <= mock
    assert not {"environment", "vpcCidr", "clusterName", "databaseName", "kubeconfig"} & mock
    assert f"  * vpcId = {s.outputs['vpcId']}" in text
    assert f"    vpcCidr = {s.outputs['vpcCidr']}" in text
    assert set(s.to_json()["mock_outputs"]) == mock


def test_json_adds_region_accounts_and_mock_outputs_keeping_the_old_fields(stack):
    document = stack.to_json()
    assert {"stack", "environment", "resources", "outputs", "warnings"} <= set(document)
    assert document["region"] == stack_config(stack.stack)["aws:region"]
    assert document["allowed_account_ids"] == list(typed_config(stack.stack).allowed_account_ids)
    assert set(document["mock_outputs"]) <= set(document["outputs"])


# --- policy results --------------------------------------------------------------------------------------------------

def test_mandatory_violations_come_before_advisory_ones_and_carry_fix_hints():
    s = synth("dev")
    report = policy_gate.check(s, "staging")
    assert {v["level"] for v in report.violations} == {"mandatory", "advisory"}  # both kinds to order
    text = policy_gate.render(report, "staging")
    levels = [line.split("]")[0].strip(" [") for line in text.splitlines() if line.startswith("  [")]
    assert levels == sorted(levels, key=lambda level: level != "mandatory")
    assert "      fix: envstack:database.multiAz: true" in text
    rendered = policy_gate.to_json(report, "staging")["violations"]
    assert isinstance(rendered, list)
    assert {v["policy"]: v.get("fix") for v in rendered}["rds-backup-retention"] == \
        "envstack:database.backupRetentionDays: at least 14"  # staging's guardrail, as is its pack threshold


def config_keys(model: type[BaseModel] = StackConfig, prefix: str = "") -> set[str]:
    """Every key a stack file may set, camelCase and dotted (envstack:cluster.nodeGroups is a mapping of groups)."""
    keys = set()
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        keys.add(key)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= config_keys(annotation, key + ".")
    return keys


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_fix_hints_name_rules_and_configuration_keys_that_exist(environment):
    rules = {p.name for p in all_policies()}
    keys = config_keys()
    hints = policy_gate.environment_hints(environment)
    assert set(hints) <= rules
    for rule, hint in hints.items():
        named = re.findall(r"envstack:([\w.]+)", hint)
        assert named, rule
        assert [k for k in named if k.rstrip(".") not in keys] == [], rule


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_fix_hints_ask_for_the_least_the_environments_pack_and_guardrails_accept(environment):
    """A hint names the number the environment's pack configuration enforces, and the AZ hint the guardrail's least:
    never a value the configuration or the pack refuses."""
    hints = policy_gate.environment_hints(environment)
    options = resolve(all_policies(), json.loads(policy_config_path(environment).read_text()))
    for rule, option in THRESHOLDS:
        assert hints[rule].endswith(f": at least {options[rule][1][option]}"), rule
    least = load_profile(environment).guardrails.min_az_count
    assert hints["alb-two-availability-zones"] == f"envstack:network.azCount: {least} or more"


def test_every_violation_a_stack_file_can_cause_has_a_hint():
    """dev measured against prod's gate: each violation is fixed by configuration, and says which key."""
    report = policy_gate.check(synth("dev"), "prod")
    assert report.violations
    assert {v["policy"] for v in report.violations} - set(policy_gate.environment_hints("prod")) == set()


def test_components_describe_themselves_to_the_tools_not_to_state(stack):
    """Settings and warnings reach the report through the manifest: nothing of them is written to Pulumi state."""
    records = [r for r in stack.resources if r.type.startswith("envstack:")]
    assert records and all(r.inputs == {} for r in records)
    assert sorted((c.token, c.name) for c in stack.components) == sorted((r.type, r.name) for r in records)
    assert all(stack.component(r.name).settings for r in records)
