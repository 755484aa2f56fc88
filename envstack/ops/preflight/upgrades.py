"""What only the running stack can say about an update: the versions it runs, against the versions configured.

Configuration alone cannot tell a major upgrade from a first deployment at that major. These checks read the running
cluster, instance and replication group (none yet: a first deployment, nothing to compare) and refuse what AWS would
refuse or what would fail halfway: Kubernetes more than one minor version up (EKS UpdateClusterVersion) or down, an
engine major (or, for the cache, engine) change not asked for with `allowMajorVersionUpgrade` (which configuration
pairs with `applyImmediately: true`), and any downgrade.
"""

import re
from collections.abc import Iterator
from functools import partial

from botocore.exceptions import ClientError

from components.cache import parameter_group_family, replication_group_id
from components.database import instance_identifier

from .core import Context, Result, check, error_code, unless_absent

NOT_FOUND = {"ResourceNotFoundException", "DBInstanceNotFound", "DBInstanceNotFoundFault",
             "ReplicationGroupNotFoundFault", "CacheClusterNotFound"}
UPGRADES_DOC = "docs/running.md, 'Upgrades and migrations'"


def _minor(version: str) -> int:
    """'1.35' (or '1.35.2') -> 35."""
    return int(version.split(".")[1])


def _major(version: str) -> int:
    return int(re.split(r"\D", version, maxsplit=1)[0])


@check("kubernetes-upgrade")
def kubernetes_upgrade(ctx: Context) -> Iterator[Result]:
    """EKS moves a cluster one minor version at a time and never down (EKS user guide, "Update existing cluster to
    new Kubernetes version"; UpdateClusterVersion refuses anything else, after `pulumi up` has changed the rest)."""
    name, configured = ctx.cfg.name_prefix, ctx.cfg.cluster.version
    where = f"envstack:cluster.version: {configured}"
    described = unless_absent(partial(ctx.client("eks").describe_cluster, name=name), *NOT_FOUND)
    if described is None:
        yield Result("kubernetes-upgrade", "ok", f"{where}: no cluster {name} yet, created at that version")
        return
    running = described["cluster"]["version"]
    step = _minor(configured) - _minor(running)
    if step == 0:
        yield Result("kubernetes-upgrade", "ok", f"{where}: the cluster {name} runs it")
    elif step == 1:
        yield Result("kubernetes-upgrade", "ok", f"{where}: {name} moves up from {running}, one minor version "
                     "(the control plane, then the node groups)")
    elif step > 1:
        yield Result("kubernetes-upgrade", "fail", f"{where}: {name} runs {running}, and EKS upgrades one minor "
                     f"version at a time: deploy 1.{_minor(running) + 1} first, then each next one ({UPGRADES_DOC})")
    else:
        yield Result("kubernetes-upgrade", "fail", f"{where}: {name} runs {running}, and EKS cannot downgrade")


def _major_change(check_name: str, where: str, running: str, configured: str, allowed: bool,
                  what: str) -> Result:
    if running == configured:
        detail = f"{where}: {what} runs it"
        if allowed:
            return Result(check_name, "warn", f"{detail}; allowMajorVersionUpgrade is still true: set it back to "
                          "false, so that a stray major change is refused")
        return Result(check_name, "ok", detail)
    if allowed:
        return Result(check_name, "ok", f"{where}: {what} moves from {running}, applied by this deploy")
    return Result(check_name, "fail", f"{where}: {what} runs {running}: a major change needs "
                  f"allowMajorVersionUpgrade: true and applyImmediately: true for its deploy ({UPGRADES_DOC})")


@check("database-upgrade")
def database_upgrade(ctx: Context) -> Iterator[Result]:
    """The instance's running major against `engineVersion`'s: RDS refuses a major change without
    AllowMajorVersionUpgrade, and one left pending for the maintenance window fails (the parameter group of the new
    family replaces one still attached) and shows again on every preview."""
    db, identifier = ctx.cfg.database, instance_identifier(ctx.cfg.name_prefix)
    where = f"envstack:database.engineVersion: {db.engine_version}"
    described = unless_absent(partial(ctx.client("rds").describe_db_instances, DBInstanceIdentifier=identifier),
                              *NOT_FOUND)
    if described is None:
        yield Result("database-upgrade", "ok", f"{where}: no instance {identifier} yet")
        return
    [instance] = described["DBInstances"]
    running = str(instance["EngineVersion"])
    if _major(db.engine_version) < _major(running):
        yield Result("database-upgrade", "fail", f"{where}: {identifier} runs PostgreSQL {running}, and RDS cannot "
                     "downgrade a major version")
        return
    yield _major_change("database-upgrade", where, f"PostgreSQL {_major(running)}",
                        f"PostgreSQL {_major(db.engine_version)}", db.allow_major_version_upgrade, identifier)
    pending = instance.get("PendingModifiedValues", {}).get("EngineVersion")
    if pending:
        yield Result("database-upgrade", "warn", f"{identifier}: engine version {pending} is pending until the "
                     "maintenance window (previews show the change until then)")


@check("cache-upgrade")
def cache_upgrade(ctx: Context) -> Iterator[Result]:
    """The replication group's running engine and major against the configured ones: ElastiCache cannot downgrade
    (the provider replaces the group, losing its data), and a change of the parameter group's family (a new major or
    Redis OSS to Valkey) must be applied immediately, or the new group replaces one still in use. Reports an AUTH
    token still set: this deploy moves the group to its RBAC user group and the token stops working."""
    cache, group_id = ctx.cfg.cache, replication_group_id(ctx.cfg.name_prefix)
    where = f"envstack:cache: {cache.engine} {cache.engine_version}"
    elasticache = ctx.client("elasticache")
    try:
        [group] = elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"]
        [member] = elasticache.describe_cache_clusters(CacheClusterId=group["MemberClusters"][0])["CacheClusters"]
    except ClientError as error:
        if error_code(error) not in NOT_FOUND:
            raise
        yield Result("cache-upgrade", "ok", f"{where}: no replication group {group_id} yet")
        return
    engine, running = str(member["Engine"]), str(member["EngineVersion"])
    if engine == cache.engine and _major(cache.engine_version) < _major(running):
        yield Result("cache-upgrade", "fail", f"{where}: {group_id} runs {engine} {running}, and ElastiCache cannot "
                     "downgrade (the provider would replace the group and its data)")
        return
    yield _major_change("cache-upgrade", where, parameter_group_family(engine, running),  # type: ignore[arg-type]
                        parameter_group_family(cache.engine, cache.engine_version), cache.allow_major_version_upgrade,
                        group_id)
    if group.get("AuthTokenEnabled"):
        yield Result("cache-upgrade", "warn", f"{group_id} still has an AUTH token: this deploy moves it to its RBAC "
                     f"user group (AuthTokenUpdateStrategy DELETE) and clients using the token fail ({UPGRADES_DOC})")
