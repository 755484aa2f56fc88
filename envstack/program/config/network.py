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
    az_count: int = Field(le=MAX_AZS)
    nat_gateways: NatGateways
    flow_log_traffic: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    flow_log_aggregation_seconds: Literal[60, 600] = 600  # the only intervals VPC flow logs offer
    flow_log_destination: Literal["cloud-watch-logs", "s3"] = "cloud-watch-logs"
    # Interface VPC endpoints (PrivateLink, private DNS) in the private subnets; each is billed per AZ-hour.
    interface_endpoints: tuple[InterfaceEndpoint, ...] = ()

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
