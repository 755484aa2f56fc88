"""Checks that what the stack asks for is offered where it asks: node instance types in its AZs, the pinned EKS
add-on versions for its Kubernetes version, the database class for its PostgreSQL version and storage, the log types
that version exports, the cache node type and engine version in its region."""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from policies.facts import POSTGRES_LOG_EXPORTS

from .core import Context, Result, SkipCheck, check, pages

# A Kubernetes version whose standard support ends sooner is worth a warning before a deploy.
SUPPORT_ENDING_DAYS = 60
# MaxRecords' smallest value in RDS and ElastiCache describe calls: enough to learn whether there is any answer.
ONE_PAGE = 20
# What components/database.py asks of every instance (encrypted storage, Performance Insights, enhanced monitoring),
# as the orderable option's flag that allows it.
DATABASE_FLAGS = (("SupportsStorageEncryption", "storage encryption"),
                  ("SupportsPerformanceInsights", "Performance Insights"),
                  ("SupportsEnhancedMonitoring", "enhanced monitoring (envstack:database.monitoringIntervalSeconds)"))
AUTOSCALING = ("SupportsStorageAutoscaling", "storage autoscaling (envstack:database.maxAllocatedStorageGb)")


@check("instance-types")
def instance_types(ctx: Context) -> Iterator[Result]:
    """Every node group's instance types offered in the AZs its subnets span (EC2 DescribeInstanceTypeOfferings,
    location type availability-zone)."""
    zones = ctx.zones()
    wanted = sorted({t for group in ctx.cfg.cluster.node_groups.values() for t in group.instance_types})
    offered: dict[str, set[str]] = {t: set() for t in wanted}
    for offer in pages(ctx.client("ec2"), "describe_instance_type_offerings", "InstanceTypeOfferings",
                       LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": wanted},
                                                                  {"Name": "location", "Values": zones}]):
        offered.setdefault(offer["InstanceType"], set()).add(offer["Location"])
    for name, group in ctx.cfg.cluster.node_groups.items():
        for itype in group.instance_types:
            missing = [z for z in zones if z not in offered[itype]]
            where = f"envstack:cluster.nodeGroups.{name}.instanceTypes: {itype}"
            if len(missing) == len(zones):
                yield Result("instance-types", "fail", f"{where} is not offered in {', '.join(zones)}")
            elif missing:
                yield Result("instance-types", "warn", f"{where} is not offered in {', '.join(missing)}: the "
                             "group launches it in the other AZs only")
            else:
                yield Result("instance-types", "ok", f"{where} in {len(zones)} AZs")


@check("kubernetes-version")
def kubernetes_version(ctx: Context) -> Iterator[Result]:
    """EKS offers `cluster.version` in the region, in standard support (EKS DescribeClusterVersions). In extended
    support it costs more per cluster-hour with upgradePolicy EXTENDED, and STANDARD has EKS upgrade it (EKS user
    guide, "Manage EKS extended support")."""
    version, policy = ctx.cfg.cluster.version, ctx.cfg.cluster.upgrade_policy
    answer = ctx.client("eks").describe_cluster_versions(clusterVersions=[version], includeAll=True)
    found = next((v for v in answer.get("clusterVersions", []) if v.get("clusterVersion") == version), None)
    where = f"envstack:cluster.version: Kubernetes {version}"
    status = found.get("versionStatus") if found else None
    if status not in ("STANDARD_SUPPORT", "EXTENDED_SUPPORT"):
        yield Result("kubernetes-version", "fail", f"{where} is {status or 'not offered'} by EKS in {ctx.cfg.region}")
        return
    standard_ends = found.get("endOfStandardSupportDate") if found else None
    if status == "EXTENDED_SUPPORT":
        yield Result("kubernetes-version", "warn", f"{where} is in extended support: the extended-support price per "
                     f"cluster-hour with upgradePolicy EXTENDED; EKS upgrades it with STANDARD (this stack: {policy})")
    elif standard_ends and standard_ends - datetime.now(UTC) < timedelta(days=SUPPORT_ENDING_DAYS):
        yield Result("kubernetes-version", "warn", f"{where}: standard support ends {standard_ends:%Y-%m-%d}")
    else:
        until = f" until {standard_ends:%Y-%m-%d}" if standard_ends else ""
        yield Result("kubernetes-version", "ok", f"{where} in standard support{until}")


@check("addon-versions")
def addon_versions(ctx: Context) -> Iterator[Result]:
    """Each pinned EKS add-on version is offered for the cluster's Kubernetes version (EKS DescribeAddonVersions);
    a pin older than EKS's current default for that version is stale (warn) and shown with the default; a newer one
    is fine (EKS's default trails the newest version)."""
    version = ctx.cfg.cluster.version
    for addon, pinned in ctx.cfg.cluster.addon_versions.by_addon_name().items():
        offered, default = _addon_versions(ctx.client("eks"), addon, version)
        label = f"{addon} {pinned}"
        if pinned not in offered:
            yield Result("addon-versions", "fail", f"{label} is not offered for Kubernetes {version} (current "
                         f"default: {default or 'none'}); update envstack/program/addon_versions.yaml")
        elif default and default != pinned and older(pinned, default):
            yield Result("addon-versions", "warn", f"{label} is stale: the current default for Kubernetes {version} "
                         f"is {default} (envstack/program/addon_versions.yaml)")
        elif pinned == default:
            yield Result("addon-versions", "ok", f"{label} (the default for Kubernetes {version})")
        else:
            yield Result("addon-versions", "ok", f"{label} for Kubernetes {version} (the default is "
                         f"{default or 'not listed'})")


def addon_version_key(version: str) -> tuple[int, ...] | None:
    """'v1.21.1-eksbuild.3' -> (1, 21, 1, 3): EKS's add-on versions compared as numbers; None for another shape."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:-eksbuild\.(\d+))?", version)
    return tuple(int(part or 0) for part in match.groups()) if match else None


def older(pinned: str, default: str) -> bool:
    """`pinned` precedes EKS's default (a pin newer than the default is not stale); another shape counts as older."""
    a, b = addon_version_key(pinned), addon_version_key(default)
    return a is None or b is None or a < b


def _addon_versions(eks: Any, addon: str, version: str) -> tuple[set[str], str | None]:
    """The add-on's versions compatible with Kubernetes `version`, and the one EKS marks default for it (a
    version's compatibilities list every cluster version, each with its own defaultVersion flag)."""
    offered: set[str] = set()
    default = None
    for entry in pages(eks, "describe_addon_versions", "addons", addonName=addon, kubernetesVersion=version):
        for candidate in entry.get("addonVersions", []):
            mine = [c for c in candidate.get("compatibilities", []) if c.get("clusterVersion") == version]
            if mine:
                offered.add(candidate["addonVersion"])
            if any(c.get("defaultVersion") for c in mine):
                default = candidate["addonVersion"]
    return offered, default


@check("database-class")
def database_class(ctx: Context) -> Iterator[Result]:
    """The instance class is orderable for PostgreSQL of the configured version (the exact one when it names a
    minor) with what the database component asks of it: gp3, encryption, Performance Insights, enhanced
    monitoring, storage autoscaling, the allocated size, Multi-AZ when asked, in the stack's AZs (RDS
    DescribeOrderableDBInstanceOptions)."""
    db, rds = ctx.cfg.database, ctx.client("rds")
    exact = "." in db.engine_version
    major = db.engine_version.split(".")[0]
    query = {"Engine": "postgres", "DBInstanceClass": db.instance_class,
             **({"EngineVersion": db.engine_version} if exact else {})}
    options = [o for o in pages(rds, "describe_orderable_db_instance_options", "OrderableDBInstanceOptions", **query)
               if exact or o.get("EngineVersion", "").split(".")[0] == major]
    where = f"envstack:database.instanceClass: {db.instance_class} (PostgreSQL {db.engine_version})"
    if not options:
        if not rds.describe_orderable_db_instance_options(Engine="postgres", MaxRecords=ONE_PAGE)[
                "OrderableDBInstanceOptions"]:
            raise SkipCheck("the endpoint lists no PostgreSQL option at all (an emulator?): it cannot tell")
        yield Result("database-class", "fail", f"{where} is not orderable in {ctx.cfg.region}")
        return
    missing = _database_needs(ctx, options)
    if missing:
        yield Result("database-class", "fail", f"{where} is not orderable with {missing}")
    else:
        yield Result("database-class", "ok", f"{where} with gp3{', Multi-AZ' if db.multi_az else ''}")


@check("database-log-exports")
def database_log_exports(ctx: Context) -> Iterator[Result]:
    """The PostgreSQL version exports every log the database component asks for (postgresql, upgrade,
    iam-db-auth-error: policies/facts.py), in the stack's region: CreateDBInstance and ModifyDBInstance refuse a log
    type the engine version cannot export, and RDS rolled iam-db-auth-error out region by region
    (terraform-provider-aws#41407). RDS DescribeDBEngineVersions, ExportableLogTypes per version: the configured
    one, or every version of its major (RDS picks one of them)."""
    db = ctx.cfg.database
    major, exact = db.engine_version.split(".")[0], "." in db.engine_version
    versions = {v["EngineVersion"]: set(v.get("ExportableLogTypes") or ())
                for v in pages(ctx.client("rds"), "describe_db_engine_versions", "DBEngineVersions", Engine="postgres")
                if (v.get("EngineVersion") == db.engine_version if exact
                    else v.get("EngineVersion", "").split(".")[0] == major)}
    where = f"envstack:database.engineVersion: PostgreSQL {db.engine_version}"
    if not any(versions.values()):
        raise SkipCheck(f"the endpoint lists no exportable log types for PostgreSQL {db.engine_version} (an emulator, "
                        "or a version the database-class check refuses): it cannot tell")
    short = {version: [log for log in POSTGRES_LOG_EXPORTS if log not in logs] for version, logs in versions.items()}
    short = {version: missing for version, missing in short.items() if missing}
    missing = ", ".join(log for log in POSTGRES_LOG_EXPORTS if any(log in logs for logs in short.values()))
    if not short:
        yield Result("database-log-exports", "ok",
                     f"{where} exports {', '.join(POSTGRES_LOG_EXPORTS)} in {ctx.cfg.region}")
    elif len(short) == len(versions):
        yield Result("database-log-exports", "fail", f"{where} cannot export {missing} in {ctx.cfg.region} (RDS "
                     "refuses the instance's enabledCloudwatchLogsExports)")
    else:
        yield Result("database-log-exports", "warn", f"{where}: versions {', '.join(sorted(short))} cannot export "
                     f"{missing} in {ctx.cfg.region}; pin a minor version that can (envstack:database.engineVersion)")


def _database_needs(ctx: Context, options: list[dict[str, Any]]) -> str | None:
    """The first of the database component's requirements (components/database.py) that no option meets along with
    those before it; None when one option meets them all."""
    db, zones = ctx.cfg.database, set(ctx.zones())
    in_zones = 2 if db.multi_az else 1  # a Multi-AZ standby goes to another AZ than the primary
    needs: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        ("gp3 storage", lambda o: o.get("StorageType") == "gp3"),
        *((label, lambda o, flag=flag: bool(o.get(flag)))
          for flag, label in (*DATABASE_FLAGS, *([AUTOSCALING] if db.max_allocated_storage_gb else []))),
        (f"{db.allocated_storage_gb} GiB (envstack:database.allocatedStorageGb)",
         lambda o: o.get("MinStorageSize", 0) <= db.allocated_storage_gb <= o.get("MaxStorageSize", 65536)),
        *([("Multi-AZ (envstack:database.multiAz)", lambda o: bool(o.get("MultiAZCapable")))] if db.multi_az else []),
        (f"{in_zones} of the stack's AZs ({', '.join(sorted(zones))})",
         lambda o: len(zones & _option_zones(o, zones)) >= in_zones),
    ]
    suitable = options
    for need, met in needs:
        suitable = [o for o in suitable if met(o)]
        if not suitable:
            return need
    return None


def _option_zones(option: dict[str, Any], zones: set[str]) -> set[str]:
    """The AZs an option is orderable in; one that lists none (an emulator) is taken as orderable everywhere."""
    listed = {z["Name"] for z in option.get("AvailabilityZones") or []}
    return listed or zones


@check("cache-node-type")
def cache_node_type(ctx: Context) -> Iterator[Result]:
    """ElastiCache has no 'orderable options' call; its reserved-node offerings are listed per node type and region
    (DescribeReservedCacheNodesOfferings, read-only: "show only the available offerings matching the specified
    cache node type"), so a node type without any offering is one the region does not have. The same call picks a
    node type the region has in alantech/iasql's ElastiCache tests (issue #1194). ElastiCache answers per region,
    not per AZ."""
    node_type, elasticache = ctx.cfg.cache.node_type, ctx.client("elasticache")
    answer = elasticache.describe_reserved_cache_nodes_offerings(CacheNodeType=node_type, MaxRecords=ONE_PAGE)
    where = f"envstack:cache.nodeType: {node_type}"
    if answer.get("ReservedCacheNodesOfferings"):
        yield Result("cache-node-type", "ok", f"{where} is offered in {ctx.cfg.region}")
    elif not elasticache.describe_reserved_cache_nodes_offerings(MaxRecords=ONE_PAGE).get(
            "ReservedCacheNodesOfferings"):
        raise SkipCheck("the endpoint lists no reserved-node offering at all (an emulator?): it cannot tell")
    else:
        yield Result("cache-node-type", "fail", f"{where} has no offering in {ctx.cfg.region}")


@check("cache-engine-version")
def cache_engine_version(ctx: Context) -> Iterator[Result]:
    """The pinned engine version is one ElastiCache offers in the region (ElastiCache DescribeCacheEngineVersions,
    which lists 'major.minor' versions, older ones with a patch: '8.0', '7.1', '6.2.6')."""
    cache = ctx.cfg.cache
    versions = {v["EngineVersion"] for v in pages(ctx.client("elasticache"), "describe_cache_engine_versions",
                                                  "CacheEngineVersions", Engine=cache.engine)}
    where = f"envstack:cache.engineVersion: {cache.engine} {cache.engine_version}"
    if not versions:
        raise SkipCheck(f"the endpoint lists no {cache.engine} version at all (an emulator?): it cannot tell")
    if any(v == cache.engine_version or v.startswith(f"{cache.engine_version}.") for v in versions):
        yield Result("cache-engine-version", "ok", f"{where} is offered in {ctx.cfg.region}")
    else:
        offered = sorted(versions, key=lambda v: tuple(int(n) for n in re.findall(r"\d+", v)))
        yield Result("cache-engine-version", "fail", f"{where} is not offered in {ctx.cfg.region} (offered: "
                     f"{', '.join(offered[-6:])})")
