"""ElastiCache Redis/Valkey replication groups and their RBAC users: encryption, authentication, failover, snapshots."""

import re
from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Resource, resource_rule, retention_option, short_retention

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_SUBNET_GROUP = "aws:elasticache/subnetGroup:SubnetGroup"
CACHE_USER = "aws:elasticache/user:User"
CACHE_USER_GROUP = "aws:elasticache/userGroup:UserGroup"


@resource_rule("redis-at-rest-encryption", "Redis must be encrypted at rest with a customer-managed KMS key.",
               [REPLICATION_GROUP], severity=Severity.CRITICAL, checkov="CKV_AWS_29, CKV_AWS_191")
def at_rest_encryption(r: Resource) -> Iterator[str]:
    if not r.true("atRestEncryptionEnabled"):
        yield "atRestEncryptionEnabled is not true"
    elif not r.present("kmsKeyId"):
        yield "kmsKeyId is not set: at-rest encryption uses the AWS-managed key"


@resource_rule("redis-in-transit-encryption",
               "Redis must require TLS in transit and authenticate clients: an RBAC user group (or an AUTH token).",
               [REPLICATION_GROUP], severity=Severity.CRITICAL, checkov="CKV_AWS_30, CKV_AWS_31")
def in_transit_encryption(r: Resource) -> Iterator[str]:
    if not r.true("transitEncryptionEnabled"):
        yield "transitEncryptionEnabled is not true"
    elif r.get("transitEncryptionMode", default="required") != "required":
        yield f"transitEncryptionMode is {r.get('transitEncryptionMode')}; clients may still connect without TLS"
    if not (r.present("userGroupIds") or r.present("authToken") or r.present("authTokenWoVersion")):
        yield "no userGroupIds (RBAC users, e.g. IAM-authenticated) nor authToken: clients connect unauthenticated"


# ElastiCache guide, "Authenticating with IAM", Limitations: for an IAM-enabled user the user name and the user id
# must be identical (CreateUser refuses the user otherwise).
@resource_rule("cache-iam-user-name", "An IAM-authenticated ElastiCache user's userName equals its userId.",
               [CACHE_USER], deployability=True,
               source="ElastiCache guide, Authenticating with IAM (Limitations)")
def iam_user_name(r: Resource) -> Iterator[str]:
    if r.get("authenticationMode", "type") == "iam" and r.get("userName") != r.get("userId"):
        yield (f"IAM-authenticated user {r.get('userId')!r} has userName {r.get('userName')!r}: ElastiCache wants the "
               "user name and the user id of an IAM user to be the same")


@resource_rule("redis-multi-az", "Redis must run Multi-AZ with automatic failover and enough nodes.",
               [REPLICATION_GROUP], checkov="CKV2_AWS_50",
               options={"minimumNodes": {"type": "integer", "minimum": 1, "default": 2}})
def multi_az(r: Resource) -> Iterator[str]:
    if not r.true("automaticFailoverEnabled"):
        yield "automaticFailoverEnabled is not true"
    if not r.true("multiAzEnabled"):
        yield "multiAzEnabled is not true"
    if r.present("numNodeGroups"):
        nodes = r.get("replicasPerNodeGroup", default=0) + 1
    else:
        nodes = r.get("numCacheClusters", default=1)
    if nodes < r.cfg["minimumNodes"]:
        yield f"{nodes:g} node(s) per shard; at least {r.cfg['minimumNodes']:g} required"


@resource_rule("redis-snapshot-retention", "Redis snapshots must be kept at least the configured number of days.",
               [REPLICATION_GROUP], checkov="CKV_AWS_134",
               options=retention_option(default_days=7))
def snapshot_retention(r: Resource) -> Iterator[str]:
    yield from short_retention(r, "snapshotRetentionLimit")


_GROUP_ID = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,39}$")


# ElastiCache API reference, CreateReplicationGroup (ReplicationGroupId): 1-40 letters, digits or hyphens, a letter
# first, no two consecutive hyphens, no trailing hyphen (terraform-provider-aws validateReplicationGroupID).
@resource_rule("elasticache-replication-group-id",
               "A replication group id has 1-40 letters, digits or single hyphens and starts with a letter.",
               [REPLICATION_GROUP], deployability=True,
               source="ElastiCache API reference, CreateReplicationGroup")
def replication_group_id(r: Resource) -> Iterator[str]:
    group_id = r.get("replicationGroupId")
    if isinstance(group_id, str) and not _GROUP_ID.match(group_id):
        yield (f"replicationGroupId {group_id!r} ({len(group_id)} characters): ElastiCache wants 1-40 letters, "
               "digits or single hyphens, a letter first and no trailing hyphen")
