"""Which input changes replace a stateful resource (delete and create: its data goes, unless restored), by type.

A leaf module (it imports nothing from envstack): `envstack diff` marks such changes for reviewers, and a
state-compatibility check can read the same table. An input is listed where the provider declares it ForceNew, taken
from the Terraform AWS provider behind pulumi-aws 7 (internal/service/<service>/<resource>.go schemas) and from
pulumi-eks for its component inputs. Paths are the camelCase input paths `envstack synth --json` shows, top level:
a change anywhere inside one (`kmsKeyId`, `vpcConfig.securityGroupIds[0]`) counts.

Only stateful types are listed (data stores, keys, buckets, log groups, the cluster): replacing a security group or a
route is an interruption, replacing one of these loses what it holds.
"""

from collections.abc import Callable
from typing import Any

# A condition on (before, after) for inputs that force a replacement only in some directions; None: always.
Condition = Callable[[Any, Any], bool] | None


def _version(text: Any) -> tuple[int, ...]:
    return tuple(int(part) for part in str(text).split(".") if part.isdigit())


def _downgrade(before: Any, after: Any) -> bool:
    return _version(after) < _version(before)


def _valkey_to_redis(before: Any, after: Any) -> bool:
    return str(before).lower() == "valkey" and str(after).lower() == "redis"


# type -> input -> condition (None: any change replaces).
FORCE_NEW: dict[str, dict[str, Condition]] = {
    # internal/service/rds/instance.go. Not `identifier`: since provider v5 the resource id is the DBI resource id
    # and a new identifier is a rename in place (ModifyDBInstance NewDBInstanceIdentifier; terraform-provider-aws
    # #32687), listed in RENAMES below.
    "aws:rds/instance:Instance": {
        "availabilityZone": None, "characterSetName": None, "customIamInstanceProfile": None, "dbName": None,
        "engine": None, "kmsKeyId": None, "ncharCharacterSetName": None, "restoreToPointInTime": None,
        "s3Import": None, "snapshotIdentifier": None, "storageEncrypted": None, "timezone": None, "username": None,
    },
    # internal/service/elasticache/replication_group.go: ForceNew fields, and its CustomizeDiff (engine and engine
    # version downgrades).
    "aws:elasticache/replicationGroup:ReplicationGroup": {
        "atRestEncryptionEnabled": None, "dataTieringEnabled": None, "globalReplicationGroupId": None,
        "kmsKeyId": None, "networkType": None, "port": None, "replicationGroupId": None,
        "securityGroupNames": None, "snapshotArns": None, "snapshotName": None, "subnetGroupName": None,
        "engine": _valkey_to_redis, "engineVersion": _downgrade,
    },
    # internal/service/s3/bucket.go
    "aws:s3/bucket:Bucket": {"bucket": None, "bucketPrefix": None, "objectLockEnabled": None},
    # internal/service/kms/key.go: losing a key loses everything encrypted with it
    "aws:kms/key:Key": {"customerMasterKeySpec": None, "customKeyStoreId": None, "keyUsage": None,
                        "multiRegion": None, "xksKeyId": None},
    # internal/service/logs/group.go
    "aws:cloudwatch/logGroup:LogGroup": {"name": None, "namePrefix": None, "logGroupClass": None},
    # internal/service/eks/cluster.go
    "aws:eks/cluster:Cluster": {"name": None, "roleArn": None, "kubernetesNetworkConfig": None,
                                "outpostConfig": None, "bootstrapSelfManagedAddons": None},
    # pulumi-eks's component (what the mocks show): the inputs it hands to those of aws:eks/cluster above
    # (nodejs/eks/cluster/cluster.ts: name, roleArn from serviceRole, kubernetesNetworkConfig from
    # kubernetesServiceIpAddressRange and ipFamily).
    "eks:index:Cluster": {"name": None, "serviceRole": None, "kubernetesServiceIpAddressRange": None,
                          "ipFamily": None},
}

# Changes applied in place that still move what clients connect to: type -> input -> what happens.
RENAMES: dict[str, dict[str, str]] = {
    "aws:rds/instance:Instance": {
        "identifier": "renamed in place: the endpoint's host name changes and the instance reboots"},
}


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def effect(resource_type: str, path: str, before: Any, after: Any) -> str | None:
    """'replace' when changing `path` from `before` to `after` replaces the resource, 'rename' when it renames it
    in place, else None."""
    key = _top(path)
    inputs = FORCE_NEW.get(resource_type, {})
    if key in inputs:
        condition = inputs[key]
        if condition is None or condition(before, after):
            return "replace"
    if key in RENAMES.get(resource_type, {}):
        return "rename"
    return None
