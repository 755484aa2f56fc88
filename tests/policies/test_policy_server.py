"""The pack as the Pulumi CLI sees it: the SDK's analyzer service (without its gRPC server) and `__main__.py`."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from policies.pack import DESCRIPTION, ENFORCEMENT_LEVEL, NAME, all_policies
from policies.rules.base import merged_config

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
RDS = "aws:rds/instance:Instance"
TAGS = {"Project": "envstack", "Environment": "prod", "Stack": "prod", "ManagedBy": "pulumi", "Owner": "o",
        "Team": "t"}


def servicer(env: str) -> _PolicyAnalyzerServicer:
    service = _PolicyAnalyzerServicer(NAME, "0.0.1", all_policies(), ENFORCEMENT_LEVEL, None, DESCRIPTION)
    # What the CLI sends for --policy-pack-config: a level and the options per rule (schema defaults applied).
    levels = {"mandatory": proto.MANDATORY, "advisory": proto.ADVISORY, "disabled": proto.DISABLED}
    cfg = json.loads((POLICIES_DIR / f"{env}.json").read_text())
    request = proto.ConfigureAnalyzerRequest()
    for policy in all_policies():
        entry = cfg.get(policy.name, cfg["all"])
        options = dict(entry) if isinstance(entry, dict) else {"enforcementLevel": entry}
        level = options.pop("enforcementLevel", cfg["all"])
        request.policyConfig[policy.name].enforcementLevel = levels[level]
        request.policyConfig[policy.name].properties.update(merged_config(policy, options))
    service.Configure(request, None)
    return service


def analyze(service: _PolicyAnalyzerServicer, type_: str, props: dict[str, Any]) -> list[tuple[str, int, str]]:
    properties = struct_pb2.Struct()
    properties.update(props)
    provider = struct_pb2.Struct()
    provider.update({"region": "us-west-2", "defaultTags": json.dumps({"tags": TAGS})})  # JSON-encoded, as sent
    request = proto.AnalyzeRequest(type=type_, properties=properties, urn=f"urn:pulumi:prod::envstack::{type_}::r",
                                   name="r", options=proto.AnalyzerResourceOptions(protect=True),
                                   provider=proto.AnalyzerProviderResource(type="pulumi:providers:aws",
                                                                           properties=provider, urn="p", name="aws"))
    response = service.Analyze(request, None)
    return [(d.policyName, d.enforcementLevel, d.message) for d in response.diagnostics]


def test_analyzer_info_lists_every_policy_with_schema() -> None:
    info = _PolicyAnalyzerServicer(NAME, "0.0.1", all_policies(), ENFORCEMENT_LEVEL).GetAnalyzerInfo(None, None)
    assert [p.name for p in info.policies] == [p.name for p in all_policies()]
    schema = next(p for p in info.policies if p.name == "rds-backup-retention").configSchema
    assert json_format.MessageToDict(schema.properties)["minimumDays"]["default"] == 30


def test_real_server_path_reports_mandatory_violation() -> None:
    rds = {"engine": "postgres", "multiAz": False, "backupRetentionPeriod": 30, "storageEncrypted": True,
           "kmsKeyId": "arn:aws:kms:us-west-2:1:key/1"}
    found = analyze(servicer("prod"), RDS, rds)
    multi_az = [d for d in found if d[0] == "rds-multi-az"]
    assert multi_az and multi_az[0][1] == proto.MANDATORY and "multiAz is not true" in multi_az[0][2]
    assert not [d for d in found if d[0] in ("rds-backup-retention", "rds-storage-encrypted", "required-tags",
                                             "protect-stateful-resources")]


def test_real_server_path_turns_unknowns_into_advisory_notes() -> None:
    rds = {"engine": "postgres", "multiAz": True, "backupRetentionPeriod": UNKNOWN_NUMBER_VALUE,
           "storageEncrypted": True, "kmsKeyId": UNKNOWN_STRING_VALUE}
    found = {d[0]: d for d in analyze(servicer("prod"), RDS, rds)}
    assert found["rds-backup-retention"][1] == proto.ADVISORY
    assert "during preview" in found["rds-backup-retention"][2]
    assert "rds-storage-encrypted" not in found and "rds-multi-az" not in found


def test_dev_config_is_advisory_on_the_server_path() -> None:
    found = analyze(servicer("dev"), RDS, {"engine": "postgres", "multiAz": False})
    assert found and {level for _, level, _ in found} == {proto.ADVISORY}


@pytest.mark.skipif(sys.platform == "win32", reason="posix process handling")
def test_main_starts_the_policy_server() -> None:
    """`__main__.py` (as the CLI runs it from the pack directory) builds the pack and prints its port."""
    process = subprocess.Popen([sys.executable, "__main__.py"], cwd=POLICIES_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None and process.stderr is not None
        port = process.stdout.readline().decode().strip()
        assert port.isdigit(), process.stderr.read().decode() if process.poll() is not None else port
    finally:
        process.kill()
        process.wait()


def test_enforcement_level_default_is_advisory() -> None:
    assert ENFORCEMENT_LEVEL == EnforcementLevel.ADVISORY
