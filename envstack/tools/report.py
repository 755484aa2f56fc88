"""Readable views of a synthesis: where and for whom it is, resources per component and type, component settings,
node groups, who may reach whom, stack outputs (those the mocks made up marked)."""

import json
from collections import Counter, defaultdict
from typing import Any

from .synth import ResourceRecord, Synthesis

STACK_TYPE = "pulumi:pulumi:Stack"
# Rules made by allow(): they tie two components both ways, so they say nothing about which one builds on which.
CONNECTION_TYPES = ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")


def top_components(synthesis: Synthesis) -> dict[str, str]:
    """Each resource's top-level component (a direct child of the stack), by URN; '(stack)' for none."""
    by_urn = synthesis.by_urn()
    owner: dict[str, str] = {}
    for record in synthesis.resources:
        node: ResourceRecord | None = record
        top = "(stack)"
        while node is not None:
            if not node.custom and node.parent and node.parent.split("::")[-2].endswith(STACK_TYPE):
                top = node.name
            node = by_urn.get(node.parent) if node.parent else None
        owner[record.urn] = top
    return owner


def _upstream(synthesis: Synthesis, owner: dict[str, str]) -> dict[str, set[str]]:
    """For each top-level component, every other one it depends on, directly or transitively."""
    direct: dict[str, set[str]] = defaultdict(set)
    for record in synthesis.resources:
        if record.type in CONNECTION_TYPES:
            continue
        for dep in [*record.dependencies, *([record.provider] if record.provider else [])]:
            if owner.get(dep, "(stack)") not in ("(stack)", owner[record.urn]):
                direct[owner[record.urn]].add(owner[dep])
    closure: dict[str, set[str]] = {}
    for name in list(direct):
        seen: set[str] = set()
        todo = list(direct[name])
        while todo:
            other = todo.pop()
            if other not in seen and other != name:
                seen.add(other)
                todo += direct.get(other, ())
        closure[name] = seen
    return closure


def architecture_order(synthesis: Synthesis) -> list[ResourceRecord]:
    """Top-level components, those that others build on first (network before cluster before baseline); among
    those with as many dependencies, the one most others build on first (network before alerts)."""
    owner = top_components(synthesis)
    upstream = _upstream(synthesis, owner)
    components = [r for r in synthesis.resources if not r.custom and owner[r.urn] == r.name]

    def dependents(name: str) -> int:
        return sum(name in others for others in upstream.values())

    return sorted(components, key=lambda c: (len(upstream.get(c.name, ())), -dependents(c.name), c.name))


WIDTH = 116
NODE_GROUP_TYPES = ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup")
INGRESS_RULE = CONNECTION_TYPES[0]
EMAIL_PROTOCOLS = ("email", "email-json")


def summary(synthesis: Synthesis) -> str:
    owner = top_components(synthesis)
    lines = [*_header(synthesis), ""]
    for component in architecture_order(synthesis):
        members = [r for r in synthesis.resources if owner[r.urn] == component.name and r.custom]
        protected = sum(r.protect for r in members)
        lines.append(f"{component.name}  [{component.type}]  {len(members)} resources"
                     + (f", {protected} protected" if protected else ""))
        settings = {k: v for k, v in (component.inputs.get("settings") or {}).items() if k != "warnings"}
        lines += _packed([f"{k}={readable(v)}" for k, v in settings.items()])
        lines += [f"    node group {_node_group(r, component.name)}" for r in synthesis.resources
                  if r.type in NODE_GROUP_TYPES and owner[r.urn] == component.name]
        for type_, count in sorted(Counter(r.type for r in members).items()):
            lines.append(f"    {count:3d}  {type_}")
        lines.append("")
    lines += ["who may reach whom (security group ingress rules: source -> target, port)",
              *[f"    {line}" for line in connections(synthesis)], ""]
    lines += [f"WARNING: {warning}" for warning in synthesis.warnings()]
    if synthesis.warnings():
        lines.append("")
    lines.append("outputs" + ("  (* made up by the mocks: AWS assigns the real value)" if synthesis.mock_outputs()
                              else ""))
    mock = set(synthesis.mock_outputs())
    for name, value in synthesis.outputs.items():
        lines.append(f"  {'*' if name in mock else ' '} {name} = {readable(value)}")
    return "\n".join(lines)


def _header(synthesis: Synthesis) -> list[str]:
    accounts = synthesis.allowed_account_ids
    account = (f"account {', '.join(accounts)} (envstack:allowedAccountIds)" if accounts else
               "account any: envstack:allowedAccountIds is empty (ARNs below show the mocks' made-up account)")
    tags = _default_tags(synthesis)
    emails = alert_emails(synthesis)
    return [f"envstack synth {synthesis.stack}  (environment {synthesis.environment}, "
            f"{len(synthesis.resources)} resources)",
            f"    region {synthesis.region or '(provider default)'}   {account}",
            "    " + "   ".join(f"{k.lower()} {tags[k]}" for k in ("Owner", "Team", "Repository") if k in tags),
            "    alert e-mail " + (", ".join(emails) if emails else "none (envstack:monitoring.notificationEmails)")]


def _default_tags(synthesis: Synthesis) -> dict[str, str]:
    provider = next((r for r in synthesis.resources if r.type == "pulumi:providers:aws"), None)
    value = provider.inputs.get("defaultTags") if provider else None
    tags = (json.loads(value) if isinstance(value, str) else value or {}).get("tags") or {}
    return {str(k): str(v) for k, v in tags.items()}


def alert_emails(synthesis: Synthesis) -> list[str]:
    """Every e-mail address the stack sends to: topic subscriptions, budget and anomaly subscribers."""
    found = [str(r.inputs.get("endpoint")) for r in synthesis.of_type("aws:sns/topicSubscription:TopicSubscription")
             if r.inputs.get("protocol") in EMAIL_PROTOCOLS]
    for budget in synthesis.of_type("aws:budgets/budget:Budget"):
        notifications = budget.inputs.get("notifications") or []
        found += [str(a) for n in notifications for a in n.get("subscriberEmailAddresses") or []]
    for subscription in synthesis.of_type("aws:costexplorer/anomalySubscription:AnomalySubscription"):
        subscribers = subscription.inputs.get("subscribers") or []
        found += [str(s.get("address")) for s in subscribers if s.get("type") == "EMAIL"]
    return sorted(set(found))


def _node_group(record: ResourceRecord, component: str) -> str:
    """'main: 3 x m7i.large on demand (min 3, max 10), AL2023_x86_64_STANDARD, Kubernetes 1.35' (the version the
    group names: without one, a group with a launch template stays behind when the cluster is upgraded)."""
    scaling = record.inputs.get("scalingConfig") or {}
    name = record.name.removeprefix(f"{component}-")
    capacity = str(record.inputs.get("capacityType") or "ON_DEMAND").lower().replace("_", " ")
    types = " | ".join(record.inputs.get("instanceTypes") or ["(provider default)"])
    labels = ", ".join(f"{k}={v}" for k, v in (record.inputs.get("labels") or {}).items())
    return (f"{name}: {readable(scaling.get('desiredSize'))} x {types} {capacity} "
            f"(min {readable(scaling.get('minSize'))}, max {readable(scaling.get('maxSize'))}), "
            f"{record.inputs.get('amiType', '')}, Kubernetes {record.inputs.get('version') or '(no version)'}"
            + (f", labels {labels}" if labels else ""))


def connections(synthesis: Synthesis) -> list[str]:
    """Who may open connections to whom: each security group ingress rule as 'source -> target  port  (why)'.
    A source security group is named by the component that owns it (`allow()` rules); otherwise its CIDR."""
    owner = top_components(synthesis)
    rows = []
    for rule in synthesis.of_type(INGRESS_RULE):
        i = rule.inputs
        sources = [owner[u] for u in rule.propertyDependencies.get("referencedSecurityGroupId", []) if u in owner]
        source = sources[0] if sources else str(i.get("cidrIpv4") or i.get("cidrIpv6") or i.get("prefixListId")
                                                 or i.get("referencedSecurityGroupId") or "?")
        low, high = readable(i.get("fromPort")), readable(i.get("toPort"))
        ports = f"{i.get('ipProtocol')}/{low}" + (f"-{high}" if high != low else "")
        rows.append((source, owner[rule.urn], ports, str(i.get("description") or "")))
    width = max((len(f"{s} -> {t}") for s, t, _, _ in rows), default=0)
    return [f"{f'{s} -> {t}':<{width}}  {p:<10} {d}".rstrip() for s, t, p, d in sorted(rows)]


def _packed(items: list[str], indent: str = "    ") -> list[str]:
    """Items on as few lines of WIDTH as they fit, never split."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 2 + len(item) <= WIDTH:
            lines[-1] += "  " + item
        else:
            lines.append(indent + item)
    return lines


def readable(value: Any) -> str:
    """A setting as a reader writes it (YAML-like): true/false, 3 not 3.0, {cpu: 2, memory: 4Gi}, [a, b]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(readable(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {readable(v)}" for k, v in value.items()) + "}"
    return str(value)
