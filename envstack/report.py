"""Readable views of a synthesis: resources per component and type, component settings, stack outputs."""

from collections import Counter
from typing import Any

from .synth import ResourceRecord, Synthesis

STACK_TYPE = "pulumi:pulumi:Stack"


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


def summary(synthesis: Synthesis) -> str:
    owner = top_components(synthesis)
    components = [r for r in synthesis.resources if not r.custom and owner[r.urn] == r.name]
    lines = [f"envstack synth {synthesis.stack}  (environment {synthesis.environment}, "
             f"{len(synthesis.resources)} resources)", ""]
    for component in components:
        members = [r for r in synthesis.resources if owner[r.urn] == component.name and r is not component]
        protected = sum(r.protect for r in members)
        lines.append(f"{component.name}  [{component.type}]  {len(members)} resources"
                     + (f", {protected} protected" if protected else ""))
        settings = component.inputs.get("settings") or {}
        if settings:
            lines.append("    " + "  ".join(f"{k}={_short(v)}" for k, v in settings.items()))
        for type_, count in sorted(Counter(r.type for r in members).items()):
            lines.append(f"    {count:3d}  {type_}")
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
