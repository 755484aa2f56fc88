"""Each environment's policy-pack thresholds, from its guardrails: one source for an environment's minimums.

The pack is published alone and reads its options from policies/<env>.json, so the thresholds are written into those
files (`make policy-config`) rather than read from the profiles; tests/test_policy_config.py fails when a file
disagrees with its environment's guardrails. Only the options below are written: levels and every other option stay
as the file has them.
"""

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstack.program.config import environments, load_profile
from envstack.program.config.guardrails import Guardrails
from envstack.program.config.profiles import policy_base
from envstack.program.paths import POLICY_DIR
from policies.evaluate import PolicyConfigError, load_config, resolve
from policies.rules import all_policies


@dataclass(frozen=True)
class Threshold:
    guardrail: str  # the Guardrails field that sets the option
    key: str  # the configuration key a stack file raises to meet it


# (rule, option) -> where its value comes from.
THRESHOLDS: dict[tuple[str, str], Threshold] = {
    ("rds-backup-retention", "minimumDays"): Threshold("min_backup_retention_days", "database.backupRetentionDays"),
    ("redis-snapshot-retention", "minimumDays"): Threshold("min_cache_snapshot_retention_days",
                                                           "cache.snapshotRetentionDays"),
    ("log-group-retention", "minimumDays"): Threshold("min_log_retention_days", "monitoring.logRetentionDays"),
}
# (rule, option) -> the Guardrails switch that sets it: prod's TLS 1.3 family and versioned log buckets.
SWITCHES: dict[tuple[str, str], str] = {
    ("alb-tls-policy", "requireTls13"): "load_balancer_tls13",
    ("s3-versioning", "allowRecordedExceptions"): "unversioned_log_buckets",
}


# Rules a stack file can break, and the guardrails that refuse that configuration first (all of them on): where an
# environment's pack makes such a rule mandatory, its guardrails must be on, or a stack `envstack validate` accepts
# fails its preview (tests/test_policy_config.py). The rules here refuse exactly what their guardrails refuse.
GUARDED_BY: dict[str, tuple[str, ...]] = {
    "alb-waf-association": ("load_balancer_waf",),
    "alb-deletion-protection": ("load_balancer_deletion_protection",),
    "alb-https-listener": ("load_balancer_tls",),
    "alb-http-redirects-to-https": ("load_balancer_tls",),
    "rds-multi-az": ("database_multi_az",),
    "rds-deletion-protection": ("database_deletion_protection", "final_snapshots"),
    "redis-multi-az": ("cache_failover",),
    "protect-stateful-resources": ("protect_stateful_resources",),
    "eks-control-plane-logs": ("cluster_all_control_plane_logs",),
}


def policy_config_path(environment: str) -> Path:
    return POLICY_DIR / f"{environment}.json"


def environment_policy_config(environment: str, via: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the pack runs with in `environment`: policies/<environment>.json, or, for an environment added by its
    profile alone, the file of the environment its profile names (`policy: {base: ...}`) with this one's guardrail
    thresholds. PolicyConfigError saying what to add when there is neither, or naming what the file gets wrong (an
    unknown rule or option, a deployability rule it would relax): refused before any command hands it to the engine
    (`envstack policy-config` writes what CI passes to `pulumi --policy-pack-config`). `via`: the environments whose
    base led here."""
    path = policy_config_path(environment)
    if path.exists():
        config = load_config(path)
        resolve(all_policies(), config)
        return config
    base = policy_base(environment)
    if base is None:
        raise PolicyConfigError(
            f"environment {environment} has no policy configuration: add policies/{environment}.json, or name the "
            f"environment whose configuration it starts from in envstack/program/profiles/{environment}.yaml "
            f"(policy: {{base: staging}}: that file's levels, {environment}'s guardrail thresholds)")
    if base in (*via, environment):  # profiles refuse an unknown base, not one that leads back: no file ends it
        chain = " -> ".join((*via, environment, base))
        raise PolicyConfigError(f"environment {environment}'s policy.base leads back to itself ({chain}): the chain "
                                "must end at an environment with a policies/<environment>.json")
    return with_thresholds(environment_policy_config(base, (*via, environment)), load_profile(environment).guardrails)


def thresholds(guardrails: Guardrails) -> dict[tuple[str, str], Any]:
    """The pack options an environment's guardrails set."""
    return {**{key: getattr(guardrails, threshold.guardrail) for key, threshold in THRESHOLDS.items()},
            **{key: getattr(guardrails, switch) for key, switch in SWITCHES.items()}}


def threshold_hints(guardrails: Guardrails) -> dict[str, str]:
    """rule -> the key that fixes its violation and the least the guardrails (and so the pack) accept."""
    return {rule: f"envstack:{threshold.key}: at least {getattr(guardrails, threshold.guardrail)}"
            for (rule, _), threshold in THRESHOLDS.items()}


def with_thresholds(config: Mapping[str, Any], guardrails: Guardrails) -> dict[str, Any]:
    """`config` (a policies/<env>.json document) with the guardrails' thresholds; a rule given as a bare level
    becomes {"enforcementLevel": level, option: value}."""
    updated = dict(config)
    for (rule, option), value in thresholds(guardrails).items():
        entry = updated.get(rule, {})
        entry = {"enforcementLevel": entry} if isinstance(entry, str) else dict(entry)
        updated[rule] = {**entry, option: value}
    return updated


def render(config: Mapping[str, Any]) -> str:
    return json.dumps(config, indent=2) + "\n"


def expected(environment: str) -> str:
    """policies/<environment>.json as it should read."""
    current = json.loads(policy_config_path(environment).read_text(encoding="utf-8"))
    return render(with_thresholds(current, load_profile(environment).guardrails))


def stale() -> list[str]:
    """The environments whose policy configuration file disagrees with their guardrails (one without a file takes
    its base's levels and its own thresholds as it runs: nothing to be stale)."""
    return [env for env in environments() if policy_config_path(env).exists()
            and policy_config_path(env).read_text(encoding="utf-8") != expected(env)]


def write() -> list[Path]:
    """Write every stale policies/<env>.json; the paths written."""
    written = []
    for environment in stale():
        path = policy_config_path(environment)
        path.write_text(expected(environment), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path.relative_to(POLICY_DIR.parent)}")
    sys.exit(0)
