"""envstack:network — the VPC's address space, AZ spread and NAT layout."""

from ipaddress import IPv4Network
from typing import Literal

from pydantic import Field, field_validator

from .base import Model

NatGateways = Literal["none", "single", "perAz"]
# AWS services an interface endpoint may be created for (com.amazonaws.<region>.<name>): what pods and nodes call.
InterfaceEndpoint = Literal["sts", "secretsmanager", "ecr.api", "ecr.dkr", "logs", "eks-auth", "eks", "ec2", "kms",
                            "ssm", "elasticloadbalancing", "monitoring", "sqs", "sns"]
# An ALB (ELB CreateLoadBalancer) and an RDS DB subnet group (CreateDBSubnetGroup) need subnets in two AZs, and a
# Multi-AZ cache places its replica in another AZ: one AZ cannot deploy, whatever the environment.
MIN_AZS, MAX_AZS = 2, 4


class NetworkConfig(Model):
    cidr: IPv4Network
    """The VPC's private (RFC 1918) range, /16 to /20. Per AZ the private subnet is an eighth of it, the public and
    isolated ones a sixty-fourth. Stacks of different environments must not overlap."""
    az_count: int = Field(le=MAX_AZS)
    """Availability zones: the first available ones by name, leaving out the zone IDs EKS refuses cluster subnets in.
    At least 2 (the ALB and the DB subnet group need two); prod's guardrail asks 3."""
    nat_gateways: NatGateways
    """NAT layout: one shared gateway, one per AZ, or `none` (refused while the cluster has node groups: nodes pull
    images through NAT)."""
    flow_log_traffic: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    """Which connections the VPC flow log records."""
    flow_log_aggregation_seconds: Literal[60, 600] = 600  # the only intervals VPC flow logs offer
    """Flow log aggregation interval: 600 s writes up to ten times fewer records for long-lived connections."""
    flow_log_destination: Literal["cloud-watch-logs", "s3"] = "cloud-watch-logs"
    """CloudWatch Logs (an encrypted log group, and a role with the VPC guide's minimum permissions) or S3 (a bucket
    of the network's own, expiring after `monitoring.logRetentionDays`, at half the ingestion price)."""
    # Interface VPC endpoints (PrivateLink, private DNS) in the private subnets; each is billed per AZ-hour.
    interface_endpoints: tuple[InterfaceEndpoint, ...] = ()
    """AWS services given an interface VPC endpoint in the private subnets (private DNS, 443 from the VPC only), each
    once; billed per AZ-hour."""

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

    @property
    def nat_gateway_count(self) -> int:
        return {"none": 0, "single": 1, "perAz": self.az_count}[self.nat_gateways]
