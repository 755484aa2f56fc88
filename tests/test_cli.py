"""`envstack synth`: summary, JSON format and exit codes."""

import json
import shutil
from pathlib import Path

import pytest

from envstack import cli
from envstack import synth as synth_module

REPO = Path(__file__).resolve().parent.parent


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_synth_prod_writes_the_documented_json(capsys, tmp_path):
    out = tmp_path / "prod.json"
    code, stdout, _ = run(capsys, "synth", "prod", "--json", str(out))
    assert code == 0
    assert "network  [envstack:network:Network]" in stdout and "9  aws:ec2/subnet:Subnet" in stdout
    document = json.loads(out.read_text())
    assert {"stack", "environment", "resources", "outputs", "warnings"} <= set(document)
    assert document["stack"] == "prod" and document["environment"] == "prod"
    for resource in document["resources"]:
        assert {"urn", "type", "name", "parent", "dependencies", "protect", "inputs"} <= set(resource)
    nats = [r for r in document["resources"] if r["type"] == "aws:ec2/natGateway:NatGateway"]
    assert len(nats) == 3
    subnet = next(r for r in document["resources"] if r["type"] == "aws:ec2/subnet:Subnet")
    assert subnet["parent"].endswith("envstack:network:Network::network")
    assert any(dep.endswith("aws:ec2/vpc:Vpc::network-vpc") for dep in subnet["dependencies"])


@pytest.fixture
def scratch_repo(tmp_path, monkeypatch):
    """A copy of the project's program and stack files, so a test can write a broken stack file."""
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    original = synth_module.synthesize
    monkeypatch.setattr(cli, "synthesize", lambda stack: original(stack, root=tmp_path))
    return tmp_path


@pytest.mark.parametrize(("edit", "key"), [
    (("envstack:environment: prod", "envstack:environment: prod\n  envstack:network:\n    cidr: 10.2.0.0/8"),
     "envstack:network.cidr"),
    (("envstack:environment: prod", "envstack:environment: prod\n  envstack:netwerk:\n    azCount: 3"),
     "envstack:netwerk"),
    (("envstack:environment: prod", "envstack:environment: prod\n  envstack:network:\n    azCount: 2"),
     "envstack:network.azCount"),
    # A private-only API nobody can reach, and a role given two access entries (EKS answers 409).
    (("apiAccessCidrs: [10.250.0.0/24]", "apiAccessCidrs: []"), "envstack:cluster.apiAccessCidrs"),
    (("ciDeployerRoleArns: [arn:aws:iam::111111111111:role/github-actions-deployer]",
      "ciDeployerRoleArns: [arn:aws:iam::111111111111:role/platform-admin]"), "envstack:cluster.ciDeployerRoleArns"),
    (("envstack:environment: prod", "envstack:environment: prod\n  envstack:network:\n    azCount: 1"),
     "envstack:network.azCount"),
])
def test_bad_stack_file_exits_2_naming_the_key_without_traceback(capsys, scratch_repo, edit, key):
    path = scratch_repo / "Pulumi.prod.yaml"
    original = path.read_text()
    assert edit[0] in original
    path.write_text(original.replace(*edit))
    code, stdout, stderr = run(capsys, "synth", "prod")
    assert code == 2
    assert f"stack prod: {key} = " in stderr
    assert "Traceback" not in stderr + stdout


def test_unknown_stack_exits_2(capsys):
    code, _, stderr = run(capsys, "synth", "nope")
    assert code == 2 and "Pulumi.nope.yaml" in stderr


def test_the_installed_command_runs(tmp_path):
    import subprocess

    envstack = shutil.which("envstack") or str(REPO / ".venv/bin/envstack")
    result = subprocess.run([envstack, "synth", "dev", "--json", str(tmp_path / "dev.json")],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "dev.json").read_text())["environment"] == "dev"


def test_synth_reports_policy_results_in_json(capsys, tmp_path):
    out = tmp_path / "prod.json"
    code, stdout, _ = run(capsys, "synth", "prod", "--json", str(out))
    policy = json.loads(out.read_text())["policy"]
    assert policy["environment"] == "prod" and policy["rules_evaluated"] >= 30
    assert not [v for v in policy["violations"] if v["level"] == "mandatory"]
    assert code == 0 and "policy (prod configuration)" in stdout


def test_dev_checked_against_prod_gate_exits_1_and_names_the_rules(capsys, tmp_path):
    out = tmp_path / "dev.json"
    code, stdout, _ = run(capsys, "synth", "dev", "--enforce", "prod", "--json", str(out))
    assert code == 1
    violations = json.loads(out.read_text())["policy"]["violations"]
    broken = {v["policy"] for v in violations if v["level"] == "mandatory"}
    assert "log-group-retention" in broken
    assert all(v["urn"] is None or v["urn"].startswith("urn:pulumi:dev::") for v in violations)
    assert "[mandatory] log-group-retention" in stdout


def test_dev_against_its_own_advisory_gate_exits_0(capsys):
    code, _, _ = run(capsys, "synth", "dev")
    assert code == 0


def test_a_broken_policy_configuration_exits_2(capsys, monkeypatch, tmp_path):
    from envstack import policy_gate

    (tmp_path / "prod.json").write_text('{"no-such-rule": "mandatory"}')
    monkeypatch.setattr(policy_gate, "POLICY_DIR", tmp_path)
    code, _, stderr = run(capsys, "synth", "prod")
    assert code == 2 and "no-such-rule" in stderr


def test_the_json_is_deterministic(capsys, tmp_path):
    """Registrations arrive from several threads; the JSON must not depend on their order."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for path in (first, second):
        assert run(capsys, "synth", "staging", "--json", str(path))[0] == 0
    assert first.read_text() == second.read_text()
