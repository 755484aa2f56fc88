"""The `synth` section that runs the policy pack over a synthesis, offline, as `pulumi preview --policy-pack` would."""

import argparse
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from policies.evaluate import PolicyReport, evaluate, has_mandatory

from .synth import Synthesis

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


def policy_config_path(environment: str) -> Path:
    return POLICY_DIR / f"{environment}.json"


def check(synthesis: Synthesis, environment: str | None = None) -> PolicyReport:
    """Evaluate the pack with `environment`'s policy configuration (default: the stack's own environment)."""
    config = policy_config_path(environment or synthesis.environment)
    return evaluate([asdict(r) for r in synthesis.resources], config)


def render(report: PolicyReport, environment: str) -> str:
    mandatory = [v for v in report.violations if v["level"] == "mandatory"]
    lines = [f"policy ({environment} configuration): {report.rules_evaluated} rules evaluated, "
             f"{len(mandatory)} mandatory and {len(report.violations) - len(mandatory)} advisory violations"]
    by_rule = defaultdict(list)
    for violation in report.violations:
        by_rule[(violation["level"], violation["policy"])].append(violation)
    for (level, policy), found in sorted(by_rule.items()):
        lines.append(f"  [{level}] {policy}")
        for violation in found:
            resource = (violation["urn"] or "(stack)").rsplit("::", 1)[-1]
            lines.append(f"      {resource}: {violation['message']}")
    return "\n".join(lines)


def to_json(report: PolicyReport, environment: str) -> dict[str, object]:
    """The `policy` field of `envstack synth --json`."""
    return {"environment": environment, **report.to_dict()}


def section(synthesis: Synthesis, args: argparse.Namespace) -> tuple[str, object, int]:
    environment = getattr(args, "enforce", None) or synthesis.environment
    report = check(synthesis, environment)
    print("\n" + render(report, environment))
    return "policy", to_json(report, environment), 1 if has_mandatory(report) else 0
