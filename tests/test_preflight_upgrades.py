"""`envstack preflight`'s upgrade checks: the running cluster, instance and replication group against the configured
versions, each way, with botocore's Stubber; and the configuration rule they rely on."""

from typing import Any

import pytest
from conftest import FIXTURES, stack_config
from test_preflight import Stubs

from envstack.program.config import ConfigError, load_stack_config
from envstack.program.config.loader import deep_merge
from envstack.tools.validate import load

CLUSTER, INSTANCE, GROUP = "envstack-prod", "envstack-prod-postgres", "envstack-prod-cache"


@pytest.fixture(scope="module")
def prod() -> Any:
    return load("prod", FIXTURES).config


def with_store(cfg: Any, store: str, **update: Any) -> Any:
    return cfg.model_copy(update={store: getattr(cfg, store).model_copy(update=update)})


def with_cluster_version(cfg: Any, version: str) -> Any:
    return with_store(cfg, "cluster", version=version)


# ---- Kubernetes: one minor version at a time ------------------------------------------------------------------


@pytest.mark.parametrize(("running", "configured", "status", "fragment"), [
    ("1.35", "1.35", "ok", "runs it"),
    ("1.34", "1.35", "ok", "moves up from 1.34, one minor version"),
    ("1.33", "1.35", "fail", "runs 1.33, and EKS upgrades one minor version at a time: deploy 1.34 first"),
    ("1.35", "1.34", "fail", "EKS cannot downgrade"),
])
def test_kubernetes_moves_one_minor_version_at_a_time(prod: Any, running: str, configured: str, status: str,
                                                      fragment: str) -> None:
    stubs = Stubs(with_cluster_version(prod, configured))
    stubs.stub("eks").add_response("describe_cluster", {"cluster": {"name": CLUSTER, "version": running}},
                                   {"name": CLUSTER})
    [result] = stubs.run("kubernetes-upgrade")
    assert (result.status, result.check) == (status, "kubernetes-upgrade")
    assert fragment in result.detail and f"envstack:cluster.version: {configured}" in result.detail


def test_a_first_deployment_has_no_cluster_to_compare(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("eks").add_client_error("describe_cluster", "ResourceNotFoundException", http_status_code=404)
    [result] = stubs.run("kubernetes-upgrade")
    assert result.status == "ok" and "no cluster envstack-prod yet" in result.detail


def test_a_cluster_that_cannot_be_read_is_skipped_not_passed(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("eks").add_client_error("describe_cluster", "AccessDeniedException", http_status_code=403)
    [result] = stubs.run("kubernetes-upgrade")
    assert result.status == "skipped" and "not permitted" in result.detail


# ---- PostgreSQL: majors on purpose, applied now -----------------------------------------------------------------


def instance(version: str, pending: str | None = None) -> dict[str, Any]:
    return {"DBInstances": [{"DBInstanceIdentifier": INSTANCE, "EngineVersion": version,
                             "PendingModifiedValues": {"EngineVersion": pending} if pending else {}}]}


@pytest.mark.parametrize(("running", "allow", "statuses", "fragment"), [
    ("17.6", False, ["ok"], "runs it"),
    ("16.9", False, ["fail"], "runs PostgreSQL 16: a major change needs allowMajorVersionUpgrade: true and "
                              "applyImmediately: true"),
    ("16.9", True, ["ok"], "moves from PostgreSQL 16, applied by this deploy"),
    ("17.6", True, ["warn"], "allowMajorVersionUpgrade is still true"),
    ("18.1", False, ["fail"], "cannot downgrade"),
])
def test_a_database_major_change_is_refused_unless_asked_for(prod: Any, running: str, allow: bool,
                                                             statuses: list[str], fragment: str) -> None:
    cfg = with_store(prod, "database", engine_version="17", allow_major_version_upgrade=allow, apply_immediately=True)
    stubs = Stubs(cfg)
    stubs.stub("rds").add_response("describe_db_instances", instance(running), {"DBInstanceIdentifier": INSTANCE})
    results = stubs.run("database-upgrade")
    assert [r.status for r in results] == statuses and fragment in results[0].detail


def test_a_pending_engine_change_is_reported(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("rds").add_response("describe_db_instances", instance("17.5", pending="17.6"))
    ok, pending = stubs.run("database-upgrade")
    assert ok.status == "ok" and pending.status == "warn" and "17.6 is pending" in pending.detail


def test_no_instance_yet_is_a_first_deployment(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("rds").add_client_error("describe_db_instances", "DBInstanceNotFound", http_status_code=404)
    [result] = stubs.run("database-upgrade")
    assert result.status == "ok" and "no instance envstack-prod-postgres yet" in result.detail


# ---- the cache: engine family changes on purpose, no downgrade, AUTH to RBAC ---------------------------------


def stub_cache(stubs: Stubs, engine: str, version: str, auth_token: bool = False) -> None:
    elasticache = stubs.stub("elasticache")
    elasticache.add_response("describe_replication_groups", {"ReplicationGroups": [{
        "ReplicationGroupId": GROUP, "MemberClusters": [f"{GROUP}-001", f"{GROUP}-002"],
        "AuthTokenEnabled": auth_token}]}, {"ReplicationGroupId": GROUP})
    elasticache.add_response("describe_cache_clusters", {"CacheClusters": [{
        "CacheClusterId": f"{GROUP}-001", "Engine": engine, "EngineVersion": version}]},
        {"CacheClusterId": f"{GROUP}-001"})


@pytest.mark.parametrize(("engine", "running", "allow", "status", "fragment"), [
    ("valkey", "8.0.1", False, "ok", "runs it"),
    ("valkey", "7.2.4", False, "fail", "runs valkey7: a major change needs allowMajorVersionUpgrade"),
    ("redis", "7.1.0", False, "fail", "runs redis7"),  # Redis OSS to Valkey changes the family too
    ("redis", "7.1.0", True, "ok", "moves from redis7, applied by this deploy"),
    ("valkey", "9.0.0", True, "fail", "cannot downgrade"),
])
def test_a_cache_family_change_is_refused_unless_asked_for(prod: Any, engine: str, running: str, allow: bool,
                                                           status: str, fragment: str) -> None:
    cfg = with_store(prod, "cache", engine="valkey", engine_version="8.0", allow_major_version_upgrade=allow,
                     apply_immediately=True)
    stubs = Stubs(cfg)
    stub_cache(stubs, engine, running)
    [result] = stubs.run("cache-upgrade")
    assert result.status == status and fragment in result.detail, result.detail


def test_an_auth_token_still_set_is_reported_as_the_migration_this_deploy_makes(prod: Any) -> None:
    stubs = Stubs(with_store(prod, "cache", engine="valkey", engine_version="8.0"))
    stub_cache(stubs, "valkey", "8.0.1", auth_token=True)
    ok, migration = stubs.run("cache-upgrade")
    assert ok.status == "ok" and migration.status == "warn"
    assert "still has an AUTH token" in migration.detail and "AuthTokenUpdateStrategy DELETE" in migration.detail


def test_no_replication_group_yet_is_a_first_deployment(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("elasticache").add_client_error("describe_replication_groups", "ReplicationGroupNotFoundFault",
                                               http_status_code=404)
    [result] = stubs.run("cache-upgrade")
    assert result.status == "ok" and "no replication group envstack-prod-cache yet" in result.detail


# ---- configuration: a major upgrade is applied immediately ----------------------------------------------------


def store_problems(stack: str, store: str, **settings: Any) -> list[str]:
    raw = {k.removeprefix("envstack:"): v for k, v in stack_config(stack).items() if k.startswith("envstack:")}
    raw[store] = deep_merge(raw.get(store, {}), settings)
    with pytest.raises(ConfigError) as caught:
        load_stack_config(stack, raw, "us-west-2")
    return caught.value.render().splitlines()[1:]


@pytest.mark.parametrize("store", ["database", "cache"])
def test_a_major_upgrade_without_immediate_apply_is_refused(store: str) -> None:
    [line] = store_problems("prod", store, allowMajorVersionUpgrade=True, applyImmediately=False)
    assert f"envstack:{store}.applyImmediately" in line and "allowMajorVersionUpgrade is true" in line
    raw = {k.removeprefix("envstack:"): v for k, v in stack_config("prod").items() if k.startswith("envstack:")}
    raw[store] = deep_merge(raw.get(store, {}), {"allowMajorVersionUpgrade": True, "applyImmediately": True})
    cfg = load_stack_config("prod", raw, "us-west-2")
    assert getattr(cfg, store).allow_major_version_upgrade is True

