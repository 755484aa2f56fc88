"""The cost estimate: a complete, sourced price table, every resource priced or known free, budgets respected."""

import argparse
import copy
import functools
import importlib.util
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import STACKS, kubernetes_version, stack_config, synth, synth_with

from envstack.tools import cost
from envstack.tools.prices import read_yaml
from envstack.tools.report import top_components
from envstack.tools.synth import AWS_PROVIDER, ROOT, ResourceRecord, Synthesis

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


DB, CACHE = "aws:rds/instance:Instance", "aws:elasticache/replicationGroup:ReplicationGroup"


def items_of(estimate: cost.CostEstimate) -> set[str]:
    return {i.item for i in estimate.items}


def line(estimate: cost.CostEstimate, item: str, resource: str | None = None) -> cost.LineItem:
    """The one line of `item` (of `resource`, when given)."""
    (found,) = [i for i in estimate.items if i.item == item and resource in (None, i.resource)]
    return found


def test_every_resource_type_a_stack_creates_is_priced_or_known_free(stack):
    assert [u for u in cost.estimate(stack).unpriced if u.reason == cost.UNKNOWN_TYPE] == []


def price_book() -> dict[str, Any]:
    """prices.yaml as data, a copy to change (read once: it is ~0.6 MB)."""
    return copy.deepcopy(_price_book())


@functools.cache
def _price_book() -> dict[str, Any]:
    return dict(read_yaml(cost.PRICES_FILE.read_text()))


def write_book(path: Path, book: dict[str, Any]) -> None:
    path.write_text(yaml.dump(book, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))


def fully_priced(region: str | None) -> bool:
    """Whether prices.yaml prices every item in `region` (a region it knows only in part leaves lines unpriced)."""
    table = price_book()
    return region in table["regions"] and set(table["regions"][region]["prices"]) == set(table["items"])


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


@pytest.mark.parametrize(("stack", "extra"), [("dev", []), ("staging", []), ("prod", [365.0])])
def test_extended_support_is_shown_apart_from_the_total(stack, extra):
    """upgradePolicy EXTENDED costs $0.50 per cluster-hour more once the version leaves standard support: visible,
    but not today's cost."""
    estimate = cost.estimate(synth(stack))
    assert [i.monthly_usd for i in estimate.contingent] == extra
    assert estimate.monthly_usd == pytest.approx(sum(i.monthly_usd for i in estimate.items), abs=0.01)
    assert estimate.to_json()["contingent_line_items"] == [
        {"component": "cluster", "resource": "cluster-eks", "type": "eks:index:Cluster", "monthly_usd": 365.0,
         "item": "eks_extended_support",
         "description": f"EKS extended support, once Kubernetes {kubernetes_version(stack)} leaves standard "
                        "support"}][:len(extra)]
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
    estimate = cost.estimate(synthesis(record(DB, instanceClass="db.x9.huge")))
    reason = ("db.x9.huge: envstack/tools/prices.yaml us-west-2 rds_instance: no price for db.x9.huge (regenerate it: "
              "scripts/update_prices.py)")
    assert estimate.unpriced_types == (f"{DB} ({reason})",)
    assert estimate.unpriced == (cost.Unpriced("comp", "r", DB, reason),)
    assert "rds_instance" not in items_of(estimate) and not estimate.complete
    assert items_of(estimate) >= {"rds_gp3", "cross_az"}  # the instance's other lines are still priced
    assert estimate.to_json()["complete"] is False
    assert "total (incomplete)" in cost.render(estimate) and reason in cost.render(estimate)


def test_an_incomplete_estimate_fails_the_cost_report_pointing_to_the_price_file(monkeypatch, capsys):
    database = record("aws:rds/instance:Instance", instanceClass="db.r8g.large")  # a family the table lacks
    monkeypatch.setattr(cost_report, "synthesize", lambda stack: synthesis(database))
    assert cost_report.main(["t"]) == 1
    out = capsys.readouterr().out
    assert "FAIL t: the estimate is incomplete; price what it lacks in envstack/tools/prices.yaml" in out
    assert "comp/r (aws:rds/instance:Instance): db.r8g.large: envstack/tools/prices.yaml us-west-2 rds_instance: no " \
           "price for db.r8g.large" in out


def test_the_cost_report_covers_every_committed_stack(monkeypatch, capsys):
    """Without names, every stack file git tracks (here: the fixture stacks stand in for them)."""
    monkeypatch.setattr(cost_report, "committed", lambda: list(STACKS))
    monkeypatch.setattr(cost_report, "synthesize", synth)
    assert cost_report.main() == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[3:] == list(STACKS)


def test_a_bigger_database_never_lowers_the_estimate():
    """db.r7g.2xlarge is listed (every size the table offers is): priced from the table, nothing derived."""
    default = cost.estimate(synth("prod"))
    bigger = cost.estimate(synth_with("prod", database={"instanceClass": "db.r7g.2xlarge"}))
    assert bigger.complete
    prices = cost.load_prices("us-west-2")
    assert bigger.by_component["database"] - default.by_component["database"] == pytest.approx(
        730 * (prices.usd("rds_instance_multi_az", "db.r7g.2xlarge") -
               prices.usd("rds_instance_multi_az", "db.m7g.large")), abs=0.05)  # prod is Multi-AZ
    assert bigger.monthly_usd > default.monthly_usd and not bigger.derived


def test_a_size_the_table_lacks_is_unpriced_never_scaled_from_another_size(tmp_path):
    """A table that lists db.r7g.large only: db.r7g.2xlarge is missing (a size the table lacks may not be offered
    there), never 4 x db.r7g.large, and never another family's figure."""
    book = price_book()
    for item in ("rds_instance", "rds_instance_multi_az"):
        table = book["regions"]["us-west-2"]["prices"][item]
        book["regions"]["us-west-2"]["prices"][item] = {"db.r7g.large": table["db.r7g.large"]}
    path = tmp_path / "prices.yaml"
    write_book(path, book)
    prices = cost.load_prices("us-west-2", path)
    assert prices.multi_az("db.r7g.large").usd == table["db.r7g.large"]["usd"]  # the Multi-AZ table's own figure
    for klass in ("db.r7g.2xlarge", "db.r8g.large"):
        with pytest.raises(cost.MissingPriceError, match=rf"no price for {re.escape(klass)}"):
            prices.price("rds_instance", klass)
        with pytest.raises(cost.MissingPriceError, match=rf"rds_instance: no price for {re.escape(klass)}"):
            prices.multi_az(klass)
    assert prices.derived == ()


def test_an_unknown_size_or_family_is_unpriced_not_cheaper():
    for klass in ("db.r7g.metal", "db.r8g.large"):
        estimate = cost.estimate(synthesis(record(DB, instanceClass=klass)))
        assert not estimate.complete and "rds_instance" not in items_of(estimate), klass


def test_a_region_without_a_table_says_so_instead_of_borrowing_one():
    stack = copy.deepcopy(synth("dev"))
    next(r for r in stack.resources if r.type == AWS_PROVIDER).inputs["region"] = "ap-south-1"
    estimate = cost.estimate(stack)
    assert estimate.prices is None and estimate.items == () and not estimate.complete
    assert estimate.to_json()["monthly_usd"] is None and estimate.to_json()["prices_region"] is None
    assert "envstack/tools/prices.yaml has no price table for ap-south-1" in cost.render(estimate)
    assert "us-west-2 on-demand" not in cost.render(estimate)
    assert any("no price table for ap-south-1" in line for line in cost_report.problems({"dev": estimate}))


def test_multi_az_is_priced_at_the_tables_multi_az_figure_and_doubles_the_storage():
    """eu-west-1 db.t4g.micro: 0.035 an hour Multi-AZ, not twice the single-AZ 0.017 (aws-price-watcher's
    rds-postgresql-ondemand table); gp3 storage is billed for both copies."""
    single = dict(instanceClass="db.t4g.micro", allocatedStorage=100, manageMasterUserPassword=True)
    prices = cost.load_prices("eu-west-1")
    one, two = (cost.estimate(synthesis(record(DB, **single, **extra)), prices) for extra in ({}, {"multiAz": True}))
    assert line(one, "rds_instance").monthly_usd == pytest.approx(0.017 * 730, abs=0.01)
    assert line(two, "rds_instance").monthly_usd == pytest.approx(0.035 * 730, abs=0.01)
    assert line(two, "rds_gp3").monthly_usd == pytest.approx(2 * line(one, "rds_gp3").monthly_usd, abs=0.02)
    for item in ("secretsmanager_secret", "cross_az"):  # one secret, one primary to reach
        assert line(two, item).monthly_usd == line(one, item).monthly_usd
    assert not two.derived


def test_multi_az_without_a_multi_az_figure_is_twice_single_az_and_says_so(tmp_path):
    book = price_book()
    del book["regions"]["eu-west-1"]["prices"]["rds_instance_multi_az"]["db.t4g.micro"]
    path = tmp_path / "prices.yaml"
    write_book(path, book)
    two = cost.estimate(synthesis(record(DB, instanceClass="db.t4g.micro", multiAz=True)),
                        cost.load_prices("eu-west-1", path))
    assert line(two, "rds_instance").monthly_usd == pytest.approx(2 * 0.017 * 730, abs=0.01)
    assert two.derived == ("rds_instance_multi_az db.t4g.micro: 2 x single-AZ (the table has no Multi-AZ figure)",)


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
    nodes = line(cost.estimate(synthesis(record(CACHE, engine="valkey", nodeType="cache.t4g.small",
                                                numCacheClusters=2))), "elasticache_node").monthly_usd
    assert nodes == pytest.approx(2 * prices.monthly("elasticache_node", "valkey", "cache.t4g.small"), abs=0.01)


def stack_regions() -> set[str]:
    return {stack_config(stack)["aws:region"] for stack in STACKS}


def test_every_stack_region_gets_an_estimate(stack):
    estimate = cost.estimate(stack)
    assert estimate.prices is not None and estimate.prices.region == estimate.region


def test_prices_cover_every_class_the_stacks_use_or_the_estimate_says_what_it_lacks(stack):
    """In a region the table prices fully, every class and node type the stack chooses is priced; elsewhere each
    line the table lacks is listed, pointing at the generator, never priced at $0."""
    estimate = cost.estimate(stack)
    lacking = [u.reason for u in estimate.unpriced if "no price" in u.reason]
    if fully_priced(estimate.region):
        assert lacking == [] and estimate.complete
    else:
        assert lacking and all("regenerate it: scripts/update_prices.py" in r for r in lacking)
        assert not estimate.complete and "INCOMPLETE" in cost.render(estimate)


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


def test_every_priced_resource_has_a_line_item(stack):
    """Each priced resource has a line, unless all its charges come to less than half a cent (dev's few KB of logs)."""
    estimate = cost.estimate(stack)
    assert estimate.prices is not None
    context = cost.Context(estimate.prices, stack, cost.usage_of(stack))
    priced = {(r.name, r.type) for r in stack.resources if r.type in cost.PRICED
              if any(round(c.usd, 2) or c.missing for c in cost.PRICED[r.type](r, context))}
    charged = {(i.resource, i.type) for i in estimate.items} | {(u.resource, u.type) for u in estimate.unpriced}
    gateways = {(r.name, r.type) for r in stack.of_type(cost.VPC_ENDPOINT)
                if r.inputs.get("vpcEndpointType") == "Gateway"}
    assert priced - gateways == charged


USAGE_LINES = {  # what the issue found missing from prod's estimate, each a line of its own
    "data_out_internet": "edge", "cross_az": "database", "cloudwatch_logs": "cluster",
    "cloudwatch_logs_storage": "cluster", "rds_backup": "database", "elasticache_snapshot": "cache",
    "vpc_endpoint_data": "network", "kms_rotations": "database"}


def test_prod_lists_every_billed_line_from_its_usage_model():
    estimate = cost.estimate(synth("prod"))
    for item, component in USAGE_LINES.items():
        assert any(i.item == item and i.component == component and i.monthly_usd > 0 for i in estimate.items), item
    control_plane = line(estimate, "cloudwatch_logs", "cluster-control-plane")
    assert control_plane.description.startswith("EKS control-plane logs (audit for 5 nodes")
    assert estimate.complete and estimate.to_json()["usage"]["requestsPerSecond"] == 25


def requests_lines(estimate: cost.CostEstimate) -> dict[str, float]:
    wanted = {("alb_lcu", "edge"), ("waf_requests", "edge"), ("data_out_internet", "edge"),
              ("cloudwatch_logs", "edge-waf-logs")}
    return {item: i.monthly_usd for i in estimate.items for item, resource in wanted
            if i.item == item and i.resource == resource}


def test_a_stack_changing_its_request_rate_moves_lcus_waf_and_data_out_together():
    default, busier = cost.estimate(synth("prod")), cost.estimate(synth_with("prod", usage={"requestsPerSecond": 100}))
    before, after = requests_lines(default), requests_lines(busier)
    assert set(before) == set(after) == {"alb_lcu", "waf_requests", "data_out_internet", "cloudwatch_logs"}
    assert all(after[item] > before[item] for item in before), (before, after)
    assert after["waf_requests"] == pytest.approx(4 * before["waf_requests"], abs=0.02)
    assert after["cloudwatch_logs"] == pytest.approx(4 * before["cloudwatch_logs"], abs=0.02)  # WAF logs
    prices, usage = cost.load_prices(), busier.usage
    assert usage is not None
    units, by = cost.lcus(usage)
    assert after["alb_lcu"] == pytest.approx(units * prices.monthly("alb_lcu"), abs=0.01) and by == "processed bytes"
    out_gb = 100 * 730 * 3600 * usage.response_kb / 1024 ** 2
    assert after["data_out_internet"] == pytest.approx((out_gb - 100) * 0.09, abs=0.05)


def test_lcus_are_the_largest_dimension():
    usage = cost.usage_of(synthesis())
    quiet = usage.model_copy(update={"requests_per_second": 1, "requests_per_connection": 1,
                                     "connection_seconds": 3600})
    units, by = cost.lcus(quiet)
    assert (by, units) == ("active connections", pytest.approx(3600 / 3000))
    short = usage.model_copy(update={"requests_per_second": 100, "requests_per_connection": 1,
                                     "connection_seconds": 1, "request_kb": 0, "response_kb": 0})
    assert cost.lcus(short) == (pytest.approx(100 / 25), "new connections")


def with_cluster(**settings: Any) -> Synthesis:
    """dev (whose guardrails allow fewer control-plane log types) with its stack file's cluster settings and these."""
    return synth_with("dev", cluster={**stack_config("dev")["envstack:cluster"], **settings})


def test_control_plane_audit_logs_grow_with_the_nodes():
    def control_plane(**main: Any) -> float:
        return line(cost.estimate(with_cluster(nodeGroups={"main": main})), "cloudwatch_logs",
                    "cluster-control-plane").monthly_usd
    usage, price = cost.usage_of(synth("dev")), cost.load_prices().usd("cloudwatch_logs")
    assert control_plane(desiredSize=4, maxSize=5) - control_plane(desiredSize=2) == pytest.approx(
        2 * usage.logs.eks_audit_gb_per_node * price, abs=0.02)
    without_audit = cost.estimate(with_cluster(logTypes=["api"]))
    assert line(without_audit, "cloudwatch_logs", "cluster-control-plane").monthly_usd == pytest.approx(
        usage.logs.eks_other_gb / 4 * price, abs=0.01)


@pytest.mark.parametrize(("months", "rotations"), [(1, 0), (12, 0), (13, 1), (25, 2), (60, 2)])
def test_kms_rotation_charges_grow_with_the_keys_age_to_two(months, rotations):
    stack = copy.deepcopy(synthesis(record("aws:kms/key:Key", enableKeyRotation=True)))
    stack.usage = {**cost.usage_of(stack).model_dump(by_alias=True), "ageMonths": months}
    estimate = cost.estimate(stack)
    assert estimate.monthly_usd == pytest.approx(1.0 + rotations)
    assert ("kms_rotations" in items_of(estimate)) == bool(rotations)
    assert cost.estimate(synthesis(record("aws:kms/key:Key"))).monthly_usd == 1.0  # no rotation, no charge


def test_backups_beyond_the_allocated_storage_are_billed():
    """30 days of 5% daily changes on 70 GB: 70 + 105 = 175 GB kept, 100 GB free."""
    stack = synth_with("prod", usage={"databaseDataGb": 70, "databaseDailyChangeShare": 0.05})
    assert line(cost.estimate(stack), "rds_backup").monthly_usd == pytest.approx(75 * 0.095, abs=0.01)
    small = synth_with("prod", usage={"databaseDataGb": 10})
    assert "rds_backup" not in items_of(cost.estimate(small))


def test_cache_snapshots_beyond_the_free_one_are_billed():
    group = dict(engine="valkey", nodeType="cache.t4g.small", numCacheClusters=2)
    usage = cost.usage_of(synthesis())
    week = cost.estimate(synthesis(record(CACHE, snapshotRetentionLimit=7, **group)))
    assert line(week, "elasticache_snapshot").monthly_usd == pytest.approx(6 * usage.cache_data_gb * 0.085, abs=0.01)
    assert "elasticache_snapshot" not in items_of(cost.estimate(synthesis(record(CACHE, snapshotRetentionLimit=1,
                                                                                 **group))))


def test_a_single_nat_gateway_is_reached_across_azs_and_one_per_az_is_not():
    single, per_az = cost.estimate(synth("staging")), cost.estimate(synth("prod"))
    assert "cross_az" in {i.item for i in single.items if i.type == cost.NAT_GATEWAY}
    assert "cross_az" not in {i.item for i in per_az.items if i.type == cost.NAT_GATEWAY}


@pytest.mark.parametrize(("environment", "traffic", "interval", "destination", "item"), [
    ("dev", "REJECT", 600, "cloud-watch-logs", "cloudwatch_logs"),
    ("staging", "ALL", 600, "s3", "vpc_flow_logs"),
    ("prod", "ALL", 600, "s3", "vpc_flow_logs"),
])
def test_flow_logs_are_priced_from_the_usage_model(environment, traffic, interval, destination, item):
    stack = synth(environment)
    estimate, usage = cost.estimate(stack), cost.usage_of(stack)
    flow = stack.one(cost.FLOW_LOG)
    assert (flow.inputs["trafficType"], flow.inputs["logDestinationType"]) == (traffic, destination)
    gb = usage.logs.flow_log_gb * (usage.logs.flow_log_reject_share if traffic == "REJECT" else 1)
    assert line(estimate, item, flow.name).monthly_usd == pytest.approx(gb * cost.load_prices().usd(item), abs=0.01)


def test_access_logs_are_priced_by_their_lifecycle_storage_classes():
    """prod keeps ALB access logs 2555 days: STANDARD for 30, STANDARD_IA to 90, GLACIER after; by month 25 the
    bucket holds 25 months of them."""
    estimate, usage = cost.estimate(synth("prod")), cost.usage_of(synth("prod"))
    classes = {i.item: i for i in estimate.items if i.resource == "edge-access-logs"}
    assert set(classes) == {"s3_storage STANDARD", "s3_storage STANDARD_IA", "s3_storage GLACIER"}
    monthly_gb = usage.gb_per_month(usage.logs.access_log_kb_per_request)
    glacier_days = usage.age_months * 730 / 24 - 90
    assert classes["s3_storage GLACIER"].monthly_usd == pytest.approx(
        monthly_gb * glacier_days / (730 / 24) * 0.0036, abs=0.01)


def test_a_bucket_of_unknown_contents_is_unpriced():
    estimate = cost.estimate(synthesis(record("aws:s3/bucket:Bucket", name="extra")))
    assert not estimate.complete and "no usage figure for what bucket extra holds" in estimate.unpriced[0].reason


def test_an_endpoint_of_a_type_the_table_lacks_is_unpriced_not_an_interface_one():
    endpoint = record("aws:ec2/vpcEndpoint:VpcEndpoint", name="gwlb", vpcEndpointType="GatewayLoadBalancer",
                      subnetIds=["subnet-a"])
    estimate = cost.estimate(synthesis(endpoint))
    assert not estimate.complete and "not GatewayLoadBalancer ones" in estimate.unpriced[0].reason


def test_each_stacks_budget_covers_its_estimate_below_the_forecast_alert(stack):
    """A budget under its estimate would alert every month (dev's seed $100 against ~$240): each profile's budget
    covers its estimate, below the budget's FORECASTED alert threshold."""
    estimate = cost.estimate(stack)
    (budget,) = stack.of_type(cost.BUDGET)
    forecast = next(n for n in budget.inputs["notifications"] if n["notificationType"] == "FORECASTED")
    assert estimate.budget_usd is not None  # (an incomplete estimate: its priced part)
    assert estimate.monthly_usd <= estimate.budget_usd * forecast["threshold"] / 100


def test_an_estimate_over_its_budget_fails_the_cost_report(monkeypatch, capsys):
    budget = record(cost.BUDGET, limitAmount="1.00")
    monkeypatch.setattr(cost_report, "synthesize", lambda stack: synthesis(budget, record(cost.NAT_GATEWAY)))
    assert cost_report.main(["t"]) == 1
    assert "FAIL t: estimate $" in capsys.readouterr().out


def test_a_region_prices_only_what_it_knows_and_the_estimate_names_each_line_it_lacks(tmp_path):
    """A region's table without RDS backup storage: that line is unpriced (never borrowed from another region), the
    others priced with the region's own figures."""
    book = price_book()
    del book["regions"]["eu-central-1"]["prices"]["rds_backup"]
    path = tmp_path / "prices.yaml"
    write_book(path, book)
    prices = cost.load_prices("eu-central-1", path)
    frankfurt = cost.estimate(synth_with("dev", **{"aws:region": "eu-central-1"}), prices)
    assert frankfurt.prices is not None and frankfurt.prices.region == "eu-central-1" and not frankfurt.complete
    assert len(frankfurt.unpriced) == 1
    assert "envstack/tools/prices.yaml eu-central-1 rds_backup: no price" in frankfurt.unpriced[0].reason
    assert line(frankfurt, "nat_gateway").monthly_usd == pytest.approx(0.052 * 730, abs=0.01)
    assert not frankfurt.derived and "eu-central-1 on-demand prices" in cost.render(frankfurt)


def test_the_regions_the_readme_names_price_every_item_with_nothing_derived():
    table = price_book()
    for region in REQUIRED_REGIONS:
        assert set(table["regions"][region]["prices"]) == set(table["items"]), region
        estimate = cost.estimate(synth_with("dev", **{"aws:region": region}))
        assert estimate.complete and not estimate.derived, (region, estimate.problems(), estimate.derived)


def leaves(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and ("usd" in value or "tiers" in value):
        return [value]
    return [leaf for sub in value.values() for leaf in leaves(sub)] if isinstance(value, dict) else []


@pytest.mark.parametrize("region", sorted(REQUIRED_REGIONS))
def test_every_price_says_where_it_came_from(region):
    """An offer file's SKU and effective date, a published table named in `sources:` (a repository file at a commit,
    with its date), or the page a hand-typed figure was read from: exactly one; never a ratio."""
    table = price_book()
    regional = table["regions"][region]
    assert regional["as_of"] and set(regional["prices"]) <= set(table["items"])
    for leaf in leaves(regional["prices"]):
        kinds = ["effective" in leaf and "sku" in leaf, "source" in leaf, "typed" in leaf]
        assert kinds.count(True) == 1, leaf
        assert "typed" not in leaf or leaf["typed"].startswith("https://aws.amazon.com/"), leaf
        assert "source" not in leaf or re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}:\S+",
                                                    table["sources"][leaf["source"]]["table"]), leaf
        assert not {"ratio", "of"} & set(leaf), leaf


def test_a_price_naming_an_unknown_source_is_refused(tmp_path):
    book = price_book()
    book["regions"]["us-west-2"]["prices"]["alb"] = {"usd": 0.0225, "source": "somewhere"}
    path = tmp_path / "prices.yaml"
    write_book(path, book)
    with pytest.raises(ValueError, match="source 'somewhere' is not one of sources"):
        cost.load_prices("us-west-2", path)


def test_the_stacks_regions_price_every_item():
    table = price_book()
    for region in stack_regions():
        assert set(table["regions"][region]["prices"]) == set(table["items"]), region


def test_the_estimate_says_how_old_its_prices_are():
    estimate = cost.estimate(synth("dev"))
    assert estimate.prices is not None and estimate.prices.oldest == "2025-06-01"
    assert estimate.age_days(date(2025, 7, 1)) == 30
    assert f"as of 2025-06-01, {estimate.age_days()} days old" in cost.render(estimate)
    assert "nat_gateway" in estimate.to_json()["typed_prices"]
    assert "eks_cluster: aws-price-watcher:raw/eks.json" in estimate.to_json()["sourced_prices"]
    assert "read from published tables, not AWS's offer files" in cost.render(estimate)


def test_the_cost_report_columns_stay_apart_for_long_stack_names_and_regions():
    """A 20-character stack name and a 14-character region: every row as wide as the header, each value ending
    where its column ends, two spaces at least between columns."""
    database = record("aws:rds/instance:Instance", instanceClass="db.t4g.micro")
    estimates = {"payments-eu-review-1": cost.estimate(synthesis(database)),
                 "ap": cost.estimate(synthesis(database, region="ap-southeast-4"))}
    lines = cost_report.table(estimates).splitlines()
    header, regions = lines[0], lines[1]
    rows = [line for line in lines if not line.startswith(("-", "*"))]
    assert {len(line) for line in rows} == {len(header)}
    for name, region in (("payments-eu-review-1", "us-west-2"), ("ap", "ap-southeast-4")):
        end = header.index(name) + len(name)
        assert regions[:end].endswith(f"  {region}" if len(region) >= len(name) else region)
        assert all(row[end - 1] != " " for row in rows)  # every cell of the column ends there
    assert "  payments-eu-review-1  " in header
