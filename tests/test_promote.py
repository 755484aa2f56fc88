"""`envstack promote`: allowed paths only, the source's deployment record (SSM, emulated by moto) and the checkout."""

import json
import subprocess

import boto3
import pytest
from conftest import synth
from moto import mock_aws

from envstack import check_outputs, cli, promote
from envstack.deployment import DeploymentRecord, parameter_name

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98"
REGION = "us-west-2"  # every committed stack file's aws:region


@pytest.fixture
def ssm(monkeypatch):
    """An SSM emulated in-process by moto (no network); fake credentials so nothing real is ever reached."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name=REGION)


def put_record(client, stack: str, commit: str = SHA, **fields) -> None:
    record = DeploymentRecord(stack=stack, environment=stack, commit=commit, branch="main",
                              deployed_by="octocat", **fields)
    client.put_parameter(Name=parameter_name(stack), Type="String", Value=record.to_json(), Overwrite=True)


@pytest.fixture
def head(monkeypatch):
    """The checkout's commit, as `git rev-parse HEAD` would answer (set per test)."""
    commit = {"sha": SHA}
    monkeypatch.setattr(promote, "head_commit", lambda: commit["sha"])
    return commit


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["promote", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("source", "target"), [
    ("dev", "prod"), ("staging", "dev"), ("prod", "dev"), ("dev", "dev"), ("staging", "staging"), ("prod", "prod"),
])
def test_paths_outside_the_promotion_order_are_refused_in_one_line(capsys, ssm, head, source, target):
    put_record(ssm, source)  # even a perfectly good record does not open a forbidden path
    code, out, err = run(capsys, source, target)
    assert code == 1
    assert err.strip().count("\n") == 0
    assert f"promotion {source}->{target} is not allowed" in err
    assert "dev->staging, staging->prod, prod->staging" in err
    assert "pulumi" not in out


@pytest.mark.parametrize(("source", "target"), [("nope", "staging"), ("dev", "qa")])
def test_unknown_stack_is_bad_input(capsys, source, target):
    code, _, err = run(capsys, source, target)
    assert code == 2
    assert "unknown stack" in err and "Traceback" not in err


def test_missing_record_is_refused(capsys, ssm, head):
    code, out, err = run(capsys, "dev", "staging")
    assert code == 1
    assert f"no deployment record {parameter_name('dev')} in {REGION}" in err
    assert out == ""


def test_record_is_read_in_the_source_stacks_region(capsys, ssm, head):
    put_record(boto3.client("ssm", region_name="eu-west-1"), "dev")
    code, _, err = run(capsys, "dev", "staging")
    assert code == 1 and "no deployment record" in err


@pytest.mark.parametrize(("value", "expected"), [
    ("not json", "is not a valid record"),
    (json.dumps({"commit": SHA}), "is not a valid record"),
    (DeploymentRecord(stack="dev", environment="dev").to_json(), "runs a local deploy"),
])
def test_unusable_record_is_refused(capsys, ssm, head, value, expected):
    ssm.put_parameter(Name=parameter_name("dev"), Type="String", Value=value)
    code, _, err = run(capsys, "dev", "staging")
    assert code == 1 and expected in err


def test_commit_mismatch_names_the_checkout_to_make(capsys, ssm, head):
    put_record(ssm, "staging", commit=OTHER_SHA)
    code, out, err = run(capsys, "staging", "prod")
    assert code == 1
    assert f"staging runs {OTHER_SHA} but this checkout is {SHA}" in err
    assert f"`git checkout {OTHER_SHA}`" in err
    assert out == ""


@pytest.mark.parametrize(("source", "target", "kind"), [
    ("dev", "staging", "promotion"), ("staging", "prod", "promotion"), ("prod", "staging", "rollback"),
])
def test_allowed_path_prints_preview_and_up_with_the_policy_pack(capsys, ssm, head, source, target, kind):
    put_record(ssm, source, commit=OTHER_SHA)
    head["sha"] = OTHER_SHA
    code, out, err = run(capsys, source, target)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{kind} {source} -> {target}: {target} gets commit {OTHER_SHA}")
    policy = f"--policy-pack policies --policy-pack-config policies/{target}.json"
    env = f"GITHUB_SHA={OTHER_SHA} ENVSTACK_PROMOTED_FROM={source}"
    assert lines[1].strip() == f"{env} pulumi preview -s {target} {policy}"
    assert lines[2].strip() == f"{env} pulumi up -s {target} {policy}"


def test_yes_is_passed_to_up_only(capsys, ssm, head):
    put_record(ssm, "dev")
    _, out, _ = run(capsys, "dev", "staging", "--yes")
    preview, up = out.splitlines()[1:3]
    assert "--yes" not in preview and up.endswith("--yes")


def test_run_executes_preview_then_up_with_the_record_environment(capsys, ssm, head, monkeypatch):
    put_record(ssm, "dev")
    calls = []

    def fake_run(argv, cwd, env, check):
        calls.append((argv, env))
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(promote.subprocess, "run", fake_run)
    code, _, _ = run(capsys, "dev", "staging", "--run", "--yes")
    assert code == 0
    assert [argv[:2] for argv, _ in calls] == [["pulumi", "preview"], ["pulumi", "up"]]
    assert all(env["GITHUB_SHA"] == SHA and env["ENVSTACK_PROMOTED_FROM"] == "dev" for _, env in calls)


def test_run_stops_at_a_failed_preview(capsys, ssm, head, monkeypatch):
    put_record(ssm, "dev")
    calls = []

    def failing_preview(argv, cwd, env, check):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 255)

    monkeypatch.setattr(promote.subprocess, "run", failing_preview)
    code, _, err = run(capsys, "dev", "staging", "--run")
    assert code == 1
    assert len(calls) == 1 and "pulumi preview` exited 255" in err


def test_head_commit_is_the_checkout():
    head = promote.head_commit()
    assert len(head) == 40 and all(c in "0123456789abcdef" for c in head)


# --- envstack check-outputs: the deploy job's post-deploy check, and the record the next stage promotes ---------------

@pytest.fixture
def deployed(tmp_path, monkeypatch):
    """Write a `pulumi stack output --json` file; the expected outputs are the cached dev synthesis."""
    monkeypatch.setattr(check_outputs, "synthesize", lambda stack: synth(stack))

    def write(**changes) -> str:
        outputs = {**synth("dev").outputs, **changes}
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps({k: v for k, v in outputs.items() if v is not ...}))
        return str(path)
    return write


def check(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["check-outputs", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_outputs_as_the_program_exports_them_pass(capsys, deployed):
    code, out, _ = check(capsys, "dev", deployed())
    assert code == 0 and "outputs present" in out


@pytest.mark.parametrize(("changes", "problem"), [
    ({"vpcId": ...}, "output vpcId is missing"),
    ({"vpcId": None}, "output vpcId is missing"),
    ({"privateSubnetIds": []}, "output privateSubnetIds is empty"),
    ({"environment": "prod"}, "output environment is 'prod', expected 'dev'"),
])
def test_missing_empty_or_wrong_outputs_fail(capsys, deployed, changes, problem):
    code, _, err = check(capsys, "dev", deployed(**changes))
    assert code == 1
    assert f"stack dev: {problem}" in err


def test_unreadable_outputs_file_is_bad_input(capsys, deployed, tmp_path):
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert check(capsys, "dev", str(tmp_path / "bad.json"))[0] == 2
    assert check(capsys, "dev", str(tmp_path / "absent.json"))[0] == 2


def test_commit_check_reads_the_stacks_own_record(capsys, ssm, deployed):
    put_record(ssm, "dev")
    assert check(capsys, "dev", deployed(), "--commit", SHA)[0] == 0
    code, _, err = check(capsys, "dev", deployed(), "--commit", OTHER_SHA)
    assert code == 1 and f"deployment record names commit {SHA}, expected {OTHER_SHA}" in err


def test_commit_check_fails_without_a_record(capsys, ssm, deployed):
    code, _, err = check(capsys, "dev", deployed(), "--commit", SHA)
    assert code == 1 and "no deployment record /envstack/dev/deployment" in err


def test_outside_a_git_checkout_the_commit_cannot_be_told(tmp_path):
    with pytest.raises(promote.RefusedError, match="git rev-parse HEAD"):
        promote.head_commit(tmp_path)
