"""envstack:network — the VPC's address space, AZ spread and NAT layout."""

from ipaddress import IPv4Network
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from .base import Cidr, Model, matches

NatGateways = Literal["none", "single", "perAz"]
# AWS services an interface endpoint may be created for (com.amazonaws.<region>.<name>): what pods and nodes call.
InterfaceEndpoint = Literal["sts", "secretsmanager", "ecr.api", "ecr.dkr", "logs", "eks-auth", "eks", "ec2", "kms",
                            "ssm", "elasticloadbalancing", "monitoring", "sqs", "sns"]
# An ALB (ELB CreateLoadBalancer) and an RDS DB subnet group (CreateDBSubnetGroup) need subnets in two AZs, and a
# Multi-AZ cache places its replica in another AZ: one AZ cannot deploy, whatever the environment.
MIN_AZS, MAX_AZS = 2, 4


# Where runners and VPNs live: RFC 1918 and shared (RFC 6598) address space.
RUNNER_RANGES = tuple(IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
TransitGatewayId = Annotated[str, AfterValidator(matches(r"^tgw-[0-9a-f]{8,17}$",
                                                         "a transit gateway id such as tgw-0123456789abcdef0"))]


class TransitGatewayConfig(Model):
    """An existing transit gateway (this account's, or shared with it through AWS RAM) that connects the VPC to the
    networks of the runners and VPNs that deploy it: the private subnets are attached to it, and their route tables
    send `cidrs` through it, so a runner there reaches the cluster's private API endpoint from the first `up`."""

    id: TransitGatewayId
    """The transit gateway's id (`tgw-...`), in the stack's region; shared with the account through AWS RAM if it is
    another account's."""
    cidrs: tuple[Cidr, ...] = Field(min_length=1)
    """The runner / VPN networks behind the transit gateway, private ranges apart from the VPC, each once: every
    private route table sends them through it."""

    @field_validator("cidrs")
    @classmethod
    def _private_networks(cls, cidrs: tuple[IPv4Network, ...]) -> tuple[IPv4Network, ...]:
        outside = [str(c) for c in cidrs if not any(c.subnet_of(r) for r in RUNNER_RANGES)]
        if outside:
            raise ValueError(f"private CIDRs of the networks behind the transit gateway (inside "
                             f"{', '.join(map(str, RUNNER_RANGES))}; the default route stays on NAT); not private: "
                             f"{outside}")
        twice = sorted({str(c) for c in cidrs if cidrs.count(c) > 1})
        if twice:
            raise ValueError(f"each CIDR once; listed twice: {twice}")
        return cidrs


class NetworkConfig(Model):
    cidr: Cidr
    """The VPC's private (RFC 1918) range, /16 to /20. Per AZ the private subnet is an eighth of it, the public and
    isolated ones a sixty-fourth. Stacks of different environments must not overlap."""
    az_count: int = Field(le=MAX_AZS)
    """Availability zones: the first available ones by name, leaving out the zone IDs EKS refuses cluster subnets in.
    At least 2 (the ALB and the DB subnet group need two); prod's guardrail asks 3."""
    nat_gateways: NatGateways
    """NAT layout: one shared gateway, one per AZ, or `none` (refused while the cluster has node groups: nodes pull
    images through NAT)."""
    flow_log_traffic: Literal["ALL", "ACCEPT", "REJECT"]
    """Which connections the VPC flow log records."""
    flow_log_aggregation_seconds: Literal[60, 600]  # the only intervals VPC flow logs offer
    """Flow log aggregation interval: 600 s writes up to ten times fewer records for long-lived connections."""
    flow_log_destination: Literal["cloud-watch-logs", "s3"]
    """CloudWatch Logs (an encrypted log group, and a role with the VPC guide's minimum permissions) or S3 (a bucket
    of the network's own, expiring after `monitoring.logRetentionDays`, at half the ingestion price)."""
    # Interface VPC endpoints (PrivateLink, private DNS) in the private subnets; each is billed per AZ-hour.
    interface_endpoints: tuple[InterfaceEndpoint, ...]
    """AWS services given an interface VPC endpoint in the private subnets (private DNS, 443 from the VPC only), each
    once; billed per AZ-hour."""
    transit_gateway: TransitGatewayConfig | None
    """`{id: tgw-..., cidrs: [...]}`: an existing transit gateway (this account's or RAM-shared) the private subnets
    attach to, and the private runner / VPN networks every private route table sends through it (routes named by table
    and CIDR), so a runner there reaches a private API endpoint from the first `up`. A private-endpoint stack's
    `cluster.apiAccessCidrs` must be inside the VPC or inside these `cidrs`, which may not overlap the VPC
    (docs/delivery.md, "Prod's first deploy")."""

    @field_validator("interface_endpoints")
    @classmethod
    def _once_each(cls, services: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({s for s in services if services.count(s) > 1})
        if twice:
            raise ValueError(f"each service once; listed twice: {twice}")
        return services

    @field_validator("cidr")
    @classmethod
    def _prefix_fits_the_subnet_plan(cls, cidr: IPv4Network) -> IPv4Network:
        if not 16 <= cidr.prefixlen <= 20:
            raise ValueError("expected a prefix length between /16 and /20 so every tier fits")
        if not cidr.is_private:
            raise ValueError("expected a private (RFC 1918) range")
        return cidr

    @field_validator("az_count")
    @classmethod
    def _two_zones_at_least(cls, count: int) -> int:
        if count < MIN_AZS:
            raise ValueError(f"expected at least {MIN_AZS} availability zones: the ALB and the RDS subnet group need "
                             "subnets in two AZs (ELB CreateLoadBalancer, RDS CreateDBSubnetGroup)")
        return count

    @field_validator("transit_gateway")
    @classmethod
    def _routes_leave_the_vpc(cls, gateway: TransitGatewayConfig | None, info: ValidationInfo) \
            -> TransitGatewayConfig | None:
        vpc = info.data.get("cidr")
        inside = [str(c) for c in (gateway.cidrs if gateway else ()) if vpc and c.overlaps(vpc)]
        if inside:
            raise ValueError(f"cidrs {inside} overlap the VPC's {vpc}: the VPC's local route already covers its own "
                             "range (a transit gateway route cannot), and the networks behind it need other ranges")
        return gateway

    def reaches(self, cidr: IPv4Network) -> bool:
        """Whether traffic from `cidr` can reach the VPC's private subnets: it is inside the VPC, or inside a
        network the private route tables send through the transit gateway."""
        routed = self.transit_gateway.cidrs if self.transit_gateway else ()
        return cidr.subnet_of(self.cidr) or any(cidr.subnet_of(r) for r in routed)

    @property
    def nat_gateway_count(self) -> int:
        return {"none": 0, "single": 1, "perAz": self.az_count}[self.nat_gateways]
