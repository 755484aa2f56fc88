"""Security groups and endpoints judged by the address space they open, not by the string 0.0.0.0/0: the dodges
issue 21 found (split halves, public ports on any group, unchecked egress) refused, the program's own shapes passing."""

from typing import Any

import pytest
from policy_support import check, check_stack, resource
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.facts import INTERNET_TAG
from policies.rules.network import public_share

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
PREFIX_LIST = "aws:ec2/managedPrefixList:ManagedPrefixList"
PREFIX_LIST_ENTRY = "aws:ec2/managedPrefixListEntry:ManagedPrefixListEntry"
EKS = "eks:index:Cluster"
AWS_EKS = "aws:eks/cluster:Cluster"
EDGE_TAGS = {"Name": "envstack-prod-alb", INTERNET_TAG: "ingress"}


@pytest.mark.parametrize(("cidrs", "public"), [
    (["0.0.0.0/0"], True), (["0.0.0.0/1"], True), (["128.0.0.0/1"], True), (["0.0.0.0/1", "128.0.0.0/1"], True),
    (["::/0"], True), (["::/1"], True), (["2000::/4"], True), (["52.0.0.0/8"], True),
    (["10.0.0.0/8"], False), (["172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"], False),
    (["52.94.0.0/22"], False), (["fd00::/8"], False), (["2001:db8::/32"], False), (["not-a-cidr"], False),
])
def test_public_is_a_share_of_public_address_space(cidrs: list[str], public: bool) -> None:
    assert (public_share(cidrs) >= 0.001) is public


def group(name: str, tags: dict[str, str] | None = None, **props: Any) -> Any:
    return resource(SG, name, {"description": f"{name} group", "vpcId": "vpc-1", "tags": tags or {}, **props})


def rule(name: str, owner: Any, port: float, cidr: str | None = None, type_: str = INGRESS, protocol: str = "tcp",
         to_port: float | None = None, **props: Any) -> Any:
    cidr_key = "cidrIpv6" if cidr and ":" in cidr else "cidrIpv4"
    return resource(type_, name, {"ipProtocol": protocol, "fromPort": port, "toPort": to_port or port,
                                  "securityGroupId": f"{owner.name}-id", "description": name,
                                  **({cidr_key: cidr} if cidr else {}), **props},
                    property_dependencies={"securityGroupId": [owner]})


def ingress_findings(*resources: Any, config: dict[str, Any] | None = None) -> list[str]:
    return [message for message, _ in check_stack("security-group-no-public-ingress", list(resources), config)]


def test_the_edge_group_admits_the_internet_on_its_public_ports() -> None:
    edge = group("edge-alb", EDGE_TAGS)
    assert ingress_findings(edge, rule("https", edge, 443.0, "0.0.0.0/0"), rule("http", edge, 80.0, "0.0.0.0/0"),
                            rule("https6", edge, 443.0, "::/0")) == []


def test_public_ports_belong_to_declared_groups_only() -> None:
    """443 from 0.0.0.0/0 to the database passed before: the allowed ports applied to every group."""
    database = group("database", {"Name": "envstack-prod-postgres"})
    found = ingress_findings(database, rule("db-https", database, 443.0, "0.0.0.0/0"))
    assert found == [f"security group database: db-https opens tcp/443-443 to the internet, and the group is not "
                     f"declared internet-facing (tag {INTERNET_TAG}: ingress)"]
    edge = group("edge-alb", EDGE_TAGS)
    assert ingress_findings(edge, rule("app", edge, 8080.0, "0.0.0.0/0")) == [
        "security group edge-alb: app opens tcp/8080-8080 to the internet; only tcp/80, 443 may be public"]
    assert ingress_findings(edge, rule("quic", edge, 443.0, "0.0.0.0/0", protocol="udp")) == [
        "security group edge-alb: quic opens udp/443-443 to the internet; only tcp/80, 443 may be public"]


@pytest.mark.parametrize("halves", [("0.0.0.0/1", "128.0.0.0/1"), ("::/1", "::/1")])
def test_split_ranges_on_ssh_are_the_internet(halves: tuple[str, str]) -> None:
    """0.0.0.0/1 + 128.0.0.0/1 on port 22 passed before (an exact string compare with 0.0.0.0/0)."""
    nodes = group("nodes")
    found = ingress_findings(nodes, rule("ssh-a", nodes, 22.0, halves[0]), rule("ssh-b", nodes, 22.0, halves[1]))
    assert found and all("opens SSH to the internet" in f for f in found)
    inline = group("nodes", ingress=[{"protocol": "tcp", "fromPort": 20.0, "toPort": 25.0, "description": "ssh",
                                      "cidrBlocks": list(halves) if "." in halves[0] else [],
                                      "ipv6CidrBlocks": [] if "." in halves[0] else list(halves)}])
    assert ingress_findings(inline) == ["security group nodes: nodes ingress[0] opens SSH to the internet"]
    edge = group("edge-alb", EDGE_TAGS)  # a declared edge may not open SSH either
    assert ingress_findings(edge, rule("ssh", edge, 22.0, "0.0.0.0/0")) == [
        "security group edge-alb: ssh opens SSH to the internet"]


def test_overlapping_port_ranges_are_judged_together() -> None:
    """Two /11s are each under the threshold; where their port ranges overlap (3000-3500) they are over it."""
    nodes = group("nodes")
    low, high = rule("low", nodes, 1000.0, "52.0.0.0/11", to_port=3500.0), rule("high", nodes, 3000.0, "52.32.0.0/11",
                                                                                to_port=4000.0)
    assert ingress_findings(nodes, low) == ingress_findings(nodes, high) == []
    assert ingress_findings(nodes, low, high) == ["security group nodes: high, low opens RDP to the internet"]


def test_all_traffic_and_private_ranges() -> None:
    nodes = group("nodes")
    assert ingress_findings(nodes, rule("all", nodes, 0.0, "0.0.0.0/0", protocol="-1")) == [
        "security group nodes: all opens all traffic to the internet"]
    assert ingress_findings(nodes, rule("vpc", nodes, 0.0, "10.0.0.0/8", protocol="-1"),
                            rule("ssh", nodes, 22.0, "52.94.0.0/22")) == []


def test_a_rule_belongs_to_its_own_group_not_to_one_it_depends_on() -> None:
    """A rule on the database group that also depends on the edge group is still the database's."""
    edge, database = group("edge-alb", EDGE_TAGS), group("database")
    dodge = resource(INGRESS, "dodge", {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0,
                                        "cidrIpv4": "0.0.0.0/0", "securityGroupId": "database-id"},
                     dependencies=[edge], property_dependencies={"securityGroupId": [database]})
    assert [f.split(":")[0] for f in ingress_findings(edge, database, dodge)] == ["security group database"]
    unlinked = resource(INGRESS, "unlinked", {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0,
                                              "cidrIpv4": "0.0.0.0/0", "securityGroupId": "sg-elsewhere"},
                        dependencies=[edge])
    assert [f.split(":")[0] for f in ingress_findings(edge, unlinked)] == ["security group sg-elsewhere"]


def test_a_prefix_list_of_the_stack_is_read() -> None:
    nodes = group("nodes")
    everyone = resource(PREFIX_LIST, "everyone", {"entries": [{"cidr": "0.0.0.0/1"}, {"cidr": "128.0.0.0/1"}]})
    by_list = resource(INGRESS, "ssh", {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0,
                                        "prefixListId": "everyone", "securityGroupId": "nodes-id"},
                       property_dependencies={"securityGroupId": [nodes]})
    assert ingress_findings(nodes, everyone, by_list) == ["security group nodes: ssh opens SSH to the internet"]


def test_a_prefix_lists_separate_entries_and_a_list_not_known_before_up_are_read() -> None:
    """Entries given as ManagedPrefixListEntry resources count, and a rule finds a list the stack creates through its
    property dependency (the list's id is not known at preview)."""
    nodes = group("nodes")
    everyone = resource(PREFIX_LIST, "everyone", {"addressFamily": "IPv4", "maxEntries": 2.0})
    entry = resource(PREFIX_LIST_ENTRY, "all", {"cidr": "0.0.0.0/0", "prefixListId": UNKNOWN_STRING_VALUE},
                     property_dependencies={"prefixListId": [everyone]})
    by_list = resource(INGRESS, "ssh", {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "description": "ssh",
                                        "prefixListId": UNKNOWN_STRING_VALUE, "securityGroupId": "nodes-id"},
                       property_dependencies={"securityGroupId": [nodes], "prefixListId": [everyone]})
    assert ingress_findings(nodes, everyone, entry, by_list) == ["security group nodes: ssh opens SSH to the internet"]


def test_egress_to_the_internet_only_where_declared() -> None:
    nodes = group("nodes")
    out = rule("out", nodes, 443.0, "0.0.0.0/0", type_=EGRESS)
    assert check_stack("security-group-no-public-egress", [nodes, out]) == [
        (f"security group nodes: out reach the internet, and the group is not declared to (tag {INTERNET_TAG}: "
         "egress)", nodes.urn)]
    runner = group("runner", {INTERNET_TAG: "egress"})
    assert check_stack("security-group-no-public-egress", [runner, rule("out", runner, 443.0, "0.0.0.0/0",
                                                                         type_=EGRESS)]) == []
    inline = group("nodes", egress=[{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/1",
                                                                                                     "128.0.0.0/1"]}])
    assert [urn for _, urn in check_stack("security-group-no-public-egress", [inline])] == [inline.urn]
    # The ALB's one egress rule names the nodes' group, no CIDR; a VPC CIDR is not the internet.
    assert check_stack("security-group-no-public-egress", [nodes, rule("vpc", nodes, 443.0, "10.2.0.0/16",
                                                                        type_=EGRESS)]) == []
    assert check_stack("security-group-no-public-egress", [nodes, rule("to-nodes", nodes, 30080.0, type_=EGRESS,
                                                                        referencedSecurityGroupId="sg-1")]) == []


def test_descriptions_and_the_default_group() -> None:
    assert check("security-group-descriptions", INGRESS, {"ipProtocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0,
                                                          "referencedSecurityGroupId": "sg-1"}) == [
        "rule has no description"]
    assert check("default-security-group-closed", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                 {"ingress": [], "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0,
                                             "cidrBlocks": ["0.0.0.0/0"]}]}) == [
        "the default security group declares egress[0]; it must have no rules"]


@pytest.mark.parametrize("cidrs", [["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/0"], [], ["::/1"]])
def test_a_public_eks_endpoint_open_to_the_internet_is_refused(cidrs: list[str]) -> None:
    found = check("eks-public-endpoint-restricted", EKS, {"endpointPublicAccess": True, "publicAccessCidrs": cidrs})
    assert found and ("that is the internet" in found[0] or "is empty" in found[0])
    assert check("eks-public-endpoint-restricted", EKS, {"endpointPublicAccess": True,
                                                         "publicAccessCidrs": ["52.94.0.0/22"]}) == []


def test_the_public_endpoint_itself() -> None:
    """CKV_AWS_39: prod refuses a public endpoint however narrow its CIDRs."""
    assert check("eks-public-endpoint-disabled", AWS_EKS, {"vpcConfig": {"endpointPublicAccess": False}}) == []
    assert check("eks-public-endpoint-disabled", EKS, {"endpointPublicAccess": True,
                                                       "publicAccessCidrs": ["52.94.0.0/22"]}) == [
        "endpointPublicAccess is true (AWS's default): the API server answers on the internet"]
    assert check("eks-public-endpoint-disabled", AWS_EKS, {"vpcConfig": {}}) != []  # AWS's default is public


def reachable(*resources: Any) -> list[tuple[str, str | None]]:
    return check_stack("eks-private-endpoint-reachable", list(resources))


def test_a_private_cluster_is_reached_through_an_additional_security_group() -> None:
    """Issue 21: rules on the cluster's additional security groups count (vpcConfig.securityGroupIds)."""
    access = group("api-access")
    cluster = resource(AWS_EKS, "cluster", {"vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True,
                                                          "clusterSecurityGroupId": "sg-eks",
                                                          "securityGroupIds": ["api-access-id"]}},
                       property_dependencies={"vpcConfig": [access]})
    assert [urn for _, urn in reachable(cluster, access)] == [cluster.urn]
    assert reachable(cluster, access, rule("vpn", access, 443.0, "10.250.0.0/24")) == []
    by_id = resource(AWS_EKS, "cluster", {"vpcConfig": {"endpointPublicAccess": False,
                                                        "securityGroupIds": ["sg-extra"]}})
    extra = resource(SG_RULE, "vpn", {"type": "ingress", "protocol": "tcp", "fromPort": 443.0, "toPort": 443.0,
                                      "cidrBlocks": ["10.250.0.0/24"], "securityGroupId": "sg-extra"})
    assert reachable(by_id, extra) == []


def test_a_private_cluster_is_reached_by_the_members_of_its_group() -> None:
    """A group that admits its own members on 443 (self) makes its members (a runner carrying it) reach the API."""
    own = group("api-access", ingress=[{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "self": True,
                                        "description": "runners carrying this group"}])
    cluster = resource(AWS_EKS, "cluster", {"vpcConfig": {"endpointPublicAccess": False,
                                                          "securityGroupIds": ["api-access-id"]}},
                       property_dependencies={"vpcConfig": [own]})
    assert reachable(cluster, own) == []
    member_rule = resource(SG_RULE, "self", {"type": "ingress", "protocol": "-1", "fromPort": 0.0, "toPort": 0.0,
                                             "self": True, "securityGroupId": "sg-eks"})
    by_cluster_group = resource(AWS_EKS, "cluster", {"vpcConfig": {"endpointPublicAccess": False,
                                                                   "clusterSecurityGroupId": "sg-eks"}})
    assert reachable(by_cluster_group, member_rule) == []
