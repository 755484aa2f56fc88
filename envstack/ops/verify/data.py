"""The data stores as AWS describes them: available, in the configured size, encrypted, Multi-AZ where configured."""

from collections.abc import Iterator
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
    want, problems = ctx.cfg.database, list[str]()
    status, klass, version = db.get("DBInstanceStatus"), db.get("DBInstanceClass"), db.get("EngineVersion", "?")
    expect(problems, status == "available", f"{status}, not available")
    expect(problems, klass == want.instance_class, f"class {klass}, configured {want.instance_class} "
           "(envstack:database.instanceClass)")
    expect(problems, version.split(".")[0] == want.engine_version.split(".")[0],
           f"PostgreSQL {version}, configured {want.engine_version}")
    expect(problems, bool(db.get("StorageEncrypted")), "storage not encrypted")
    expect(problems, bool(db.get("MultiAZ")) or not want.multi_az, "not Multi-AZ (envstack:database.multiAz is true)")
    expect(problems, bool(db.get("IAMDatabaseAuthenticationEnabled")),
           "IAM database authentication off: the application cannot log in")
    multi_az = "Multi-AZ" if db.get("MultiAZ") else "single-AZ"
    yield verdict("database", identifier, problems, db.get("PendingModifiedValues") or {},
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
    want, problems = ctx.cfg.cache, list[str]()
    status, node_type, members = group.get("Status"), group.get("CacheNodeType"), group.get("MemberClusters", [])
    expect(problems, status == "available", f"{status}, not available")
    expect(problems, node_type == want.node_type, f"node type {node_type}, configured {want.node_type} "
           "(envstack:cache.nodeType)")
    expect(problems, len(members) == want.nodes, f"{len(members)} nodes, configured {want.nodes}")
    expect(problems, bool(group.get("AtRestEncryptionEnabled")), "not encrypted at rest")
    expect(problems, bool(group.get("TransitEncryptionEnabled")) and group.get("TransitEncryptionMode",
           "required") == "required", "TLS not required in transit")
    expect(problems, group.get("MultiAZ") == "enabled" or not want.multi_az,
           "Multi-AZ not enabled (envstack:cache.multiAz is true)")
    expect(problems, group.get("AutomaticFailover") in ("enabled", "enabling") or not want.automatic_failover,
           "automatic failover not enabled (envstack:cache.automaticFailover is true)")
    expect(problems, bool(group.get("UserGroupIds")), "no user group: no IAM user can log in")
    multi_az = "Multi-AZ" if group.get("MultiAZ") == "enabled" else "single-AZ"
    yield verdict("cache", group_id, problems, group.get("PendingModifiedValues") or {},
                  f"available, {len(members)} x {node_type}, encrypted at rest and in transit, {multi_az}")
