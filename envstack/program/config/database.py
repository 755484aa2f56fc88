"""envstack:database — the PostgreSQL instance: version, size, availability, backups, retention of data."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from .base import Model, integer_as_text, major_upgrades_apply_now
from .sizes import rds_instance_class
from .windows import check_apart, daily, weekly, window

POSTGRES_MAJORS = (16, 17)
_VERSION = re.compile(r"^(\d+)(\.\d+)?$")
_INSTANCE_CLASS = re.compile(r"^db\.([a-z0-9-]+)\.([a-z0-9]+)$")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

BackupWindow = Annotated[str, AfterValidator(window(daily, 30))]
MaintenanceWindow = Annotated[str, AfterValidator(window(weekly, 30))]


def instance_family(instance_class: str) -> str:
    """'db.t4g.micro' -> 't4g', 'cache.m7g.large' -> 'm7g'."""
    return instance_class.split(".")[1]


def burstable(instance_class: str) -> bool:
    return instance_family(instance_class).startswith("t")


def autoscaling_minimum(allocated_gb: int) -> int:
    """The smallest maximum storage RDS accepts for `allocated_gb` of storage: 10% more, rounded up."""
    return -(-allocated_gb * 11 // 10)


class DatabaseConfig(Model):
    engine_version: Annotated[str, BeforeValidator(integer_as_text)]  # `engineVersion: 17` means "17"
    """PostgreSQL major (`16`, `17`: minor versions follow in the maintenance window) or an exact, quoted
    `"major.minor"`."""
    instance_class: str
    """The RDS instance class, e.g. `db.m7g.large` (no burstable `db.t*` class in prod)."""
    allocated_storage_gb: int = Field(ge=20, le=65536)
    """gp3 storage at creation (GB)."""
    max_allocated_storage_gb: int = Field(ge=0, le=65536)  # 0: storage autoscaling off
    """Storage-autoscaling ceiling (GB): 0 (no autoscaling) or at least 10% above `allocatedStorageGb` (RDS refuses
    less: `Invalid max storage size`)."""
    multi_az: bool
    """A standby in another availability zone."""
    database_name: str
    """The database created with the instance."""
    master_username: str
    """The master user (its password managed by RDS in Secrets Manager, for administrators)."""
    application_user: str  # applications log in as this user with IAM tokens (rds_iam), no password
    """The PostgreSQL user applications log in as with IAM tokens (`rds-db:connect`, role `rds_iam`; created once:
    docs/workload-identity.md); not `masterUsername`."""
    backup_retention_days: int = Field(ge=1, le=35)
    """Days of automated backups."""
    backup_window: BackupWindow
    """The daily backup window; must not overlap `maintenanceWindow`."""
    maintenance_window: MaintenanceWindow
    """The weekly maintenance window; must not overlap `backupWindow`."""
    deletion_protection: bool
    """RDS refuses to delete the instance."""
    allow_major_version_upgrade: bool
    """True only for the deploy that raises `engineVersion`'s major, with `applyImmediately: true` (`envstack
    preflight` compares with the running instance and refuses a major change without it)."""
    apply_immediately: bool
    """True: `pulumi up` makes a modification now (a class, storage, engine or Multi-AZ change may reboot or fail
    over); false: RDS keeps it pending until `maintenanceWindow`, and previews show it until then. Must be true with
    `allowMajorVersionUpgrade`."""
    skip_final_snapshot: bool
    """No final snapshot on deletion; otherwise `<identifier>-final-<suffix>`, the suffix new with each replacement."""
    delete_automated_backups: bool
    """Delete the automated backups with the instance (false keeps them)."""
    performance_insights_retention_days: int
    """Performance Insights retention: 7 (free tier), 731 or a multiple of 31 days."""
    monitoring_interval_seconds: Literal[1, 5, 10, 15, 30, 60]
    """Enhanced monitoring interval."""
    slow_query_ms: int = Field(ge=0)
    """`log_min_duration_statement`: statements slower than this are logged (0: all)."""

    _major_upgrades_now = field_validator("apply_immediately")(major_upgrades_apply_now)

    @field_validator("engine_version")
    @classmethod
    def _supported_postgres(cls, version: str) -> str:
        match = _VERSION.match(version)
        if not match or int(match[1]) not in POSTGRES_MAJORS:
            raise ValueError(f"expected a PostgreSQL major version in {POSTGRES_MAJORS}, e.g. '17' (minor "
                             "versions then follow automatically) or an exact '17.6'")
        return version

    @field_validator("instance_class")
    @classmethod
    def _instance_class_shape(cls, instance_class: str) -> str:
        if not _INSTANCE_CLASS.match(instance_class):
            raise ValueError("expected an RDS instance class such as 'db.t4g.micro' or 'db.m7g.large'")
        return rds_instance_class(instance_class)

    @field_validator("max_allocated_storage_gb")
    @classmethod
    def _autoscaling_headroom(cls, ceiling: int, info: ValidationInfo) -> int:
        # RDS guide, "Managing capacity automatically with Amazon RDS storage autoscaling": the maximum storage
        # threshold must be at least 10% above the allocated storage ("Invalid max storage size" otherwise).
        allocated = info.data.get("allocated_storage_gb")
        if allocated is not None and ceiling and ceiling < (least := autoscaling_minimum(allocated)):
            raise ValueError(f"expected 0 (no storage autoscaling) or at least {least}: RDS wants the ceiling at "
                             f"least 10% above allocatedStorageGb ({allocated})")
        return ceiling

    @field_validator("database_name", "master_username", "application_user")
    @classmethod
    def _postgres_identifier(cls, name: str) -> str:
        if not _IDENTIFIER.match(name) or name == "rdsadmin":
            raise ValueError("expected a lowercase PostgreSQL identifier (a letter, then letters, digits or _; at "
                             "most 63) other than the reserved 'rdsadmin'")
        return name

    @field_validator("application_user")
    @classmethod
    def _not_the_master(cls, user: str, info: ValidationInfo) -> str:
        # The master user logs in with its Secrets Manager password; granting it rds_iam would turn that off.
        if user == info.data.get("master_username"):
            raise ValueError("expected a user other than masterUsername: the application logs in with IAM tokens "
                             "(rds_iam), the master user with its password")
        return user

    @field_validator("maintenance_window")
    @classmethod
    def _apart_from_backups(cls, maintenance: str, info: ValidationInfo) -> str:
        return check_apart(maintenance, info.data.get("backup_window"), "backupWindow")

    @field_validator("performance_insights_retention_days")
    @classmethod
    def _retention_performance_insights_accepts(cls, days: int) -> int:
        if days not in (7, 731) and (days <= 0 or days % 31):
            raise ValueError("expected 7 (free tier), 731 or a multiple of 31 days")
        return days
