"""`envstack diff A B`: what changes from A to B, for review: resources, inputs, cost per component, policy.

An operand is one of
  STACK        the stack as the working tree defines it (synthesized here, offline);
  STACK@REF    the stack as git revision REF defines it (`prod@main`, `prod@origin/main`, `prod@HEAD~1`): REF's
               tracked files are exported to a temporary directory and synthesized there, with this checkout's
               environment; a stack file REF does not have is an empty stack (everything is added);
  FILE.json    a synthesis written by `envstack synth STACK --json FILE.json`.
`envstack diff STACK --base REF` is `envstack diff STACK@REF STACK`.

Resources are matched by URN without its stack (`urn:pulumi:<stack>::`), so two stacks compare too; inputs are
compared leaf by leaf (JSON documents in strings, such as IAM policies, included; a component's are its settings).
`--ignore-stack-name` also reads each stack's name inside values as the same word, so staging and prod compare on
what differs besides their names. A changed input that replaces a stateful resource (envstack/tools/replacements.py)
is marked `replace`. Long values show the part that differs (text) and the
whole value folded under it (markdown); numbers show as written (30, not 30.0).
"""

import argparse
import html
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, NotRequired

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from Python 3.12

from envstack.program.config import ConfigError

from . import cost, policy_gate, replacements
from .exit_codes import EXIT_BAD_INPUT, EXIT_OK
from .nested import leaves
from .synth import ROOT, Synthesis, stack_file, synthesize

MISSING = "(none)"
VALUE_WIDTH = 60
CONTEXT = 16  # characters kept either side of the part of a long value that differs
ELLIPSIS = "…"
STACK_PLACEHOLDER = "<stack>"


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


class _LineItem(TypedDict):
    component: str
    resource: str
    type: str
    description: str
    monthly_usd: float
    item: NotRequired[str | None]


class _Cost(TypedDict, total=False):
    monthly_usd: float | None
    by_component: dict[str, float | None]
    region: str | None
    complete: bool
    unpriced_types: list[str]
    line_items: list[_LineItem]


class _Violation(TypedDict):
    policy: str
    level: str
    message: str
    urn: NotRequired[str | None]


class _Policy(TypedDict, total=False):
    environment: str
    violations: list[_Violation]


class _Sections(TypedDict, total=False):
    """The parts of docs/synth-json.md's `cost` and `policy` sections a diff reads."""
    cost: _Cost | None
    policy: _Policy | None


_SECTIONS = TypeAdapter(_Sections)


def _not_a_synthesis(document: Any) -> str | None:
    """What keeps `document` from being read as `envstack synth --json`'s output: its stack and resources, and the
    shape of the cost and policy sections where it has them."""
    if not isinstance(document, dict):
        return f"a JSON {type(document).__name__}, not an object"
    if not isinstance(document.get("stack"), str) or not isinstance(document.get("resources"), list):
        return "no `stack` name and `resources` list"
    for i, resource in enumerate(document["resources"]):
        if not isinstance(resource, dict) or not all(isinstance(resource.get(k), str) for k in ("urn", "type", "name")):
            return f"resources[{i}] has no `urn`, `type` and `name`"
    try:
        _SECTIONS.validate_python({k: document[k] for k in ("cost", "policy") if k in document}, strict=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        return f"{where}: {first['msg'].lower()}"
    return None


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
        if problem := _not_a_synthesis(loaded):
            raise OperandError(f"{operand}: not a synthesis JSON file ({problem}; `envstack synth STACK --json PATH` "
                               "writes one: docs/synth-json.md)")
        return loaded
    return _synthesize_here(operand)


# ---- comparing two documents ---------------------------------------------------------------------------------------


def _key(urn: str, stack: str) -> str:
    return urn.replace(f"urn:pulumi:{stack}::", "urn:pulumi:*::", 1)


def _normal(value: Any, stack: str, ignore_stack: bool = False) -> Any:
    """URNs without their stack, JSON documents in strings parsed, whole numbers as integers (Pulumi carries every
    number as a double), so that equal means equal; with `ignore_stack`, the stack's name as a word replaced too, in
    keys as in values (an IAM condition key names the cluster: aws:ResourceTag/k8s.io/cluster-autoscaler/<name>)."""
    if isinstance(value, Mapping):
        return {(_stack_word(stack).sub(STACK_PLACEHOLDER, k) if ignore_stack and stack and isinstance(k, str) else k):
                _normal(v, stack, ignore_stack) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, stack, ignore_stack) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                return _normal(json.loads(value), stack, ignore_stack)
            except ValueError:
                pass
        value = value.replace(f"urn:pulumi:{stack}::", "urn:pulumi:*::")
        return _stack_word(stack).sub(STACK_PLACEHOLDER, value) if ignore_stack and stack else value
    return value


def _stack_word(stack: str) -> re.Pattern[str]:
    """The stack name where it is a word of its own (envstack-prod-postgres), not inside another (production)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(stack)}(?![A-Za-z0-9])")


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

    def effect(self, path: str, before: Any, after: Any) -> str | None:
        """'replace' when this input's change replaces the resource (else None)."""
        return replacements.effect(self.resource.type, path, None if before == MISSING else before,
                                   None if after == MISSING else after)

    @property
    def replaced(self) -> bool:
        return any(self.effect(*change) == "replace" for change in self.inputs)


@dataclass(frozen=True)
class CostLine:
    """One line item of the estimate, before and after (None: not in that estimate)."""
    component: str
    resource: str
    item: str
    before: tuple[str, float] | None  # (description, USD a month)
    after: tuple[str, float] | None

    @property
    def description(self) -> str:
        after, before = self.after, self.before
        if after and before and after[0] != before[0]:
            return f"{before[0]} -> {after[0]}"
        return (after or before or ("", 0.0))[0]

    @property
    def usd(self) -> tuple[float | None, float | None]:
        return (self.before[1] if self.before else None, self.after[1] if self.after else None)


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
    cost_lines: list["CostLine"] = field(default_factory=list)  # the line items whose cost or description changed
    policy_environments: tuple[str, str] = ("", "")
    new_violations: list[dict[str, Any]] = field(default_factory=list)
    resolved_violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_delta(self) -> float | None:
        a, b = self.totals
        return None if a is None or b is None else round(b - a, 2)


def _resources(doc: Mapping[str, Any], ignore_stack: bool = False) -> dict[str, Resource]:
    stack = str(doc.get("stack", ""))
    # A component's inputs are its settings (what the tools are told, not what Pulumi stores: synth's `components`).
    settings = {(c.get("type"), c.get("name")): c.get("settings") or {} for c in doc.get("components", [])}
    found = {}
    for r in doc.get("resources", []):
        key = _key(r["urn"], stack)
        given = r.get("inputs") or settings.get((r["type"], r["name"]), {})
        inputs = dict(_normal(given, stack, ignore_stack))
        if r.get("protect"):
            inputs["(protect)"] = True
        found[key] = Resource(key, r["type"], r["name"], inputs)
    return found


def _dotted_leaves(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {".".join(path): value for path, value in leaves(inputs)}


def _changed_inputs(a: Resource, b: Resource) -> list[tuple[str, Any, Any]]:
    before, after = _dotted_leaves(a.inputs), _dotted_leaves(b.inputs)
    return [(path, before.get(path, MISSING), after.get(path, MISSING)) for path in sorted(before.keys() | after.keys())
            if before.get(path, MISSING) != after.get(path, MISSING)]


def _violations(doc: Mapping[str, Any]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    stack = str(doc.get("stack", ""))
    found = {}
    for v in (doc.get("policy") or {}).get("violations", []):
        resource = _key(v["urn"], stack) if v.get("urn") else "(stack)"
        found[(v["policy"], v["level"], resource, v["message"])] = {**v, "resource": resource.rsplit("::", 1)[-1]}
    return found


def _line_items(cost: Mapping[str, Any]) -> dict[tuple[str, str, str, str], tuple[str, float]]:
    """The estimate's lines by (component, resource, type, item); a document written before lines had an `item`
    keys them by description."""
    return {(i["component"], i["resource"], i["type"], i.get("item") or i["description"]):
            (i["description"], float(i["monthly_usd"])) for i in cost.get("line_items", [])}


def _cost_lines(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[CostLine]:
    la, lb = _line_items(a), _line_items(b)
    return [CostLine(key[0], key[1], key[3], la.get(key), lb.get(key)) for key in sorted(la.keys() | lb.keys())
            if la.get(key) != lb.get(key)]


def _cost(diff: Diff, a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
    ca, cb = a.get("cost") or {}, b.get("cost") or {}
    components = sorted(set(ca.get("by_component", {})) | set(cb.get("by_component", {})))
    diff.cost = {c: (ca.get("by_component", {}).get(c), cb.get("by_component", {}).get(c)) for c in components}
    diff.totals = (ca.get("monthly_usd"), cb.get("monthly_usd"))
    diff.cost_lines = _cost_lines(ca, cb)
    for label, c in ((diff.before, ca), (diff.after, cb)):
        if not c:
            diff.cost_notes.append(f"{label}: no cost estimate")
        elif c.get("monthly_usd") is None:
            diff.cost_notes.append(f"{label}: no price table for {c.get('region')}")
        elif c.get("complete") is False or c.get("unpriced_types"):
            diff.cost_notes.append(f"{label}: incomplete estimate, not priced: " + ", ".join(c["unpriced_types"]))
    if ca.get("region") != cb.get("region") and ca and cb:
        diff.cost_notes.append(f"regions differ: {ca.get('region')} -> {cb.get('region')}")


def compare(a: Mapping[str, Any], b: Mapping[str, Any], before: str = "A", after: str = "B",
            ignore_stack: bool = False) -> Diff:
    """`ignore_stack`: each document's stack name inside values reads as the same word (staging against prod)."""
    diff = Diff(before, after)
    ra, rb = _resources(a, ignore_stack), _resources(b, ignore_stack)
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


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _short(value: Any, width: int = VALUE_WIDTH) -> str:
    text = _text(value)
    return text if len(text) <= width else text[:width - 1] + ELLIPSIS


def excerpts(before: Any, after: Any, width: int = VALUE_WIDTH) -> tuple[str, str]:
    """Both values as text; when one is longer than `width`, each cut to the part that differs with CONTEXT
    characters either side (…-marked where cut): a certificate ARN's new tail stays visible, however long."""
    a, b = _text(before), _text(after)
    if len(a) <= width and len(b) <= width:
        return a, b
    prefix = len(_common_prefix(a, b))
    suffix = min(len(_common_prefix(a[::-1], b[::-1])), min(len(a), len(b)) - prefix)
    start = max(0, prefix - CONTEXT)

    def cut(text: str) -> str:
        end = len(text) - max(0, suffix - CONTEXT)
        return (ELLIPSIS if start else "") + text[start:end] + (ELLIPSIS if end < len(text) else "")
    return cut(a), cut(b)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


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


def _line_name(line: CostLine) -> str:
    return f"{line.component}/{line.resource} {line.item}"


def _column(diff: Diff) -> int:
    """The width of the before and after columns: 14, or wider for a long operand (a file path, STACK@REF)."""
    return max(14, len(diff.before) + 2, len(diff.after) + 2)


def render_text(diff: Diff) -> str:
    lines = [f"envstack diff {diff.before} -> {diff.after}", f"resources: {_counts(diff)}", "",
             f"cost (USD/month)  {'component':<16}{diff.before:>{(w := _column(diff))}}{diff.after:>{w}}{'delta':>14}"]
    rows = [*[(c, a, b) for c, (a, b) in diff.cost.items()], ("total", *diff.totals)]
    lines += [f"{'':18}{c:<16}{_usd(a):>{w}}{_usd(b):>{w}}{_delta(a, b):>14}" for c, a, b in rows]
    lines += [f"    note: {note}" for note in diff.cost_notes]
    if diff.cost_lines:
        lines += ["", f"cost by line item ({len(diff.cost_lines)} changed)"]
        lines += [f"    {_line_name(c):<48}{_usd(c.usd[0]):>12}{_usd(c.usd[1]):>12}{_delta(*c.usd):>12}  "
                  f"{c.description}" for c in diff.cost_lines]
    lines += ["", f"policy: {_policy_line(diff)}"]
    lines += [f"  + {_violation(v)}" for v in diff.new_violations]
    lines += [f"  - {_violation(v)}" for v in diff.resolved_violations]
    lines += ["", *[f"+ {r.type}  {r.name}" for r in diff.added], *[f"- {r.type}  {r.name}" for r in diff.removed]]
    for change in diff.changed:
        lines.append(f"~ {change.resource.type}  {change.resource.name}" + ("  (replaced)" if change.replaced else ""))
        for path, a, b in change.inputs:
            shown_a, shown_b = excerpts(a, b)
            effect = change.effect(path, a, b)
            lines.append(f"      {path}: {shown_a} -> {shown_b}" + (f"  [{effect}]" if effect else ""))
    return "\n".join(lines).rstrip() + "\n"


def _cell(value: Any, width: int = VALUE_WIDTH) -> str:
    text = _short(value, width).replace("|", "\\|").replace("\n", " ").replace("`", "'")
    return f"`{text}`"


def _html(text: str) -> str:
    """Text inside HTML in a table cell: escaped, on one line, no pipe to split the row."""
    return html.escape(text).replace("|", "&#124;").replace("\n", " ")


def _value_cell(shown: str, value: Any) -> str:
    """A changed value's cell: the excerpt, and when it is cut, the whole value folded under it."""
    whole = _text(value)
    if shown == whole:
        return f"<code>{_html(shown)}</code>"
    return f"<details><summary><code>{_html(shown)}</code></summary><code>{_html(whole)}</code></details>"


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
    if diff.cost_lines:
        lines += ["", f"<details><summary>cost by line item: {len(diff.cost_lines)} changed</summary>", "",
                  f"| component | resource | line | {diff.before} | {diff.after} | delta |",
                  "|---|---|---|---:|---:|---:|"]
        lines += [f"| {c.component} | `{c.resource}` | {_html(c.description)} | {_usd(c.usd[0])} | {_usd(c.usd[1])} | "
                  f"{_delta(*c.usd)} |" for c in diff.cost_lines]
        lines += ["", "</details>"]
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
        replaced = sum(c.replaced for c in diff.changed)
        summary = f"{len(diff.changed)} changed" + (f", {replaced} replaced" if replaced else "")
        lines += ["", f"<details><summary>{summary}</summary>", "",
                  "| type | resource | input | before | after | |", "|---|---|---|---|---|---|"]
        for c in diff.changed:
            for path, a, b in c.inputs:
                shown_a, shown_b = excerpts(a, b)
                effect = c.effect(path, a, b)
                lines.append(f"| `{c.resource.type}` | `{c.resource.name}` | `{path}` | {_value_cell(shown_a, a)} | "
                             f"{_value_cell(shown_b, b)} | {f'**{effect}**' if effect else ''} |")
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
        diff = compare(load(before), load(after), before, after, ignore_stack=args.ignore_stack_name)
    except OperandError as error:
        print(f"envstack diff: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(render_markdown(diff) if args.format == "markdown" else render_text(diff), end="")
    return EXIT_OK

