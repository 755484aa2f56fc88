"""Readable views of a synthesis: where and for whom it is, resources per component and type, component settings,
node groups, who may reach whom, stack outputs (those the mocks made up marked). The components, their settings and
their connections come from the program's own manifest (components/manifest.py); resources are grouped by parent."""

import json
from collections import Counter
from typing import Any

from .synth import ResourceRecord, Synthesis

STACK_TYPE = "pulumi:pulumi:Stack"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def top_components(synthesis: Synthesis) -> dict[str, str]:
    """Each resource's top-level component (a direct child of the stack), by URN; '(stack)' for none."""
    by_urn = synthesis.by_urn()
    owner: dict[str, str] = {}
    for record in synthesis.resources:
        node: ResourceRecord | None = record
        top = "(stack)"
        while node is not None:
            if not node.custom and node.parent and _is_stack(node.parent):
                top = node.name
            node = by_urn.get(node.parent) if node.parent else None
        owner[record.urn] = top
    return owner


def architecture_order(synthesis: Synthesis) -> list[ResourceRecord]:
    """Top-level components in the order the program builds them (`__main__.py` is the architecture)."""
    top = {r.name: r for r in synthesis.resources if not r.custom and r.parent and _is_stack(r.parent)}
    return [top[c.name] for c in synthesis.components if c.name in top]


def _is_stack(urn: str) -> bool:
    return urn.split("::")[-2].endswith(STACK_TYPE)


WIDTH = 116
NODE_GROUP_TYPES = ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup")
EMAIL_PROTOCOLS = ("email", "email-json")


def summary(synthesis: Synthesis) -> str:
    owner = top_components(synthesis)
    lines = [*_header(synthesis), ""]
    for component in architecture_order(synthesis):
        members = [r for r in synthesis.resources if owner[r.urn] == component.name and r.custom]
        protected = sum(r.protect for r in members)
        lines.append(f"{component.name}  [{component.type}]  {len(members)} resources"
                     + (f", {protected} protected" if protected else ""))
        settings = synthesis.component(component.name).settings
        lines += _packed([f"{k}={readable(v)}" for k, v in settings.items()])
        lines += [f"    node group {_node_group(r, component.name)}" for r in synthesis.resources
                  if r.type in NODE_GROUP_TYPES and owner[r.urn] == component.name]
        for type_, count in sorted(Counter(r.type for r in members).items()):
            lines.append(f"    {count:3d}  {type_}")
        lines.append("")
    lines += ["who may reach whom (allow() between components, and ingress from address ranges: source -> target, "
              "port)",
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
    """Who may open connections to whom: each `allow()` of the program as 'source -> target  port  (why)', then each
    ingress rule that admits an address range (the internet, a runner's network) rather than a component."""
    owner = top_components(synthesis)
    rows = [(c.source, c.target, f"tcp/{c.port}", c.description) for c in synthesis.connections]
    for rule in synthesis.of_type(INGRESS_RULE):
        i = rule.inputs
        if "referencedSecurityGroupId" in i:
            continue  # between security groups: an allow() above, or a component's own rule inside it
        source = str(i.get("cidrIpv4") or i.get("cidrIpv6") or i.get("prefixListId") or "?")
        low, high = readable(i.get("fromPort")), readable(i.get("toPort"))
        ports = f"{i.get('ipProtocol')}/{low}" + (f"-{high}" if high != low else "")
        rows.append((source, owner[rule.urn], ports, str(i.get("description") or "")))
    width = max((len(f"{s} -> {t}") for s, t, _, _ in rows), default=0)
    return [f"{f'{s} -> {t}':<{width}}  {p:<10} {d}".rstrip() for s, t, p, d in rows]


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
