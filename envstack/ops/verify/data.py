"""The data stores as AWS describes them: available, in the configured size, encrypted, Multi-AZ where configured."""

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from envstack.ops.preflight.core import unless_absent

from .core import Result, VerifyContext, check


def verdict(name: str, what: str, problems: list[str], pending: dict[str, Any], summary: str) -> Result:
    """fail with every problem; warn when changes wait for the maintenance window; ok with the summary."""
    if problems:
        return Result(name, "fail", f"{what}: {'; '.join(problems)}")
    pending = {key: value for key, value in pending.items() if value not in (None, "", [], {})}
    if pending:
        changes = ", ".join(f"{key} -> {value}" for key, value in pending.items())
        return Result(name, "warn", f"{what}: {summary}; pending until the maintenance window: {changes} (or set "
                      "applyImmediately)")
    return Result(name, "ok", f"{what}: {summary}")


def expect(problems: list[str], condition: bool, problem: str) -> None:
    if not condition:
        problems.append(problem)


def now_or_pending(live: Any, pending: dict[str, Any], key: str, ok: Callable[[Any], bool]) -> bool:
    """The live value is as configured, or the configured value waits for the maintenance window (`applyImmediately:
    false`, prod's: right after `up` the change is only pending, which `verdict` warns about)."""
    return ok(live) or (key in pending and ok(pending[key]))


@check("database")
def database(ctx: VerifyContext) -> Iterator[Result]:
    """RDS DescribeDBInstances of the exported endpoint's instance (<identifier>.<id>.<region>.rds.amazonaws.com)."""
    identifier = str(ctx.output("databaseEndpoint")).split(".")[0]
    described = unless_absent(partial(ctx.client("rds").describe_db_instances, DBInstanceIdentifier=identifier),
                              "DBInstanceNotFound")
    if described is None:
        yield Result("database", "fail", f"{identifier} does not exist")
        return
    db = described["DBInstances"][0]
    want, problems, pending = ctx.cfg.database, list[str](), db.get("PendingModifiedValues") or {}
    status, klass, version = db.get("DBInstanceStatus"), db.get("DBInstanceClass"), db.get("EngineVersion", "?")
    major = want.engine_version.split(".")[0]
    expect(problems, status == "available", f"{status}, not available")
    expect(problems, now_or_pending(klass, pending, "DBInstanceClass", lambda v: v == want.instance_class),
           f"class {klass}, configured {want.instance_class} (envstack:database.instanceClass)")
    expect(problems, now_or_pending(version, pending, "EngineVersion", lambda v: str(v).split(".")[0] == major),
           f"PostgreSQL {version}, configured {want.engine_version}")
    expect(problems, bool(db.get("StorageEncrypted")), "storage not encrypted")
    expect(problems, now_or_pending(db.get("MultiAZ"), pending, "MultiAZ", lambda v: bool(v) or not want.multi_az),
           "not Multi-AZ (envstack:database.multiAz is true)")
    expect(problems, now_or_pending(db.get("IAMDatabaseAuthenticationEnabled"), pending,
                                    "IAMDatabaseAuthenticationEnabled", bool),
           "IAM database authentication off: the application cannot log in")
    multi_az = "Multi-AZ" if db.get("MultiAZ") else "single-AZ"
    yield verdict("database", identifier, problems, pending,
                  f"available, {klass}, PostgreSQL {version}, encrypted, {multi_az}, IAM authentication")


@check("cache")
def cache(ctx: VerifyContext) -> Iterator[Result]:
    """ElastiCache DescribeReplicationGroups of the exported replication group."""
    group_id = ctx.output("cacheReplicationGroupId")
    described = unless_absent(partial(ctx.client("elasticache").describe_replication_groups,
                                      ReplicationGroupId=group_id), "ReplicationGroupNotFoundFault")
    if described is None:
        yield Result("cache", "fail", f"{group_id} does not exist")
        return
    group = described["ReplicationGroups"][0]
    want, problems, pending = ctx.cfg.cache, list[str](), dict(group.get("PendingModifiedValues") or {})
    status, node_type, members = group.get("Status"), group.get("CacheNodeType"), group.get("MemberClusters", [])
    if node_type != want.node_type and members:
        pending |= member_pending(ctx, members[0])
    expect(problems, status == "available", f"{status}, not available")
    expect(problems, now_or_pending(node_type, pending, "CacheNodeType", lambda v: v == want.node_type),
           f"node type {node_type}, configured {want.node_type} (envstack:cache.nodeType)")
    expect(problems, len(members) == want.nodes, f"{len(members)} nodes, configured {want.nodes}")
    expect(problems, bool(group.get("AtRestEncryptionEnabled")), "not encrypted at rest")
    expect(problems, bool(group.get("TransitEncryptionEnabled")) and group.get("TransitEncryptionMode",
           "required") == "required", "TLS not required in transit")
    expect(problems, group.get("MultiAZ") == "enabled" or not want.multi_az,
           "Multi-AZ not enabled (envstack:cache.multiAz is true)")
    expect(problems, group.get("AutomaticFailover") in ("enabled", "enabling") or not want.automatic_failover
           or pending.get("AutomaticFailoverStatus") == "enabled",
           "automatic failover not enabled (envstack:cache.automaticFailover is true)")
    expect(problems, bool(group.get("UserGroupIds")), "no user group: no IAM user can log in")
    multi_az = "Multi-AZ" if group.get("MultiAZ") == "enabled" else "single-AZ"
    yield verdict("cache", group_id, problems, pending,
                  f"available, {len(members)} x {node_type}, encrypted at rest and in transit, {multi_az}")


def member_pending(ctx: VerifyContext, member: str) -> dict[str, Any]:
    """A member cluster's pending node type (ElastiCache DescribeCacheClusters): a replication group's own pending
    values do not include it (ElastiCache API reference, ReplicationGroupPendingModifiedValues)."""
    [found] = ctx.client("elasticache").describe_cache_clusters(CacheClusterId=member)["CacheClusters"]
    node_type = (found.get("PendingModifiedValues") or {}).get("CacheNodeType")
    return {"CacheNodeType": node_type} if node_type else {}
