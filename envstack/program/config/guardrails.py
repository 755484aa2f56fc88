"""Rules an environment imposes on its stacks, whatever the stack file says.

Guardrail values live in the environment's profile (data, not code) and cannot be overridden by a stack file.
Each check returns the problems it finds; the loader reports them all at once.
"""

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from pydantic import Field

from policies.facts import TLS13_POLICIES

from .base import Model
from .cluster import LOG_TYPES
from .database import burstable
from .errors import Problem
from .network import MIN_AZS
from .stack import StackConfig


class Guardrails(Model):
    """Every guardrail, each set by every environment's profile (no value here: a profile that forgets one is an
    error, never a silent default). The pack's thresholds for the environment come from these too
    (envstack/tools/policy_config.py writes them into policies/<env>.json)."""

    min_az_count: int = Field(ge=MIN_AZS)  # never below the configuration's own minimum
    """Fewest availability zones (`network.azCount`)."""
    nat_gateway_per_az: bool
    """A NAT gateway per availability zone."""
    protect_stateful_resources: bool
    """`protectStatefulResources` true."""
    require_allowed_account_ids: bool  # envstack:allowedAccountIds must name the account(s)
    """`allowedAccountIds` names the account(s)."""
    min_notification_emails: int = Field(ge=0)
    """Fewest alert addresses."""
    require_anomaly_detection: bool
    """Cost anomaly detection on."""
    min_log_retention_days: int = Field(ge=1)  # every log group (monitoring.logRetentionDays)
    """Fewest days every log group keeps (`monitoring.logRetentionDays`)."""
    database_multi_az: bool
    """A Multi-AZ database."""
    min_backup_retention_days: int = Field(ge=1, le=35)
    """Fewest days of database backups."""
    database_deletion_protection: bool
    """Database deletion protection."""
    final_snapshots: bool  # RDS and Redis take a final snapshot when deleted
    """Both data stores take a final snapshot when deleted."""
    min_cache_nodes: int = Field(ge=1)
    """Fewest cache nodes."""
    cache_failover: bool  # automatic failover and Multi-AZ
    """Cache automatic failover and Multi-AZ."""
    min_cache_snapshot_retention_days: int = Field(ge=0, le=35)
    """Fewest days of cache snapshots."""
    burstable_data_classes: bool  # db.t* / cache.t* classes allowed
    """Burstable (`db.t*`, `cache.t*`) classes allowed."""
    load_balancer_tls: bool  # an HTTPS listener with an ACM certificate
    """An HTTPS listener with a certificate."""
    load_balancer_waf: bool
    """A WAF web ACL on the load balancer."""
    load_balancer_deletion_protection: bool
    """Load balancer deletion protection (`loadBalancer.deletionProtection`; the pack's `alb-deletion-protection`)."""
    keep_access_logs: bool
    """Access logs kept when the stack is destroyed (`loadBalancer.accessLogs.forceDestroy` false)."""
    load_balancer_tls13: bool  # an SSL policy of the TLS 1.3 family (the pack's alb-tls-policy requireTls13)
    """An SSL policy of the TLS 1.3 family (`loadBalancer.sslPolicy`; the pack's `alb-tls-policy` `requireTls13`)."""
    load_balancer_waf_logging: bool  # a WAF web ACL logs its requests (the pack's waf-logging)
    """WAF request logs (`loadBalancer.waf.logging`; the pack's `waf-logging`)."""
    unversioned_log_buckets: bool  # access logs may go unversioned (the pack's s3-versioning allowRecordedExceptions)
    """Access logs may go unversioned (`loadBalancer.accessLogs.versioning`; the pack's `s3-versioning`
    `allowRecordedExceptions`)."""
    cluster_public_cidr_min_prefix: int = Field(ge=0, le=32)  # public API CIDRs at least this narrow (/16: never 0/0)
    """Public API CIDRs at least this narrow (16: /16 or narrower, never 0.0.0.0/0)."""
    cluster_min_on_demand_nodes: int = Field(ge=0)  # sum of the ON_DEMAND node groups' minSize
    """Fewest on-demand nodes (the ON_DEMAND groups' `minSize` summed)."""
    cluster_all_control_plane_logs: bool
    """All five control-plane log types."""
    cluster_private_endpoint: bool  # no public API endpoint (the pack's eks-public-endpoint-disabled)
    """No public API endpoint (`cluster.endpointPublicAccess` false; the pack's `eks-public-endpoint-disabled`)."""
    require_deployer_role_arn: bool
    """`cluster.deployerRoleArn` named: the role that deploys gets an explicit, reviewed cluster-admin entry instead
    of EKS's implicit one for whoever created the cluster (which no one sees and CI's role may not be)."""


Check = Callable[[StackConfig, Guardrails], Iterable[Problem]]


def _requires(cfg: StackConfig, key: str, value: Any, ok: bool, expected: str) -> Iterable[Problem]:
    if not ok:
        yield Problem(f"envstack:{key}", value, f"environment {cfg.environment} requires {expected}")


def _on(cfg: StackConfig, key: str, value: bool, required: bool, expected: str) -> Iterable[Problem]:
    """A setting the environment may require on."""
    return _requires(cfg, key, value, value or not required, expected)


def _off(cfg: StackConfig, key: str, value: bool, forbidden: bool, expected: str) -> Iterable[Problem]:
    """A setting the environment may require off."""
    return _requires(cfg, key, value, not (value and forbidden), expected)


def _at_least(cfg: StackConfig, key: str, value: int, least: int, what: str) -> Iterable[Problem]:
    return _requires(cfg, key, value, value >= least, f"at least {least} {what}")


def _protection(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    yield from _on(cfg, "protectStatefulResources", cfg.protect_stateful_resources, g.protect_stateful_resources,
                   "true (data stores and keys must be protected)")


def _accounts(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    ids = list(cfg.allowed_account_ids)
    yield from _requires(cfg, "allowedAccountIds", ids, bool(ids) or not g.require_allowed_account_ids,
                         "at least one account id, so the stack can never be deployed into the wrong account")


def _network(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    net = cfg.network
    yield from _at_least(cfg, "network.azCount", net.az_count, g.min_az_count, "availability zones")
    yield from _requires(cfg, "network.natGateways", net.nat_gateways,
                         net.nat_gateway_count >= net.az_count or not g.nat_gateway_per_az,
                         "one NAT gateway per availability zone ('perAz')")


def _monitoring(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    mon = cfg.monitoring
    yield from _requires(cfg, "monitoring.notificationEmails", list(mon.notification_emails),
                         len(mon.notification_emails) >= g.min_notification_emails,
                         f"at least {g.min_notification_emails} address(es): alarms and budget alerts must reach "
                         "someone")
    yield from _on(cfg, "monitoring.anomalyDetection", mon.anomaly_detection, g.require_anomaly_detection,
                   "true (cost anomaly detection)")
    yield from _at_least(cfg, "monitoring.logRetentionDays", mon.log_retention_days, g.min_log_retention_days,
                         "days of logs")


def _not_burstable(cfg: StackConfig, key: str, value: str, g: Guardrails, expected: str) -> Iterable[Problem]:
    return _requires(cfg, key, value, g.burstable_data_classes or not burstable(value), expected)


def _database(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    db = cfg.database
    yield from _on(cfg, "database.multiAz", db.multi_az, g.database_multi_az, "a Multi-AZ database (true)")
    yield from _at_least(cfg, "database.backupRetentionDays", db.backup_retention_days, g.min_backup_retention_days,
                         "days of backups")
    yield from _on(cfg, "database.deletionProtection", db.deletion_protection, g.database_deletion_protection,
                   "deletion protection (true)")
    yield from _off(cfg, "database.skipFinalSnapshot", db.skip_final_snapshot, g.final_snapshots,
                    "a final snapshot (false)")
    yield from _not_burstable(cfg, "database.instanceClass", db.instance_class, g,
                              "a non-burstable instance class (not db.t*), e.g. db.m7g.large")


def _cache(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    cache = cfg.cache
    yield from _at_least(cfg, "cache.nodes", cache.nodes, g.min_cache_nodes, "cache nodes")
    yield from _on(cfg, "cache.automaticFailover", cache.automatic_failover, g.cache_failover,
                   "automatic failover (true)")
    yield from _on(cfg, "cache.multiAz", cache.multi_az, g.cache_failover, "a Multi-AZ cache (true)")
    yield from _at_least(cfg, "cache.snapshotRetentionDays", cache.snapshot_retention_days,
                         g.min_cache_snapshot_retention_days, "days of snapshots")
    yield from _on(cfg, "cache.finalSnapshot", cache.final_snapshot, g.final_snapshots, "a final snapshot (true)")
    yield from _not_burstable(cfg, "cache.nodeType", cache.node_type, g,
                              "a non-burstable node type (not cache.t*), e.g. cache.m7g.large")


def _load_balancer(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    lb = cfg.load_balancer
    yield from _on(cfg, "loadBalancer.tls", lb.tls, g.load_balancer_tls,
                   "TLS (true, with loadBalancer.certificateArn naming an ACM certificate)")
    yield from _on(cfg, "loadBalancer.waf.enabled", lb.waf.enabled, g.load_balancer_waf,
                   "a WAF web ACL on the load balancer (true)")
    yield from _on(cfg, "loadBalancer.deletionProtection", lb.deletion_protection,
                   g.load_balancer_deletion_protection, "deletion protection (true)")
    yield from _off(cfg, "loadBalancer.accessLogs.forceDestroy", lb.access_logs.force_destroy, g.keep_access_logs,
                    "access logs kept when the stack is destroyed (false)")
    yield from _requires(cfg, "loadBalancer.sslPolicy", lb.ssl_policy,
                         not (lb.tls and g.load_balancer_tls13 and lb.ssl_policy not in TLS13_POLICIES),
                         f"a TLS 1.3 policy: one of {', '.join(TLS13_POLICIES)}")
    yield from _on(cfg, "loadBalancer.waf.logging", lb.waf.logging, lb.waf.enabled and g.load_balancer_waf_logging,
                   "WAF request logs (true): a web ACL that keeps no record of what it blocked")
    yield from _on(cfg, "loadBalancer.accessLogs.versioning", lb.access_logs.versioning, not g.unversioned_log_buckets,
                   "versioned access logs (true): logs are evidence, an overwrite or delete must keep them")


def _certificate_region(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    region = cfg.load_balancer.certificate_region
    if region is not None and region != cfg.region:
        yield Problem("envstack:loadBalancer.certificateArn", cfg.load_balancer.certificate_arn,
                      f"an ACM certificate in the stack's region {cfg.region} (an ALB cannot use one from {region})")


def _cluster(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    cluster = cfg.cluster
    wide = [str(c) for c in cluster.public_access_cidrs if c.prefixlen < g.cluster_public_cidr_min_prefix]
    yield from _requires(cfg, "cluster.publicAccessCidrs", [str(c) for c in cluster.public_access_cidrs],
                         not (cluster.endpoint_public_access and wide),
                         f"public API access only from CIDRs of /{g.cluster_public_cidr_min_prefix} or narrower "
                         f"(never 0.0.0.0/0), or endpointPublicAccess: false; too wide: {wide}")
    yield from _requires(cfg, "cluster.nodeGroups", sorted(cluster.node_groups),
                         cluster.on_demand_min_nodes >= g.cluster_min_on_demand_nodes,
                         f"at least {g.cluster_min_on_demand_nodes} ON_DEMAND nodes (sum of minSize), "
                         f"got {cluster.on_demand_min_nodes}")
    yield from _off(cfg, "cluster.endpointPublicAccess", cluster.endpoint_public_access, g.cluster_private_endpoint,
                    "a private API endpoint (false): deploy through apiAccessCidrs from a runner or VPN")
    yield from _requires(cfg, "cluster.deployerRoleArn", cluster.deployer_role_arn,
                         cluster.deployer_role_arn is not None or not g.require_deployer_role_arn,
                         "the IAM role `pulumi up` runs as (CI's deploy role): it gets an explicit cluster-admin "
                         "access entry, and EKS's implicit one for the cluster's creator is turned off")
    missing = [t for t in LOG_TYPES if t not in cluster.log_types]
    yield from _requires(cfg, "cluster.logTypes", list(cluster.log_types),
                         not (missing and g.cluster_all_control_plane_logs),
                         f"every control-plane log type; missing {missing}")


CHECKS: list[Check] = [_protection, _accounts, _network, _monitoring, _database, _cache, _load_balancer,
                       _certificate_region, _cluster]


def rules(cfg: StackConfig, guardrails: Guardrails) -> list[Callable[[], Iterable[Problem]]]:
    """The configuration's own cross-key rules, then the environment's guardrails, each to be run on its own."""
    return [*cfg.rules(), *(partial(rule, cfg, guardrails) for rule in CHECKS)]
