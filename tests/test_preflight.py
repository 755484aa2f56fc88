"""`envstack preflight`: each check passing and failing against botocore's Stubber, and the whole command against
moto's server on the loopback (what moto lacks must come out as skipped, never a traceback)."""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_checks import StubbedChecks, documented_actions, recording_session
from botocore.exceptions import ClientError
from conftest import FIXTURES, command_in_process
from test_stack_files import BASES

from envstack.ops import preflight
from envstack.ops.preflight import Context, Result, quotas, run_check
from envstack.ops.preflight.core import unanswered
from envstack.ops.preflight.offerings import addon_version_key
from envstack.program.config import load_stack_config
from envstack.tools.validate import load

REPO = Path(__file__).resolve().parent.parent
REGION = "us-west-2"
ACCOUNT = "111111111111"  # tests/stacks/Pulumi.prod.yaml's allowed account
CALLER_ARN = "arn:aws:sts::111111111111:assumed-role/deployer/session"
ZONES = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]
ZONE_IDS = ["usw2-az2", "usw2-az1", "usw2-az3", "usw2-az4"]
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "t"}


@pytest.fixture(scope="module")
def prod() -> Any:
    return load("prod", FIXTURES).config


@pytest.fixture(scope="module")
def dev() -> Any:
    return load("dev", FIXTURES).config


class Stubs(StubbedChecks):
    def __init__(self, cfg: Any):
        super().__init__(Context(cfg, account=ACCOUNT), preflight.CHECKS, run_check)


def statuses(results: list[Result]) -> list[str]:
    return [r.status for r in results]


def zones_answer(names: list[str] = ZONES, ids: list[str] = ZONE_IDS) -> dict[str, Any]:
    return {"AvailabilityZones": [{"ZoneName": z, "ZoneId": i, "ZoneType": "availability-zone", "State": "available"}
                                  for z, i in zip(names, ids, strict=False)]}


def with_zones(stubs: Stubs, names: list[str] = ZONES, ids: list[str] = ZONE_IDS) -> Stubs:
    stubs.stub("ec2").add_response("describe_availability_zones", zones_answer(names, ids))
    return stubs


def test_every_check_is_registered_once_account_first() -> None:
    names = [name for name, _ in preflight.CHECKS]
    assert names[0] == "account" and len(names) == len(set(names))
    assert {"region", "availability-zones", "instance-types", "kubernetes-version", "addon-versions", "certificate",
            "database-class", "database-log-exports", "cache-engine-version", "cache-node-type",
            "cost-allocation-tag", "roles", "deployer",
            "quota-vpcs",
            "quota-elastic-ips", "quota-nat-gateways"} <= set(names)


# ---- placeholders ----------------------------------------------------------------------------------------------


def test_example_values_are_refused_before_they_reach_the_account() -> None:
    """Valid configuration that synth only warns about: alerts to example.com, a role of account 123456789012."""
    raw = {k.removeprefix("envstack:"): v for k, v in BASES["prod"].items() if k.startswith("envstack:")}
    clean = load_stack_config("prod", raw, "us-west-2")
    assert statuses(Stubs(clean).run("placeholders")) == ["ok"]
    raw = {**raw, "monitoring": {"notificationEmails": ["platform-oncall@example.com"]},
           "cluster": {**raw["cluster"], "adminRoleArns": ["arn:aws:iam::123456789012:role/platform-admin"]}}
    results = Stubs(load_stack_config("prod", raw, "us-west-2")).run("placeholders")
    assert statuses(results) == ["fail", "fail"]
    assert results[0].detail.startswith("envstack:monitoring.notificationEmails[0] = 'platform-oncall@example.com' "
                                        "is an example value: example.com is a domain reserved for documentation")
    assert "account 123456789012 is an example id" in results[1].detail
    assert preflight.exit_code(results) == 1


# ---- account ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("caller", "status"), [(ACCOUNT, "ok"), ("222222222222", "fail")])
def test_account_must_be_allowed(prod: Any, caller: str, status: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("sts").add_response("get_caller_identity", {"Account": caller, "Arn": CALLER_ARN, "UserId": "u"})
    [result] = stubs.run("account")
    assert result.status == status and caller in result.detail
    if status == "fail":
        assert ACCOUNT in result.detail and "envstack:allowedAccountIds" in result.detail
    assert stubs.ctx.account == caller


def test_an_empty_allow_list_is_a_warning(dev: Any) -> None:
    stubs = Stubs(dev)
    stubs.stub("sts").add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": CALLER_ARN, "UserId": "u"})
    assert statuses(stubs.run("account")) == ["warn"]


# ---- availability zones and instance types ---------------------------------------------------------------------

def regions(status: str, name: str = REGION) -> dict[str, Any]:
    return {"Regions": [{"RegionName": name, "Endpoint": f"ec2.{name}.amazonaws.com", "OptInStatus": status}]}


@pytest.mark.parametrize(("status", "result"), [("opt-in-not-required", "ok"), ("opted-in", "ok"),
                                                ("not-opted-in", "fail")])
def test_the_region_must_be_enabled(prod: Any, status: str, result: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_regions", regions(status), {"AllRegions": True, "RegionNames": [REGION]})
    [answer] = stubs.run("region")
    assert answer.status == result and status in answer.detail


def test_a_region_that_does_not_answer_is_asked_about_where_every_account_can_ask(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("ec2").add_client_error("describe_regions", "AuthFailure", "not enabled", 401)
    stubs.stub("ec2", "us-east-1").add_response("describe_regions", regions("not-opted-in"),
                                                {"AllRegions": True, "RegionNames": [REGION]})
    [answer] = stubs.run("region")
    assert answer.status == "fail" and "not-opted-in" in answer.detail and "Account > AWS Regions" in answer.detail


def test_a_region_nobody_answers_for_is_skipped_with_the_first_error(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("ec2").add_client_error("describe_regions", "AuthFailure", "not enabled", 401)
    stubs.stub("ec2", "us-east-1").add_client_error("describe_regions", "UnauthorizedOperation", "SCP", 403)
    [answer] = stubs.run("region")
    assert answer.status == "skipped" and "AuthFailure" in answer.detail


@pytest.mark.parametrize(("zones", "status"), [(ZONES, "ok"), (ZONES[:2], "fail")])
def test_the_region_needs_azcount_zones(prod: Any, zones: list[str], status: str) -> None:
    [result] = with_zones(Stubs(prod), zones).run("availability-zones")
    assert result.status == status
    assert status == "ok" or "envstack:network.azCount needs 3" in result.detail
    assert status == "fail" or "us-west-2a (usw2-az2), us-west-2b (usw2-az1), us-west-2c (usw2-az3)" in result.detail


def in_us_east_1(cfg: Any) -> Any:
    return cfg.model_copy(update={"region": "us-east-1"})


@pytest.mark.parametrize(("zones", "status"), [(4, "ok"), (3, "fail")])
def test_zones_eks_refuses_are_left_out_as_the_network_leaves_them_out(prod: Any, zones: int, status: str) -> None:
    names = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"][:zones]
    stubs = with_zones(Stubs(in_us_east_1(prod)), names, ["use1-az1", "use1-az3", "use1-az2", "use1-az4"])
    [result] = stubs.run("availability-zones")
    assert result.status == status and "left out, EKS does not support it: us-east-1b (use1-az3)" in result.detail
    assert stubs.ctx.zones() == [n for n in names if n != "us-east-1b"][:3]


def offerings(types: list[str], zones: list[str]) -> dict[str, Any]:
    return {"InstanceTypeOfferings": [{"InstanceType": t, "LocationType": "availability-zone", "Location": z}
                                      for t in types for z in zones]}


def test_instance_types_offered_in_every_zone_pass(prod: Any) -> None:
    types = sorted({t for g in prod.cluster.node_groups.values() for t in g.instance_types})
    stubs = with_zones(Stubs(prod))
    stubs.stub("ec2").add_response("describe_instance_type_offerings", offerings(types, ZONES[:3]))
    results = stubs.run("instance-types")
    assert statuses(results) == ["ok"] * sum(len(g.instance_types) for g in prod.cluster.node_groups.values())


def test_an_instance_type_missing_everywhere_fails_and_in_some_zones_warns(prod: Any) -> None:
    types = sorted({t for g in prod.cluster.node_groups.values() for t in g.instance_types})
    answer = offerings([t for t in types if t != "m7a.large" and t != "m6a.large"], ZONES[:3])
    answer["InstanceTypeOfferings"] += offerings(["m6a.large"], ZONES[:1])["InstanceTypeOfferings"]
    stubs = with_zones(Stubs(prod))
    stubs.stub("ec2").add_response("describe_instance_type_offerings", answer)
    by_type = {r.detail.split(": ")[1].split()[0]: r for r in stubs.run("instance-types")}
    assert by_type["m7a.large"].status == "fail" and "nodeGroups.spot.instanceTypes" in by_type["m7a.large"].detail
    assert by_type["m6a.large"].status == "warn" and "us-west-2b, us-west-2c" in by_type["m6a.large"].detail
    assert by_type["m7i.large"].status == "ok"


# ---- Kubernetes version and add-on versions ---------------------------------------------------------------------

def cluster_versions(version: str, status: str | None, standard_ends_in: int = 300) -> dict[str, Any]:
    if status is None:
        return {"clusterVersions": []}
    return {"clusterVersions": [{"clusterVersion": version, "versionStatus": status,
                                 "endOfStandardSupportDate": datetime.now(UTC) + timedelta(days=standard_ends_in)}]}


@pytest.mark.parametrize(("status", "days", "result", "fragment"), [
    ("STANDARD_SUPPORT", 300, "ok", "in standard support until"),
    ("STANDARD_SUPPORT", 20, "warn", "standard support ends"),
    ("EXTENDED_SUPPORT", -20, "warn", "extended support"),
    ("UNSUPPORTED", -400, "fail", "is UNSUPPORTED by EKS"),
    (None, 0, "fail", "is not offered by EKS in us-west-2"),
])
def test_the_kubernetes_version_must_be_offered(prod: Any, status: str | None, days: int, result: str,
                                                fragment: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("eks").add_response("describe_cluster_versions", cluster_versions(prod.cluster.version, status, days),
                                   {"clusterVersions": [prod.cluster.version], "includeAll": True})
    [answer] = stubs.run("kubernetes-version")
    assert answer.status == result and fragment in answer.detail and "envstack:cluster.version" in answer.detail


def addon_answer(addon: str, versions: list[str], default: str, cluster: str) -> dict[str, Any]:
    return {"addons": [{"addonName": addon, "addonVersions": [
        {"addonVersion": v, "compatibilities": [{"clusterVersion": cluster, "defaultVersion": v == default}]}
        for v in versions]}]}


@pytest.mark.parametrize(("offered", "default", "status"), [
    ("pinned", "pinned", "ok"), ("pinned", "newer", "warn"), ("pinned", "older", "ok"), ("other", "newer", "fail")])
def test_addon_pins_must_be_offered_for_the_cluster_version(prod: Any, offered: str, default: str,
                                                            status: str) -> None:
    """A pin older than EKS's default is stale (warn, the default shown); a newer one is fine."""
    pins = prod.cluster.addon_versions.by_addon_name()
    stubs = Stubs(prod)
    for addon, pinned in pins.items():
        versions = {"pinned": [pinned, "v9.9.9-eksbuild.1", "v0.0.1-eksbuild.1"],
                    "other": ["v9.9.9-eksbuild.1"]}[offered]
        chosen = {"pinned": pinned, "newer": "v9.9.9-eksbuild.1", "older": "v0.0.1-eksbuild.1"}[default]
        stubs.stub("eks").add_response("describe_addon_versions",
                                       addon_answer(addon, versions, chosen, prod.cluster.version),
                                       {"addonName": addon, "kubernetesVersion": prod.cluster.version})
    results = stubs.run("addon-versions")
    assert statuses(results) == [status] * len(pins)
    if status != "ok":
        assert all("v9.9.9-eksbuild.1" in r.detail for r in results)  # the current default is shown
    if status == "warn":
        assert all("is stale" in r.detail for r in results)


def test_addon_versions_compare_as_numbers() -> None:
    assert addon_version_key("v1.21.1-eksbuild.3") == (1, 21, 1, 3)
    assert (1, 9, 0, 10) == addon_version_key("v1.9.0-eksbuild.10") < (1, 10, 0, 1)
    assert addon_version_key("latest") is None


def test_the_default_is_the_one_for_the_clusters_version(prod: Any) -> None:
    """A version compatible with an older cluster only is not offered, and its default flag there is not the
    default here."""
    pins = prod.cluster.addon_versions.by_addon_name()
    stubs = Stubs(prod)
    for addon, pinned in pins.items():
        stubs.stub("eks").add_response("describe_addon_versions", {"addons": [{"addonName": addon, "addonVersions": [
            {"addonVersion": "v0.0.1-eksbuild.1", "compatibilities": [{"clusterVersion": "1.20",
                                                                       "defaultVersion": True}]},
            {"addonVersion": pinned, "compatibilities": [
                {"clusterVersion": "1.20", "defaultVersion": False},
                {"clusterVersion": prod.cluster.version, "defaultVersion": True}]}]}]})
    assert statuses(stubs.run("addon-versions")) == ["ok"] * len(pins)


def test_a_pin_offered_only_for_another_kubernetes_version_fails(prod: Any) -> None:
    pins = prod.cluster.addon_versions.by_addon_name()
    stubs = Stubs(prod)
    for addon, pinned in pins.items():
        stubs.stub("eks").add_response("describe_addon_versions", {"addons": [{"addonName": addon, "addonVersions": [
            {"addonVersion": pinned, "compatibilities": [{"clusterVersion": "1.20", "defaultVersion": True}]}]}]})
    results = stubs.run("addon-versions")
    assert statuses(results) == ["fail"] * len(pins)
    assert all(f"not offered for Kubernetes {prod.cluster.version} (current default: none)" in r.detail
               for r in results)


# ---- certificate -----------------------------------------------------------------------------------------------

def certificate(status: str = "ISSUED", days: int = 200) -> dict[str, Any]:
    return {"Certificate": {"CertificateArn": "arn:aws:acm:us-west-2:111111111111:certificate/1",
                            "DomainName": "app.example.com", "Status": status,
                            "NotAfter": datetime.now(UTC) + timedelta(days=days)}}


@pytest.mark.parametrize(("answer", "status", "fragment"), [
    (certificate(), "ok", "ISSUED"),
    (certificate(days=10), "warn", "expires"),
    (certificate(status="PENDING_VALIDATION"), "fail", "PENDING_VALIDATION, not ISSUED")])
def test_the_certificate_must_be_issued_and_not_expiring(prod: Any, answer: dict[str, Any], status: str,
                                                         fragment: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("acm").add_response("describe_certificate", answer,
                                   {"CertificateArn": prod.load_balancer.certificate_arn})
    [result] = stubs.run("certificate")
    assert result.status == status and fragment in result.detail


def test_a_missing_certificate_fails_naming_it(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("acm").add_client_error("describe_certificate", "ResourceNotFoundException", "not found")
    [result] = stubs.run("certificate")
    assert result.status == "fail" and prod.load_balancer.certificate_arn in result.detail
    assert "does not exist" in result.detail and ACCOUNT in result.detail


def test_no_certificate_without_tls_is_skipped(dev: Any) -> None:
    [result] = Stubs(dev).run("certificate")
    assert result.status == "skipped" and "tls is false" in result.detail


# ---- database class and cache node type ------------------------------------------------------------------------

def orderable(cls: str, version: str = "17.4", **overrides: Any) -> dict[str, Any]:
    """One option as RDS lists it, meeting everything the database component asks unless overridden."""
    option = {"Engine": "postgres", "EngineVersion": version, "DBInstanceClass": cls, "StorageType": "gp3",
              "MultiAZCapable": True, "SupportsStorageEncryption": True, "SupportsPerformanceInsights": True,
              "SupportsEnhancedMonitoring": True, "SupportsStorageAutoscaling": True, "MinStorageSize": 20,
              "MaxStorageSize": 65536, "AvailabilityZones": [{"Name": z} for z in ZONES]}
    return {"OrderableDBInstanceOptions": [{**option, **overrides}]}


@pytest.mark.parametrize(("overrides", "status", "fragment"), [
    ({}, "ok", "with gp3, Multi-AZ"),
    ({"StorageType": "io1"}, "fail", "not orderable with gp3 storage"),
    ({"SupportsStorageEncryption": False}, "fail", "storage encryption"),
    ({"SupportsPerformanceInsights": False}, "fail", "Performance Insights"),
    ({"SupportsEnhancedMonitoring": False}, "fail", "envstack:database.monitoringIntervalSeconds"),
    ({"SupportsStorageAutoscaling": False}, "fail", "envstack:database.maxAllocatedStorageGb"),
    ({"MaxStorageSize": 64}, "fail", "100 GiB (envstack:database.allocatedStorageGb)"),
    ({"MultiAZCapable": False}, "fail", "Multi-AZ (envstack:database.multiAz)"),
    ({"AvailabilityZones": [{"Name": "us-west-2a"}, {"Name": "us-west-2d"}]}, "fail", "2 of the stack's AZs"),
])
def test_the_database_class_must_be_orderable_as_the_component_uses_it(prod: Any, overrides: dict[str, Any],
                                                                      status: str, fragment: str) -> None:
    stubs = with_zones(Stubs(prod))
    stubs.stub("rds").add_response("describe_orderable_db_instance_options",
                                   orderable(prod.database.instance_class, **overrides),
                                   {"Engine": "postgres", "DBInstanceClass": prod.database.instance_class})
    [result] = stubs.run("database-class")
    assert result.status == status and fragment in result.detail


def test_storage_autoscaling_is_asked_for_only_when_configured(prod: Any) -> None:
    cfg = prod.model_copy(update={"database": prod.database.model_copy(update={"max_allocated_storage_gb": 0})})
    stubs = with_zones(Stubs(cfg))
    stubs.stub("rds").add_response("describe_orderable_db_instance_options",
                                   orderable(cfg.database.instance_class, SupportsStorageAutoscaling=False))
    assert statuses(stubs.run("database-class")) == ["ok"]


def test_a_class_orderable_for_another_major_only_fails(prod: Any) -> None:
    stubs = Stubs(prod)
    rds = stubs.stub("rds")
    rds.add_response("describe_orderable_db_instance_options", orderable(prod.database.instance_class, "16.8"))
    rds.add_response("describe_orderable_db_instance_options", orderable("db.t4g.micro"),
                     {"Engine": "postgres", "MaxRecords": 20})
    [result] = stubs.run("database-class")
    assert result.status == "fail" and "(PostgreSQL 17) is not orderable in us-west-2" in result.detail


def test_an_exact_engine_version_is_asked_for_as_such(prod: Any) -> None:
    cfg = prod.model_copy(update={"database": prod.database.model_copy(update={"engine_version": "17.6"})})
    stubs = with_zones(Stubs(cfg))
    stubs.stub("rds").add_response("describe_orderable_db_instance_options",
                                   orderable(cfg.database.instance_class, "17.6"),
                                   {"Engine": "postgres", "DBInstanceClass": cfg.database.instance_class,
                                    "EngineVersion": "17.6"})
    assert statuses(stubs.run("database-class")) == ["ok"]


def test_an_endpoint_without_any_postgres_option_cannot_tell(prod: Any) -> None:
    stubs = Stubs(prod)
    rds = stubs.stub("rds")
    rds.add_response("describe_orderable_db_instance_options", {"OrderableDBInstanceOptions": []})
    rds.add_response("describe_orderable_db_instance_options", {"OrderableDBInstanceOptions": []})
    [result] = stubs.run("database-class")
    assert result.status == "skipped" and "no PostgreSQL option at all" in result.detail


ALL_LOGS = ["postgresql", "upgrade", "iam-db-auth-error"]


@pytest.mark.parametrize(("engine_version", "versions", "status", "fragment"), [
    ("17", {"17.5": ALL_LOGS, "17.6": ALL_LOGS, "16.9": ["postgresql", "upgrade"]}, "ok",
     "PostgreSQL 17 exports postgresql, upgrade, iam-db-auth-error in us-west-2"),
    ("17", {"17.5": ["postgresql", "upgrade"], "17.6": ["postgresql", "upgrade"]}, "fail",
     "PostgreSQL 17 cannot export iam-db-auth-error in us-west-2"),
    ("17", {"17.5": ["postgresql", "upgrade"], "17.6": ALL_LOGS}, "warn",
     "versions 17.5 cannot export iam-db-auth-error"),
    ("17.6", {"17.5": ["postgresql"], "17.6": ALL_LOGS}, "ok", "PostgreSQL 17.6 exports"),
    ("17.5", {"17.5": ["postgresql"], "17.6": ALL_LOGS}, "fail", "cannot export upgrade, iam-db-auth-error"),
    ("17", {"17.6": []}, "skipped", "lists no exportable log types for PostgreSQL 17"),
])
def test_the_postgresql_version_exports_every_log_the_database_asks_for(
        prod: Any, engine_version: str, versions: dict[str, list[str]], status: str, fragment: str) -> None:
    """RDS refuses enabledCloudwatchLogsExports naming a log its engine version cannot export (iam-db-auth-error
    arrived region by region)."""
    cfg = prod.model_copy(update={"database": prod.database.model_copy(update={"engine_version": engine_version})})
    stubs = Stubs(cfg)
    stubs.stub("rds").add_response("describe_db_engine_versions", {"DBEngineVersions": [
        {"Engine": "postgres", "EngineVersion": v, "ExportableLogTypes": logs} for v, logs in versions.items()]},
        {"Engine": "postgres"})
    [result] = stubs.run("database-log-exports")
    assert result.status == status and fragment in result.detail, result


@pytest.mark.parametrize(("versions", "status", "fragment"), [
    (["7.2", "8.0", "8.1"], "ok", "valkey 8.0 is offered in us-west-2"),
    (["7.2", "8.1"], "fail", "valkey 8.0 is not offered in us-west-2 (offered: 7.2, 8.1)"),
    ([], "skipped", "lists no valkey version at all")])
def test_the_cache_engine_version_must_be_offered(prod: Any, versions: list[str], status: str,
                                                  fragment: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("elasticache").add_response("describe_cache_engine_versions", {"CacheEngineVersions": [
        {"Engine": "valkey", "EngineVersion": v} for v in versions]}, {"Engine": "valkey"})
    [result] = stubs.run("cache-engine-version")
    assert result.status == status and fragment in result.detail


# ---- cost-allocation tag and roles -----------------------------------------------------------------------------

@pytest.mark.parametrize(("tags", "status"), [
    ([{"TagKey": "Stack", "Type": "UserDefined", "Status": "Active"}], "ok"),
    ([{"TagKey": "Stack", "Type": "UserDefined", "Status": "Inactive"}], "warn"),
    ([], "warn")])
def test_the_stack_tag_must_be_an_active_cost_allocation_tag(prod: Any, tags: list[Any], status: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("ce", "us-east-1").add_response("list_cost_allocation_tags", {"CostAllocationTags": tags},
                                               {"TagKeys": ["Stack"], "Type": "UserDefined"})
    [result] = stubs.run("cost-allocation-tag")
    assert result.status == status
    assert status == "ok" or "payer account" in result.detail


def test_a_member_account_cannot_read_cost_allocation_tags(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("ce", "us-east-1").add_client_error(
        "list_cost_allocation_tags", "AccessDeniedException",
        "Failed to list Cost Allocation Tags: Linked account doesn't have access to cost allocation tags.", 400)
    [result] = stubs.run("cost-allocation-tag")
    assert result.status == "skipped" and "member account" in result.detail and "payer account" in result.detail


def role(name: str) -> dict[str, Any]:
    return {"Role": {"Path": "/", "RoleName": name, "RoleId": "AROAEXAMPLEEXAMPLE1",
                     "Arn": f"arn:aws:iam::111111111111:role/{name}",
                     "CreateDate": datetime.now(UTC)}}


def test_every_access_entry_role_must_exist(prod: Any) -> None:
    arns = [(key, arn) for key, group in prod.cluster.access_entry_roles.items() for arn in group]
    stubs = Stubs(prod)
    iam = stubs.stub("iam")
    for i, (_, arn) in enumerate(arns):
        name = arn.rsplit("/", 1)[-1]
        if i == 0:
            iam.add_client_error("get_role", "NoSuchEntity", "no role", 404, expected_params={"RoleName": name})
        else:
            iam.add_response("get_role", role(name), {"RoleName": name})
    results = stubs.run("roles")
    assert statuses(results) == ["fail"] + ["ok"] * (len(arns) - 1)
    assert f"envstack:cluster.{arns[0][0]}" in results[0].detail and "does not exist" in results[0].detail


def test_a_role_arn_must_be_the_roles_own_path_included(prod: Any) -> None:
    """GetRole finds an IAM Identity Center role by its name; EKS refuses the ARN without its path."""
    sso = "AWSReservedSSO_Admin_0123456789abcdef"
    given = f"arn:aws:iam::{ACCOUNT}:role/{sso}"
    cfg = prod.model_copy(update={"cluster": prod.cluster.model_copy(update={
        "deployer_role_arn": given, "admin_role_arns": (), "ci_deployer_role_arns": ()})})
    stubs = Stubs(cfg)
    actual = {"Role": {**role(sso)["Role"], "Path": "/aws-reserved/sso.amazonaws.com/us-west-2/",
                       "Arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/us-west-2/{sso}"}}
    stubs.stub("iam").add_response("get_role", actual, {"RoleName": sso})
    [result] = stubs.run("roles")
    assert result.status == "fail" and given in result.detail and actual["Role"]["Arn"] in result.detail
    assert "envstack:cluster.deployerRoleArn" in result.detail


def test_roles_of_another_account_are_skipped(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.ctx.account = "222222222222"
    assert set(statuses(stubs.run("roles"))) == {"skipped"}


def caller_of(role_arn: str, session: str = "gha-run") -> str:
    """The STS ARN of a session of `role_arn` (no path: STS leaves it out)."""
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    return f"arn:aws:sts::{account}:assumed-role/{name}/{session}"


def test_the_caller_must_be_the_deployer_or_an_admin(prod: Any) -> None:
    """The creator gets no implicit cluster access: who runs `pulumi up` needs a cluster-admin access entry."""
    cluster = prod.cluster
    with_path = f"arn:aws:iam::{ACCOUNT}:role/platform/envstack-deployer"  # STS names the role without its path
    admitted = [(prod, "deployerRoleArn", cluster.deployer_role_arn),
                (prod, "adminRoleArns", cluster.admin_role_arns[0]),
                (prod.model_copy(update={"cluster": cluster.model_copy(update={"deployer_role_arn": with_path})}),
                 "deployerRoleArn", with_path)]
    for cfg, key, arn in admitted:
        stubs = Stubs(cfg)
        stubs.ctx.caller_arn = caller_of(arn)
        [result] = stubs.run("deployer")
        assert result.status == "ok" and f"envstack:cluster.{key} {arn}" in result.detail, result.detail
    refused = [caller_of(cluster.ci_deployer_role_arns[0]),  # namespaced RBAC only: cannot apply the baseline
               caller_of(cluster.deployer_role_arn.replace(ACCOUNT, "222222222222")),  # same name, other account
               f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:root"]
    for caller in refused:
        stubs = Stubs(prod)
        stubs.ctx.caller_arn = caller
        [result] = stubs.run("deployer")
        assert result.status == "fail" and caller in result.detail and "Unauthorized" in result.detail, caller


def test_without_a_deployer_role_the_creator_keeps_its_admin_entry_and_has_no_other(prod: Any) -> None:
    """A dev stack without deployerRoleArn: EKS gives whoever creates the cluster an implicit admin entry, so the
    caller passes unless an explicit entry names it too (409 ResourceInUseException)."""
    viewer = f"arn:aws:iam::{ACCOUNT}:role/envstack-dev-preview"
    cluster = prod.cluster.model_copy(update={"deployer_role_arn": None, "viewer_role_arns": (viewer,)})
    cfg = prod.model_copy(update={"cluster": cluster})
    for caller in (f"arn:aws:sts::{ACCOUNT}:assumed-role/developer/alice", f"arn:aws:iam::{ACCOUNT}:user/alice"):
        stubs = no_cluster_yet(Stubs(cfg))
        stubs.ctx.caller_arn = caller
        [result] = stubs.run("deployer")
        assert result.status == "ok" and "implicit creator entry" in result.detail, result.detail
    for key, arn in (("adminRoleArns", cluster.admin_role_arns[0]),
                     ("ciDeployerRoleArns", cluster.ci_deployer_role_arns[0]), ("viewerRoleArns", viewer)):
        stubs = no_cluster_yet(Stubs(cfg))
        stubs.ctx.caller_arn = caller_of(arn)
        [result] = stubs.run("deployer")
        assert result.status == "fail" and f"envstack:cluster.{key} {arn}" in result.detail
        assert "409" in result.detail and "name this role as deployerRoleArn" in result.detail


def no_cluster_yet(stubs: Stubs) -> Stubs:
    stubs.stub("eks").add_client_error("describe_cluster", service_error_code="ResourceNotFoundException",
                                       http_status_code=404)
    return stubs


def existing_cluster(stubs: Stubs, *principals: str) -> Stubs:
    """The stack's cluster exists, with access entries for `principals` (listed over two pages)."""
    name = stubs.ctx.cfg.name_prefix
    eks = stubs.stub("eks")
    eks.add_response("describe_cluster", {"cluster": {"name": name}}, {"name": name})
    half = len(principals) // 2
    eks.add_response("list_access_entries", {"accessEntries": list(principals[:half]), "nextToken": "2"},
                     {"clusterName": name})
    eks.add_response("list_access_entries", {"accessEntries": list(principals[half:])},
                     {"clusterName": name, "nextToken": "2"})
    return stubs


def test_without_a_deployer_role_an_existing_clusters_caller_needs_an_entry_of_its_own(prod: Any) -> None:
    """A dev cluster a developer created by hand is administered by that developer alone (EKS's implicit creator
    entry): CI's role, running the next `pulumi up`, is locked out of the Kubernetes API unless it has an entry."""
    cluster = prod.cluster.model_copy(update={"deployer_role_arn": None})
    cfg = prod.model_copy(update={"cluster": cluster})
    developer = f"arn:aws:iam::{ACCOUNT}:role/team/developer"  # the entry keeps the path STS leaves out
    ci = f"arn:aws:iam::{ACCOUNT}:role/envstack-dev-deployer"
    viewer = f"arn:aws:iam::{ACCOUNT}:role/envstack-dev-preview"
    stubs = existing_cluster(Stubs(cfg), developer, viewer)
    stubs.ctx.caller_arn = caller_of(ci)
    [locked_out] = stubs.run("deployer")
    assert locked_out.status == "warn" and "has no access entry for the caller" in locked_out.detail
    assert "adminRoleArns" in locked_out.detail and cfg.name_prefix in locked_out.detail
    stubs = existing_cluster(Stubs(cfg), developer, ci)
    stubs.ctx.caller_arn = caller_of(ci)
    assert statuses(stubs.run("deployer")) == ["ok"]
    stubs = existing_cluster(Stubs(cfg), developer, viewer)
    stubs.ctx.caller_arn = caller_of(developer)  # the creator itself
    assert statuses(stubs.run("deployer")) == ["ok"]
    # once the cluster exists, an admin listed by the stack is no 409: its entry is the stack's (or made now)
    stubs = existing_cluster(Stubs(cfg), developer)
    stubs.ctx.caller_arn = caller_of(cluster.admin_role_arns[0])
    [admin] = stubs.run("deployer")
    assert admin.status == "ok" and "made by this deploy" in admin.detail
    viewing = cfg.model_copy(update={"cluster": cluster.model_copy(update={"viewer_role_arns": (viewer,)})})
    stubs = existing_cluster(Stubs(viewing), developer, viewer)
    stubs.ctx.caller_arn = caller_of(viewer)
    [viewer_only] = stubs.run("deployer")
    assert viewer_only.status == "warn" and "gives it no cluster admin" in viewer_only.detail


def test_the_deployer_check_alone_asks_sts_who_calls(prod: Any) -> None:
    stubs = Stubs(prod)
    caller = caller_of(prod.cluster.deployer_role_arn)
    stubs.stub("sts").add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": caller, "UserId": "u"})
    assert statuses(stubs.run("deployer")) == ["ok"]


# ---- quotas ----------------------------------------------------------------------------------------------------

def quota(value: float) -> dict[str, Any]:
    return {"Quota": {"Value": value}}


def no_stack_vpc(stubs: Stubs) -> None:
    stubs.stub("ec2").add_response("describe_vpcs", {"Vpcs": []},
                                   {"Filters": [{"Name": "tag:Stack", "Values": ["prod"]}]})


@pytest.mark.parametrize(("vpcs", "limit", "status"), [(2, 5, "ok"), (5, 5, "fail")])
def test_a_new_stack_needs_room_for_a_vpc(prod: Any, vpcs: int, limit: float, status: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_vpcs", {"Vpcs": [{"VpcId": f"vpc-{i}"} for i in range(vpcs)]}, {})
    no_stack_vpc(stubs)
    stubs.stub("service-quotas").add_response("get_service_quota", quota(limit),
                                              {"ServiceCode": "vpc", "QuotaCode": "L-F678F1CE"})
    [result] = stubs.run("quota-vpcs")
    assert result.status == status and f"{vpcs} used + 1 needed" in result.detail


def test_the_vpc_quota_codes_are_service_quotas_own() -> None:
    """The codes and names against moto's copy of the Service Quotas list for the vpc service."""
    from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS

    listed = {(q["ServiceCode"], q["QuotaCode"], q["QuotaName"]) for q in VPC_DEFAULT_QUOTAS}
    assert {quotas.VPCS_PER_REGION, quotas.NAT_GATEWAYS_PER_AZ} <= listed


def test_an_unchanged_quota_falls_back_to_the_default(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_addresses", {"Addresses": [{"PublicIp": "1.2.3.4"}] * 3}, {})
    no_stack_vpc(stubs)
    quotas = stubs.stub("service-quotas")
    quotas.add_client_error("get_service_quota", "NoSuchResourceException", "never changed")
    quotas.add_response("get_aws_default_service_quota", quota(5),
                        {"ServiceCode": "ec2", "QuotaCode": "L-0263D0A3"})
    [result] = stubs.run("quota-elastic-ips")
    assert result.status == "fail" and "3 used + 3 needed > quota 5" in result.detail  # prod: a NAT per AZ


def test_an_existing_stack_needs_no_new_elastic_ip(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_addresses", {"Addresses": [{"PublicIp": "1.2.3.4"}] * 5}, {})
    stubs.stub("ec2").add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-1"}]},
                                   {"Filters": [{"Name": "tag:Stack", "Values": ["prod"]}]})
    stubs.stub("service-quotas").add_response("get_service_quota", quota(5),
                                              {"ServiceCode": "ec2", "QuotaCode": "L-0263D0A3"})
    [result] = stubs.run("quota-elastic-ips")
    assert result.status == "ok" and "5 used + 0 needed" in result.detail


def test_elastic_ips_fall_back_to_ec2s_own_limit_when_service_quotas_does_not_answer(prod: Any) -> None:
    stubs = Stubs(prod)
    ec2 = stubs.stub("ec2")
    ec2.add_response("describe_addresses", {"Addresses": [{"PublicIp": "1.2.3.4"}] * 4}, {})
    no_stack_vpc(stubs)
    stubs.stub("service-quotas").add_client_error("get_service_quota", "AccessDeniedException", "no", 403)
    ec2.add_response("describe_account_attributes", {"AccountAttributes": [
        {"AttributeName": "vpc-max-elastic-ips", "AttributeValues": [{"AttributeValue": "10"}]}]},
        {"AttributeNames": ["vpc-max-elastic-ips"]})
    [result] = stubs.run("quota-elastic-ips")
    assert result.status == "ok" and "4 used + 3 needed <= quota 10" in result.detail


@pytest.mark.parametrize(("in_busiest", "status"), [(4, "ok"), (5, "fail")])
def test_nat_gateways_per_az(prod: Any, in_busiest: int, status: str) -> None:
    stubs = Stubs(prod)
    ec2 = stubs.stub("ec2")
    no_stack_vpc(stubs)
    gateways = [{"NatGatewayId": f"nat-{i}", "SubnetId": "subnet-b"} for i in range(in_busiest)]
    ec2.add_response("describe_nat_gateways", {"NatGateways": [
        *gateways, {"NatGatewayId": "nat-a", "SubnetId": "subnet-a"}]})
    ec2.add_response("describe_subnets", {"Subnets": [{"SubnetId": "subnet-b", "AvailabilityZone": "us-west-2b"},
                                                      {"SubnetId": "subnet-a", "AvailabilityZone": "us-west-2a"}]})
    ec2.add_response("describe_availability_zones", zones_answer())
    stubs.stub("service-quotas").add_response("get_service_quota", quota(5),
                                              {"ServiceCode": "vpc", "QuotaCode": "L-FE5A380F"})
    [result] = stubs.run("quota-nat-gateways")
    assert result.status == status and "busiest: us-west-2b" in result.detail


# ---- what cannot be answered -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "http", "why"), [("NotImplemented", 501, "not supported here"),
                                                   ("AccessDeniedException", 403, "not permitted"),
                                                   ("ThrottlingException", 400, "no answer")])
def test_an_unanswered_call_is_skipped_with_its_error(prod: Any, code: str, http: int, why: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("elasticache").add_client_error("describe_reserved_cache_nodes_offerings", code, "nope", http)
    [result] = stubs.run("cache-node-type")
    assert result.status == "skipped" and result.detail.startswith(f"{why}: {code}")
    assert why != "not permitted" or "docs/preflight.md" in result.detail  # where the permissions are listed


def test_an_html_error_page_comes_down_to_its_title() -> None:
    page = "<!doctype html><html><title>404 Not Found</title><h1>Not Found</h1><p>The requested URL was not found"
    error = ClientError({"Error": {"Code": "404", "Message": page}, "ResponseMetadata": {"HTTPStatusCode": 404}},
                        "DescribeAddonVersions")
    assert unanswered(error) == "not supported here: HTTP 404 Not Found"


def test_results_before_an_unanswered_call_stand(prod: Any) -> None:
    pins = prod.cluster.addon_versions.by_addon_name()
    stubs = Stubs(prod)
    first, pinned = next(iter(pins.items()))
    eks = stubs.stub("eks")
    eks.add_response("describe_addon_versions", addon_answer(first, [pinned], pinned, prod.cluster.version))
    eks.add_client_error("describe_addon_versions", "ServerException", "boom", 500)
    assert statuses(stubs.run("addon-versions")) == ["ok", "skipped"]


def test_exit_code_fails_only_on_a_failure() -> None:
    assert preflight.exit_code([Result("a", "ok", ""), Result("b", "warn", ""), Result("c", "skipped", "")]) == 0
    assert preflight.exit_code([Result("a", "ok", ""), Result("b", "fail", "")]) == 1


# ---- the whole command -----------------------------------------------------------------------------------------

def envstack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command in process, with an AWS environment of its own (only `env`), reading the fixture stacks."""
    return command_in_process(*args, root=FIXTURES, env=env)


def test_preflight_against_moto_names_the_account_and_the_missing_certificate(moto_server: str,
                                                                           tmp_path: Path) -> None:
    report = tmp_path / "preflight.json"
    done = envstack("preflight", "prod", "--json", str(report),
                    env={**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": moto_server})
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    answers = [line.split(maxsplit=2) for line in lines if line.split()[:1] and line.split()[0] in preflight.STYLE]
    assert [name for name, _ in preflight.CHECKS] == list(dict.fromkeys(check for _, check, _ in answers))
    failed = {check: detail for status, check, detail in answers if status == "fail"}
    # What moto cannot answer is skipped, never failed; its caller is a user of another account, no cluster admin.
    assert set(failed) == {"account", "placeholders", "certificate", "deployer"}  # the stack file's example values
    assert "account 222222222222" in failed["account"] and ACCOUNT in failed["account"]
    assert "does not exist in account 222222222222" in failed["certificate"]
    assert {check for status, check, _ in answers if status == "ok"} >= {"region", "availability-zones",
                                                                         "instance-types", "quota-vpcs"}
    assert ("skipped", "addon-versions") in {(status, check) for status, check, _ in answers}  # moto lacks it
    document = json.loads(report.read_text())
    assert document["account"] == "222222222222" and document["stack"] == "prod"
    assert [(r["check"], r["status"]) for r in document["results"]] == [(c, s) for s, c, _ in answers]


def test_quiet_prints_the_problems_only(moto_server: str) -> None:
    done = envstack("preflight", "prod", "--quiet", "--check", "account", "--check", "region",
                    env={**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": moto_server})
    assert done.returncode == 1
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [["fail", "account"]]


def test_without_credentials_one_line_and_exit_2() -> None:
    done = envstack("preflight", "prod", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line]
    assert line.startswith("stack prod: no AWS credentials")


def test_a_missing_profile_is_one_line_and_exit_2() -> None:
    done = envstack("preflight", "prod", env={"AWS_PROFILE": "no-such-profile"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line]
    assert line.startswith("stack prod: no AWS credentials") and "no-such-profile" in line


def test_an_unidentified_caller_stops_the_preflight() -> None:
    """STS does not answer (here: nothing listens): nothing else is asked, exit 2."""
    done = envstack("preflight", "prod", env={**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    answers = [line.split()[:2] for line in done.stdout.splitlines() if line.split()[:1] in (["skipped"], ["fail"])]
    assert answers == [["skipped", "account"]]
    assert "could not identify the caller (STS GetCallerIdentity), so nothing else was asked" in done.stderr


def test_a_bad_stack_or_an_unknown_check_exits_2_before_any_call() -> None:
    done = envstack("preflight", "no-such-stack", env={})
    assert done.returncode == 2 and "Pulumi.no-such-stack.yaml" in done.stderr
    done = envstack("preflight", "prod", "--check", "certificates", env={})
    assert done.returncode == 2 and "no check named certificates" in done.stderr and "certificate," in done.stderr


def documented_permissions() -> set[str]:
    return documented_actions(REPO / "docs" / "preflight.md", "The permissions it needs (all read-only)")


def test_the_docs_list_every_permission_the_checks_use(moto_server: str, prod: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call the checks make against moto, as an IAM action, is in docs/preflight.md's policy (roles named in the
    caller's account so that IAM GetRole is called too)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    session, called = recording_session(REGION)
    caller_roles = prod.cluster.model_copy(update={"deployer_role_arn": "arn:aws:iam::222222222222:role/deployer"})
    ctx = Context(prod.model_copy(update={"cluster": caller_roles}), session=session)
    results = preflight.preflight(ctx)
    assert any(r.check == "roles" and r.status == "fail" and "role/deployer does not exist" in r.detail
               for r in results)
    assert {"sts:GetCallerIdentity", "ec2:DescribeRegions", "iam:GetRole", "acm:DescribeCertificate",
            "rds:DescribeOrderableDBInstanceOptions", "servicequotas:GetServiceQuota"} <= called
    assert called - documented_permissions() == set()
