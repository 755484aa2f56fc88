"""VPC plumbing: default security group, subnets, security groups and their rules.

"Public" is a share of the address space, not a string: the CIDRs a group admits (or reaches) count as the internet
when, together, they cover at least `publicShare` of the public IPv4 space (everything but the special-purpose ranges
of RFC 6890: private, shared, loopback, link-local, documentation, multicast, reserved) or of the IPv6 global unicast
space (2000::/3). So `0.0.0.0/1` + `128.0.0.0/1`, `::/1` or `0.0.0.0/0` split across rules are all the internet,
while `10.0.0.0/8` (private) is not. The rules gather every rule of a group, inline or separate, before judging it.

Which groups may face the internet is declared on the group, with the tag `facts.INTERNET_TAG` (the LoadBalancer
component tags its security group `ingress`): public ingress is allowed only there, and only to the allowed public
ports; public egress only from groups tagged `egress`. A group the stack does not declare (EKS's cluster security
group, another stack's) is never internet-facing.
"""

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ..facts import INTERNET_EGRESS, INTERNET_INGRESS, INTERNET_TAG
from .base import (
    Resource,
    as_list,
    as_mapping,
    known,
    linked,
    of_type,
    present,
    refers_to,
    resource_rule,
    stack_rule,
)

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
GROUPS = (SECURITY_GROUP, DEFAULT_SECURITY_GROUP)
SEPARATE_RULES = (SG_RULE, INGRESS_RULE, EGRESS_RULE)
PREFIX_LIST = "aws:ec2/managedPrefixList:ManagedPrefixList"
PREFIX_LIST_ENTRY = "aws:ec2/managedPrefixListEntry:ManagedPrefixListEntry"
SUBNET = "aws:ec2/subnet:Subnet"
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
ALL_PORTS = (0, 65535)
PROTOCOLS = {"-1": "-1", "all": "-1", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
Findings = Iterator[tuple[str, str | None]]

# RFC 6890 special-purpose IPv4 ranges (disjoint): none of them is reachable on the internet.
_NOT_PUBLIC_V4 = [ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3")]
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_PUBLIC_V4 = 2 ** 32 - sum(n.num_addresses for n in _NOT_PUBLIC_V4)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _overlap(a: Network, b: Network) -> int:
    """Addresses two CIDRs of one IP version share: one holds the other, or they are disjoint."""
    if a.num_addresses <= b.num_addresses:
        return a.num_addresses if a.supernet(new_prefix=b.prefixlen) == b else 0
    return b.num_addresses if b.supernet(new_prefix=a.prefixlen) == a else 0


def public_share(cidrs: Iterable[str]) -> float:
    """The larger of the shares of the public IPv4 and IPv6 address spaces the CIDRs cover together (strings that
    are not CIDRs are ignored)."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            continue
        (v4 if isinstance(network, ipaddress.IPv4Network) else v6).append(network)  # type: ignore[arg-type]
    public_v4 = sum(n.num_addresses - sum(_overlap(n, r) for r in _NOT_PUBLIC_V4)
                    for n in ipaddress.collapse_addresses(v4))
    public_v6 = sum(_overlap(n, _GLOBAL_UNICAST_V6) for n in ipaddress.collapse_addresses(v6))
    return max(public_v4 / _PUBLIC_V4, public_v6 / _GLOBAL_UNICAST_V6.num_addresses)


@dataclass(frozen=True)
class Rule:
    """One rule of a security group, whatever resource declares it."""

    label: str  # "ingress[0]" of a group, or "rule" for a rule resource
    ingress: bool
    protocol: str  # "-1" (all), "tcp", "udp", "icmp", or a protocol number
    from_port: int
    to_port: int
    cidrs: tuple[str, ...]  # the known CIDRs (a prefix list's entries included)
    described: bool  # has a description (or one not known yet)

    @property
    def ports(self) -> tuple[int, int]:
        return ALL_PORTS if self.protocol == "-1" else (self.from_port, self.to_port)


def _protocol(value: Any) -> str:
    text = str(value if value is not None else "tcp").lower()
    return PROTOCOLS.get(text, text)


def _port(value: Any, default: int) -> int:
    return int(value) if isinstance(value, (int, float)) else default


def _known_strings(props: Any, *keys: str) -> list[str]:
    return [str(v) for key in keys for v in as_list(known(props, key)) if isinstance(v, str)]


def _rule(props: Any, label: str, ingress: bool, cidr_keys: tuple[str, ...], protocol_key: str,
          prefix_lists: Mapping[str, list[str]], prefix_keys: tuple[str, ...]) -> Rule:
    cidrs = _known_strings(props, *cidr_keys)
    cidrs += [c for pl in _known_strings(props, *prefix_keys) for c in prefix_lists.get(pl, [])]
    return Rule(label, ingress, _protocol(known(props, protocol_key)), _port(known(props, "fromPort"), 0),
                _port(known(props, "toPort"), 65535), tuple(cidrs), present(props, "description"))


def rules_of(type_: str, props: Any, prefix_lists: Mapping[str, list[str]] | None = None) -> Iterator[Rule]:
    """The rules a security group or rule resource declares (unknown values skipped: what is known is judged)."""
    lists = prefix_lists or {}
    if type_ in GROUPS:
        for direction in ("ingress", "egress"):
            for i, entry in enumerate(as_list(known(props, direction))):
                yield _rule(entry, f"{direction}[{i}]", direction == "ingress", ("cidrBlocks", "ipv6CidrBlocks"),
                            "protocol", lists, ("prefixListIds",))
    elif type_ == SG_RULE:
        yield _rule(props, "rule", known(props, "type") == "ingress", ("cidrBlocks", "ipv6CidrBlocks"), "protocol",
                    lists, ("prefixListIds",))
    elif type_ in (INGRESS_RULE, EGRESS_RULE):
        yield _rule(props, "rule", type_ == INGRESS_RULE, ("cidrIpv4", "cidrIpv6"), "ipProtocol", lists,
                    ("prefixListId",))


def sg_rules(r: Resource) -> Iterator[Rule]:
    return rules_of(r.type, r.props)


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


# ---- public ingress and egress, judged per security group over all its rules ---------------------------------


@dataclass
class Group:
    """A security group and every rule the stack gives it; `resource` is None for a group the stack only names."""

    key: str
    resource: PolicyResource | None
    rules: list[tuple[Rule, PolicyResource]]

    @property
    def name(self) -> str:
        return self.resource.name if self.resource is not None else self.key

    @property
    def urn(self) -> str | None:
        return self.resource.urn if self.resource is not None else (self.rules[0][1].urn if self.rules else None)

    def declares(self, exposure: str) -> bool:
        """Is the group tagged as facing the internet this way (INTERNET_TAG: "ingress", "egress" or both)?"""
        if self.resource is None:
            return False
        value = known(as_mapping(known(self.resource.props, "tags", default={})), INTERNET_TAG, default="")
        return exposure in str(value).replace(",", " ").split()


def _prefix_lists(resources: list[PolicyResource]) -> dict[str, list[str]]:
    """The entries of the managed prefix lists the stack declares (inline, or as ManagedPrefixListEntry resources
    naming the list), by every known name of the list, its urn included."""
    lists = {}
    separate = list(of_type(resources, PREFIX_LIST_ENTRY))
    for pl in of_type(resources, PREFIX_LIST):
        entries = [str(known(e, "cidr")) for e in as_list(known(pl.props, "entries")) if known(e, "cidr")]
        entries += [str(known(e.props, "cidr")) for e in separate
                    if known(e.props, "cidr") and linked(e, pl, "prefixListId")]
        for key in {pl.urn, pl.name, *_known_strings(pl.props, "id", "arn")}:
            lists[key] = entries
    return lists


def _with_linked_lists(rule: Rule, resource: PolicyResource, lists: Mapping[str, list[str]]) -> Rule:
    """A rule resource's rule with the entries of the stack's prefix lists it names through a property dependency:
    a list created with the stack has no id before `up`, so the rule's prefixListId is not known at preview."""
    linked_lists = resource.property_dependencies.get("prefixListId", []) + \
        resource.property_dependencies.get("prefixListIds", [])
    extra = [c for pl in linked_lists for c in lists.get(pl.urn, []) if c not in rule.cidrs]
    return replace(rule, cidrs=rule.cidrs + tuple(extra)) if extra else rule


def _group_of(rule: PolicyResource, groups: list[PolicyResource]) -> PolicyResource | str:
    """The group a rule resource belongs to: by its securityGroupId's property dependency (what the engine
    records), else by the id's value; a plain dependency is not enough (a rule also depends on the group it
    references). A group not in the stack is returned by its id (or the rule's urn when that is unknown)."""
    linked = rule.property_dependencies.get("securityGroupId")
    if linked:
        return next((g for g in groups if g in linked), linked[0].urn)
    value = known(rule.props, "securityGroupId")
    if isinstance(value, str) and value:
        return next((g for g in groups if refers_to(value, g)), value)
    return rule.urn


def security_groups(resources: list[PolicyResource]) -> list[Group]:
    lists = _prefix_lists(resources)
    groups = list(of_type(resources, *GROUPS))
    by_key = {g.urn: Group(g.urn, g, [(r, g) for r in rules_of(g.resource_type, g.props, lists)]) for g in groups}
    for resource in of_type(resources, *SEPARATE_RULES):
        owner = _group_of(resource, groups)
        key = owner.urn if isinstance(owner, PolicyResource) else owner
        group = by_key.setdefault(key, Group(key, owner if isinstance(owner, PolicyResource) else None, []))
        group.rules.extend((_with_linked_lists(r, resource, lists), resource)
                           for r in rules_of(resource.resource_type, resource.props, lists))
    return list(by_key.values())


def _exposed_ranges(rules: list[Rule], share: float) -> Iterator[tuple[str, int, int, list[Rule]]]:
    """(protocol, from, to, rules) for each port range that the rules open together to public address space."""
    by_protocol: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        for protocol in (("tcp", "udp", "other") if rule.protocol == "-1" else (rule.protocol,)):
            by_protocol[protocol if protocol in ("tcp", "udp") else "other"].append(rule)
    for protocol, members in by_protocol.items():
        if protocol == "other":
            if public_share(c for r in members for c in r.cidrs) >= share:
                yield "other", *ALL_PORTS, members
            continue
        edges = sorted({r.ports[0] for r in members} | {r.ports[1] + 1 for r in members})
        for low, high in pairwise(edges):
            covering = [r for r in members if r.ports[0] <= low and r.ports[1] >= high - 1]
            if covering and public_share(c for r in covering for c in r.cidrs) >= share:
                yield protocol, low, high - 1, covering


def _labels(rules: list[Rule], sources: dict[int, PolicyResource]) -> str:
    return ", ".join(sorted({f"{sources[id(r)].name} {r.label}" if r.label != "rule" else sources[id(r)].name
                             for r in rules}))


def _ingress_problem(protocol: str, low: int, high: int, group: Group, allowed: list[int]) -> str | None:
    admin = [name for port, name in ADMIN_PORTS.items() if low <= port <= high and protocol == "tcp"]
    if protocol == "other":
        return "opens every protocol (or a non-TCP/UDP one) to the internet"
    if (low, high) == ALL_PORTS:
        return f"opens all {protocol.upper()} ports to the internet"
    if admin:
        return f"opens {'/'.join(admin)} to the internet"
    if not group.declares(INTERNET_INGRESS):
        return (f"opens {protocol}/{low}-{high} to the internet, and the group is not declared internet-facing "
                f"(tag {INTERNET_TAG}: {INTERNET_INGRESS})")
    if protocol != "tcp" or not all(port in allowed for port in range(low, high + 1)):
        return (f"opens {protocol}/{low}-{high} to the internet; only tcp/{', '.join(str(p) for p in allowed)} may "
                "be public")
    return None


SHARE_OPTION = {"publicShare": {
    "type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.001,
    "description": "the share of the public IPv4 (or IPv6 global unicast) space from which a set of CIDRs counts as "
                   "the internet (0.001: about a /10 of IPv4)"}}


@stack_rule("security-group-no-public-ingress",
            "Ingress from the internet (any CIDRs covering a large share of public address space) only to the allowed "
            "public ports of groups declared internet-facing; never SSH, RDP or all ports.",
            severity=Severity.CRITICAL, checkov="CKV_AWS_24, CKV_AWS_25, CKV_AWS_277",
            options={"allowedPublicPorts": {"type": "array", "items": {"type": "integer"}, "default": [80, 443]},
                     **SHARE_OPTION})
def no_public_ingress(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    for group in security_groups(resources):
        ingress = [(r, source) for r, source in group.rules if r.ingress]
        sources = {id(r): source for r, source in ingress}
        everything = [r for r, _ in ingress if r.protocol == "-1"]
        if public_share(c for r in everything for c in r.cidrs) >= cfg["publicShare"]:
            yield f"security group {group.name}: {_labels(everything, sources)} opens all traffic to the internet", \
                group.urn
            continue
        for protocol, low, high, rules in _exposed_ranges([r for r, _ in ingress], cfg["publicShare"]):
            problem = _ingress_problem(protocol, low, high, group, cfg["allowedPublicPorts"])
            if problem:
                yield f"security group {group.name}: {_labels(rules, sources)} {problem}", group.urn


@stack_rule("security-group-no-public-egress",
            "Egress to the internet (any CIDRs covering a large share of public address space) only from groups "
            "declared to need it.", severity=Severity.HIGH, checkov="CKV_AWS_382", options=SHARE_OPTION)
def no_public_egress(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    for group in security_groups(resources):
        egress = [(r, source) for r, source in group.rules if not r.ingress]
        cidrs = [c for r, _ in egress for c in r.cidrs]
        if public_share(cidrs) >= cfg["publicShare"] and not group.declares(INTERNET_EGRESS):
            reaching = [r for r, _ in egress if r.cidrs]
            yield (f"security group {group.name}: {_labels(reaching, {id(r): s for r, s in egress})} reach the "
                   f"internet, and the group is not declared to (tag {INTERNET_TAG}: {INTERNET_EGRESS})"), group.urn


@resource_rule("security-group-descriptions", "Security groups and their rules must have descriptions.",
               [SECURITY_GROUP, *SEPARATE_RULES], severity=Severity.LOW, checkov="CKV_AWS_23")
def descriptions(r: Resource) -> Iterator[str]:
    if r.type == SECURITY_GROUP and r.get("description", default="Managed by Pulumi") == "Managed by Pulumi":
        yield "the security group has no description of its own"
    for rule in sg_rules(r):
        if not rule.described:
            yield f"{rule.label} has no description"


__all__ = ["Group", "Rule", "public_share", "rules_of", "security_groups"]
