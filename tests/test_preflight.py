"""`envstack preflight`: each check passing and failing against botocore's Stubber, and the whole command against
moto's server on the loopback (what moto lacks must come out as skipped, never a traceback)."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from envstack import preflight
from envstack.preflight import Context, Result, run_check
from envstack.validate import load

REPO = Path(__file__).resolve().parent.parent
REGION = "us-west-2"
ACCOUNT = "111111111111"  # Pulumi.prod.yaml's allowed account
CALLER_ARN = "arn:aws:sts::111111111111:assumed-role/deployer/session"
ZONES = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "t"}


@pytest.fixture(scope="module")
def prod() -> Any:
    return load("prod").config


@pytest.fixture(scope="module")
def dev() -> Any:
    return load("dev").config


def client(service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")


class Stubs:
    """Stubbed clients for one check run: `stub(service).add_response(...)` queues the answers, in call order."""

    def __init__(self, cfg: Any):
        self.ctx = Context(cfg, account=ACCOUNT)
        self.stubbers: list[Stubber] = []

    def stub(self, service: str, region: str = REGION) -> Stubber:
        key = f"{service}@{region}"
        if key not in self.ctx.clients:
            self.ctx.clients[key] = client(service, region)
            stubber = Stubber(self.ctx.clients[key])
            stubber.activate()
            self.stubbers.append(stubber)
        return next(s for s in self.stubbers if s.client is self.ctx.clients[key])

    def run(self, name: str) -> list[Result]:
        function = dict(preflight.CHECKS)[name]
        results = run_check(name, function, self.ctx)
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()
        return results


def statuses(results: list[Result]) -> list[str]:
    return [r.status for r in results]


def zones_answer(names: list[str] = ZONES) -> dict[str, Any]:
    return {"AvailabilityZones": [{"ZoneName": z, "ZoneType": "availability-zone", "State": "available"}
                                  for z in names]}


def with_zones(stubs: Stubs, names: list[str] = ZONES) -> Stubs:
    stubs.stub("ec2").add_response("describe_availability_zones", zones_answer(names))
    return stubs


def test_every_check_is_registered_once_account_first() -> None:
    names = [name for name, _ in preflight.CHECKS]
    assert names[0] == "account" and len(names) == len(set(names))
    assert {"availability-zones", "instance-types", "addon-versions", "certificate", "database-class",
            "cache-node-type", "cost-allocation-tag", "roles", "quota-vpcs", "quota-elastic-ips",
            "quota-nat-gateways"} <= set(names)


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

@pytest.mark.parametrize(("zones", "status"), [(ZONES, "ok"), (ZONES[:2], "fail")])
def test_the_region_needs_azcount_zones(prod: Any, zones: list[str], status: str) -> None:
    [result] = with_zones(Stubs(prod), zones).run("availability-zones")
    assert result.status == status
    assert status == "ok" or "envstack:network.azCount needs 3" in result.detail


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


# ---- add-on versions -------------------------------------------------------------------------------------------

def addon_answer(addon: str, versions: list[str], default: str) -> dict[str, Any]:
    return {"addons": [{"addonName": addon, "addonVersions": [
        {"addonVersion": v, "compatibilities": [{"clusterVersion": "1.35", "defaultVersion": v == default}]}
        for v in versions]}]}


@pytest.mark.parametrize(("offered", "default", "status"), [
    ("pinned", "pinned", "ok"), ("pinned", "newer", "warn"), ("other", "newer", "fail")])
def test_addon_pins_must_be_offered_for_the_cluster_version(prod: Any, offered: str, default: str,
                                                            status: str) -> None:
    pins = prod.cluster.addon_versions.by_addon_name()
    stubs = Stubs(prod)
    for addon, pinned in pins.items():
        versions = {"pinned": [pinned, "v9.9.9-eksbuild.1"], "other": ["v9.9.9-eksbuild.1"]}[offered]
        chosen = pinned if default == "pinned" else "v9.9.9-eksbuild.1"
        stubs.stub("eks").add_response("describe_addon_versions", addon_answer(addon, versions, chosen),
                                       {"addonName": addon, "kubernetesVersion": prod.cluster.version})
    results = stubs.run("addon-versions")
    assert statuses(results) == [status] * len(pins)
    if status != "ok":
        assert all("v9.9.9-eksbuild.1" in r.detail for r in results)  # the current default is shown


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


def test_a_certificate_of_another_region_fails_without_a_call(prod: Any) -> None:
    cfg = prod.model_copy(update={"load_balancer": prod.load_balancer.model_copy(update={
        "certificate_arn": prod.load_balancer.certificate_arn.replace(REGION, "us-east-1")})})
    [result] = Stubs(cfg).run("certificate")
    assert result.status == "fail" and "us-east-1" in result.detail and "its own region" in result.detail


def test_no_certificate_without_tls_is_skipped(dev: Any) -> None:
    [result] = Stubs(dev).run("certificate")
    assert result.status == "skipped" and "tls is false" in result.detail


# ---- database class and cache node type ------------------------------------------------------------------------

def orderable(cls: str, version: str, storage: str = "gp3", multi_az: bool = True) -> dict[str, Any]:
    return {"OrderableDBInstanceOptions": [{"Engine": "postgres", "EngineVersion": version, "DBInstanceClass": cls,
                                            "StorageType": storage, "MultiAZCapable": multi_az}]}


@pytest.mark.parametrize(("answer", "status", "fragment"), [
    (lambda c: orderable(c, "17.4"), "ok", "gp3, Multi-AZ"),
    (lambda c: orderable(c, "16.8"), "fail", "not orderable"),
    (lambda c: orderable(c, "17.4", storage="io1"), "fail", "gp3"),
    (lambda c: orderable(c, "17.4", multi_az=False), "fail", "Multi-AZ"),
])
def test_the_database_class_must_be_orderable(prod: Any, answer: Any, status: str, fragment: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("rds").add_response("describe_orderable_db_instance_options", answer(prod.database.instance_class),
                                   {"Engine": "postgres", "DBInstanceClass": prod.database.instance_class})
    [result] = stubs.run("database-class")
    assert result.status == status and fragment in result.detail


@pytest.mark.parametrize(("offers", "status"), [(1, "ok"), (0, "fail")])
def test_the_cache_node_type_must_be_offered(prod: Any, offers: int, status: str) -> None:
    stubs = Stubs(prod)
    answer = {"ReservedCacheNodesOfferings": [{"CacheNodeType": prod.cache.node_type}] * offers}
    stubs.stub("elasticache").add_response("describe_reserved_cache_nodes_offerings", answer,
                                           {"CacheNodeType": prod.cache.node_type, "MaxRecords": 20})
    [result] = stubs.run("cache-node-type")
    assert result.status == status and prod.cache.node_type in result.detail


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


def test_roles_of_another_account_are_skipped(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.ctx.account = "222222222222"
    assert set(statuses(stubs.run("roles"))) == {"skipped"}


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
                                                   ("AccessDeniedException", 403, "no answer")])
def test_an_unanswered_call_is_skipped_with_its_error(prod: Any, code: str, http: int, why: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("elasticache").add_client_error("describe_reserved_cache_nodes_offerings", code, "nope", http)
    [result] = stubs.run("cache-node-type")
    assert result.status == "skipped" and why in result.detail and code in result.detail


def test_results_before_an_unanswered_call_stand(prod: Any) -> None:
    pins = prod.cluster.addon_versions.by_addon_name()
    stubs = Stubs(prod)
    first, pinned = next(iter(pins.items()))
    eks = stubs.stub("eks")
    eks.add_response("describe_addon_versions", addon_answer(first, [pinned], pinned))
    eks.add_client_error("describe_addon_versions", "ServerException", "boom", 500)
    assert statuses(stubs.run("addon-versions")) == ["ok", "skipped"]


def test_exit_code_fails_only_on_a_failure() -> None:
    assert preflight.exit_code([Result("a", "ok", ""), Result("b", "warn", ""), Result("c", "skipped", "")]) == 0
    assert preflight.exit_code([Result("a", "ok", ""), Result("b", "fail", "")]) == 1


# ---- the whole command -----------------------------------------------------------------------------------------

def envstack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run([sys.executable, "-m", "envstack.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**clean, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                               "AWS_EC2_METADATA_DISABLED": "true", "NO_COLOR": "1", **env}, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's server on the loopback, answering as account 222222222222 (not prod's allowed account)."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "MOTO_ACCOUNT_ID": "222222222222"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("moto_server did not start on 127.0.0.1")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_preflight_against_moto_names_the_account_and_the_missing_certificate(moto_server: str) -> None:
    done = envstack("preflight", "prod", env={**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": moto_server})
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    ran = {line.split()[1] for line in lines if line.split()[:1] and line.split()[0] in preflight.STYLE}
    assert ran == {name for name, _ in preflight.CHECKS}  # every check ran and said so
    assert any(line.startswith("fail") and "account 222222222222" in line and ACCOUNT in line for line in lines)
    assert any(line.startswith("fail") and "certificate" in line and "does not exist" in line for line in lines)
    assert any(line.startswith("ok") and "availability-zones" in line for line in lines)
    assert any(line.startswith("skipped") and "addon-versions" in line for line in lines)  # moto lacks EKS's call


def test_without_credentials_one_line_and_exit_2() -> None:
    done = envstack("preflight", "prod", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line] == [
        line for line in done.stderr.splitlines() if "no AWS credentials" in line]


def test_a_bad_stack_exits_2_before_any_call() -> None:
    done = envstack("preflight", "no-such-stack", env={})
    assert done.returncode == 2 and "Pulumi.no-such-stack.yaml" in done.stderr
