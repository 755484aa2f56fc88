"""envstack:cache — the Redis/Valkey replication group: engine, size, failover and snapshots."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from policies.facts import IAM_AUTH_MINIMUM  # one table with the pack's cache-iam-auth-requirements rule

from .base import Model, integer_as_text, major_upgrades_apply_now
from .sizes import cache_node_type
from .windows import check_apart, daily, weekly, window

Engine = Literal["redis", "valkey"]
# Engine majors whose in-transit encryption mode can be "required" (Redis 7+, Valkey), with AUTH and slow logs.
ENGINE_MAJORS: dict[str, tuple[int, ...]] = {"redis": (7,), "valkey": (7, 8)}
_VERSION = re.compile(r"^(\d+)\.(\d+)$")
_NODE_TYPE = re.compile(r"^cache\.([a-z0-9-]+)\.([a-z0-9]+)$")

SnapshotWindow = Annotated[str, AfterValidator(window(daily, 60))]
MaintenanceWindow = Annotated[str, AfterValidator(window(weekly, 60))]


class CacheConfig(Model):
    engine: Engine
    """The cache engine."""
    engine_version: Annotated[str, BeforeValidator(integer_as_text)]  # a whole number is read as its text
    """`major.minor`, quoted (`"8.0"`): `redis` 7, `valkey` 7 or 8; Valkey 7.2 / Redis 7.0 or later (IAM
    authentication)."""
    node_type: str
    """The ElastiCache node type, e.g. `cache.m7g.large` (no burstable `cache.t*` type in prod)."""
    nodes: int = Field(ge=1, le=6)
    """Nodes in the replication group: a primary and its replicas."""
    automatic_failover: bool
    """Promote a replica when the primary fails (needs `nodes` ≥ 2)."""
    multi_az: bool
    """Replicas in other availability zones (needs `automaticFailover`)."""
    snapshot_retention_days: int = Field(ge=0, le=35)
    """Days of automatic snapshots (0: none)."""
    snapshot_window: SnapshotWindow
    """The daily snapshot window; must not overlap `maintenanceWindow`."""
    maintenance_window: MaintenanceWindow
    """The weekly maintenance window; must not overlap `snapshotWindow`."""
    final_snapshot: bool
    """A final snapshot `<id>-final-<suffix>` when the group is deleted or replaced."""
    allow_major_version_upgrade: bool
    """True only for the deploy that changes the engine's major or the engine (the parameter group's family), with
    `applyImmediately: true`. ElastiCache has no such flag: `envstack preflight` compares with the running group and
    refuses such a change without it."""
    apply_immediately: bool
    """As the database's; ElastiCache refuses a slow-log delivery change without it
    (hashicorp/terraform-provider-aws#49842): set true for that deploy. Must be true with
    `allowMajorVersionUpgrade`."""

    _major_upgrades_now = field_validator("apply_immediately")(major_upgrades_apply_now)

    @field_validator("engine_version")
    @classmethod
    def _supported_engine_version(cls, version: str, info: ValidationInfo) -> str:
        engine = info.data.get("engine")
        match = _VERSION.match(version)
        majors = ENGINE_MAJORS.get(engine or "", ())
        if engine and (not match or int(match[1]) not in majors):
            raise ValueError(f"expected a pinned {engine} 'major.minor' version with major in {majors}")
        least = IAM_AUTH_MINIMUM.get(engine or "")
        if match and least and (int(match[1]), int(match[2])) < least:
            raise ValueError(f"expected {engine} {least[0]}.{least[1]} or later: applications authenticate with IAM, "
                             "which ElastiCache offers from Valkey 7.2 and Redis OSS 7.0")
        return version

    @field_validator("node_type")
    @classmethod
    def _node_type_shape(cls, node_type: str) -> str:
        if not _NODE_TYPE.match(node_type):
            raise ValueError("expected an ElastiCache node type such as 'cache.t4g.micro' or 'cache.m7g.large'")
        return cache_node_type(node_type)

    @field_validator("automatic_failover")
    @classmethod
    def _failover_needs_a_replica(cls, failover: bool, info: ValidationInfo) -> bool:
        nodes = info.data.get("nodes")
        if failover and nodes is not None and nodes < 2:
            raise ValueError(f"automatic failover needs a replica to promote: expected false with nodes = {nodes}, "
                             "or nodes >= 2")
        return failover

    @field_validator("multi_az")
    @classmethod
    def _multi_az_needs_failover(cls, multi_az: bool, info: ValidationInfo) -> bool:
        if multi_az and info.data.get("automatic_failover") is False:
            raise ValueError("Multi-AZ requires automaticFailover: true (and nodes >= 2)")
        return multi_az

    @field_validator("maintenance_window")
    @classmethod
    def _apart_from_snapshots(cls, maintenance: str, info: ValidationInfo) -> str:
        return check_apart(maintenance, info.data.get("snapshot_window"), "snapshotWindow")
