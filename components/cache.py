"""Cache: a Redis OSS or Valkey replication group in the isolated subnets, reachable only from connected groups.

Encrypted at rest with the component's customer-managed key and in transit (TLS required). No password exists:
clients authenticate as the RBAC user `<prefix>-app` with a short-lived IAM token (a SigV4-presigned request, valid
15 minutes), which the IAM role of an application namespace may create (`elasticache:Connect` on this group and this
user, see WorkloadIdentity). The user group holds that user and a `default` user that is switched off, so a
connection that does not authenticate can do nothing. The replication group's id names the stack; the slow log goes
to a log group with the environment's retention.
"""

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from .datastore import DataStore, IamConnect

PORT = 6379
Engine = Literal["redis", "valkey"]
# ElastiCache guide, "At-Rest Encryption": kms:ViaService must name both elasticache and dax.
KEY_SERVICES = ("elasticache", "dax")
# ElastiCache guide, "Role-Based Access Control (RBAC)": a user group configured for the VALKEY engine holds only users
# that authenticate (password or IAM), so the switched-off `default` user (no password) needs a REDIS group, which
# Valkey replication groups accept too; its users are REDIS users.
RBAC_ENGINE = "redis"
# What the application user may do: every key, channel and command ElastiCache allows (it already refuses the
# administrative ones such as CONFIG and ACL changes).
APP_ACCESS = "on ~* &* +@all"
# The user every connection starts as: switched off and allowed nothing (CreateUserGroup refuses a group without a
# user named "default": DefaultUserRequired).
DEFAULT_ACCESS = "off -@all"


def replication_group_id(name_prefix: str) -> str:
    """`<prefix>-cache`: names the stack, so several stacks in one account are told apart, and not the engine, so
    moving Redis to Valkey stays an in-place upgrade. ElastiCache ids: 1-40 characters (the stack-name rule keeps
    `envstack-<stack>-cache` within them), a letter first, no "--", no trailing hyphen."""
    return f"{name_prefix}-cache"


def parameter_group_family(engine: Engine, engine_version: str) -> str:
    """'redis' '7.1' -> 'redis7', 'valkey' '8.0' -> 'valkey8' (Redis 6 and its 'redis6.x' are not supported)."""
    return f"{engine}{engine_version.split('.')[0]}"


@dataclass(frozen=True)
class CacheArgs:
    vpc_id: pulumi.Input[str]
    subnet_group_name: pulumi.Input[str]
    name_prefix: str
    engine: Engine
    engine_version: str
    node_type: str
    nodes: int
    automatic_failover: bool
    multi_az: bool
    snapshot_retention_days: int
    snapshot_window: str
    maintenance_window: str
    final_snapshot: bool
    # ElastiCache guide, "Log delivery": every log delivery change needs apply-immediately (the provider sends the
    # resource's value: hashicorp/terraform-provider-aws#49842); other changes wait for the maintenance window.
    apply_immediately: bool
    # The configuration's consent to a change of engine major or engine (the parameter group's family) in this
    # deploy; ElastiCache has no such flag, so it is only shown (`envstack preflight` compares with the running group).
    allow_major_version_upgrade: bool
    protect: bool
    log_retention_days: int
    # An unencrypted topic with an aws:SourceOwner policy (ElastiCache guide, "Event Notifications and Amazon SNS"):
    # Alerts.cache_events_topic_arn; deployability rule elasticache-notification-topic.
    notification_topic_arn: pulumi.Input[str] | None


class Cache(DataStore):
    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        display_name = f"{args.name_prefix}-{args.engine}"
        super().__init__("envstack:data:Cache", name, {
            "engine": f"{args.engine} {args.engine_version}", "nodeType": args.node_type, "nodes": args.nodes,
            "automaticFailover": args.automatic_failover, "multiAz": args.multi_az,
            "snapshotRetentionDays": args.snapshot_retention_days, "applyImmediately": args.apply_immediately,
            "allowMajorVersionUpgrade": args.allow_major_version_upgrade,
            "protect": args.protect}, opts,
            protect=args.protect, vpc_id=args.vpc_id, port=PORT, display_name=display_name,
            name_prefix=args.name_prefix, key_services=KEY_SERVICES, keeps_final_snapshot=args.final_snapshot)
        self._args = args
        self.app_user, self.user_group = self._users()
        self.replication_group = self._replication_group(display_name)
        self.primary_endpoint = self.replication_group.primary_endpoint_address
        self.reader_endpoint = self.replication_group.reader_endpoint_address
        self.port = self.replication_group.port
        self.replication_group_id = self.replication_group.replication_group_id
        self.user_name = self.app_user.user_name
        # elasticache:Connect names both the replication group and the user (ElastiCache guide, "Authenticating with
        # IAM", Setup).
        self.iam_connect = IamConnect("elasticache:Connect", [self.replication_group.arn, self.app_user.arn])
        self.register_outputs({
            "replication_group_id": self.replication_group_id, "primary_endpoint": self.primary_endpoint,
            "reader_endpoint": self.reader_endpoint, "port": self.port, "user_name": self.user_name,
            "security_group_id": self.security_group_id,
        })

    def _users(self) -> tuple[aws.elasticache.User, aws.elasticache.UserGroup]:
        """The IAM-authenticated application user and the user group of it and a switched-off `default` user.
        ElastiCache guide, "Authenticating with IAM", Limitations: an IAM user's user id and user name are the same
        (so the name is unique per account and region: it carries the stack), Valkey 7.2+ or Redis OSS 7.0+
        (configuration checks it), transit encryption on. User and group ids: lowercase letter first, then lowercase
        letters, digits, hyphens (CloudFormation AWS::ElastiCache::User / UserGroup patterns)."""
        prefix = self._args.name_prefix
        # Replaced create-first (the default), never delete-first: ElastiCache refuses DeleteUserGroup while a
        # replication group uses the group ("must first be disassociated", API reference), and DeleteUser takes the
        # user out of every group (and DefaultUserAssociatedToUserGroup for a group's default user), so a user
        # recreated under its old id would be in no group, and nothing would tell the group to take it back (its
        # userIds read the same). What replaces them is their ids (ForceNew: user_id and user_name in
        # internal/service/elasticache/user.go, user_group_id and engine in user_group.go): a new id is created,
        # the group (ModifyUserGroup) or the replication group (UserGroupIdsToAdd/ToRemove) moves to it, then the
        # old one goes. Anything that replaces them must so change their ids (RBAC_ENGINE is not in the group's id:
        # changing it needs a new id); `pulumi up --replace` of one of them stops at ...AlreadyExists, harmlessly.
        app = aws.elasticache.User(
            f"{self.label}-app", user_id=f"{prefix}-app", user_name=f"{prefix}-app", engine=RBAC_ENGINE,
            access_string=APP_ACCESS, authentication_mode={"type": "iam"}, opts=self.child())
        default = aws.elasticache.User(
            f"{self.label}-default", user_id=f"{prefix}-default", user_name="default", engine=RBAC_ENGINE,
            access_string=DEFAULT_ACCESS, no_password_required=True, opts=self.child())
        group = aws.elasticache.UserGroup(
            self.label, user_group_id=f"{prefix}-users", engine=RBAC_ENGINE,
            user_ids=[default.user_id, app.user_id], opts=self.child())
        return app, group

    def _replication_group(self, display_name: str) -> aws.elasticache.ReplicationGroup:
        args = self._args
        parameter_group = aws.elasticache.ParameterGroup(
            self.label, family=parameter_group_family(args.engine, args.engine_version),
            description=f"{display_name}: engine defaults, tunable without a replacement", opts=self.child())
        slow_log = self.log_group("slow-log", args.log_retention_days)
        group_id = replication_group_id(args.name_prefix)
        return aws.elasticache.ReplicationGroup(
            self.label,
            replication_group_id=group_id,
            description=f"{display_name}: {args.nodes} node(s)",
            engine=args.engine,
            engine_version=args.engine_version,
            auto_minor_version_upgrade=True,
            node_type=args.node_type,
            num_cache_clusters=args.nodes,
            automatic_failover_enabled=args.automatic_failover,
            multi_az_enabled=args.multi_az,
            port=PORT,
            parameter_group_name=parameter_group.name,
            subnet_group_name=args.subnet_group_name,
            security_group_ids=[self.security_group.id],
            at_rest_encryption_enabled=True,
            kms_key_id=self.key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            user_group_ids=[self.user_group.user_group_id],
            # A group created earlier with an AUTH token moves to the user group in place: the provider sends
            # AuthTokenUpdateStrategy=DELETE with UserGroupIdsToAdd only when this is DELETE; otherwise it sends
            # AuthToken="" which ElastiCache refuses (terraform-provider-aws internal/service/elasticache/
            # replication_group.go, resourceReplicationGroupUpdate; replication_group_test.go,
            # testAccReplicationGroupConfig_userGroupMigration;
            # ElastiCache guide, "Migrating from AUTH to RBAC"). Unused at creation, and a no-op once migrated.
            auth_token_update_strategy="DELETE",
            snapshot_retention_limit=args.snapshot_retention_days,
            snapshot_window=args.snapshot_window,
            maintenance_window=args.maintenance_window,
            apply_immediately=args.apply_immediately,
            final_snapshot_identifier=self.final_snapshot_name(group_id, {
                # terraform-provider-aws internal/service/elasticache/replication_group.go: ForceNew inputs envstack
                # sets, and the engine and its version (a downgrade replaces the group)
                "replicationGroupId": group_id, "engine": args.engine, "engineVersion": args.engine_version,
                "kmsKeyId": self.key.arn, "subnetGroupName": args.subnet_group_name, "port": str(PORT),
            }) if args.final_snapshot else None,
            notification_topic_arn=args.notification_topic_arn,
            log_delivery_configurations=[{
                "destination": slow_log.name, "destination_type": "cloudwatch-logs",
                "log_format": "json", "log_type": "slow-log"}],
            # The id is fixed, so a replacement must delete first; `protect` stops that where it matters.
            opts=self.child(protect=args.protect, delete_before_replace=True),
        )
