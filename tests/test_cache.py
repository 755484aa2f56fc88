"""The Redis/Valkey component: configuration, guardrails, per-environment variants, encryption and IAM users."""


import pytest
from conftest import synth
from test_database import (
    KEY,
    LOG_GROUP,
    SECURITY_GROUP,
    assert_rejected,
    children,
    config_problems,
    only,
    profile,
)

from components.cache import parameter_group_family, replication_group_id
from envstack.program.config import load_profile

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
USER = "aws:elasticache/user:User"
USER_GROUP = "aws:elasticache/userGroup:UserGroup"

INVALID = [
    ("dev", {"engine": "memcached"}, "engine", "'redis' or 'valkey'"),
    ("dev", {"engine": "redis", "engineVersion": "8.0"}, "engineVersion", "redis 'major.minor' version"),
    # transitEncryptionMode "required" needs Redis 7 or later.
    ("dev", {"engine": "redis", "engineVersion": "6.2"}, "engineVersion", "major in (7,)"),
    ("dev", {"engine": "valkey", "engineVersion": "8"}, "engineVersion", "valkey 'major.minor' version"),
    # IAM authentication: Valkey 7.2+, Redis OSS 7.0+ (ElastiCache guide, "Authenticating with IAM").
    ("dev", {"engine": "valkey", "engineVersion": "7.1"}, "engineVersion", "valkey 7.2 or later"),
    ("dev", {"nodeType": "t4g.micro"}, "nodeType", "ElastiCache node type"),
    ("dev", {"nodes": 0}, "nodes", "greater than or equal to 1"),
    ("dev", {"nodes": 7}, "nodes", "less than or equal to 6"),
    ("dev", {"nodes": 1, "automaticFailover": True}, "automaticFailover", "needs a replica"),
    ("dev", {"nodes": 2, "automaticFailover": False, "multiAz": True}, "multiAz", "requires automaticFailover"),
    ("dev", {"snapshotRetentionDays": -1}, "snapshotRetentionDays", "greater than or equal to 0"),
    ("dev", {"snapshotRetentionDays": 36}, "snapshotRetentionDays", "less than or equal to 35"),
    ("dev", {"snapshotWindow": "4-5"}, "snapshotWindow", "hh24:mi-hh24:mi"),
    ("dev", {"snapshotWindow": "04:00-04:30"}, "snapshotWindow", "at least 60 minutes"),
    ("dev", {"maintenanceWindow": "sun:06:00-sun:06:30"}, "maintenanceWindow", "at least 60 minutes"),
    ("dev", {"maintenanceWindow": "someday"}, "maintenanceWindow", "ddd:hh24:mi-ddd:hh24:mi"),
    ("dev", {"maintenanceWindow": "mon:04:30-mon:05:30"}, "maintenanceWindow", "does not overlap snapshotWindow"),
    ("dev", {"finalSnapshot": "sometimes"}, "finalSnapshot", "boolean"),
    ("dev", {"applyImmediately": None}, "applyImmediately", "boolean"),
    ("dev", {"authToken": "hunter2hunter2hunter2"}, "authToken", "unknown key"),
    # production guardrails
    ("prod", {"nodes": 1, "automaticFailover": False, "multiAz": False}, "nodes", "at least 2 cache nodes"),
    ("prod", {"automaticFailover": False, "multiAz": False}, "automaticFailover", "requires automatic failover"),
    ("prod", {"multiAz": False}, "multiAz", "requires a Multi-AZ cache"),
    ("prod", {"snapshotRetentionDays": 1}, "snapshotRetentionDays", "at least 7 days"),
    ("prod", {"finalSnapshot": False}, "finalSnapshot", "requires a final snapshot"),
    ("prod", {"nodeType": "cache.t4g.medium"}, "nodeType", "non-burstable"),
]


@pytest.mark.parametrize(("environment", "cache", "key", "expected"), INVALID,
                         ids=[f"{row[0]}-{row[2]}-{i}" for i, row in enumerate(INVALID)])
def test_bad_cache_values_name_the_key(environment, cache, key, expected):
    assert_rejected(environment, {"cache": cache}, f"envstack:cache.{key}", expected)


@pytest.mark.parametrize(("engine", "version"), [("valkey", "7.2"), ("valkey", "8.1"), ("redis", "7.0"),
                                                  ("redis", "7.1")])
def test_the_first_versions_with_iam_authentication_are_accepted(engine, version):
    problems = config_problems("dev", cache={"engine": engine, "engineVersion": version})
    assert not [line for line in problems if "envstack:cache.engineVersion" in line]


def test_outside_prod_a_single_burstable_node_without_snapshots_is_fine():
    cheap = {"nodes": 1, "automaticFailover": False, "multiAz": False, "snapshotRetentionDays": 0,
             "nodeType": "cache.t4g.micro"}
    assert not [line for line in config_problems("dev", cache={**cheap, "finalSnapshot": False})
                if "envstack:cache" in line]
    # Staging holds production-like data: it may be small, but keeps a final snapshot and 3 days of snapshots.
    assert not [line for line in config_problems("staging", cache={**cheap, "snapshotRetentionDays": 3})
                if "envstack:cache" in line]
    assert_rejected("staging", {"cache": {"finalSnapshot": False}}, "envstack:cache.finalSnapshot",
                    "requires a final snapshot")
    assert_rejected("staging", {"cache": cheap}, "envstack:cache.snapshotRetentionDays",
                    "staging requires at least 3 days of snapshots")


@pytest.mark.parametrize(("engine", "version", "family"), [
    ("valkey", "8.0", "valkey8"), ("valkey", "7.2", "valkey7"),
    ("redis", "7.1", "redis7"),
])
def test_parameter_group_family(engine, version, family):
    assert parameter_group_family(engine, version) == family


# ---- the replication group per environment --------------------------------------------------------------------------

def test_each_environment_gets_its_profiles_variant(stack):
    settings, group = profile(stack.environment, "cache"), stack.one(GROUP).inputs
    assert group["engine"] == settings["engine"] and group["engineVersion"] == settings["engineVersion"]
    assert group["nodeType"] == settings["nodeType"]
    assert group["numCacheClusters"] == settings["nodes"]
    assert group["automaticFailoverEnabled"] is settings["automaticFailover"]
    assert group["multiAzEnabled"] is settings["multiAz"]
    assert group["snapshotRetentionLimit"] == settings["snapshotRetentionDays"]
    assert group["snapshotWindow"] == settings["snapshotWindow"]
    assert group["maintenanceWindow"] == settings["maintenanceWindow"]
    assert group["applyImmediately"] is settings["applyImmediately"]
    assert ("finalSnapshotIdentifier" in group) is settings["finalSnapshot"]


def test_dev_is_one_small_node():
    s = synth("dev")
    group = s.one(GROUP)
    assert group.inputs["numCacheClusters"] == 1 and group.inputs["nodeType"].startswith("cache.t4g.")
    assert group.inputs["automaticFailoverEnabled"] is False and group.inputs["multiAzEnabled"] is False
    assert group.protect is False


def test_prod_fails_over_across_azs_keeps_a_final_snapshot_and_is_protected():
    group = synth("prod").one(GROUP)
    assert group.protect is True
    assert group.inputs["numCacheClusters"] >= 2
    assert group.inputs["automaticFailoverEnabled"] is True and group.inputs["multiAzEnabled"] is True
    assert not group.inputs["nodeType"].startswith("cache.t")
    assert group.inputs["finalSnapshotIdentifier"].startswith("envstack-prod-cache-final-")


def test_the_replication_group_id_names_the_stack_within_elasticaches_40_characters(stack):
    group = stack.one(GROUP)
    assert group.inputs["replicationGroupId"] == replication_group_id(f"envstack-{stack.stack}")
    assert group.inputs["replicationGroupId"] == f"envstack-{stack.stack}-cache"
    longest = replication_group_id(f"envstack-{'s' * 20}")  # the stack-name rule allows 20 characters
    assert len(longest) <= 40
    # Members are <id>-001, ...: the node alarms name them.
    assert stack.outputs["cachePrimaryEndpoint"].startswith(f"master.{group.inputs['replicationGroupId']}.")


def test_the_final_snapshot_is_named_for_this_replication_groups_lifetime(stack):
    group = stack.one(GROUP).inputs
    suffixes = children(stack, "cache", "random:index/randomId:RandomId")
    if "finalSnapshotIdentifier" not in group:
        assert not suffixes
        return
    suffix = only(suffixes)
    assert group["finalSnapshotIdentifier"] == f"{group['replicationGroupId']}-final-{stack.state_of(suffix)['hex']}"
    assert suffix.inputs["keepers"] == {
        "replicationGroupId": group["replicationGroupId"], "engine": group["engine"],
        "engineVersion": group["engineVersion"], "kmsKeyId": group["kmsKeyId"],
        "subnetGroupName": group["subnetGroupName"], "port": f"{group['port']:g}"}


def test_encrypted_at_rest_with_the_components_key_and_in_transit(stack):
    group = stack.one(GROUP).inputs
    key = only([k for k in children(stack, "cache", KEY) if k.name == "cache-key"])
    assert group["atRestEncryptionEnabled"] is True
    assert group["kmsKeyId"] == stack.state_of(key)["arn"]
    assert group["transitEncryptionEnabled"] is True and group["transitEncryptionMode"] == "required"
    assert group["port"] == 6379


def test_lives_in_the_isolated_subnet_group_behind_its_own_security_group(stack):
    group = stack.one(GROUP).inputs
    assert group["subnetGroupName"] == stack.one("aws:elasticache/subnetGroup:SubnetGroup").name
    assert group["securityGroupIds"] == [stack.id_of(only(children(stack, "cache", SECURITY_GROUP)))]


def test_own_parameter_group_of_the_engines_family(stack):
    group = stack.one(GROUP).inputs
    parameters = only(children(stack, "cache", "aws:elasticache/parameterGroup:ParameterGroup"))
    assert group["parameterGroupName"] == parameters.name
    assert parameters.inputs["family"] == parameter_group_family(group["engine"], group["engineVersion"])


def test_slow_log_goes_to_an_encrypted_log_group_with_the_environments_retention(stack):
    delivery = only(stack.one(GROUP).inputs["logDeliveryConfigurations"])
    log_group = only(children(stack, "cache", LOG_GROUP))
    assert log_group.inputs["name"] == f"/envstack-{stack.stack}/cache/slow-log"  # several stacks, one account
    assert delivery == {"logType": "slow-log", "destinationType": "cloudwatch-logs", "logFormat": "json",
                        "destination": log_group.inputs["name"]}
    assert log_group.inputs["retentionInDays"] == load_profile(stack.environment).settings["monitoring"][
        "logRetentionDays"]
    assert log_group.inputs["kmsKeyId"]


# ---- no password: RBAC users, IAM authentication -------------------------------------------------------------------

def users(s) -> dict[str, dict]:
    return {u.inputs["userName"]: u.inputs for u in children(s, "cache", USER)}


def test_the_application_user_authenticates_with_iam_under_its_own_id(stack):
    app = users(stack)[f"envstack-{stack.stack}-app"]
    # ElastiCache guide, "Authenticating with IAM": user id == user name for IAM users; the name carries the stack.
    assert app["userId"] == app["userName"] == stack.outputs["cacheUser"]
    assert app["authenticationMode"] == {"type": "iam"}
    assert app["accessString"].startswith("on ") and "passwords" not in app and not app.get("noPasswordRequired")


def test_the_default_user_every_connection_starts_as_is_switched_off(stack):
    default = users(stack)["default"]
    assert default["userId"] == f"envstack-{stack.stack}-default"  # "default" itself is AWS's own, fully open
    assert default["accessString"].split()[0] == "off" and "-@all" in default["accessString"].split()


def test_the_replication_group_admits_its_user_group_and_has_no_auth_token(stack):
    group = only(children(stack, "cache", USER_GROUP)).inputs
    assert sorted(group["userIds"]) == sorted(u["userId"] for u in users(stack).values())
    # A VALKEY user group holds only users that authenticate; the switched-off default has no password.
    assert group["engine"] == "redis" and {u["engine"] for u in users(stack).values()} == {"redis"}
    replication_group = stack.one(GROUP).inputs
    assert replication_group["userGroupIds"] == [group["userGroupId"]]
    assert "authToken" not in replication_group and "authTokenWoVersion" not in replication_group
    # A group made earlier with an AUTH token moves to the user group in place: the provider sends
    # AuthTokenUpdateStrategy=DELETE with UserGroupIdsToAdd only for DELETE (replication_group.go).
    assert replication_group["authTokenUpdateStrategy"] == "DELETE"
    assert replication_group["transitEncryptionEnabled"] is True  # IAM authentication needs TLS


def test_users_and_their_group_are_replaced_create_first(stack):
    """Deleted first, the user group would be refused while the replication group uses it (DeleteUserGroup: "must
    first be disassociated from the replication group"), and a user would leave every group (DeleteUser) and come
    back in none. Created first under a new id, the group or replication group moves to it before the old one goes."""
    rbac = [*children(stack, "cache", USER), only(children(stack, "cache", USER_GROUP))]
    assert len(rbac) == 3 and not any(r.deleteBeforeReplace for r in rbac)


def test_no_secret_to_keep(stack):
    """No AUTH token, so no Secrets Manager secret (the cache key serves ElastiCache only: test_kms)."""
    assert not children(stack, "cache", "aws:secretsmanager/secret:Secret")
    assert not stack.of_type("random:index/randomPassword:RandomPassword")
    key = only([k for k in children(stack, "cache", "aws:kms/key:Key") if k.name == "cache-key"])
    assert "secret" not in key.inputs["description"]


def test_cache_outputs(stack):
    outputs = stack.outputs
    group = stack.state_of(stack.one(GROUP))  # what AWS assigns, here made up by the mocks (and labelled so)
    assert (outputs["cachePrimaryEndpoint"], outputs["cacheReaderEndpoint"]) == (
        group["primaryEndpointAddress"], group["readerEndpointAddress"])
    assert {"cachePrimaryEndpoint", "cacheReaderEndpoint"} <= set(stack.mock_outputs())
    assert outputs["cachePort"] == 6379
    assert outputs["cacheReplicationGroupId"] == stack.one(GROUP).inputs["replicationGroupId"]
    assert outputs["cacheUser"] == f"envstack-{stack.stack}-app"
    assert outputs["cacheSecurityGroupId"] == stack.id_of(only(children(stack, "cache", SECURITY_GROUP)))
    assert not [name for name in outputs if "token" in name.lower() or "password" in name.lower()]
