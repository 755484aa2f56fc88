"""The cost estimate: a complete, sourced price table, every resource priced or known free, budgets respected."""

import argparse
from typing import Any

import pytest
import yaml
from conftest import synth

from envstack import cost
from envstack.config import load_profile
from envstack.report import top_components
from envstack.synth import ResourceRecord, Synthesis


def record(type_: str, name: str = "r", component: str = "comp", **inputs: Any) -> ResourceRecord:
    parent = f"urn:pulumi:t::envstack::envstack:test:Thing::{component}"
    return ResourceRecord(urn=f"urn:pulumi:t::envstack::envstack:test:Thing${type_}::{name}", type=type_, name=name,
                          parent=parent, dependencies=[], protect=False, provider=None, custom=True, inputs=inputs)


def synthesis(*records: ResourceRecord) -> Synthesis:
    component = ResourceRecord(urn="urn:pulumi:t::envstack::envstack:test:Thing::comp", type="envstack:test:Thing",
                               name="comp", parent="urn:pulumi:t::envstack::pulumi:pulumi:Stack::envstack-t",
                               dependencies=[], protect=False, provider=None, custom=False, inputs={})
    return Synthesis("t", "dev", [component, *records], {})


def monthly(*records: ResourceRecord) -> float:
    return cost.estimate(synthesis(*records)).monthly_usd


def test_every_resource_type_a_stack_creates_is_priced_or_known_free(stack):
    assert cost.estimate(stack).unpriced_types == ()


def test_every_priced_resource_has_a_line_item(stack):
    estimate = cost.estimate(stack)
    priced = {(r.name, r.type) for r in stack.resources if r.type in cost.PRICED}
    charged = {(i.resource, i.type) for i in estimate.items}
    free_by_design = {(r.name, r.type) for r in stack.resources
                      if r.type == "aws:ec2/vpcEndpoint:VpcEndpoint" and r.inputs.get("vpcEndpointType") == "Gateway"}
    assert priced - free_by_design == charged


def test_estimate_meets_the_design_target(stack):
    estimate = cost.estimate(stack)
    assert estimate.monthly_usd <= cost.DESIGN_TARGETS_USD[stack.stack]
    assert estimate.budget_usd == load_profile(stack.environment).settings["monitoring"]["monthlyBudgetUsd"]


def test_only_dev_exceeds_its_seed_budget():
    """The seed budgets are 100/500/2000; dev cannot meet 100 (the EKS control plane alone is $73), and says so."""
    assert [s for s in ("dev", "staging", "prod") if cost.estimate(synth(s)).over_budget] == ["dev"]


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
    assert estimate.unpriced_types == ("aws:rds/instance:Instance (prices.yaml rds_instance: no price for db.x9.huge)",)
    assert estimate.items == ()


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
    assert spot == pytest.approx(on_demand * cost.load_prices().usd("spot_factor"), abs=0.02)


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


def test_price_table_names_region_date_and_a_source_for_every_entry():
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    assert table["region"] == "us-west-2" and table["hours_per_month"] == 730 and table["as_of"]
    for key, entry in table["prices"].items():
        assert entry["source"].startswith("https://aws.amazon.com/"), key
        assert entry["unit"] and entry["usd"] is not None, key


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
