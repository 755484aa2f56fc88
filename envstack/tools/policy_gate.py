"""The `synth` section that runs the policy pack over a synthesis, offline, as `pulumi preview --policy-pack` would."""

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from envstack.program.config import ConfigError, load_profile
from envstack.program.config.guardrails import Guardrails
from policies.evaluate import PolicyConfigError, PolicyReport, evaluate, has_mandatory, tighten

from .exit_codes import EXIT_BAD_INPUT, EXIT_OK
from .policy_config import environment_policy_config, threshold_hints
from .synth import Synthesis
from .validate import load, report_error

LEVEL_ORDER = {"mandatory": 0, "advisory": 1}
# The configuration keys that fix a rule's violations in a stack file (or the profile). Rules not listed check what
# the program itself builds: a violation of one of them is a bug to report, not a setting to change. The hints that
# name a least value take it from the environment's guardrails (fix_hints).
FIX_HINTS = {
    "alb-deletion-protection": "envstack:loadBalancer.deletionProtection: true",
    "alb-desync-mitigation": "envstack:loadBalancer.desyncMitigationMode: defensive or strictest",
    "alb-https-listener": "envstack:loadBalancer.tls: true with envstack:loadBalancer.certificateArn",
    "alb-http-redirects-to-https": "envstack:loadBalancer.tls: true with envstack:loadBalancer.certificateArn",
    "alb-tls-policy": "envstack:loadBalancer.sslPolicy: a TLS 1.3 policy such as ELBSecurityPolicy-TLS13-1-2-2021-06 "
                      "(and envstack:loadBalancer.certificateArn)",
    "alb-waf-association": "envstack:loadBalancer.waf.enabled: true",
    "eks-control-plane-logs": "envstack:cluster.logTypes: all five",
    "eks-public-endpoint-disabled": "envstack:cluster.endpointPublicAccess: false "
                                    "(then reach it via envstack:cluster.apiAccessCidrs)",
    "eks-private-endpoint-reachable": "envstack:cluster.apiAccessCidrs (a runner or VPN network that reaches the VPC)",
    "eks-public-endpoint-restricted": "envstack:cluster.publicAccessCidrs (narrow ranges) or "
                                      "envstack:cluster.endpointPublicAccess: false",
    "eks-supported-version": "envstack:cluster.version",
    "protect-stateful-resources": "envstack:protectStatefulResources: true",
    "rds-deletion-protection": "envstack:database.deletionProtection: true and "
                               "envstack:database.skipFinalSnapshot: false",
    "rds-enhanced-monitoring": "envstack:database.monitoringIntervalSeconds",
    "rds-multi-az": "envstack:database.multiAz: true",
    "rds-performance-insights": "envstack:database.performanceInsightsRetentionDays",
    "rds-query-logging": "envstack:database.slowQueryMs",
    "redis-multi-az": "envstack:cache.nodes: 2 or more, envstack:cache.automaticFailover: true and "
                      "envstack:cache.multiAz: true",
    "required-tags": "envstack:owner, envstack:team and envstack:repository",
    "s3-versioning": "envstack:loadBalancer.accessLogs.versioning: true",
    "waf-logging": "envstack:loadBalancer.waf.logging: true",
}

# The deployability rules that need subnets in two AZs: the least the environment allows is at least that.
AZ_RULES = ("alb-two-availability-zones", "cache-multi-az-subnets", "rds-subnet-group-two-availability-zones")


def fix_hints(guardrails: Guardrails) -> dict[str, str]:
    """Rule -> the configuration that fixes its violations, with the least values the guardrails accept."""
    azs = f"envstack:network.azCount: {guardrails.min_az_count} or more"
    return {**FIX_HINTS, **dict.fromkeys(AZ_RULES, azs), **threshold_hints(guardrails)}


def environment_hints(environment: str) -> dict[str, str]:
    return fix_hints(load_profile(environment).guardrails)


def effective_config(environment: str, overlay: Mapping[str, Any]) -> dict[str, Any]:
    """What the pack runs with for a stack: its environment's policies/<environment>.json, tightened by the stack
    file's envstack:policy (PolicyConfigError, naming the stack's key, where that would relax it)."""
    base = environment_policy_config(environment)
    return tighten(base, overlay, where="envstack:policy") if overlay else base


def check(synthesis: Synthesis, environment: str | None = None) -> PolicyReport:
    """Evaluate the pack with the stack's effective policy configuration, or with another environment's file as it
    stands (`--enforce ENV`: would this stack pass that gate?)."""
    if environment is None or environment == synthesis.environment:
        config = effective_config(synthesis.environment, synthesis.policy)
    else:
        config = environment_policy_config(environment)
    return evaluate([asdict(r) for r in synthesis.resources], config)


def render(report: PolicyReport, environment: str) -> str:
    hints = environment_hints(environment)
    mandatory = [v for v in report.violations if v["level"] == "mandatory"]
    lines = [f"policy ({environment} configuration): {report.rules_evaluated} rules evaluated, "
             f"{len(mandatory)} mandatory and {len(report.violations) - len(mandatory)} advisory violations"]
    by_rule = defaultdict(list)
    for violation in report.violations:
        by_rule[(violation["level"], violation["policy"])].append(violation)
    for (level, policy), found in sorted(by_rule.items(), key=lambda kv: (LEVEL_ORDER.get(kv[0][0], 2), kv[0][1])):
        lines.append(f"  [{level}] {policy}")
        if policy in hints:
            lines.append(f"      fix: {hints[policy]}")
        for violation in found:
            resource = (violation["urn"] or "(stack)").rsplit("::", 1)[-1]
            lines.append(f"      {resource}: {violation['message']}")
    return "\n".join(lines)


def to_json(report: PolicyReport, environment: str) -> dict[str, object]:
    """The `policy` field of `envstack synth --json`."""
    document, hints = report.to_dict(), environment_hints(environment)
    violations = [{**v, **({"fix": hints[v["policy"]]} if v["policy"] in hints else {})}
                  for v in document.get("violations", [])]
    return {"environment": environment, **document, "violations": violations}


def section(synthesis: Synthesis, args: argparse.Namespace) -> tuple[str, object, int]:
    environment = getattr(args, "enforce", None) or synthesis.environment
    report = check(synthesis, environment)
    print("\n" + render(report, environment))
    return "policy", to_json(report, environment), 1 if has_mandatory(report) else 0


def policy_config_command(args: argparse.Namespace) -> int:
    """`envstack policy-config STACK`: the stack's effective policy configuration, in the CLI's format, for
    `pulumi preview/up --policy-pack-config` (CI writes it to a file and passes that)."""
    try:
        checked = load(args.stack, args.root)
        config = effective_config(checked.config.environment, checked.config.policy)
    except (ConfigError, FileNotFoundError) as error:
        return report_error(error, args.stack)
    except PolicyConfigError as error:
        print(f"stack {args.stack}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = json.dumps(config, indent=2) + "\n"
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
