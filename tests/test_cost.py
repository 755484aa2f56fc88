"""The cost estimate: a complete, sourced price table, every resource priced or known free, budgets respected."""

import argparse
import copy
import importlib.util
from typing import Any

import pytest
import yaml
from conftest import synth, synth_with

from envstack.ops.stacks import committed
from envstack.program.config import load_profile
from envstack.tools import cost
from envstack.tools.report import top_components
from envstack.tools.synth import AWS_PROVIDER, ROOT, ResourceRecord, Synthesis, read_stack_config

_spec = importlib.util.spec_from_file_location("cost_report", ROOT / "scripts" / "cost_report.py")
assert _spec and _spec.loader
cost_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cost_report)
REQUIRED_REGIONS = {"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1"}


def record(type_: str, name: str = "r", component: str = "comp", **inputs: Any) -> ResourceRecord:
    parent = f"urn:pulumi:t::envstack::envstack:test:Thing::{component}"
    return ResourceRecord(urn=f"urn:pulumi:t::envstack::envstack:test:Thing${type_}::{name}", type=type_, name=name,
                          parent=parent, dependencies=[], protect=False, provider=None, custom=True, inputs=inputs)


def synthesis(*records: ResourceRecord, region: str = "us-west-2") -> Synthesis:
    component = ResourceRecord(urn="urn:pulumi:t::envstack::envstack:test:Thing::comp", type="envstack:test:Thing",
                               name="comp", parent="urn:pulumi:t::envstack::pulumi:pulumi:Stack::envstack-t",
                               dependencies=[], protect=False, provider=None, custom=False, inputs={})
    provider = ResourceRecord(urn="urn:pulumi:t::envstack::pulumi:providers:aws::aws", type=AWS_PROVIDER,
                              name="aws", parent=None, dependencies=[], protect=False, provider=None, custom=True,
                              inputs={"region": region})
    return Synthesis("t", "dev", [provider, component, *records], {})


def monthly(*records: ResourceRecord) -> float:
    return cost.estimate(synthesis(*records)).monthly_usd


def test_every_resource_type_a_stack_creates_is_priced_or_known_free(stack):
    assert cost.estimate(stack).unpriced_types == ()


def test_every_priced_resource_has_a_line_item(stack):
    estimate = cost.estimate(stack)
    priced = {(r.name, r.type) for r in stack.resources if r.type in cost.PRICED}
    charged = {(i.resource, i.type) for i in estimate.items}
    flow_log_groups = {u for f in stack.of_type(cost.FLOW_LOG) for u in f.dependencies}  # priced on the flow log
    gateways = {(r.name, r.type) for r in stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                if r.inputs.get("vpcEndpointType") == "Gateway"}
    free_by_design = gateways | {(r.name, r.type) for r in stack.of_type("aws:cloudwatch/logGroup:LogGroup")
                                 if r.urn in flow_log_groups}
    assert priced - free_by_design == charged


def test_estimate_meets_the_design_target(stack):
    estimate = cost.estimate(stack)
    assert estimate.complete and estimate.design_target_usd is not None
    assert estimate.monthly_usd <= estimate.design_target_usd == cost.DESIGN_TARGETS_USD[stack.environment]
    assert estimate.budget_usd == load_profile(stack.environment).settings["monitoring"]["monthlyBudgetUsd"]


def test_only_dev_exceeds_its_seed_budget():
    """The seed budgets are 100/500/2000; dev cannot meet 100 (the EKS control plane alone is $73), and says so."""
    assert [s for s in ("dev", "staging", "prod") if cost.estimate(synth(s)).over_budget] == ["dev"]


@pytest.mark.parametrize(("stack", "description", "gb", "item"), [
    ("dev", "flow logs, REJECT at 600 s, to CloudWatch Logs (assumed 0.25 GB)", 0.25, "cloudwatch_logs"),
    ("staging", "flow logs, ALL at 600 s, to S3 (assumed 20 GB)", 20, "vpc_flow_logs"),
    ("prod", "flow logs, ALL at 600 s, to S3 (assumed 60 GB)", 60, "vpc_flow_logs"),
])
def test_flow_logs_are_priced_from_the_environments_assumed_volume(stack, description, gb, item):
    """Per environment (prices.yaml vpc_flow_logs): S3 vended-log delivery or CloudWatch Logs ingestion, and the
    log group a flow log writes to is not charged a second time."""
    estimate, prices = cost.estimate(synth(stack)), cost.load_prices("us-west-2")
    (line,) = [i for i in estimate.items if i.type == cost.FLOW_LOG]
    assert (line.component, line.description) == ("network", description)
    assert line.monthly_usd == pytest.approx(gb * prices.usd(item), abs=0.01)
    assert not [i for i in estimate.items if i.resource == "network-flow-logs" and "ingestion" in i.description]


def test_all_traffic_every_minute_into_cloudwatch_costs_the_most():
    """The issue's most expensive choice: 3x the records at 60 s, at twice S3's price per GB."""
    def flow_log(**inputs: Any) -> float:
        return monthly(record(cost.FLOW_LOG, **inputs))

    cheapest = flow_log(trafficType="REJECT", maxAggregationInterval=600, logDestinationType="s3")
    s3 = flow_log(trafficType="ALL", maxAggregationInterval=600, logDestinationType="s3")
    cloudwatch = flow_log(trafficType="ALL", maxAggregationInterval=600, logDestinationType="cloud-watch-logs")
    every_minute = flow_log(trafficType="ALL", maxAggregationInterval=60, logDestinationType="cloud-watch-logs")
    assert cheapest < s3 < cloudwatch < every_minute == pytest.approx(3 * cloudwatch, abs=0.01)
    assert cloudwatch == pytest.approx(2 * s3, abs=0.01)


def test_waf_logs_are_priced_from_the_assumed_requests():
    estimate, prices = cost.estimate(synth("prod")), cost.load_prices("us-west-2")
    (line,) = [i for i in estimate.items if i.resource == "edge-waf-logs"]
    gb = prices.assumed("waf_requests") * prices.waf_log_kb_per_request
    assert line.description == f"WAF request logs (assumed 5 M requests x 1.5 KB = {gb:g} GB)"
    assert line.monthly_usd == pytest.approx(gb * prices.usd("cloudwatch_logs"), abs=0.01)


def test_interface_endpoints_cost_per_endpoint_and_az():
    estimate, prices = cost.estimate(synth("prod")), cost.load_prices("us-west-2")
    endpoints = [i for i in estimate.items if i.type == "aws:ec2/vpcEndpoint:VpcEndpoint"]
    azs = load_profile("prod").settings["network"]["azCount"]
    assert len(endpoints) == len(load_profile("prod").settings["network"]["interfaceEndpoints"]) == 5
    assert all(i.monthly_usd == pytest.approx(azs * prices.monthly("vpc_interface_endpoint")) for i in endpoints)
    assert {i.component for i in endpoints} == {"network"}
    assert not [i for i in cost.estimate(synth("dev")).items if i.type == "aws:ec2/vpcEndpoint:VpcEndpoint"]


@pytest.mark.parametrize(("stack", "extra"), [("dev", []), ("staging", []), ("prod", [365.0])])
def test_extended_support_is_shown_apart_from_the_total(stack, extra):
    """upgradePolicy EXTENDED costs $0.50 per cluster-hour more once the version leaves standard support: visible,
    but not today's cost."""
    estimate = cost.estimate(synth(stack))
    assert [i.monthly_usd for i in estimate.contingent] == extra
    assert estimate.monthly_usd == pytest.approx(sum(i.monthly_usd for i in estimate.items), abs=0.01)
    assert estimate.to_json()["contingent_line_items"] == [
        {"component": "cluster", "resource": "cluster-eks", "type": "eks:index:Cluster", "monthly_usd": 365.0,
         "description": "EKS extended support, once Kubernetes 1.35 leaves standard support"}][:len(extra)]
    shown = "not in the total: cluster +$365.00/month, EKS extended support" in cost.render(estimate)
    assert shown == bool(extra)


def test_components_add_up_to_the_total(stack):
    estimate = cost.estimate(stack)
    assert sum(estimate.by_component.values()) == pytest.approx(estimate.monthly_usd, abs=0.05)
    owner = top_components(stack)
    assert set(estimate.by_component) == {owner[r.urn] for r in stack.resources if r.type in cost.PRICED}


def test_priced_and_free_lists_do_not_overlap():
    assert not set(cost.PRICED) & cost.FREE


def test_a_resource_type_in_neither_list_is_reported():
    estimate = cost.estimate(synthesis(record("aws:ec2/instance:Instance", instanceType="m7i.large")))
    assert estimate.unpriced_types == ("aws:ec2/instance:Instance",)


def test_an_instance_class_missing_from_the_table_is_reported_not_guessed():
    estimate = cost.estimate(synthesis(record("aws:rds/instance:Instance", instanceClass="db.x9.huge")))
    reason = "envstack/tools/prices.yaml us-west-2 rds_instance: no price for db.x9.huge"
    assert estimate.unpriced_types == (f"aws:rds/instance:Instance ({reason})",)
    assert estimate.unpriced == (cost.Unpriced("comp", "r", "aws:rds/instance:Instance", reason),)
    assert estimate.items == () and not estimate.complete
    assert estimate.to_json()["complete"] is False
    assert "total (incomplete)" in cost.render(estimate) and reason in cost.render(estimate)


def test_an_incomplete_estimate_fails_the_cost_report_pointing_to_the_price_file(monkeypatch, capsys):
    database = record("aws:rds/instance:Instance", instanceClass="db.x2g.large")  # a family the table lacks
    monkeypatch.setattr(cost_report, "synthesize", lambda stack: synthesis(database))
    assert cost_report.main(["t"]) == 1
    out = capsys.readouterr().out
    assert "FAIL t: the estimate is incomplete; price what it lacks in envstack/tools/prices.yaml" in out
    assert "comp/r (aws:rds/instance:Instance): envstack/tools/prices.yaml us-west-2 rds_instance: no price for " \
           "db.x2g.large" in out


def test_the_cost_report_covers_every_committed_stack(monkeypatch, capsys):
    monkeypatch.setattr(cost_report, "synthesize", synth)
    assert cost_report.main() == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[3:] == committed() and len(committed()) >= 3


def test_a_bigger_database_never_lowers_the_estimate():
    """db.r7g.2xlarge is not listed: it is priced from db.r7g.large by AWS's size factor (4x), and says so."""
    default = cost.estimate(synth("prod"))
    bigger = cost.estimate(synth_with("prod", database={"instanceClass": "db.r7g.2xlarge"}))
    assert bigger.complete
    large = cost.load_prices("us-west-2").usd("rds_instance", "db.r7g.large")
    assert bigger.by_component["database"] - default.by_component["database"] == pytest.approx(
        2 * 730 * (4 * large - cost.load_prices().usd("rds_instance", "db.m7g.large")), abs=0.05)  # Multi-AZ
    assert bigger.monthly_usd > default.monthly_usd
    assert "rds_instance db.r7g.2xlarge: 4 x db.r7g.large" in bigger.derived


def test_an_unknown_size_or_family_is_unpriced_not_cheaper():
    for klass in ("db.r7g.metal", "db.x2g.large"):
        estimate = cost.estimate(synthesis(record("aws:rds/instance:Instance", instanceClass=klass)))
        assert not estimate.complete and estimate.items == (), klass


def test_a_stack_is_priced_with_its_regions_table():
    """The same dev stack in eu-west-1 is priced with eu-west-1's figures (NAT $0.048/h there, $0.045 in us-west-2)."""
    home = cost.estimate(synth("dev"))
    ireland = cost.estimate(synth_with("dev", **{"aws:region": "eu-west-1"}))
    assert (home.region, ireland.region) == ("us-west-2", "eu-west-1")
    assert ireland.prices is not None and ireland.prices.region == "eu-west-1" and ireland.complete
    nat = next(i for i in ireland.items if i.description == "NAT gateway")
    assert nat.monthly_usd == pytest.approx(0.048 * 730, abs=0.01)
    assert ireland.monthly_usd > home.monthly_usd
    assert "eu-west-1 on-demand prices" in cost.render(ireland)
    assert any(d.startswith("rds_instance") and "us-west-2 x" in d for d in ireland.derived)  # RDS is not quoted


def test_a_region_without_a_table_says_so_instead_of_borrowing_one():
    stack = copy.deepcopy(synth("dev"))
    next(r for r in stack.resources if r.type == AWS_PROVIDER).inputs["region"] = "ap-south-1"
    estimate = cost.estimate(stack)
    assert estimate.prices is None and estimate.items == () and not estimate.complete
    assert estimate.to_json()["monthly_usd"] is None and estimate.to_json()["prices_region"] is None
    assert "envstack/tools/prices.yaml has no price table for ap-south-1" in cost.render(estimate)
    assert "us-west-2 on-demand" not in cost.render(estimate)
    assert any("no price table for ap-south-1" in line for line in cost_report.problems({"dev": estimate}))


def test_multi_az_doubles_the_instance_and_storage_and_the_managed_secret_counts():
    single = dict(instanceClass="db.m7g.large", allocatedStorage=100, manageMasterUserPassword=True)
    one, two = monthly(record("aws:rds/instance:Instance", **single)), \
        monthly(record("aws:rds/instance:Instance", multiAz=True, **single))
    secret = cost.load_prices().usd("secretsmanager_secret")
    assert two - secret == pytest.approx(2 * (one - secret), abs=0.02)


def test_spot_nodes_cost_the_documented_fraction():
    group = dict(instanceTypes=["m7i.large"], scalingConfig={"desiredSize": 2}, diskSize=0.001)
    on_demand = monthly(record("eks:index:ManagedNodeGroup", **group))
    spot = monthly(record("eks:index:ManagedNodeGroup", capacityType="SPOT", **group))
    assert spot == pytest.approx(on_demand * cost.load_prices().spot_factor, abs=0.02)


def test_node_group_root_volumes_come_from_its_launch_template():
    template = record("aws:ec2/launchTemplate:LaunchTemplate", name="lt",
                      blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 50}}])
    group = record("eks:index:ManagedNodeGroup", instanceTypes=["t3.medium"], scalingConfig={"desiredSize": 3})
    group.dependencies.append(template.urn)
    items = cost.estimate(synthesis(template, group)).items
    volumes = next(i for i in items if "root volume" in i.description)
    assert volumes.monthly_usd == pytest.approx(3 * 50 * cost.load_prices().usd("ebs_gp3"))


def test_replication_group_prices_every_node_at_its_engines_rate():
    prices = cost.load_prices()
    nodes = monthly(record("aws:elasticache/replicationGroup:ReplicationGroup", engine="valkey",
                           nodeType="cache.t4g.small", numCacheClusters=2))
    assert nodes == pytest.approx(2 * prices.monthly("elasticache_node", "valkey", "cache.t4g.small"), abs=0.01)


def stack_regions() -> set[str]:
    return {read_stack_config(stack)["aws:region"] for stack in committed()}


def test_price_tables_cover_the_required_regions_and_every_stacks_region():
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    assert REQUIRED_REGIONS | stack_regions() <= set(table["regions"])
    assert table["hours_per_month"] == 730


@pytest.mark.parametrize("region", sorted(yaml.safe_load(cost.PRICES_FILE.read_text())["regions"]))
def test_every_region_prices_every_item_with_a_date_and_a_source(region):
    """A quote names the AWS pricing page; a derived figure says "derived" and from which region's quote."""
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    regional = table["regions"][region]
    assert regional["as_of"]
    assert set(regional["prices"]) == set(table["items"])
    for key, entry in regional["prices"].items():
        assert table["items"][key]["unit"], key
        assert "usd" in entry or "ratio" in entry, (region, key)
        if "ratio" in entry:
            assert "derived" in entry["source"] and "https://aws.amazon.com/" in entry["source"], (region, key)
            assert "ratio" not in table["regions"][entry["of"]]["prices"][key], (region, key)  # one step from a quote
        else:
            assert entry["source"].startswith("https://aws.amazon.com/"), (region, key)
        assert not entry["source"].startswith("derived") or "usd" not in entry, (region, key)


def test_derived_figures_are_the_ratio_times_the_quote():
    ireland, oregon = cost.load_prices("eu-west-1"), cost.load_prices("us-west-2")
    assert ireland.price("ec2_instance", "t3.medium") == cost.Price(0.0456)  # quoted
    derived = ireland.price("ec2_instance", "m7i.large")
    assert derived.derived == "us-west-2 x 1.1146"
    assert derived.usd == pytest.approx(oregon.usd("ec2_instance", "m7i.large") * 1.1146, abs=1e-5)
    with pytest.raises(cost.MissingPriceError, match=r"envstack/tools/prices\.yaml eu-west-1 ec2_instance: no price"):
        ireland.price("ec2_instance", "x9.huge")


def test_every_committed_stack_region_gets_an_estimate(stack):
    estimate = cost.estimate(stack)
    assert estimate.prices is not None and estimate.prices.region == estimate.region


def test_prices_cover_every_class_the_profiles_use(stack):
    """No KeyError-turned-unpriced entry for the classes and node types the profiles choose."""
    assert not [t for t in cost.estimate(stack).unpriced_types if "no price" in t]


def test_synth_section_warns_over_budget_and_never_changes_the_exit_code(capsys):
    budget = record("aws:budgets/budget:Budget", limitAmount="1.00")
    nat = record("aws:ec2/natGateway:NatGateway", name="nat")
    key, value, code = cost.section(synthesis(budget, nat), argparse.Namespace())
    out = capsys.readouterr().out
    assert (key, code) == ("cost", 0)
    assert "estimated monthly cost" in out and "WARNING: the estimate" in out
    assert isinstance(value, dict)
    assert value["budget_usd"] == 1.0 and value["monthly_usd"] == value["by_component"]["comp"] > 1


def test_synth_prints_the_estimate_by_component(capsys):
    s = synth("prod")
    cost.section(s, argparse.Namespace())
    out = capsys.readouterr().out
    assert "total" in out and "database" in out and "WARNING" not in out
