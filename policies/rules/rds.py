"""RDS PostgreSQL: encryption, exposure, availability, backups, observability, TLS and authentication."""

from collections.abc import Iterator

from pulumi_policy import Severity

from ..facts import POSTGRES_FORCE_SSL_DEFAULT_FROM, POSTGRES_LOG_EXPORTS
from .base import Resource, as_list, known, resource_rule, retention_option, short_retention

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
RDS = (INSTANCE, CLUSTER)


@resource_rule("rds-storage-encrypted", "RDS storage must be encrypted with a customer-managed KMS key.", RDS,
               severity=Severity.CRITICAL, checkov="CKV_AWS_16")
def storage_encrypted(r: Resource) -> Iterator[str]:
    if not r.true("storageEncrypted"):
        yield "storageEncrypted is not true"
    elif not r.present("kmsKeyId"):
        yield "storageEncrypted without kmsKeyId uses the AWS-managed key; set kmsKeyId to a customer-managed key"


@resource_rule("rds-no-public-access", "RDS instances must not be publicly accessible.", [INSTANCE],
               severity=Severity.CRITICAL, checkov="CKV_AWS_17")
def no_public_access(r: Resource) -> Iterator[str]:
    if r.true("publiclyAccessible"):
        yield "publiclyAccessible is true"


@resource_rule("rds-multi-az", "RDS instances must be Multi-AZ.", [INSTANCE], checkov="CKV_AWS_157")
def multi_az(r: Resource) -> Iterator[str]:
    if not r.present("replicateSourceDb") and not r.true("multiAz"):
        yield "multiAz is not true"


@resource_rule("rds-backup-retention", "RDS automated backups must be kept at least the configured number of days.",
               RDS, checkov="CKV_AWS_133",
               options=retention_option(default_days=30))
def backup_retention(r: Resource) -> Iterator[str]:
    yield from short_retention(r, "backupRetentionPeriod")


@resource_rule("rds-deletion-protection", "RDS must have deletion protection and take a final snapshot.", RDS,
               checkov="CKV_AWS_293")
def deletion_protection(r: Resource) -> Iterator[str]:
    if not r.true("deletionProtection"):
        yield "deletionProtection is not true"
    if r.true("skipFinalSnapshot"):
        yield "skipFinalSnapshot is true: deleting the database would leave no final snapshot"


@resource_rule("rds-performance-insights", "RDS Performance Insights must be on and encrypted with a KMS key.",
               [INSTANCE], severity=Severity.MEDIUM, checkov="CKV_AWS_353, CKV_AWS_354")
def performance_insights(r: Resource) -> Iterator[str]:
    if not r.true("performanceInsightsEnabled"):
        yield "performanceInsightsEnabled is not true"
    elif not r.present("performanceInsightsKmsKeyId"):
        yield "performanceInsightsKmsKeyId is not set"


@resource_rule("rds-log-exports", "RDS must export its logs to CloudWatch.", RDS, severity=Severity.MEDIUM,
               checkov="CKV_AWS_129",
               options={"requiredLogExports": {"type": "array", "items": {"type": "string"},
                                               "default": list(POSTGRES_LOG_EXPORTS)}})
def log_exports(r: Resource) -> Iterator[str]:
    exported = set(as_list(r.get("enabledCloudwatchLogsExports")))
    missing = [log for log in r.cfg["requiredLogExports"] if log not in exported]
    if missing:
        yield f"enabledCloudwatchLogsExports lacks {', '.join(missing)}"


@resource_rule("rds-enhanced-monitoring", "RDS instances must have enhanced monitoring with a monitoring role.",
               [INSTANCE], severity=Severity.MEDIUM, checkov="CKV_AWS_118",
               options={"maximumIntervalSeconds": {"type": "integer", "default": 60}})
def enhanced_monitoring(r: Resource) -> Iterator[str]:
    interval = r.get("monitoringInterval", default=0)
    if not interval or interval > r.cfg["maximumIntervalSeconds"]:
        yield f"monitoringInterval is {interval:g}; enhanced monitoring needs 1..{r.cfg['maximumIntervalSeconds']:g}"
    elif not r.present("monitoringRoleArn"):
        yield "monitoringRoleArn is not set"


def _parameters(r: Resource) -> dict[str, str]:
    return {str(p["name"]): str(p.get("value")) for p in as_list(r.get("parameters"))}


def _postgres_group(r: Resource) -> bool:
    return r.type == PARAMETER_GROUP and str(r.get("family", default="")).startswith("postgres")


def _postgres_major(r: Resource) -> int | None:
    digits = str(r.get("family", default="")).removeprefix("postgres")
    return int(digits) if digits.isdigit() else None


@resource_rule("rds-force-ssl", "RDS PostgreSQL must use a custom parameter group that enforces TLS (rds.force_ssl=1: "
               f"set below PostgreSQL {POSTGRES_FORCE_SSL_DEFAULT_FROM}, the default from it on).",
               [INSTANCE, PARAMETER_GROUP], checkov="CKV2_AWS_69")
def force_ssl(r: Resource) -> Iterator[str]:
    if r.type == INSTANCE and str(r.get("engine", default="")).startswith("postgres"):
        group = str(known(r.props, "parameterGroupName", default=""))
        if not r.present("parameterGroupName") or group.startswith("default."):
            yield "the instance uses the engine's default parameter group, so rds.force_ssl cannot be enforced"
    elif _postgres_group(r):
        value = _parameters(r).get("rds.force_ssl")
        major = _postgres_major(r)
        # From PostgreSQL 15 on 1 is the default: a group that leaves it out requires TLS.
        on_by_default = major is not None and major >= POSTGRES_FORCE_SSL_DEFAULT_FROM
        if value != "1" and not (value is None and on_by_default):
            default = "1" if on_by_default else "0"
            yield f"parameter rds.force_ssl is {value or 'not set'} (its default on {r.get('family')} is {default})"


@resource_rule("rds-query-logging", "RDS PostgreSQL parameter groups must log slow queries.", [PARAMETER_GROUP],
               severity=Severity.LOW, checkov="CKV2_AWS_30")
def query_logging(r: Resource) -> Iterator[str]:
    if _postgres_group(r):
        value = _parameters(r).get("log_min_duration_statement", "-1")
        if not value.lstrip("-").isdigit() or int(value) < 0:
            yield f"log_min_duration_statement is {value}; set it to a threshold in milliseconds"


@resource_rule("rds-iam-auth", "RDS must enable IAM database authentication.", RDS, severity=Severity.MEDIUM,
               checkov="CKV_AWS_161")
def iam_auth(r: Resource) -> Iterator[str]:
    if not r.true("iamDatabaseAuthenticationEnabled"):
        yield "iamDatabaseAuthenticationEnabled is not true"


@resource_rule("rds-auto-minor-upgrade", "RDS instances must apply minor engine upgrades automatically.", [INSTANCE],
               severity=Severity.LOW, checkov="CKV_AWS_226")
def auto_minor_upgrade(r: Resource) -> Iterator[str]:
    if r.get("autoMinorVersionUpgrade") is False:
        yield "autoMinorVersionUpgrade is false"


# RDS API reference, CreateDBSubnetGroup: "DB subnet groups must contain at least one subnet in at least two AZs in
# the AWS Region" (error DBSubnetGroupDoesNotCoverEnoughAZs). envstack puts one isolated subnet per AZ, so two
# subnets means two AZs.
@resource_rule("rds-subnet-group-two-availability-zones",
               "A DB subnet group needs subnets in at least two Availability Zones (AWS refuses one).", [SUBNET_GROUP],
               deployability=True,
               source="RDS API reference, CreateDBSubnetGroup")
def subnet_group_two_azs(r: Resource) -> Iterator[str]:
    subnets = len(as_list(r.get("subnetIds")))
    if subnets < 2:
        yield f"{subnets} subnet(s): a DB subnet group needs subnets in at least two Availability Zones"


# RDS guide, "Managing capacity automatically with Amazon RDS storage autoscaling": the maximum storage threshold
# must be at least 10% above the allocated storage ("Invalid max storage size"); 0 or none turns autoscaling off.
@resource_rule("rds-storage-autoscaling-headroom",
               "An RDS storage autoscaling ceiling must be at least 10% above the allocated storage (AWS refuses "
               "less).", [INSTANCE], deployability=True,
               source="RDS guide, Managing capacity automatically with storage autoscaling")
def storage_autoscaling_headroom(r: Resource) -> Iterator[str]:
    ceiling, allocated = r.get("maxAllocatedStorage", default=0), r.get("allocatedStorage", default=0)
    if ceiling and ceiling * 10 < allocated * 11:
        yield (f"maxAllocatedStorage {ceiling:g} GB is less than 10% above allocatedStorage {allocated:g} GB: RDS "
               "refuses it (set 0 for no autoscaling)")
