"""The pack as the Pulumi engine sees it: the analyzer service in process, and a copy of `policies/` alone started
the way the engine starts it and driven over the Analyzer gRPC protocol with Pulumi's generated stubs."""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policies.pack import DESCRIPTION, NAME, all_policies, analyzer, version
from policies.rules import DEPLOYABILITY
from policies.rules.base import merged_config

REPO = Path(__file__).resolve().parents[2]
POLICIES_DIR = REPO / "policies"
RDS = "aws:rds/instance:Instance"
ALB = "aws:lb/loadBalancer:LoadBalancer"
TAGS = {"Project": "envstack", "Environment": "prod", "Stack": "prod", "ManagedBy": "pulumi", "Owner": "o",
        "Team": "t"}
LEVELS = {"mandatory": proto.MANDATORY, "advisory": proto.ADVISORY, "disabled": proto.DISABLED,
          "remediate": proto.REMEDIATE}
Diagnostic = tuple[str, int, str]


def configure_request(cfg: Mapping[str, Any]) -> proto.ConfigureAnalyzerRequest:
    """What the CLI sends for --policy-pack-config (and Pulumi Cloud for a policy group's configuration): every rule
    with its level (its own entry, else "all", else its default) and its options, schema defaults applied."""
    request = proto.ConfigureAnalyzerRequest()
    for policy in all_policies():
        entry = cfg.get(policy.name, cfg.get("all"))
        options = dict(entry) if isinstance(entry, dict) else {"enforcementLevel": entry}
        level = options.pop("enforcementLevel", None) or cfg.get("all") or policy.enforcement_level.value
        request.policyConfig[policy.name].enforcementLevel = LEVELS[level]
        request.policyConfig[policy.name].properties.update(merged_config(policy, options))
    return request


def env_config(env: str) -> dict[str, Any]:
    return json.loads((POLICIES_DIR / f"{env}.json").read_text())


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def analyze_request(type_: str, props: dict[str, Any], name: str = "r") -> proto.AnalyzeRequest:
    provider = struct({"region": "us-west-2", "defaultTags": json.dumps({"tags": TAGS})})  # JSON-encoded, as sent
    return proto.AnalyzeRequest(type=type_, properties=struct(props), urn=f"urn:pulumi:prod::envstack::{type_}::{name}",
                                name=name, options=proto.AnalyzerResourceOptions(protect=True),
                                provider=proto.AnalyzerProviderResource(type="pulumi:providers:aws",
                                                                        properties=provider, urn="p", name="aws"))


def diagnostics(response: proto.AnalyzeResponse) -> list[Diagnostic]:
    return [(d.policyName, d.enforcementLevel, d.message) for d in response.diagnostics]


def analyze(cfg: Mapping[str, Any], type_: str, props: dict[str, Any]) -> list[Diagnostic]:
    service = analyzer()
    service.Configure(configure_request(cfg), None)
    return diagnostics(service.Analyze(analyze_request(type_, props), None))


def test_analyzer_info_lists_every_policy_with_schema_and_the_version() -> None:
    info = analyzer().GetAnalyzerInfo(None, None)
    assert (info.name, info.version, info.description) == (NAME, version(), DESCRIPTION)
    assert [p.name for p in info.policies] == [p.name for p in all_policies()]
    schema = next(p for p in info.policies if p.name == "rds-backup-retention").configSchema
    assert json_format.MessageToDict(schema.properties)["minimumDays"]["default"] == 30
    assert {p.name for p in info.policies if p.enforcementLevel == proto.MANDATORY} >= DEPLOYABILITY


def test_real_server_path_reports_mandatory_violation() -> None:
    rds = {"engine": "postgres", "multiAz": False, "backupRetentionPeriod": 30, "storageEncrypted": True,
           "kmsKeyId": "arn:aws:kms:us-west-2:1:key/1"}
    found = analyze(env_config("prod"), RDS, rds)
    multi_az = [d for d in found if d[0] == "rds-multi-az"]
    assert multi_az and multi_az[0][1] == proto.MANDATORY and "multiAz is not true" in multi_az[0][2]
    assert not [d for d in found if d[0] in ("rds-backup-retention", "rds-storage-encrypted", "required-tags",
                                             "protect-stateful-resources")]


def test_real_server_path_turns_unknowns_into_advisory_notes() -> None:
    from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

    rds = {"engine": "postgres", "multiAz": True, "backupRetentionPeriod": UNKNOWN_NUMBER_VALUE,
           "storageEncrypted": True, "kmsKeyId": UNKNOWN_STRING_VALUE}
    found = {d[0]: d for d in analyze(env_config("prod"), RDS, rds)}
    assert found["rds-backup-retention"][1] == proto.ADVISORY
    assert "during preview" in found["rds-backup-retention"][2]
    assert "rds-storage-encrypted" not in found and "rds-multi-az" not in found


def test_dev_config_is_advisory_on_the_server_path() -> None:
    found = analyze(env_config("dev"), RDS, {"engine": "postgres", "multiAz": False})
    assert found and {level for _, level, _ in found} == {proto.ADVISORY}


@pytest.mark.parametrize("cfg", [{"all": "disabled"}, {"all": "advisory"},
                                 {"all": "mandatory", "alb-two-availability-zones": "disabled"},
                                 {"alb-two-availability-zones": {"enforcementLevel": "advisory"}}])
def test_a_deployability_rule_stays_mandatory_whatever_the_engine_configures(cfg: dict[str, Any]) -> None:
    """Pulumi Cloud (a policy group's configuration) or the CLI may send any level; the pack still refuses."""
    found = analyze(cfg, ALB, {"loadBalancerType": "application", "subnets": ["subnet-a"]})
    assert ("alb-two-availability-zones", proto.MANDATORY) in {(name, level) for name, level, _ in found}
    if cfg.get("all") == "disabled":
        assert {name for name, _, _ in found} <= DEPLOYABILITY  # the other rules are off as configured


# ---- a copy of policies/ alone, started as the engine starts it ------------------------------------------------


def isolated_env() -> dict[str, str]:
    """A fresh interpreter of this venv without its site processing (`-S`): only site-packages on the path, so the
    editable install's .pth naming this repository is never read."""
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": sysconfig.get_paths()["purelib"],
            "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def test_the_isolated_interpreter_cannot_see_this_repository(tmp_path: Path) -> None:
    probe = subprocess.run([sys.executable, "-S", "-c", "import sys, pulumi_policy, policies; print(sys.path)"],
                           cwd=tmp_path, env=isolated_env(), capture_output=True, text=True)
    assert "No module named 'policies'" in probe.stderr
    assert str(REPO) not in probe.stderr


@pytest.fixture(scope="module")
def pack_copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """policies/ copied alone into a directory named like an installed version, run as the python language host
    runs a policy pack: `python -u -m pulumi.policy <engine address> <pack directory>` in the pack's directory
    (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go RunPlugin, kind analyzer; pulumi.policy's
    __main__ then runpy.run_path()s the directory), its port read from its first line of output."""
    root = tmp_path_factory.mktemp("installed")
    copy = root / f"envstack-{version()}"
    shutil.copytree(POLICIES_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    process = subprocess.Popen([sys.executable, "-S", "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(copy)],
                               cwd=copy, env=isolated_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait()


def test_copy_describes_itself_over_grpc(pack_copy: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = pack_copy.GetAnalyzerInfo(empty_pb2.Empty())
    assert (info.name, info.version) == (NAME, version())
    assert [p.name for p in info.policies] == [p.name for p in all_policies()]


def test_copy_refuses_over_grpc_with_prod_configuration(pack_copy: analyzer_pb2_grpc.AnalyzerStub) -> None:
    pack_copy.Configure(configure_request(env_config("prod")))
    found = diagnostics(pack_copy.Analyze(analyze_request(RDS, {"engine": "postgres", "multiAz": False})))
    assert ("rds-multi-az", proto.MANDATORY) in {(name, level) for name, level, _ in found}


def test_copy_keeps_deployability_mandatory_over_grpc(pack_copy: analyzer_pb2_grpc.AnalyzerStub) -> None:
    pack_copy.Configure(configure_request({"all": "disabled"}))
    one_az = diagnostics(pack_copy.Analyze(analyze_request(ALB, {"subnets": ["subnet-a"]})))
    assert [(name, level) for name, level, _ in one_az] == [("alb-two-availability-zones", proto.MANDATORY)]
    group = proto.AnalyzerResource(type="aws:elasticache/userGroup:UserGroup", name="users",
                                   urn="urn:pulumi:prod::envstack::aws:elasticache/userGroup:UserGroup::users",
                                   properties=struct({"userGroupId": "users", "engine": "redis", "userIds": ["app"]}))
    user = proto.AnalyzerResource(type="aws:elasticache/user:User", name="app",
                                  urn="urn:pulumi:prod::envstack::aws:elasticache/user:User::app",
                                  properties=struct({"userId": "app", "userName": "app", "engine": "redis"}))
    stack = diagnostics(pack_copy.AnalyzeStack(proto.AnalyzeStackRequest(resources=[group, user])))
    assert [(name, level) for name, level, _ in stack] == [("cache-user-group-default-user", proto.MANDATORY)]


# ---- what publishing needs ---------------------------------------------------------------------------------------


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def test_requirements_pin_what_the_lockfile_pins() -> None:
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+)$", (POLICIES_DIR / "requirements.txt").read_text(), re.M))
    assert {"pulumi", "pulumi-policy"} <= pins.keys()
    locked = locked_versions()
    assert {name: locked[name] for name in pins} == pins


def test_pulumi_policy_yaml_has_a_version_and_the_uv_toolchain() -> None:
    meta = yaml.safe_load((POLICIES_DIR / "PulumiPolicy.yaml").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(meta["version"]))
    assert meta["runtime"] == {"name": "python", "options": {"toolchain": "uv"}}
    assert meta["description"]
