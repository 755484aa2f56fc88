"""Customer-managed keys: every one has an explicit policy (the account administers it; principals use it only
through the service that needs it, or as a named service role), log keys serve their own log groups only, and
aliases and log group names carry the stack."""

import json
from typing import Any

from conftest import region

from envstack.tools.mocks import ACCOUNT_ID
from envstack.tools.synth import ResourceRecord, Synthesis

KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROOT = {"AWS": "arn:aws:iam::123456789012:root"}
# Which services' principals may use each store's key (kms:ViaService), by key resource name.
VIA_SERVICES = {
    "database-key": ["rds", "secretsmanager"],
    "cache-key": ["elasticache", "dax"],  # ElastiCache guide: both; no secret under it (IAM authentication)
    "cluster-secrets": ["eks"],
    "alerts-key": ["sns"],
}


def statements(key: ResourceRecord) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}


def keys(s: Synthesis) -> list[ResourceRecord]:
    found = s.of_type(KEY)
    assert found, "every stack has customer-managed keys"
    return found


def test_every_key_has_an_explicit_policy_whose_administrators_cannot_use_it(stack):
    for key in keys(stack):
        admin = statements(key)["AccountAdministers"]
        assert admin["Principal"] == ROOT and admin["Effect"] == "Allow"
        assert "kms:Put*" in admin["Action"]  # KMS's lockout safety check: the account can still change the policy
        assert not {"kms:*", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:CreateGrant"} & set(
            admin["Action"]), key.name
        assert {"kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"} <= set(admin["Action"])


def test_account_principals_use_a_key_only_through_its_services(stack):
    for key in keys(stack):
        for sid, statement in statements(key).items():
            if statement["Principal"] == ROOT and sid != "AccountAdministers":
                assert sid == "UseThroughServices"
                assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(statement["Action"])
                assert not {a for a in statement["Action"] if a.startswith(("kms:Put", "kms:Schedule", "kms:Delete"))}
                condition = statement["Condition"]["StringEquals"]
                assert condition["kms:CallerAccount"] == ACCOUNT_ID  # the caller's account (the mocks' answer)
                assert condition["kms:ViaService"] == [
                    f"{service}.{region(stack)}.amazonaws.com" for service in VIA_SERVICES[key.name]]
    used_through = {k.name for k in keys(stack) if "UseThroughServices" in statements(k)}
    assert used_through == set(VIA_SERVICES)


def test_log_keys_serve_exactly_the_log_groups_of_their_component(stack):
    groups = stack.of_type(LOG_GROUP)
    assert groups
    for key in [k for k in keys(stack) if k.name.endswith("-logs")]:
        (logs,) = [s for s in statements(key).values() if s["Principal"] != ROOT]
        assert logs["Principal"] == {"Service": f"logs.{region(stack)}.amazonaws.com"}
        named = logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
        encrypted = [g for g in groups if g.inputs["kmsKeyId"] == stack.state_of(key)["arn"]]
        assert encrypted
        assert sorted(named) == sorted(
            f"arn:aws:logs:{region(stack)}:{ACCOUNT_ID}:log-group:{g.inputs['name']}" for g in encrypted)
    assert {g.inputs["kmsKeyId"] for g in groups} <= {stack.state_of(k)["arn"] for k in keys(stack)}


def test_aliases_and_log_groups_name_the_stack(stack):
    prefix = f"envstack-{stack.stack}"
    aliases = stack.of_type(ALIAS)
    assert sorted(a.inputs["name"] for a in aliases) == sorted(f"alias/{prefix}/{k.name}" for k in keys(stack))
    for group in stack.of_type(LOG_GROUP):
        assert prefix in group.inputs["name"], group.inputs["name"]


def test_the_cluster_role_is_named_in_the_secrets_key_and_is_the_clusters_role(stack):
    """containers-roadmap#1533: an upgrade fails unless the key policy names the cluster's role."""
    (key,) = [k for k in keys(stack) if k.name == "cluster-secrets"]
    role = next(r for r in stack.of_type("aws:iam/role:Role") if r.name == "cluster-eks")
    role_arn = f"arn:aws:iam::123456789012:role/{role.name}"
    uses = statements(key)["ServiceRolesUse"]
    assert uses["Principal"] == {"AWS": [role_arn]} and "Condition" not in uses
    assert set(uses["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants"}
    cluster = stack.one("eks:index:Cluster")
    assert role.urn in cluster.propertyDependencies["serviceRole"]
    assert cluster.inputs["encryptionConfigKeyArn"] == stack.state_of(key)["arn"]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "eks.amazonaws.com"}
