"""VPC plumbing: default security group, subnets, security groups and their rules."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from .base import Resource, as_list, dig, resource_rule

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SUBNET = "aws:ec2/subnet:Subnet"
OPEN = ("0.0.0.0/0", "::/0")
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}


@dataclass
class Rule:
    label: str
    ingress: bool
    protocol: str
    from_port: float
    to_port: float
    cidrs: list[str]
    description: Any


def _inline(entry: Mapping[str, Any], label: str, ingress: bool) -> Rule:
    cidrs = as_list(dig(entry, "cidrBlocks")) + as_list(dig(entry, "ipv6CidrBlocks"))
    return Rule(label, ingress, str(dig(entry, "protocol", default="tcp")), dig(entry, "fromPort", default=0),
                dig(entry, "toPort", default=65535), cidrs, dig(entry, "description"))


def sg_rules(r: Resource) -> Iterator[Rule]:
    """The rules a security-group-ish resource declares, whatever its shape."""
    if r.type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for direction in ("ingress", "egress"):
            for i, entry in enumerate(as_list(r.get(direction))):
                yield _inline(entry, f"{direction}[{i}]", direction == "ingress")
    elif r.type == SG_RULE:
        yield _inline(r.props, "rule", r.get("type") == "ingress")
    else:
        cidrs = [c for c in (r.get("cidrIpv4"), r.get("cidrIpv6")) if c]
        yield Rule("rule", r.type == INGRESS_RULE, str(r.get("ipProtocol", default="tcp")),
                   r.get("fromPort", default=0), r.get("toPort", default=65535), cidrs, r.get("description"))


def _all_ports(rule: Rule) -> bool:
    return rule.protocol in ("-1", "all") or (rule.from_port <= 0 and rule.to_port >= 65535)


@resource_rule("default-security-group-closed", "The VPC's default security group must allow no traffic.",
               [DEFAULT_SECURITY_GROUP], checkov="CKV2_AWS_12")
def default_sg_closed(r: Resource) -> Iterator[str]:
    for rule in sg_rules(r):
        yield f"the default security group declares {rule.label}; it must have no rules"


@resource_rule("subnet-no-public-ip", "Subnets must not assign public IPs on launch.", [SUBNET],
               severity=Severity.MEDIUM, checkov="CKV_AWS_130")
def subnet_no_public_ip(r: Resource) -> Iterator[str]:
    if r.true("mapPublicIpOnLaunch"):
        yield "mapPublicIpOnLaunch is true"


@resource_rule("security-group-no-public-ingress",
               "No ingress from 0.0.0.0/0 or ::/0 except to the allowed public ports (ALB 80/443); never SSH, RDP "
               "or all ports.", [SECURITY_GROUP, SG_RULE, INGRESS_RULE], severity=Severity.CRITICAL,
               checkov="CKV_AWS_24, CKV_AWS_25, CKV_AWS_260, CKV_AWS_277",
               options={"allowedPublicPorts": {"type": "array", "items": {"type": "integer"}, "default": [80, 443]}})
def no_public_ingress(r: Resource) -> Iterator[str]:
    allowed = r.cfg["allowedPublicPorts"]
    for rule in sg_rules(r):
        if not rule.ingress or not any(c in OPEN for c in rule.cidrs):
            continue
        admin = [name for port, name in ADMIN_PORTS.items() if rule.from_port <= port <= rule.to_port]
        if _all_ports(rule):
            yield f"{rule.label} opens all ports to the internet"
        elif admin:
            yield f"{rule.label} opens {'/'.join(admin)} to the internet"
        elif not (rule.from_port == rule.to_port and rule.from_port in allowed):
            yield (f"{rule.label} opens ports {rule.from_port:g}-{rule.to_port:g} to the internet; only "
                   f"{', '.join(str(p) for p in allowed)} may be public")


@resource_rule("security-group-descriptions", "Security groups and their rules must have descriptions.",
               [SECURITY_GROUP, SG_RULE, INGRESS_RULE, EGRESS_RULE], severity=Severity.LOW, checkov="CKV_AWS_23")
def descriptions(r: Resource) -> Iterator[str]:
    if r.type == SECURITY_GROUP and r.get("description", default="Managed by Pulumi") == "Managed by Pulumi":
        yield "the security group has no description of its own"
    for rule in sg_rules(r):
        if not rule.description:
            yield f"{rule.label} has no description"
