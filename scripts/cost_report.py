"""Estimated monthly cost of every committed stack, side by side: `python scripts/cost_report.py [STACK ...]`.

Runs each stack's program offline under Pulumi's mocks (like `envstack synth`) and prices it with its region's
table in envstack/tools/prices.yaml and its usage model, next to its budget. Prints figures only; exit code 1 when an
estimate exceeds its budget (`envstack:monitoring.monthlyBudgetUsd`: each profile's budget covers its estimate) or is
incomplete (a line it cannot price, or a region without a price table).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envstack.ops.stacks import committed
from envstack.tools.cost import PRICES_NAME, CostEstimate, estimate
from envstack.tools.synth import synthesize


def _money(value: float | None) -> str:
    return f"{value:,.2f}" if value is not None else "-"


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows of cells: the first left-aligned, the others right-aligned, each column as wide as its widest cell (a
    20-character stack name or ap-southeast-4 never runs into its neighbour)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [f"{row[0]:<{widths[0]}}" + "".join(f"  {cell:>{width}}" for cell, width in zip(row[1:], widths[1:],
                                                                                         strict=True))
            for row in rows]


def table(estimates: dict[str, CostEstimate]) -> str:
    components = sorted({c for e in estimates.values() for c in e.by_component})
    every = estimates.values()
    rows = [["USD / month", *estimates], ["region", *(e.region or "?" for e in every)],
            *([c, *(_money(e.by_component.get(c, 0)) for e in every)] for c in components),
            ["total", *(_money(e.monthly_usd if e.prices else None) + ("" if e.complete else "*") for e in every)],
            ["budget", *(_money(e.budget_usd) for e in every)]]
    contingent = any(e.contingent for e in every)
    if contingent:
        rows.append(["+ if extended", *(_money(sum(i.monthly_usd for i in e.contingent) or None) for e in every)])
    lines = _aligned(rows)
    lines.insert(2 + len(components), "-" * len(lines[0]))
    if contingent:
        lines[-1] += "   (not in the total: charges that start under a condition, see envstack synth)"
    if not all(e.complete for e in every):
        lines.append("* incomplete: see FAIL below")
    return "\n".join(lines)


def problems(estimates: dict[str, CostEstimate]) -> list[str]:
    """What makes the report fail: an estimate over its budget, or one that is not the whole cost."""
    found = [f"FAIL {s}: estimate ${e.monthly_usd:,.2f} exceeds its budget ${e.budget_usd:,.2f} "
             "(envstack:monitoring.monthlyBudgetUsd)" for s, e in estimates.items() if e.over_budget]
    for s, e in estimates.items():
        if not e.complete:
            found.append(f"FAIL {s}: the estimate is incomplete; price what it lacks in {PRICES_NAME}:")
            found += [f"    {problem}" for problem in e.problems()]
    return found


def main(stacks: list[str] | None = None) -> int:
    """Every committed stack (envstack/ops/stacks.py) unless stacks are named."""
    estimates = {stack: estimate(synthesize(stack)) for stack in stacks or committed()}
    print(table(estimates))
    failures = problems(estimates)
    print("\n".join(["", *failures]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
