"""`envstack promote`: paths between environments only, a clean checkout of the commit the source's deployment record
names (SSM, emulated by moto), never backwards outside a rollback; `envstack check-forward`; `check-outputs`."""

import json
import subprocess

import boto3
import pytest
from conftest import run_cli, synth
from moto import mock_aws

from envstack.ops import check_outputs, promote, stacks
from envstack.program.deployment import DeploymentRecord, parameter_name

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98"
REGION = "us-west-2"  # every fixture stack file's aws:region


# Promotion reads the fixture stacks (tests/stacks) in a scratch checkout, never the repository's own.
pytestmark = pytest.mark.usefixtures("checkout")


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
    """The checkout: its commit (`git rev-parse HEAD`), a clean working tree, and what git says of ancestry."""
    state = {"sha": SHA, "changes": [], "ancestor": True}
    monkeypatch.setattr(promote, "head_commit", lambda: state["sha"])
    monkeypatch.setattr(promote, "working_tree_changes", lambda: state["changes"])
    monkeypatch.setattr(promote, "is_ancestor", lambda older, newer: state["ancestor"])
    return state


@pytest.fixture
def prod_eu(checkout):
    """The checkout with one more stack file, Pulumi.prod-eu.yaml (environment prod, eu-west-1)."""
    text = (checkout / "Pulumi.prod.yaml").read_text().replace("us-west-2", "eu-west-1")
    (checkout / "Pulumi.prod-eu.yaml").write_text(text)
    return checkout


def run(capsys, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "promote", *argv)


@pytest.mark.parametrize(("source", "target"), [
    ("dev", "prod"), ("staging", "dev"), ("prod", "dev"), ("dev", "dev"), ("staging", "staging"), ("prod", "prod"),
])
def test_paths_outside_the_promotion_order_are_refused_in_one_line(capsys, ssm, head, source, target):
    put_record(ssm, source)  # even a perfectly good record does not open a forbidden path
    code, out, err = run(capsys, source, target)
    assert code == 1
    assert err.strip().count("\n") == 0
    assert f"promotion {source}->{target} (environments {source}->{target}) is not allowed" in err
    assert "allowed paths between environments: dev->staging, staging->prod, prod->staging (rollback)" in err
    assert "pulumi" not in out


@pytest.mark.parametrize(("source", "target", "kind"), [("staging", "prod-eu", "promotion"),
                                                         ("prod-eu", "staging", "rollback")])
def test_paths_are_between_environments_so_a_new_prod_stack_is_a_prod_target(capsys, ssm, head, prod_eu, source,
                                                                              target, kind):
    put_record(boto3.client("ssm", region_name=stacks.describe(source, prod_eu).region), source)
    code, out, err = run(capsys, source, target)
    assert code == 0, err
    assert out.startswith(f"{kind} {source} -> {target}: {target} gets commit {SHA}")
    assert f"pulumi up -s {target} --policy-pack policies --policy-pack-config out/policy-{target}.json" in out


@pytest.mark.parametrize(("source", "target"), [("prod", "prod-eu"), ("prod-eu", "prod"), ("dev", "prod-eu")])
def test_moves_inside_prod_or_skipping_staging_are_refused(capsys, ssm, head, prod_eu, source, target):
    code, _, err = run(capsys, source, target)
    assert code == 1 and f"promotion {source}->{target} (environments" in err


@pytest.mark.parametrize(("source", "target"), [("nope", "staging"), ("dev", "qa")])
def test_unknown_stack_is_bad_input(capsys, source, target):
    code, _, err = run(capsys, source, target)
    assert code == 2
    assert "unknown stack" in err and "Traceback" not in err


def test_a_dirty_working_tree_is_refused(capsys, ssm, head):
    put_record(ssm, "dev")
    head["changes"] = [" M components/network.py", "?? notes.txt"]
    code, out, err = run(capsys, "dev", "staging")
    assert code == 1 and out == ""
    assert "the working tree has 2 uncommitted change(s) (M components/network.py, ...)" in err


def test_working_tree_changes_are_what_git_status_lists(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert promote.working_tree_changes(tmp_path) == []
    (tmp_path / "new.txt").write_text("x")
    assert promote.working_tree_changes(tmp_path) == ["?? new.txt"]


def test_a_target_that_would_move_backwards_is_refused(capsys, ssm, head):
    put_record(ssm, "staging", commit=SHA)
    put_record(ssm, "prod", commit=OTHER_SHA)  # prod runs a commit that SHA does not descend from
    head["ancestor"] = False
    code, out, err = run(capsys, "staging", "prod")
    assert code == 1 and out == ""
    assert f"prod runs {OTHER_SHA} and {SHA} is not a descendant of it: deploying it would move prod backwards" in err


def test_a_rollback_may_move_backwards(capsys, ssm, head):
    put_record(ssm, "prod", commit=SHA)
    put_record(ssm, "staging", commit=OTHER_SHA)
    head["ancestor"] = False
    code, out, _ = run(capsys, "prod", "staging")
    assert code == 0
    assert out.startswith(f"rollback prod -> staging: staging gets commit {SHA}")
    assert f"staging runs {OTHER_SHA}: rollback to {SHA}" in out


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
    assert f"{target} has no deployment record: first deploy" in lines[0]
    policy = f"--policy-pack policies --policy-pack-config out/policy-{target}.json"
    env = f"ENVSTACK_COMMIT={OTHER_SHA} ENVSTACK_PROMOTED_FROM={source}"
    assert lines[1].strip() == f"envstack policy-config {target} --output out/policy-{target}.json"
    assert lines[2].strip() == f"{env} pulumi preview -s {target} {policy}"
    assert lines[3].strip() == f"{env} pulumi up -s {target} {policy}"
    assert lines[4].strip().endswith(f"gh workflow run promote.yml -f source={source} -f target={target}")


def test_yes_is_passed_to_up_only(capsys, ssm, head):
    put_record(ssm, "dev")
    _, out, _ = run(capsys, "dev", "staging", "--yes")
    preview, up = out.splitlines()[2:4]
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
    assert [argv[:2] for argv, _ in calls] == [["envstack", "policy-config"], ["pulumi", "preview"], ["pulumi", "up"]]
    assert all(env["ENVSTACK_COMMIT"] == SHA and env["ENVSTACK_PROMOTED_FROM"] == "dev" for _, env in calls[1:])


def test_run_stops_at_a_failed_preview(capsys, ssm, head, monkeypatch):
    put_record(ssm, "dev")
    calls = []

    def failing_preview(argv, cwd, env, check):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 255 if argv[1] == "preview" else 0)

    monkeypatch.setattr(promote.subprocess, "run", failing_preview)
    code, _, err = run(capsys, "dev", "staging", "--run")
    assert code == 1
    assert len(calls) == 2 and "pulumi preview` exited 255" in err


def test_dispatch_runs_the_promote_workflow_after_the_path_check(capsys, head, prod_eu, monkeypatch):
    calls = []
    monkeypatch.setattr(promote.subprocess, "run",
                        lambda argv, cwd, check: calls.append(argv) or subprocess.CompletedProcess(argv, 0))
    assert run(capsys, "staging", "prod-eu", "--dispatch")[0] == 0
    assert calls == [["gh", "workflow", "run", "promote.yml", "-f", "source=staging", "-f", "target=prod-eu"]]
    assert run(capsys, "dev", "prod-eu", "--dispatch")[0] == 1 and len(calls) == 1


def test_ci_outputs_name_the_stacks_the_kind_and_the_commit(capsys, ssm, prod_eu, tmp_path, monkeypatch):
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert run(capsys, "prod", "staging", "--describe", "--github-output")[0] == 0
    described = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert "commit" not in described and (described["kind"], described["rollback"]) == ("rollback", "true")
    assert json.loads(described["target"])["environment"] == "staging"
    output.unlink()
    put_record(ssm, "staging")
    assert run(capsys, "staging", "prod-eu", "--github-output")[0] == 0
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert values["commit"] == SHA and values["rollback"] == "false"
    assert json.loads(values["target"]) == {"stack": "prod-eu", "environment": "prod", "region": "eu-west-1",
                                            "stackKey": "PROD_EU", "environmentKey": "PROD",
                                            "promotedFrom": "staging"}


def test_head_commit_is_the_checkout():
    head = promote.head_commit()
    assert len(head) == 40 and all(c in "0123456789abcdef" for c in head)


# --- envstack check-forward: the deploy job refuses to move a stack backwards -----------------------------------------

def git(root, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def history(tmp_path, monkeypatch):
    """A repository with two commits, old -> new, where the forward check asks git."""
    git(tmp_path, "init", "-q")
    commits = []
    for message in ("old", "new"):
        git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", message)
        commits.append(git(tmp_path, "rev-parse", "HEAD"))
    real = promote.is_ancestor
    monkeypatch.setattr(promote, "is_ancestor", lambda older, newer: real(older, newer, cwd=tmp_path))
    return commits


def forward(capsys, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "check-forward", *argv)


def test_deploying_a_descendant_or_the_same_commit_goes_ahead(capsys, ssm, history):
    old, new = history
    put_record(ssm, "prod", commit=old)
    code, out, _ = forward(capsys, "prod", "--commit", new)
    assert code == 0 and f"prod runs {old}, an ancestor of {new}: forward" in out
    assert forward(capsys, "prod", "--commit", old)[0] == 0  # a re-run of the same commit


def test_a_rerun_of_an_older_commit_is_refused_unless_it_is_a_rollback(capsys, ssm, history):
    old, new = history
    put_record(ssm, "prod", commit=new)
    code, _, err = forward(capsys, "prod", "--commit", old)
    assert code == 1 and f"prod runs {new} and {old} is not a descendant of it" in err
    code, out, _ = forward(capsys, "prod", "--commit", old, "--rollback")
    assert code == 0 and f"rollback to {old}" in out


def test_a_recorded_commit_unknown_to_the_checkout_is_refused(capsys, ssm, history):
    put_record(ssm, "prod", commit=OTHER_SHA)
    code, _, err = forward(capsys, "prod", "--commit", history[1])
    assert code == 1 and "which this checkout's history does not contain" in err and "fetch-depth 0" in err


def test_the_first_deploy_has_nothing_to_compare_with(capsys, ssm, history):
    code, out, _ = forward(capsys, "prod", "--commit", history[0])
    assert code == 0 and "first deploy" in out


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
    return run_cli(capsys, "check-outputs", *argv)


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


@pytest.mark.parametrize(("stack_file", "problem"), [
    ("config: [1]\n", "stack staging: Pulumi.staging.yaml:1: `config:` must be a mapping"),
    ("config:\n  envstack:network: &n [*n]\n", "stack staging: Pulumi.staging.yaml: not a configuration value"),
])
def test_a_stack_file_the_cli_cannot_read_is_bad_input(capsys, checkout, stack_file, problem):
    (checkout / "Pulumi.staging.yaml").write_text(stack_file)
    code, _, err = run(capsys, "dev", "staging", "--describe")
    assert code == 2 and problem in err and "Traceback" not in err
