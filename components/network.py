"""Network: a three-tier VPC, secure by default.

public   (ALB, NAT gateways)  route to the internet gateway, `kubernetes.io/role/elb`
private  (EKS nodes)          route to a NAT gateway (none | single | one per AZ), `kubernetes.io/role/internal-elb`;
                              optionally attached to an existing transit gateway, the runners' networks routed to it
isolated (RDS, ElastiCache)   no route out of the VPC at all; the DB and cache subnet groups live here

A free S3 gateway endpoint serves the private and isolated tiers; interface endpoints (PrivateLink, private DNS) put
the listed AWS APIs (STS, Secrets Manager, ECR, CloudWatch Logs...) inside the VPC, in the private subnets.

Subnet CIDRs are a pure function of the VPC CIDR and the AZ's index, so adding an AZ never re-carves
an existing subnet.
"""

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from envstack.program.zones import EKS_UNSUPPORTED_ZONE_IDS

from .access_logs import AccessLogArgs, AccessLogBucket
from .base import Component, policy_document

NatGateways = Literal["none", "single", "perAz"]
MIN_AZS, MAX_AZS = 2, 4  # the ALB and the DB subnet group need two AZs (envstack/program/config/network.py)
TIERS = ("public", "private", "isolated")
FLOW_LOG_PREFIX = "vpc-flow-logs"  # the folder flow logs are written under in their bucket
# How AWS services' endpoint services are named: com.amazonaws.<region>.<service>, cn.com.amazonaws.... in China.
ENDPOINT_SERVICE_PREFIXES = ("com.amazonaws", "cn.com.amazonaws")


def subnet_plan(cidr: str, az_count: int) -> dict[str, list[str]]:
    """Deterministic subnet CIDRs per tier, stable when az_count grows.

    The VPC splits into quarters: the first two hold the private subnets (one eighth of the VPC each, for
    pods and nodes), the third the public subnets and the fourth the isolated ones (one sixty-fourth each).
    """
    if not MIN_AZS <= az_count <= MAX_AZS:
        raise ValueError(f"az_count must be between {MIN_AZS} and {MAX_AZS}, got {az_count}")
    vpc = IPv4Network(cidr)
    quarters = list(vpc.subnets(prefixlen_diff=2))
    slots = {
        "private": list(vpc.subnets(prefixlen_diff=3)),
        "public": list(quarters[2].subnets(prefixlen_diff=4)),
        "isolated": list(quarters[3].subnets(prefixlen_diff=4)),
    }
    return {tier: [str(slots[tier][i]) for i in range(az_count)] for tier in TIERS}


@dataclass(frozen=True)
class FlowLogs:
    """What the VPC's flow logs record and where they go. CloudWatch Logs ingests vended logs at twice the price of
    delivery to S3, and 600 s aggregation writes up to ten times fewer records than 60 s for long-lived flows."""

    traffic: Literal["ALL", "ACCEPT", "REJECT"]
    aggregation_seconds: Literal[60, 600]
    destination: Literal["cloud-watch-logs", "s3"]
    retention_days: int  # the log group's retention, or the bucket's expiry


@dataclass(frozen=True)
class TransitGateway:
    """An existing transit gateway the private subnets attach to, and the networks (runners, VPNs) routed through it."""

    id: str
    cidrs: tuple[str, ...]


@dataclass(frozen=True)
class NetworkArgs:
    cidr: str
    az_count: int
    nat_gateways: NatGateways
    flow_logs: FlowLogs
    region: str
    name_prefix: str  # for Name tags: envstack-prod-private-us-west-2a
    protect: bool  # protect the flow-log encryption key and bucket
    interface_endpoints: tuple[str, ...]  # AWS service short names: "sts", "ecr.api", ...
    transit_gateway: TransitGateway | None
    permissions_boundary: str | None  # carried by the flow logs role


class Network(Component):
    vpc_id: pulumi.Output[str]
    flow_log_bucket: AccessLogBucket | None = None  # with flow logs to S3

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("envstack:network:Network", name, {
            "cidr": args.cidr, "azCount": args.az_count, "natGateways": args.nat_gateways,
            "flowLogs": f"{args.flow_logs.traffic}/{args.flow_logs.aggregation_seconds}s to "
                        f"{args.flow_logs.destination}, {args.flow_logs.retention_days} days",
            "interfaceEndpoints": list(args.interface_endpoints),
            **({"transitGateway": f"{args.transit_gateway.id} for {', '.join(args.transit_gateway.cidrs)}"}
               if args.transit_gateway else {})}, opts,
            protect=args.protect, name_prefix=args.name_prefix, permissions_boundary=args.permissions_boundary)
        self._args = args
        plan = subnet_plan(args.cidr, args.az_count)
        zones = aws.get_availability_zones_output(  # `envstack preflight` asks the account the same question
            state="available",
            exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),  # the cluster's subnets are in every zone
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.azs = [zones.names[i] for i in range(args.az_count)]

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=args.cidr, enable_dns_support=True, enable_dns_hostnames=True,
            tags={"Name": args.name_prefix}, opts=self.child(),
        )
        self.vpc_id = self.vpc.id
        self._lock_down_defaults()
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": args.name_prefix}, opts=self.child())

        public_table = self._route_table("public", internet_gateway_id=self.internet_gateway.id)
        self.public_subnets = self._subnets("public", plan, lambda i: public_table,
                                            {"kubernetes.io/role/elb": "1"})
        self.nat_gateways, self.nat_eips = self._nat_gateways()
        self.private_route_tables = [self._private_route_table(i) for i in range(args.az_count)]
        self.private_subnets = self._subnets("private", plan, lambda i: self.private_route_tables[i],
                                             {"kubernetes.io/role/internal-elb": "1"})
        self.isolated_route_table = self._route_table("isolated")
        self.isolated_subnets = self._subnets("isolated", plan, lambda i: self.isolated_route_table, {})

        self.transit_gateway_attachment, self.transit_gateway_routes = self._transit_gateway()
        self._s3_gateway_endpoint()
        self.interface_endpoints = self._interface_endpoints()
        self.flow_log = self._flow_log()
        self.db_subnet_group, self.cache_subnet_group = self._data_subnet_groups()

        self.register_outputs({
            "vpc_id": self.vpc.id,
            "vpc_cidr": self.vpc.cidr_block,
            "public_subnet_ids": self.public_subnet_ids,
            "private_subnet_ids": self.private_subnet_ids,
            "isolated_subnet_ids": self.isolated_subnet_ids,
            "nat_public_ips": [eip.public_ip for eip in self.nat_eips],
            "db_subnet_group_name": self.db_subnet_group.name,
            "cache_subnet_group_name": self.cache_subnet_group.name,
        })

    @property
    def public_subnet_ids(self) -> list[pulumi.Output[str]]:
        return [s.id for s in self.public_subnets]

    @property
    def private_subnet_ids(self) -> list[pulumi.Output[str]]:
        return [s.id for s in self.private_subnets]

    @property
    def isolated_subnet_ids(self) -> list[pulumi.Output[str]]:
        return [s.id for s in self.isolated_subnets]

    def _data_subnet_groups(self) -> tuple[aws.rds.SubnetGroup, aws.elasticache.SubnetGroup]:
        """The isolated subnets, as the subnet groups RDS and ElastiCache are placed with."""
        return (
            aws.rds.SubnetGroup(f"{self.label}-db", description=f"{self.label}: isolated subnets for RDS",
                                subnet_ids=self.isolated_subnet_ids, opts=self.child()),
            aws.elasticache.SubnetGroup(f"{self.label}-cache",
                                        description=f"{self.label}: isolated subnets for ElastiCache",
                                        subnet_ids=self.isolated_subnet_ids, opts=self.child()),
        )

    def _lock_down_defaults(self) -> None:
        """The default security group allows nothing; nothing should ever use it."""
        aws.ec2.DefaultSecurityGroup(
            f"{self.label}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[],
            tags={"Name": f"{self._args.name_prefix}-default-do-not-use"}, opts=self.child())

    def _route_table(self, label: str, internet_gateway_id: pulumi.Input[str] | None = None,
                     nat_gateway_id: pulumi.Input[str] | None = None) -> aws.ec2.RouteTable:
        table = aws.ec2.RouteTable(f"{self.label}-{label}", vpc_id=self.vpc.id,
                                   tags={"Name": f"{self._args.name_prefix}-{label}"}, opts=self.child())
        if internet_gateway_id is not None or nat_gateway_id is not None:
            aws.ec2.Route(f"{self.label}-{label}-default", route_table_id=table.id,
                          destination_cidr_block="0.0.0.0/0", gateway_id=internet_gateway_id,
                          nat_gateway_id=nat_gateway_id, opts=self.child())
        return table

    def _subnets(self, tier: str, plan: dict[str, list[str]], table_for: Callable[[int], aws.ec2.RouteTable],
                 tags: dict[str, str]) -> list[aws.ec2.Subnet]:
        subnets = []
        for i, cidr in enumerate(plan[tier]):
            subnet = aws.ec2.Subnet(
                f"{self.label}-{tier}-{i}", vpc_id=self.vpc.id, cidr_block=cidr, availability_zone=self.azs[i],
                map_public_ip_on_launch=False,
                tags=self.azs[i].apply(lambda az, t=tier: {
                    "Name": f"{self._args.name_prefix}-{t}-{az}", "Tier": t, **tags}),
                opts=self.child())
            aws.ec2.RouteTableAssociation(f"{self.label}-{tier}-{i}", subnet_id=subnet.id,
                                          route_table_id=table_for(i).id, opts=self.child())
            subnets.append(subnet)
        return subnets

    def _nat_gateways(self) -> tuple[list[aws.ec2.NatGateway], list[aws.ec2.Eip]]:
        count = {"none": 0, "single": 1, "perAz": self._args.az_count}[self._args.nat_gateways]
        gateways, eips = [], []
        for i in range(count):
            eip = aws.ec2.Eip(f"{self.label}-nat-{i}", domain="vpc", tags={"Name": f"{self._args.name_prefix}-nat-{i}"},
                              opts=self.child())
            gateways.append(aws.ec2.NatGateway(
                f"{self.label}-nat-{i}", allocation_id=eip.id, subnet_id=self.public_subnets[i].id,
                connectivity_type="public", tags={"Name": f"{self._args.name_prefix}-nat-{i}"},
                opts=self.child(depends_on=[self.internet_gateway])))
            eips.append(eip)
        return gateways, eips

    def _private_route_table(self, index: int) -> aws.ec2.RouteTable:
        """One table per AZ, so moving from a single NAT to one per AZ only changes routes."""
        nat = self.nat_gateways[index % len(self.nat_gateways)].id if self.nat_gateways else None
        return self._route_table(f"private-{index}", nat_gateway_id=nat)

    def _transit_gateway(self) -> tuple[aws.ec2transitgateway.VpcAttachment | None, list[aws.ec2.Route]]:
        """The private subnets (one per AZ, as an attachment allows) attached to an existing transit gateway, and a
        route per runner network in each private route table: a runner behind it reaches the private API endpoint
        (and the nodes) from the first `up`. The transit gateway's own route tables must send the VPC's range back
        to this attachment: association and propagation are the gateway owner's (left to its defaults here, which a
        RAM-shared gateway does not let an attachment set; Transit Gateway guide, "Transit gateway attachments to a
        VPC"). Routes are named by table and CIDR, never by position."""
        gateway = self._args.transit_gateway
        if gateway is None:
            return None, []
        attachment = aws.ec2transitgateway.VpcAttachment(
            f"{self.label}-tgw", transit_gateway_id=gateway.id, vpc_id=self.vpc.id, subnet_ids=self.private_subnet_ids,
            dns_support="enable", tags={"Name": self._args.name_prefix}, opts=self.child())
        # A route to the gateway is refused until the VPC is attached to it (the attachment waits for `available`).
        routes = [aws.ec2.Route(
            f"{self.label}-private-{i}-to-{cidr.replace('.', '-').replace('/', '-')}", route_table_id=table.id,
            destination_cidr_block=cidr, transit_gateway_id=attachment.transit_gateway_id,
            opts=self.child(depends_on=[attachment]))
            for i, table in enumerate(self.private_route_tables) for cidr in gateway.cidrs]
        return attachment, routes

    def _s3_gateway_endpoint(self) -> None:
        """Free, and keeps S3 traffic (images, logs, backups) off the NAT gateways."""
        tables = [t.id for t in self.private_route_tables] + [self.isolated_route_table.id]
        aws.ec2.VpcEndpoint(
            f"{self.label}-s3", vpc_id=self.vpc.id, service_name=self._endpoint_service("s3", "Gateway"),
            vpc_endpoint_type="Gateway", route_table_ids=tables, tags={"Name": f"{self._args.name_prefix}-s3"},
            opts=self.child())

    def _interface_endpoints(self) -> list[aws.ec2.VpcEndpoint]:
        """One interface endpoint per listed service, its network interfaces in the private subnets (one per AZ) and
        private DNS on, so the SDKs' usual names resolve to them: pods and nodes reach those APIs without NAT, and
        the cluster's HTTPS egress policy can name the VPC instead of the internet."""
        if not self._args.interface_endpoints:
            return []
        group = self._endpoint_security_group()
        return [aws.ec2.VpcEndpoint(
            f"{self.label}-{service.replace('.', '-')}", vpc_id=self.vpc.id,
            service_name=self._endpoint_service(service, "Interface"), vpc_endpoint_type="Interface",
            subnet_ids=self.private_subnet_ids, security_group_ids=[group.id], private_dns_enabled=True,
            tags={"Name": f"{self._args.name_prefix}-{service}"}, opts=self.child())
            for service in self._args.interface_endpoints]

    def _endpoint_service(self, service: str, kind: str) -> pulumi.Output[str]:
        """The AWS service's endpoint service in this region, as the account lists it: com.amazonaws.<region>.<service>,
        or in China cn.com.amazonaws.<region>.<service> for most services but not all (ecr.api, ec2, eks: cn.com; sns,
        s3: com; aws/aws-cdk#9864, #25329: "The Vpc Endpoint Service 'com.amazonaws.cn-north-1.ecr.dkr' does not
        exist"). DescribeVpcEndpointServices answers which, so no table of exceptions is kept here."""
        names = [f"{prefix}.{self._args.region}.{service}" for prefix in ENDPOINT_SERVICE_PREFIXES]
        return aws.ec2.get_vpc_endpoint_service_output(
            service_type=kind, filters=[{"name": "service-name", "values": names}],
            opts=pulumi.InvokeOutputOptions(parent=self)).service_name

    def _endpoint_security_group(self) -> aws.ec2.SecurityGroup:
        """The interface endpoints answer HTTPS from the VPC only."""
        group = aws.ec2.SecurityGroup(
            f"{self.label}-endpoints", vpc_id=self.vpc.id,
            description=f"{self._args.name_prefix} interface VPC endpoints: HTTPS from the VPC only",
            tags={"Name": f"{self._args.name_prefix}-endpoints"}, opts=self.child())
        aws.vpc.SecurityGroupIngressRule(
            f"{self.label}-endpoints-https", security_group_id=group.id, ip_protocol="tcp", from_port=443,
            to_port=443, cidr_ipv4=self._args.cidr,
            description=f"HTTPS to the interface endpoints from {self._args.cidr}", opts=self.child())
        return group

    def _flow_log(self) -> aws.ec2.FlowLog:
        flow = self._args.flow_logs
        destination = self._flow_logs_to_s3() if flow.destination == "s3" else self._flow_logs_to_cloudwatch()
        return aws.ec2.FlowLog(
            f"{self.label}-flow-log", vpc_id=self.vpc.id, traffic_type=flow.traffic,
            log_destination_type=flow.destination, max_aggregation_interval=flow.aggregation_seconds,
            **destination)

    def _flow_logs_to_cloudwatch(self) -> dict[str, Any]:
        """A log group of its own and the role VPC Flow Logs publishes with."""
        log_group = self.log_group("flow-logs", self._args.flow_logs.retention_days)
        # VPC guide, "IAM role for publishing flow logs to CloudWatch Logs": trust only for this account's flow logs
        # (the flow log's id is not known before it exists, hence vpc-flow-log/*).
        role = self.service_role("flow-logs", "vpc-flow-logs",
                                 source_arn=lambda where: where.arn("ec2", "vpc-flow-log/*"))
        policy = aws.iam.RolePolicy(f"{self.label}-flow-logs", role=role.id,
                                    policy=log_group.arn.apply(flow_log_role_policy), opts=self.child())
        return {"log_destination": log_group.arn, "iam_role_arn": role.arn, "opts": self.child(depends_on=[policy])}

    def _flow_logs_to_s3(self) -> dict[str, Any]:
        """A log bucket of its own, written by the log delivery service (no role), kept `retention_days`; versioned,
        as flow logs are evidence (an overwritten or deleted object stays NONCURRENT_VERSION_DAYS)."""
        args = self._args
        bucket = AccessLogBucket(
            f"{self.label}-flow-logs", AccessLogArgs(
                prefix=FLOW_LOG_PREFIX, writer="log-delivery", kind="flow-logs", transitions=(), versioning=True,
                expiration_days=args.flow_logs.retention_days, force_destroy=not args.protect,
                name_prefix=args.name_prefix, protect=args.protect),
            self.child(), token="envstack:network:FlowLogBucket")
        self.flow_log_bucket = bucket
        # The policy first: given a bucket without it, VPC Flow Logs writes its own policy over the existing one.
        return {"log_destination": pulumi.Output.concat(bucket.bucket.arn, f"/{FLOW_LOG_PREFIX}"),
                "destination_options": {"file_format": "plain-text", "per_hour_partition": True},
                "opts": self.child(depends_on=[bucket.policy])}


def flow_log_role_policy(log_group_arn: str) -> str:
    """The VPC guide's minimum permissions, on this log group only. DescribeLogGroups lists: the Service
    Authorization Reference's copy in the IAM linter (parliament) gives it no resource type, so only "*" is sure to
    grant it; no CreateLogGroup: a deleted group is not silently re-made without retention and encryption."""
    return policy_document(
        {"Sid": "WriteFlowLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": [log_group_arn, f"{log_group_arn}:*"]},
        {"Sid": "FindTheLogGroup", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"})
