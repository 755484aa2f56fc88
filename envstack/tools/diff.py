"""`envstack diff A B`: what changes from A to B, for review: resources, inputs, cost per component, policy.

An operand is one of
  STACK        the stack as the working tree defines it (synthesized here, offline);
  STACK@REF    the stack as git revision REF defines it (`prod@main`, `prod@origin/main`, `prod@HEAD~1`): REF's
               tracked files are exported to a temporary directory and synthesized there, with this checkout's
               environment; a stack file REF does not have is an empty stack (everything is added);
  FILE.json    a synthesis written by `envstack synth STACK --json FILE.json`.
`envstack diff STACK --base REF` is `envstack diff STACK@REF STACK`.

Resources are matched by URN without its stack (`urn:pulumi:<stack>::`), so two stacks compare too; inputs are
compared leaf by leaf (JSON documents in strings, such as IAM policies, included).
"""

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from envstack.program.config import ConfigError

from . import cost, policy_gate
from .exit_codes import EXIT_BAD_INPUT, EXIT_OK
from .synth import ROOT, Synthesis, stack_file, synthesize

MISSING = "(none)"
VALUE_WIDTH = 60


class OperandError(Exception):
    """An operand that cannot be read or synthesized; the message names it."""


def document(synthesis: Synthesis) -> dict[str, Any]:
    """What `envstack synth --json` writes for a synthesis (its own environment's policy configuration)."""
    return {**synthesis.to_json(), "policy": policy_gate.to_json(policy_gate.check(synthesis), synthesis.environment),
            "cost": cost.estimate(synthesis).to_json()}


def _synthesize_here(stack: str) -> dict[str, Any]:
    try:
        return document(synthesize(stack))
    except ConfigError as error:
        raise OperandError(error.render()) from error
    except FileNotFoundError as error:
        raise OperandError(f"stack {stack}: {error}") from error


def _export(ref: str, root: Path, into: Path) -> None:
    """REF's tracked files, as `git archive` gives them, into `into`."""
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", ref], capture_output=True)
    if archive.returncode != 0:
        raise OperandError(f"git revision {ref!r}: {archive.stderr.decode().strip() or 'not found'}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def _synthesize_at(stack: str, ref: str, root: Path = ROOT) -> dict[str, Any]:
    """The stack as revision `ref` defines it: that revision's program, synthesized in a child process."""
    with tempfile.TemporaryDirectory(prefix="envstack-diff-") as tmp:
        checkout = Path(tmp)
        _export(ref, root, checkout)
        if not stack_file(stack, checkout).exists():
            return {"stack": stack, "environment": "", "resources": [], "outputs": {}}
        out = checkout / "out" / f"{stack}.json"
        # `-m` puts the exported tree first on sys.path: its envstack, components and policies are the ones run.
        run = subprocess.run([sys.executable, "-m", "envstack.cli", "synth", stack, "--json", str(out)],
                             cwd=checkout, capture_output=True, text=True)
        if not out.exists():
            raise OperandError(f"{stack}@{ref}: envstack synth exited {run.returncode}: {run.stderr.strip()}")
        loaded: dict[str, Any] = json.loads(out.read_text())
        return loaded


def load(operand: str) -> dict[str, Any]:
    """The synthesis document an operand names (see the module docstring)."""
    if "@" in operand:
        stack, ref = operand.split("@", 1)
        return _synthesize_at(stack, ref)
    if operand.endswith(".json") or "/" in operand:
        try:
            loaded: dict[str, Any] = json.loads(Path(operand).read_text())
        except (OSError, ValueError) as error:
            raise OperandError(f"{operand}: not a synthesis JSON file ({error})") from error
        return loaded
    return _synthesize_here(operand)


# ---- comparing two documents ---------------------------------------------------------------------------------------


def _key(urn: str, stack: str) -> str:
    return urn.replace(f"urn:pulumi:{stack}::", "urn:pulumi:*::", 1)


def _normal(value: Any, stack: str) -> Any:
    """URNs without their stack, JSON documents in strings parsed, so that equal means equal."""
    if isinstance(value, Mapping):
        return {k: _normal(v, stack) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, stack) for v in value]
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                return _normal(json.loads(value), stack)
            except ValueError:
                pass
        return value.replace(f"urn:pulumi:{stack}::", "urn:pulumi:*::")
    return value


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    else:
        yield path, value


@dataclass(frozen=True)
class Resource:
    key: str
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Change:
    resource: Resource
    inputs: list[tuple[str, Any, Any]]  # (input path, before, after)


@dataclass
class Diff:
    before: str
    after: str
    added: list[Resource] = field(default_factory=list)
    removed: list[Resource] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unchanged: int = 0
    cost: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # component -> (A, B)
    totals: tuple[float | None, float | None] = (None, None)
    cost_notes: list[str] = field(default_factory=list)
    policy_environments: tuple[str, str] = ("", "")
    new_violations: list[dict[str, Any]] = field(default_factory=list)
    resolved_violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_delta(self) -> float | None:
        a, b = self.totals
        return None if a is None or b is None else round(b - a, 2)


def _resources(doc: Mapping[str, Any]) -> dict[str, Resource]:
    stack = str(doc.get("stack", ""))
    found = {}
    for r in doc.get("resources", []):
        key = _key(r["urn"], stack)
        inputs = dict(_normal(r.get("inputs", {}), stack))
        if r.get("protect"):
            inputs["(protect)"] = True
        found[key] = Resource(key, r["type"], r["name"], inputs)
    return found


def _changed_inputs(a: Resource, b: Resource) -> list[tuple[str, Any, Any]]:
    before, after = dict(_leaves(a.inputs)), dict(_leaves(b.inputs))
    return [(path, before.get(path, MISSING), after.get(path, MISSING)) for path in sorted(before.keys() | after.keys())
            if before.get(path, MISSING) != after.get(path, MISSING)]


def _violations(doc: Mapping[str, Any]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    stack = str(doc.get("stack", ""))
    found = {}
    for v in (doc.get("policy") or {}).get("violations", []):
        resource = _key(v["urn"], stack) if v.get("urn") else "(stack)"
        found[(v["policy"], v["level"], resource, v["message"])] = {**v, "resource": resource.rsplit("::", 1)[-1]}
    return found


def _cost(diff: Diff, a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
    ca, cb = a.get("cost") or {}, b.get("cost") or {}
    components = sorted(set(ca.get("by_component", {})) | set(cb.get("by_component", {})))
    diff.cost = {c: (ca.get("by_component", {}).get(c), cb.get("by_component", {}).get(c)) for c in components}
    diff.totals = (ca.get("monthly_usd"), cb.get("monthly_usd"))
    for label, c in ((diff.before, ca), (diff.after, cb)):
        if not c:
            diff.cost_notes.append(f"{label}: no cost estimate")
        elif c.get("monthly_usd") is None:
            diff.cost_notes.append(f"{label}: no price table for {c.get('region')}")
        elif c.get("complete") is False or c.get("unpriced_types"):
            diff.cost_notes.append(f"{label}: incomplete estimate, not priced: " + ", ".join(c["unpriced_types"]))
    if ca.get("region") != cb.get("region") and ca and cb:
        diff.cost_notes.append(f"regions differ: {ca.get('region')} -> {cb.get('region')}")


def compare(a: Mapping[str, Any], b: Mapping[str, Any], before: str = "A", after: str = "B") -> Diff:
    diff = Diff(before, after)
    ra, rb = _resources(a), _resources(b)
    diff.added = [rb[k] for k in sorted(rb.keys() - ra.keys())]
    diff.removed = [ra[k] for k in sorted(ra.keys() - rb.keys())]
    for key in sorted(ra.keys() & rb.keys()):
        inputs = _changed_inputs(ra[key], rb[key])
        if inputs:
            diff.changed.append(Change(rb[key], inputs))
        else:
            diff.unchanged += 1
    _cost(diff, a, b)
    va, vb = _violations(a), _violations(b)
    diff.policy_environments = ((a.get("policy") or {}).get("environment", ""),
                                (b.get("policy") or {}).get("environment", ""))
    diff.new_violations = [vb[k] for k in sorted(vb.keys() - va.keys())]
    diff.resolved_violations = [va[k] for k in sorted(va.keys() - vb.keys())]
    return diff


# ---- rendering -----------------------------------------------------------------------------------------------------


def _short(value: Any, width: int = VALUE_WIDTH) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[:width - 3] + "..."


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _delta(a: float | None, b: float | None) -> str:
    if a is None and b is None:
        return "-"
    change = round((b or 0) - (a or 0), 2)
    if change == 0:
        return "0"
    return f"{'+' if change >= 0 else '-'}${abs(change):,.2f}"


def _counts(diff: Diff) -> str:
    return (f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed, "
            f"{diff.unchanged} unchanged")


def _policy_line(diff: Diff) -> str:
    envs = diff.policy_environments
    configuration = envs[0] if envs[0] == envs[1] else f"{envs[0]} -> {envs[1]}"
    return (f"{len(diff.new_violations)} new and {len(diff.resolved_violations)} resolved violations "
            f"({configuration} configuration)")


def _violation(v: Mapping[str, Any]) -> str:
    return f"[{v['level']}] {v['policy']} {v['resource']}: {v['message']}"


def render_text(diff: Diff) -> str:
    lines = [f"envstack diff {diff.before} -> {diff.after}", f"resources: {_counts(diff)}", "",
             f"cost (USD/month)  {'component':<16}{diff.before:>14}{diff.after:>14}{'delta':>14}"]
    rows = [*[(c, a, b) for c, (a, b) in diff.cost.items()], ("total", *diff.totals)]
    lines += [f"{'':18}{c:<16}{_usd(a):>14}{_usd(b):>14}{_delta(a, b):>14}" for c, a, b in rows]
    lines += [f"    note: {note}" for note in diff.cost_notes]
    lines += ["", f"policy: {_policy_line(diff)}"]
    lines += [f"  + {_violation(v)}" for v in diff.new_violations]
    lines += [f"  - {_violation(v)}" for v in diff.resolved_violations]
    lines += ["", *[f"+ {r.type}  {r.name}" for r in diff.added], *[f"- {r.type}  {r.name}" for r in diff.removed]]
    for change in diff.changed:
        lines.append(f"~ {change.resource.type}  {change.resource.name}")
        lines += [f"      {path}: {_short(a)} -> {_short(b)}" for path, a, b in change.inputs]
    return "\n".join(lines).rstrip() + "\n"


def _cell(value: Any, width: int = VALUE_WIDTH) -> str:
    text = _short(value, width).replace("|", "\\|").replace("\n", " ").replace("`", "'")
    return f"`{text}`"


def render_markdown(diff: Diff) -> str:
    """For a pull request's job summary or comment: the cost table first, details folded."""
    lines = [f"### envstack diff `{diff.before}` → `{diff.after}`", "",
             f"**Monthly cost** {_usd(diff.totals[0])} → {_usd(diff.totals[1])} "
             f"(**{_delta(*diff.totals)}**) · **resources** {_counts(diff)} · **policy** {_policy_line(diff)}", "",
             f"| component | {diff.before} | {diff.after} | delta |", "|---|---:|---:|---:|"]
    lines += [f"| {c} | {_usd(a)} | {_usd(b)} | {_delta(a, b)} |" for c, (a, b) in diff.cost.items()]
    lines.append(f"| **total** | **{_usd(diff.totals[0])}** | **{_usd(diff.totals[1])}** | "
                 f"**{_delta(*diff.totals)}** |")
    lines += [f"\n> {note}" for note in diff.cost_notes]
    if diff.new_violations or diff.resolved_violations:
        lines += ["", "| policy | level | resource | message | |", "|---|---|---|---|---|"]
        lines += [f"| {v['policy']} | {v['level']} | {v['resource']} | {_cell(v['message'], 200)} | {mark} |"
                  for mark, found in (("new", diff.new_violations), ("resolved", diff.resolved_violations))
                  for v in found]
    if diff.added or diff.removed:
        lines += ["", f"<details><summary>{len(diff.added)} added, {len(diff.removed)} removed</summary>", "",
                  "| | type | name |", "|---|---|---|"]
        lines += [f"| {mark} | `{r.type}` | `{r.name}` |"
                  for mark, found in (("+", diff.added), ("-", diff.removed)) for r in found]
        lines += ["", "</details>"]
    if diff.changed:
        lines += ["", f"<details><summary>{len(diff.changed)} changed</summary>", "",
                  "| resource | input | before | after |", "|---|---|---|---|"]
        lines += [f"| `{c.resource.name}` | `{path}` | {_cell(a)} | {_cell(b)} |"
                  for c in diff.changed for path, a, b in c.inputs]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.base:
        if len(args.operands) != 1 or "@" in args.operands[0]:
            print("envstack diff --base REF: expected one stack name, e.g. `envstack diff prod --base main`",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        before, after = f"{args.operands[0]}@{args.base}", args.operands[0]
    elif len(args.operands) == 2:
        before, after = args.operands
    else:
        print("envstack diff: expected two operands (STACK, STACK@REF or FILE.json), or one stack with --base REF",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        diff = compare(load(before), load(after), before, after)
    except OperandError as error:
        print(f"envstack diff: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(render_markdown(diff) if args.format == "markdown" else render_text(diff), end="")
    return EXIT_OK

