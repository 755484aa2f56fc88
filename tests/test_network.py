"""The network component: subnet plan, tiers, NAT layout, isolation, flow logs, locked-down defaults."""

import json
from dataclasses import replace
from ipaddress import IPv4Network
from itertools import combinations

import pulumi
import pytest
from conftest import id_of, profile_config, region, run_monitored, synth, synth_with

from components.network import Network, NetworkArgs, TransitGateway, subnet_plan
from envstack.program import arguments
from envstack.program.config import ConfigError, load_stack_config
from envstack.tools.mocks import ACCOUNT_ID, AwsMocks
from envstack.tools.synth import RecordingMonitor, ResourceRecord

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def test_subnet_plan_is_stable_when_an_az_is_added():
    two, three = subnet_plan("10.0.0.0/16", 2), subnet_plan("10.0.0.0/16", 3)
    for tier in two:
        assert three[tier][:2] == two[tier]


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "172.16.0.0/20"])
def test_subnet_plan_fits_the_vpc_without_overlap(cidr):
    plan = subnet_plan(cidr, 4)
    subnets = [IPv4Network(s) for tier in plan.values() for s in tier]
    assert all(s.subnet_of(IPv4Network(cidr)) for s in subnets)
    assert not any(a.overlaps(b) for a, b in combinations(subnets, 2))


@pytest.mark.parametrize("azs", [1, 5])
def test_subnet_plan_refuses_one_az_and_more_than_it_can_carve(azs):
    with pytest.raises(ValueError, match="between 2 and 4"):
        subnet_plan("10.0.0.0/16", azs)


@pytest.mark.parametrize(("stack", "azs", "nats"), [("dev", 2, 1), ("staging", 3, 1), ("prod", 3, 3)])
def test_tiers_and_nat_gateways_per_environment(stack, azs, nats):
    s = synth(stack)
    subnets = s.of_type(SUBNET)
    assert len(subnets) == 3 * azs
    for tier in ("public", "private", "isolated"):
        assert sum(r.inputs["tags"]["Tier"] == tier for r in subnets) == azs
    assert len(s.of_type(NAT)) == nats
    assert len(s.of_type("aws:ec2/eip:Eip")) == nats


def test_subnet_cidrs_match_the_plan_and_never_map_public_ips():
    s = synth("prod")
    plan = subnet_plan("10.2.0.0/16", 3)
    for subnet in s.of_type(SUBNET):
        tier, index = subnet.name.split("-")[-2:]
        assert subnet.inputs["cidrBlock"] == plan[tier][int(index)]
        assert subnet.inputs["mapPublicIpOnLaunch"] is False


def test_each_private_subnet_routes_through_its_own_az_nat_in_prod():
    s = synth("prod")
    routes = {r.name: r.inputs for r in s.of_type(ROUTE)}
    assert routes["network-public-default"]["gatewayId"] == id_of(s, "network-igw")
    for i in range(3):
        assert routes[f"network-private-{i}-default"]["natGatewayId"] == id_of(s, f"network-nat-{i}", NAT)


def test_single_nat_is_shared_by_every_private_subnet():
    s = synth("staging")
    nat_ids = {r.inputs["natGatewayId"] for r in s.of_type(ROUTE) if "natGatewayId" in r.inputs}
    assert nat_ids == {id_of(s, "network-nat-0", NAT)}


def network_monitored(args: NetworkArgs, mocks: AwsMocks | None = None) -> RecordingMonitor:
    """The component built by itself under the synthesis mocks (for layouts no whole stack may use)."""
    return run_monitored(lambda: Network("network", args), mocks, args.region)


def network_alone(args: NetworkArgs, mocks: AwsMocks | None = None) -> list[ResourceRecord]:
    return network_monitored(args, mocks).records


def test_no_nat_means_no_default_route_from_private_subnets():
    """The component supports a VPC without NAT; the configuration refuses it while the cluster has nodes."""
    records = network_alone(replace(arguments.network(profile_config("dev", network={"transitGateway": None})),
                                    nat_gateways="none"))
    assert not [r for r in records if r.type == NAT]
    assert [r.name for r in records if r.type == ROUTE] == ["network-public-default"]
    assert sum(r.type == SUBNET for r in records) == 6


class AccountZones(AwsMocks):
    """An account whose us-east-1b is use1-az3, where EKS refuses cluster subnets; getAvailabilityZones answers as
    the AWS provider does (names sorted, excludeZoneIds left out)."""

    ZONES = (("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az3"), ("us-east-1c", "use1-az2"),
             ("us-east-1d", "use1-az4"))

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        if args.token != "aws:index/getAvailabilityZones:getAvailabilityZones":
            return super().call(args)
        kept = [(name, zone_id) for name, zone_id in self.ZONES if zone_id not in args.args.get("excludeZoneIds", [])]
        return {"names": [n for n, _ in kept], "zoneIds": [z for _, z in kept], "id": self.region}, []


def test_subnets_avoid_the_zone_ids_eks_refuses():
    records = network_alone(replace(arguments.network(profile_config("dev", region="us-east-1")), az_count=3),
                            AccountZones("us-east-1"))
    zones = {r.inputs["availabilityZone"] for r in records if r.type == SUBNET}
    assert zones == {"us-east-1a", "us-east-1c", "us-east-1d"}  # us-east-1b is use1-az3


def test_a_stack_without_nat_is_refused_before_any_resource():
    with pytest.raises(ConfigError) as caught:
        synth_with("dev", network={"natGateways": "none"})
    assert "stack dev: envstack:network.natGateways = 'none': 'single' or 'perAz'" in caught.value.render()


def test_isolated_tier_has_no_route_out_of_the_vpc(stack):
    isolated_table = id_of(stack, "network-isolated", ROUTE_TABLE)
    assert not [r for r in stack.of_type(ROUTE) if r.inputs["routeTableId"] == isolated_table]
    associations = stack.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    isolated = {stack.id_of(r) for r in stack.of_type(SUBNET) if r.inputs["tags"]["Tier"] == "isolated"}
    assert isolated
    for assoc in associations:
        if assoc.inputs["subnetId"] in isolated:
            assert assoc.inputs["routeTableId"] == isolated_table


FLOW_LOG = "aws:ec2/flowLog:FlowLog"


@pytest.mark.parametrize(("stack", "traffic", "destination", "days"), [
    ("dev", "REJECT", "cloud-watch-logs", 14), ("staging", "ALL", "s3", 30), ("prod", "ALL", "s3", 90)])
def test_flow_log_delivery_and_aggregation_per_environment(stack, traffic, destination, days):
    """dev: rejected flows into CloudWatch (a trickle); staging and prod: every flow into S3 at half the price."""
    s = synth(stack)
    flow_log = s.one(FLOW_LOG).inputs
    assert (flow_log["trafficType"], flow_log["logDestinationType"]) == (traffic, destination)
    assert flow_log["maxAggregationInterval"] == 600 and flow_log["vpcId"] == s.id_of(s.one("aws:ec2/vpc:Vpc"))
    if destination == "s3":
        bucket = next(r for r in s.of_type("aws:s3/bucket:Bucket") if r.name == "network-flow-logs")
        assert flow_log["logDestination"] == f"{s.state_of(bucket)['arn']}/vpc-flow-logs"
        assert "iamRoleArn" not in flow_log
        lifecycle = next(r for r in s.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
                         if r.name == "network-flow-logs")
        assert lifecycle.inputs["rules"][0]["expiration"] == {"days": days}
        assert bucket.protect is (stack == "prod") and bucket.inputs["forceDestroy"] is (stack != "prod")
    else:
        log_group = next(r for r in s.of_type("aws:cloudwatch/logGroup:LogGroup") if r.name == "network-flow-logs")
        assert log_group.inputs["retentionInDays"] == days
        assert log_group.inputs["name"] == f"/envstack-{stack}/network/flow-logs"
        assert flow_log["logDestination"].endswith(f":log-group:/envstack-{stack}/network/flow-logs")


def test_flow_log_bucket_admits_log_delivery_for_this_account_only():
    s = synth("prod")
    policy = next(r for r in s.of_type("aws:s3/bucketPolicy:BucketPolicy") if r.name == "network-flow-logs")
    flow_log = s.one(FLOW_LOG)
    assert policy.urn in flow_log.dependencies  # else VPC Flow Logs writes its own policy over ours
    write, acl_check, deny = json.loads(policy.inputs["policy"])["Statement"]
    only_ours = {"aws:SourceAccount": ACCOUNT_ID}
    assert write["Principal"] == acl_check["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Resource"] == f"{flow_log.inputs['logDestination']}/AWSLogs/{ACCOUNT_ID}/*"
    assert write["Condition"]["StringEquals"] == {**only_ours, "s3:x-amz-acl": "bucket-owner-full-control"}
    assert acl_check["Condition"]["StringEquals"] == only_ours
    assert {write["Condition"]["ArnLike"]["aws:SourceArn"], acl_check["Condition"]["ArnLike"]["aws:SourceArn"]} == {
        "arn:aws:logs:us-west-2:123456789012:*"}
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_flow_log_role_has_the_guides_minimum_on_its_log_group_and_a_confused_deputy_trust():
    s = synth("dev")
    role = next(r for r in s.of_type("aws:iam/role:Role") if r.name == "network-flow-logs")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
                                  "ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-west-2:123456789012:vpc-flow-log/*"}}
    policy = next(r for r in s.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "network-flow-logs")
    write, describe = json.loads(policy.inputs["policy"])["Statement"]
    group = "arn:aws:logs:us-west-2:123456789012:log-group:/envstack-dev/network/flow-logs"
    assert set(write["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"}
    assert write["Resource"] == [group, f"{group}:*"]
    assert describe["Action"] == "logs:DescribeLogGroups"
    assert describe["Resource"] == "*"  # a list action without a resource type: no one group
    assert policy.urn in s.one(FLOW_LOG).dependencies


def test_flow_log_settings_are_validated():
    with pytest.raises(ConfigError) as caught:
        synth_with("dev", network={"flowLogAggregationSeconds": 300, "flowLogDestination": "firehose"})
    rendered = caught.value.render()
    assert "envstack:network.flowLogAggregationSeconds = 300" in rendered
    assert "envstack:network.flowLogDestination = 'firehose'" in rendered


def test_default_security_group_allows_nothing(stack):
    default_sg = stack.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_sg.inputs.get("ingress", []) == [] and default_sg.inputs.get("egress", []) == []


def test_vpc_has_dns_and_a_free_s3_gateway_endpoint(stack):
    vpc = stack.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] and vpc.inputs["enableDnsHostnames"]
    [endpoint] = [e for e in stack.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Gateway"]
    assert endpoint.inputs["serviceName"] == f"com.amazonaws.{region(stack)}.s3"
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert id_of(stack, "network-isolated", ROUTE_TABLE) in endpoint.inputs["routeTableIds"]


@pytest.mark.parametrize(("stack", "services"), [
    ("dev", []), ("staging", ["sts", "secretsmanager", "ecr.api", "ecr.dkr", "logs"]),
    ("prod", ["sts", "secretsmanager", "ecr.api", "ecr.dkr", "logs"])])
def test_interface_endpoints_put_aws_apis_in_the_private_subnets_with_private_dns(stack, services):
    s = synth(stack)
    endpoints = [e.inputs for e in s.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]
    assert sorted(e["serviceName"] for e in endpoints) == sorted(f"com.amazonaws.us-west-2.{n}" for n in services)
    private = [s.id_of(subnet) for subnet in s.of_type(SUBNET) if subnet.inputs["tags"]["Tier"] == "private"]
    groups = [g for g in s.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name == "network-endpoints"]
    assert len(groups) == (1 if services else 0)
    for endpoint in endpoints:
        assert endpoint["privateDnsEnabled"] is True and endpoint["subnetIds"] == private
        assert endpoint["securityGroupIds"] == [s.id_of(groups[0])]
    if services:
        vpc_cidr = s.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]
        [rule] = [r.inputs for r in s.of_type(INGRESS_RULE) if r.inputs["securityGroupId"] == s.id_of(groups[0])]
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"], rule["cidrIpv4"]) == ("tcp", 443, 443, vpc_cidr)
        assert rule["description"]


def test_kubernetes_load_balancer_subnet_tags(stack):
    for subnet in stack.of_type(SUBNET):
        tags, tier = subnet.inputs["tags"], subnet.inputs["tags"]["Tier"]
        assert ("kubernetes.io/role/elb" in tags) == (tier == "public")
        assert ("kubernetes.io/role/internal-elb" in tags) == (tier == "private")


def test_data_subnet_groups_use_the_isolated_tier(stack):
    isolated = sorted(stack.id_of(r) for r in stack.of_type(SUBNET) if r.inputs["tags"]["Tier"] == "isolated")
    for type_ in ("aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup"):
        group = stack.one(type_)
        assert sorted(group.inputs["subnetIds"]) == isolated


# --- a transit gateway to the runners' networks (prod's private API from the first `up`) -------------------------

TGW = TransitGateway("tgw-0123456789abcdef0", ("10.250.0.0/24", "172.20.0.0/16"))
ROLE = "arn:aws:iam::111111111111:role/envstack-prod-deployer"


def test_the_private_subnets_attach_to_the_transit_gateway_and_route_the_runner_networks_through_it():
    monitor = network_monitored(replace(arguments.network(profile_config("dev")), az_count=3, nat_gateways="perAz",
                                        transit_gateway=TGW))
    records = monitor.records
    ids = {(r.type, r.name): monitor.ids[r.urn] for r in records}
    attachment, = [r for r in records if r.type == "aws:ec2transitgateway/vpcAttachment:VpcAttachment"]
    private = sorted(r.name for r in records if r.type == SUBNET and "-private-" in r.name)
    assert attachment.inputs["transitGatewayId"] == TGW.id
    assert attachment.inputs["subnetIds"] == [ids[SUBNET, name] for name in private]  # one subnet per AZ
    routes = {r.name: r for r in records if r.type == ROUTE and "transitGatewayId" in r.inputs}
    tables = [f"network-private-{i}" for i in range(3)]
    assert set(routes) == {f"{t}-to-{c.replace('.', '-').replace('/', '-')}" for t in tables for c in TGW.cidrs}
    for name, route in routes.items():
        table = name.split("-to-")[0]
        assert route.inputs["routeTableId"] == ids[ROUTE_TABLE, table]
        assert route.inputs["destinationCidrBlock"] in TGW.cidrs
        assert route.inputs["transitGatewayId"] == TGW.id
        assert attachment.urn in route.dependencies  # refused until the VPC is attached
    assert not [r for r in records if r.type == ROUTE and r.inputs.get("transitGatewayId")
                and r.inputs["routeTableId"] in (ids[ROUTE_TABLE, "network-public"],
                                                 ids[ROUTE_TABLE, "network-isolated"])]


def test_without_a_transit_gateway_nothing_is_attached():
    records = network_alone(arguments.network(profile_config("dev", network={"transitGateway": None})))
    assert not [r for r in records if r.type.startswith("aws:ec2transitgateway")]


def prod(**network: object) -> dict:
    return {"environment": "prod", "owner": "o@example.com", "team": "t", "repository": "r",
            "allowedAccountIds": ["111111111111"], "network": network,
            "monitoring": {"notificationEmails": ["oncall@acme-corp.io"]},
            "loadBalancer": {"certificateArn": "arn:aws:acm:us-west-2:111111111111:certificate/"
                                              "00000000-0000-4000-8000-000000000002"},
            "cluster": {"deployerRoleArn": ROLE, "apiAccessCidrs": ["10.250.0.0/24"]}}


def test_a_private_endpoint_needs_its_api_cidrs_inside_the_vpc_or_routed_through_the_transit_gateway():
    gateway = {"id": TGW.id, "cidrs": ["10.250.0.0/24"]}
    assert load_stack_config("p", prod(transitGateway=gateway), "us-west-2").network.transit_gateway.id == TGW.id
    inside = {**prod(), "cluster": {"deployerRoleArn": ROLE, "apiAccessCidrs": ["10.2.64.0/24"]}}
    assert load_stack_config("p", inside, "us-west-2").network.reaches(IPv4Network("10.2.64.0/24"))
    with pytest.raises(ConfigError) as caught:
        load_stack_config("p", prod(), "us-west-2")
    assert ("stack p: envstack:cluster.apiAccessCidrs = ['10.250.0.0/24']: CIDRs the private endpoint can answer: "
            "inside the VPC (10.2.0.0/16) or routed through envstack:network.transitGateway.cidrs (none: "
            "network.transitGateway is not set)") in caught.value.render()
    with pytest.raises(ConfigError) as caught:
        load_stack_config("p", prod(transitGateway={"id": TGW.id, "cidrs": ["10.251.0.0/24"]}), "us-west-2")
    assert "routed through envstack:network.transitGateway.cidrs (10.251.0.0/24)" in caught.value.render()


@pytest.mark.parametrize(("gateway", "key", "expected"), [
    ({"id": "tgw-xyz", "cidrs": ["10.250.0.0/24"]}, "envstack:network.transitGateway.id", "tgw-0123456789abcdef0"),
    ({"id": TGW.id, "cidrs": []}, "envstack:network.transitGateway.cidrs", "at least 1"),
    ({"id": TGW.id, "cidrs": ["52.94.0.0/22"]}, "envstack:network.transitGateway.cidrs", "not private: ['52.94"),
    ({"id": TGW.id, "cidrs": ["10.2.128.0/24"]}, "envstack:network.transitGateway",
     "overlap the VPC's 10.2.0.0/16"),
    ({"id": TGW.id, "cidrs": ["10.250.0.0/24", "10.250.0.0/24"]}, "envstack:network.transitGateway.cidrs",
     "listed twice"),
    ({"cidrs": ["10.250.0.0/24"]}, "envstack:network.transitGateway.id", "required"),
])
def test_bad_transit_gateway_settings_are_refused(gateway, key, expected):
    with pytest.raises(ConfigError) as caught:
        load_stack_config("p", prod(transitGateway=gateway), "us-west-2")
    rendered = caught.value.render()
    assert f"stack p: {key}" in rendered and expected in rendered, rendered
