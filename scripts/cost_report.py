"""Estimated monthly cost of every stack, side by side: `python scripts/cost_report.py [STACK ...]`.

Runs each stack's program offline under Pulumi's mocks (like `envstack synth`) and prices it with
envstack/prices.yaml, next to each stack's budget and design target. Prints figures only; exit code 1 when an
estimate exceeds its stack's design target or a resource type is unpriced (a budget overrun is a warning).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envstack.cost import DESIGN_TARGETS_USD, CostEstimate, estimate
from envstack.synth import synthesize

STACKS = ("dev", "staging", "prod")


def table(estimates: dict[str, CostEstimate]) -> str:
    components = sorted({c for e in estimates.values() for c in e.by_component})
    header = f"{'USD / month':<16}" + "".join(f"{stack:>12}" for stack in estimates)
    rows = [f"{c:<16}" + "".join(f"{e.by_component.get(c, 0):>12,.2f}" for e in estimates.values())
            for c in components]
    total = f"{'total':<16}" + "".join(f"{e.monthly_usd:>12,.2f}" for e in estimates.values())
    budget = f"{'budget':<16}" + "".join(f"{e.budget_usd or 0:>12,.2f}" for e in estimates.values())
    target = f"{'design target':<16}" + "".join(f"{DESIGN_TARGETS_USD.get(s, 0):>12,.2f}" for s in estimates)
    return "\n".join([header, *rows, "-" * len(header), total, budget, target])


def main(stacks: list[str]) -> int:
    estimates = {stack: estimate(synthesize(stack)) for stack in stacks}
    print(table(estimates))
    warnings = [f"WARNING {s}: estimate ${e.monthly_usd:,.2f} exceeds budget ${e.budget_usd:,.2f}"
                for s, e in estimates.items() if e.over_budget and e.budget_usd is not None]
    problems = [f"FAIL {s}: estimate ${e.monthly_usd:,.2f} exceeds the design target ${DESIGN_TARGETS_USD[s]:,.2f}"
                for s, e in estimates.items() if e.monthly_usd > DESIGN_TARGETS_USD.get(s, float("inf"))]
    problems += [f"FAIL {s}: unpriced resource types {', '.join(e.unpriced_types)}"
                 for s, e in estimates.items() if e.unpriced_types]
    print("\n".join(["", *warnings, *problems]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(STACKS)))
