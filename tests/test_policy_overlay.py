"""Per-stack tightening end to end: a stack file's envstack:policy, `envstack policy-config` (what CI passes to
`pulumi --policy-pack-config`) and `envstack synth`, on a stack file written here (no committed stack needed)."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli as run

from envstack import cli

REPO = Path(__file__).resolve().parent.parent
PROD = {
    "aws:region": "us-west-2", "envstack:environment": "prod", "envstack:owner": "platform@example.com",
    "envstack:team": "platform", "envstack:repository": "github.com/example/envstack",
    "envstack:allowedAccountIds": ["111111111111"],
    "envstack:monitoring": {"notificationEmails": ["oncall@acme-corp.io"]},
    "envstack:loadBalancer": {
        "certificateArn": "arn:aws:acm:us-west-2:111111111111:certificate/00000000-0000-4000-8000-000000000002"},
    "envstack:cluster": {"deployerRoleArn": "arn:aws:iam::111111111111:role/envstack-deployer",
                         "apiAccessCidrs": ["10.2.250.0/24"]},
}


@pytest.fixture
def stack_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write Pulumi.tight.yaml (a prod stack) with this envstack:policy into a copy of the program."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.setattr(cli, "ROOT", tmp_path)

    def write(policy: dict[str, Any]) -> str:
        config = {**PROD, **({"envstack:policy": policy} if policy else {})}
        (tmp_path / "Pulumi.tight.yaml").write_text(yaml.safe_dump({"config": config}))
        return "tight"

    return write


def test_policy_config_is_the_environments_file_without_an_overlay(capsys, stack_with) -> None:
    code, out, _ = run(capsys, "policy-config", stack_with({}))
    assert code == 0 and json.loads(out) == json.loads((REPO / "policies" / "prod.json").read_text())


def test_policy_config_writes_the_tightened_configuration(capsys, stack_with, tmp_path) -> None:
    stack = stack_with({"rds-backup-retention": {"minimumDays": 35},
                        "required-tags": {"requiredTags": ["Project", "Environment", "Stack", "Owner", "Team",
                                                           "ManagedBy", "CostCenter"]}})
    code, _, err = run(capsys, "policy-config", stack, "--output", str(tmp_path / "out" / "policy.json"))
    assert code == 0, err
    written = json.loads((tmp_path / "out" / "policy.json").read_text())
    assert written["rds-backup-retention"] == {"enforcementLevel": "mandatory", "minimumDays": 35}
    assert "CostCenter" in written["required-tags"]["requiredTags"]


def test_relaxing_is_refused_naming_the_stack_and_the_rule(capsys, stack_with) -> None:
    code, out, err = run(capsys, "policy-config", stack_with({"rds-multi-az": "advisory"}))
    assert code == 2 and out == ""
    assert err.strip() == ("stack tight: envstack:policy may only tighten its environment's; it relaxes rds-multi-az "
                           "(mandatory -> advisory)")


def test_synth_gates_with_the_tightened_configuration(capsys, stack_with) -> None:
    """A stricter option the program does not meet is a mandatory violation; a relaxation stops synth (exit 2)."""
    code, out, err = run(capsys, "synth", stack_with({"required-tags": {"requiredTags": [
        "Project", "Environment", "Stack", "Owner", "Team", "ManagedBy", "CostCenter"]}}))
    assert code == 1, err
    assert "[mandatory] required-tags" in out and "missing tags: CostCenter" in out
    code, _, err = run(capsys, "synth", stack_with({"log-group-retention": {"minimumDays": 30}}), "-q")
    assert code == 2
    assert "it relaxes log-group-retention.minimumDays (90 -> 30: must be no lower)" in err


def test_a_misshapen_overlay_is_a_configuration_error(capsys, stack_with) -> None:
    code, _, err = run(capsys, "validate", stack_with({"rds-multi-az": "sometimes"}))
    assert code == 2 and "envstack:policy.rds-multi-az" in err


@pytest.mark.parametrize("relaxed", [{"all": "disabled"}, {"all": "advisory"},
                                     {"all": "mandatory", "alb-two-availability-zones": "advisory"}])
def test_an_environment_file_that_relaxes_a_deployability_rule_is_never_handed_to_the_engine(
        capsys, stack_with, tmp_path, monkeypatch, relaxed) -> None:
    """`envstack policy-config` refuses it even with no stack overlay (what CI passes to --policy-pack-config)."""
    from envstack.tools import policy_config

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "prod.json").write_text(json.dumps(relaxed))
    monkeypatch.setattr(policy_config, "POLICY_DIR", policies)
    stack = stack_with({})
    for argv in (("policy-config", stack), ("synth", stack, "-q")):
        code, out, err = run(capsys, *argv)
        assert code == 2 and not out.strip().startswith("{"), argv
        assert "deployability rules" in err and "alb-two-availability-zones" in err
