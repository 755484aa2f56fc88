"""envstack:network — the VPC's address space, AZ spread and NAT layout."""

from ipaddress import IPv4Network
from typing import Literal

from pydantic import Field, field_validator

from .base import Model

NatGateways = Literal["none", "single", "perAz"]


class NetworkConfig(Model):
    cidr: IPv4Network
    az_count: int = Field(ge=1, le=4)
    nat_gateways: NatGateways
    flow_log_traffic: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"

    @field_validator("cidr")
    @classmethod
    def _prefix_fits_the_subnet_plan(cls, cidr: IPv4Network) -> IPv4Network:
        if not 16 <= cidr.prefixlen <= 20:
            raise ValueError("expected a prefix length between /16 and /20 so every tier fits")
        if not cidr.is_private:
            raise ValueError("expected a private (RFC 1918) range")
        return cidr

    @property
    def nat_gateway_count(self) -> int:
        return {"none": 0, "single": 1, "perAz": self.az_count}[self.nat_gateways]
