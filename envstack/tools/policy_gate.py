"""The `synth` section that runs the policy pack over a synthesis, offline, as `pulumi preview --policy-pack` would."""

import argparse
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from envstack.program.paths import POLICY_DIR
from policies.evaluate import PolicyReport, evaluate, has_mandatory

from .synth import Synthesis

LEVEL_ORDER = {"mandatory": 0, "advisory": 1}
# The configuration keys that fix a rule's violations in a stack file (or the profile). Rules not listed check what
# the program itself builds: a violation of one of them is a bug to report, not a setting to change.
FIX_HINTS = {
    "alb-deletion-protection": "envstack:loadBalancer.deletionProtection: true",
    "alb-desync-mitigation": "envstack:loadBalancer.desyncMitigationMode: defensive or strictest",
    "alb-https-listener": "envstack:loadBalancer.tls: true with envstack:loadBalancer.certificateArn",
    "alb-http-redirects-to-https": "envstack:loadBalancer.tls: true with envstack:loadBalancer.certificateArn",
    "alb-tls-policy": "envstack:loadBalancer.sslPolicy (and envstack:loadBalancer.certificateArn)",
    "alb-two-availability-zones": "envstack:network.azCount: 2 or more",
    "alb-waf-association": "envstack:loadBalancer.waf.enabled: true",
    "cache-multi-az-subnets": "envstack:network.azCount: 2 or more",
    "eks-control-plane-logs": "envstack:cluster.logTypes: all five",
    "eks-private-endpoint": "envstack:cluster.endpointPublicAccess: false "
                            "(then reach it via envstack:cluster.apiAccessCidrs)",
    "eks-private-endpoint-reachable": "envstack:cluster.apiAccessCidrs (a runner or VPN network that reaches the VPC)",
    "eks-public-endpoint-restricted": "envstack:cluster.publicAccessCidrs (narrow ranges) or "
                                      "envstack:cluster.endpointPublicAccess: false",
    "eks-supported-version": "envstack:cluster.version",
    "log-group-retention": "envstack:monitoring.logRetentionDays",
    "protect-stateful-resources": "envstack:protectStatefulResources: true",
    "rds-backup-retention": "envstack:database.backupRetentionDays",
    "rds-deletion-protection": "envstack:database.deletionProtection: true and "
                               "envstack:database.skipFinalSnapshot: false",
    "rds-enhanced-monitoring": "envstack:database.monitoringIntervalSeconds",
    "rds-multi-az": "envstack:database.multiAz: true",
    "rds-performance-insights": "envstack:database.performanceInsightsRetentionDays",
    "rds-query-logging": "envstack:database.slowQueryMs",
    "rds-subnet-group-two-availability-zones": "envstack:network.azCount: 2 or more",
    "redis-multi-az": "envstack:cache.nodes: 2 or more, envstack:cache.automaticFailover: true and "
                      "envstack:cache.multiAz: true",
    "redis-snapshot-retention": "envstack:cache.snapshotRetentionDays",
    "required-tags": "envstack:owner, envstack:team and envstack:repository",
}


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
    for (level, policy), found in sorted(by_rule.items(), key=lambda kv: (LEVEL_ORDER.get(kv[0][0], 2), kv[0][1])):
        lines.append(f"  [{level}] {policy}")
        if policy in FIX_HINTS:
            lines.append(f"      fix: {FIX_HINTS[policy]}")
        for violation in found:
            resource = (violation["urn"] or "(stack)").rsplit("::", 1)[-1]
            lines.append(f"      {resource}: {violation['message']}")
    return "\n".join(lines)


def to_json(report: PolicyReport, environment: str) -> dict[str, object]:
    """The `policy` field of `envstack synth --json`."""
    document = report.to_dict()
    violations = [{**v, **({"fix": FIX_HINTS[v["policy"]]} if v["policy"] in FIX_HINTS else {})}
                  for v in document.get("violations", [])]
    return {"environment": environment, **document, "violations": violations}


def section(synthesis: Synthesis, args: argparse.Namespace) -> tuple[str, object, int]:
    environment = getattr(args, "enforce", None) or synthesis.environment
    report = check(synthesis, environment)
    print("\n" + render(report, environment))
    return "policy", to_json(report, environment), 1 if has_mandatory(report) else 0
