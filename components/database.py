"""Database: PostgreSQL on RDS, in the isolated subnets, reachable only from connected security groups.

Storage, Performance Insights and the master user's secret are encrypted with the component's customer-managed key.
RDS generates the master password and keeps it in Secrets Manager, so it is never in config, code or state.
Log exports land in log groups created here first, so they get a retention and encryption instead of RDS's
keep-forever default. The instance's identifier is stable (`<prefix>-postgres`): those log group names follow from
it, and the final snapshot is `<identifier>-final-<suffix>`, the suffix new with each replacement. Given the stack's
alert topic, an RDS event subscription sends the instance's operational events (failover, failure, low storage,
maintenance, ...) there.

Applications log in as `application_user` with an IAM authentication token instead of a password (IAM database
authentication is on): the IAM role of an application namespace may call `rds-db:connect` for that user on this
instance only (WorkloadIdentity). The user itself is created once in PostgreSQL with the `rds_iam` role
(docs/workload-identity.md, "Connecting an application").
"""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from policies.facts import POSTGRES_FORCE_SSL_DEFAULT_FROM, POSTGRES_LOG_EXPORTS

from .datastore import DataStore, IamConnect

PORT = 5432
LOG_EXPORTS = POSTGRES_LOG_EXPORTS  # every log RDS for PostgreSQL exports (policies/facts.py)
# The store's key: storage, snapshots and Performance Insights through RDS (RDS guide, "Changing an AWS KMS policy
# for Performance Insights": kms:ViaService rds), the RDS-managed master user secret through Secrets Manager.
KEY_SERVICES = ("rds", "secretsmanager")
ENHANCED_MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"  # AWS managed, by name
# RDS's event categories for source type db-instance (`aws rds describe-event-categories --source-type db-instance`)
# that need someone's attention; backup, creation, configuration change and the like are routine.
ALERT_EVENT_CATEGORIES = ("availability", "deletion", "failover", "failure", "low storage", "maintenance",
                          "notification", "recovery", "restoration")


def parameter_group_family(engine_version: str) -> str:
    """'17' or '17.6' -> 'postgres17'."""
    return f"postgres{engine_version.split('.')[0]}"


def instance_identifier(name_prefix: str) -> str:
    """`<prefix>-postgres`: the instance's fixed identifier (its log groups and final snapshot follow from it)."""
    return f"{name_prefix}-postgres"


def parameters(engine_version: str, slow_query_ms: int) -> list[dict[str, str]]:
    """TLS required (rds.force_ssl=1, stated only where it is not the default: restated, the provider shows it as a
    change on every preview, terraform-provider-aws#22857) and slow statements logged."""
    force_ssl = int(engine_version.split(".")[0]) < POSTGRES_FORCE_SSL_DEFAULT_FROM
    return [*([{"name": "rds.force_ssl", "value": "1"}] if force_ssl else []),
            {"name": "log_min_duration_statement", "value": str(slow_query_ms)}]


@dataclass(frozen=True)
class DatabaseArgs:
    vpc_id: pulumi.Input[str]
    subnet_group_name: pulumi.Input[str]
    name_prefix: str
    engine_version: str  # a major: minor versions follow with auto_minor_version_upgrade, without drift
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int  # 0: no storage autoscaling
    multi_az: bool
    database_name: str
    master_username: str
    application_user: str  # logs in with IAM (rds_iam), never with a password
    backup_retention_days: int
    backup_window: str
    maintenance_window: str
    deletion_protection: bool
    allow_major_version_upgrade: bool  # RDS refuses a change of engineVersion's major without it
    # RDS guide, "Modifying an Amazon RDS DB instance": without it, class, storage, engine version, Multi-AZ, ...
    # changes are pending until the maintenance window (and the preview shows them until then).
    apply_immediately: bool
    skip_final_snapshot: bool
    delete_automated_backups: bool
    protect: bool
    performance_insights_retention_days: int
    monitoring_interval_seconds: int
    permissions_boundary: str | None  # carried by the enhanced monitoring role
    slow_query_ms: int
    log_retention_days: int
    alert_topic_arn: pulumi.Input[str] | None  # None: no RDS event subscription


class Database(DataStore):
    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        identifier = instance_identifier(args.name_prefix)
        super().__init__("envstack:data:Database", name, {
            "engineVersion": args.engine_version, "instanceClass": args.instance_class, "multiAz": args.multi_az,
            "storageGb": f"{args.allocated_storage_gb}-{args.max_allocated_storage_gb or args.allocated_storage_gb}",
            "backupRetentionDays": args.backup_retention_days, "deletionProtection": args.deletion_protection,
            "applyImmediately": args.apply_immediately, "protect": args.protect}, opts,
            protect=args.protect, vpc_id=args.vpc_id, port=PORT, display_name=identifier, name_prefix=args.name_prefix,
            # A final snapshot, or automated backups kept after the instance, stay encrypted with the key.
            key_services=KEY_SERVICES,
            keeps_final_snapshot=not args.skip_final_snapshot or not args.delete_automated_backups,
            permissions_boundary=args.permissions_boundary)
        self._args = args
        self.instance = self._instance(identifier)
        self.endpoint = self.instance.address
        self.port = self.instance.port
        self.database_name = self.instance.db_name
        self.master_secret_arn = self.instance.master_user_secrets.apply(lambda secrets: secrets[0].secret_arn)
        self.application_user = args.application_user
        self.iam_connect = IamConnect("rds-db:connect", [self._db_user_arn(args.application_user)])
        self.event_subscription = self._event_subscription(args.alert_topic_arn) if args.alert_topic_arn else None
        self.register_outputs({
            "endpoint": self.endpoint, "port": self.port, "database_name": self.database_name,
            "master_secret_arn": self.master_secret_arn, "security_group_id": self.security_group_id,
        })

    def _instance(self, identifier: str) -> aws.rds.Instance:
        args = self._args
        parameter_group = self._parameter_group()
        monitoring_role, monitoring_policy = self._monitoring_role(identifier)
        log_groups = list(self.log_groups(args.log_retention_days, {
            f"{log}-logs": f"/aws/rds/instance/{identifier}/{log}" for log in LOG_EXPORTS}).values())
        return aws.rds.Instance(
            self.label,
            identifier=identifier,
            engine="postgres",
            engine_version=args.engine_version,
            auto_minor_version_upgrade=True,
            # A major upgrade changes engineVersion AND sets allowMajorVersionUpgrade for that deploy; off otherwise,
            # so a stray major in engineVersion fails instead of upgrading.
            allow_major_version_upgrade=args.allow_major_version_upgrade,
            apply_immediately=args.apply_immediately,
            instance_class=args.instance_class,
            multi_az=args.multi_az,
            storage_type="gp3",
            allocated_storage=args.allocated_storage_gb,
            max_allocated_storage=args.max_allocated_storage_gb,
            storage_encrypted=True,
            kms_key_id=self.key.arn,
            db_name=args.database_name,
            username=args.master_username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=self.key.arn,
            iam_database_authentication_enabled=True,
            port=PORT,
            db_subnet_group_name=args.subnet_group_name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            parameter_group_name=parameter_group.name,
            backup_retention_period=args.backup_retention_days,
            backup_window=args.backup_window,
            maintenance_window=args.maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=args.skip_final_snapshot,
            final_snapshot_identifier=None if args.skip_final_snapshot else self.final_snapshot_name(identifier, {
                # terraform-provider-aws internal/service/rds/instance.go: ForceNew inputs envstack sets
                "identifier": identifier, "engine": "postgres", "kmsKeyId": self.key.arn,
                "dbName": args.database_name, "username": args.master_username}),
            delete_automated_backups=args.delete_automated_backups,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=self.key.arn,
            performance_insights_retention_period=args.performance_insights_retention_days,
            monitoring_interval=args.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role.arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            # The identifier is fixed, so a replacement must delete first; `protect` stops that where it matters.
            opts=self.child(protect=args.protect, delete_before_replace=True,
                            depends_on=[monitoring_policy, *log_groups]),
        )

    def _db_user_arn(self, user: str) -> pulumi.Output[str]:
        """RDS guide, "Creating and using an IAM policy for IAM database access": the resource is
        arn:<partition>:rds-db:<region>:<account>:dbuser:<DbiResourceId>/<user>, the instance's resource id (not its
        identifier), so the permission ends with the instance it was granted for."""
        return pulumi.Output.all(self.where, self.instance.resource_id).apply(
            lambda values: values[0].arn("rds-db", f"dbuser:{values[1]}/{user}"))

    def _event_subscription(self, topic_arn: pulumi.Input[str]) -> aws.rds.EventSubscription:
        return aws.rds.EventSubscription(
            f"{self.label}-events", name=f"{self._args.name_prefix}-postgres-events", sns_topic=topic_arn,
            source_type="db-instance", source_ids=[self.instance.identifier],
            event_categories=list(ALERT_EVENT_CATEGORIES), opts=self.child())

    def _parameter_group(self) -> aws.rds.ParameterGroup:
        args = self._args
        return aws.rds.ParameterGroup(
            self.label, family=parameter_group_family(args.engine_version),
            description=f"{args.name_prefix}-postgres: TLS only, slow-query logging",
            parameters=parameters(args.engine_version, args.slow_query_ms), opts=self.child())

    def _monitoring_role(self, identifier: str) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
        """Enhanced monitoring's role; RDS checks its permissions when the instance is created, hence the pair."""
        # RDS guide, "Setting up and enabling Enhanced Monitoring" (confused deputy): only for this instance.
        role = self.service_role("monitoring", "monitoring.rds",
                                 source_arn=lambda where: where.arn("rds", f"db:{identifier}"))
        policy = aws.iam.RolePolicyAttachment(
            f"{self.label}-monitoring", role=role.name,
            policy_arn=self.managed_policy(ENHANCED_MONITORING_POLICY),
            opts=self.child())
        return role, policy
