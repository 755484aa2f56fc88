"""The synth summary: components in the order they build on each other, resources counted per type."""

from collections import Counter

from conftest import synth

from envstack.report import architecture_order, summary, top_components


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
