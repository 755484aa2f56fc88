"""Readable views of a synthesis: resources per component and type, component settings, stack outputs."""

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


def summary(synthesis: Synthesis) -> str:
    owner = top_components(synthesis)
    components = architecture_order(synthesis)
    lines = [f"envstack synth {synthesis.stack}  (environment {synthesis.environment}, "
             f"{len(synthesis.resources)} resources)", ""]
    for component in components:
        members = [r for r in synthesis.resources if owner[r.urn] == component.name and r.custom]
        protected = sum(r.protect for r in members)
        lines.append(f"{component.name}  [{component.type}]  {len(members)} resources"
                     + (f", {protected} protected" if protected else ""))
        settings = component.inputs.get("settings") or {}
        if settings:
            lines.append("    " + "  ".join(f"{k}={_short(v)}" for k, v in settings.items()))
        for type_, count in sorted(Counter(r.type for r in members).items()):
            lines.append(f"    {count:3d}  {type_}")
        lines.append("")
    lines += [f"WARNING: {warning}" for warning in synthesis.warnings()]
    if synthesis.warnings():
        lines.append("")
    lines.append("outputs")
    for name, value in synthesis.outputs.items():
        lines.append(f"    {name} = {_short(value)}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)
