"""The GitHub Actions workflows: they name only stacks, files, make targets and envstack commands that exist, and they
keep the delivery rules (same commit dev -> staging -> prod, environments, one update per stack, OIDC only where
needed, policy pack on every preview and update, fork-safe pull request checks, drift, review stacks)."""

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from envstack import cli
from envstack.review import REVIEW_STACK, write_review_stack_file
from envstack.synth import read_stack_config

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
SETUP_ACTION = "./.github/actions/setup"
PULUMI_ACTION = re.compile(r"^pulumi/actions@")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PR_NUMBER = "42"  # stands for ${{ github.event.pull_request.number }}


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


FILES = {path.name: load(path) for path in sorted(WORKFLOWS.glob("*.yml"))}
ACTION = load(REPO / SETUP_ACTION / "action.yml")
COMMITTED_STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml") if not REVIEW_STACK.match(
    p.name.split(".")[1]))


def jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, workflow in FILES.items():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, job_id, job in jobs():
        for step in job.get("steps", []):
            yield name, job_id, step
    for step in ACTION["runs"]["steps"]:
        yield "actions/setup", "setup", step


def pulumi_steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    return ((n, j, s) for n, j, s in steps()
            if PULUMI_ACTION.match(s.get("uses", "")) and "command" in s.get("with", {}))


def callers(workflow: str) -> list[tuple[str, dict[str, Any]]]:
    """The jobs that call reusable `workflow`, with their `with:` (matrix expressions expanded per entry)."""
    found = []
    for _, job_id, job in jobs():
        if job.get("uses") == f"./.github/workflows/{workflow}":
            for values in matrix_entries(job):
                found.append((job_id, {k: substitute(str(v), values) for k, v in job.get("with", {}).items()}))
    return found


def matrix_entries(job: dict[str, Any]) -> list[dict[str, str]]:
    matrix = job.get("strategy", {}).get("matrix", {})
    if "include" in matrix:
        return [{k: str(v) for k, v in entry.items()} for entry in matrix["include"]]
    if "stack" in matrix:
        return [{"stack": stack} for stack in matrix["stack"]]
    return [{}]


def substitute(text: str, values: dict[str, str]) -> str:
    """Expand ${{ matrix.X }} / ${{ inputs.X }} from `values` and the pull request number; keep other expressions."""
    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression == "github.event.pull_request.number":
            return PR_NUMBER
        key = expression.split(".", 1)[-1]
        if expression.split(".")[0] in ("matrix", "inputs") and key in values:
            return values[key]
        return match.group(0)
    return EXPRESSION.sub(one, text)


def contexts(workflow: str) -> list[dict[str, str]]:
    """Every set of `inputs`/`matrix` values a job of `workflow` runs with."""
    job_sets = [entry for job in FILES[workflow]["jobs"].values() for entry in matrix_entries(job)]
    if "workflow_call" in FILES[workflow]["on"]:
        return [values for _, values in callers(workflow)]
    return job_sets


def run_scripts() -> Iterator[tuple[str, str]]:
    for name, _, step in steps():
        if "run" in step:
            yield name, step["run"]


def is_stack(name: str) -> bool:
    return (REPO / f"Pulumi.{name}.yaml").exists() or bool(REVIEW_STACK.match(name))


# --- references -------------------------------------------------------------------------------------------------------

def test_there_are_workflows_for_every_event():
    events = {event for workflow in FILES.values() for event in workflow["on"]}
    assert {"pull_request", "push", "schedule", "workflow_call"} <= events


def test_every_stack_a_workflow_names_exists():
    named = []
    for workflow in FILES:
        for values in contexts(workflow):
            named += [values[k] for k in ("stack",) if k in values]
    for _, _, step in pulumi_steps():
        named.append(substitute(step["with"]["stack-name"], {}))
    resolved = [name for name in named if "${{" not in name]
    assert resolved, "no stack names found in the workflows"
    assert [name for name in resolved if not is_stack(name)] == []


def test_every_committed_stack_is_synthesized_on_pull_requests_and_deployed_on_main():
    synthesized = {values["stack"] for values in matrix_entries(FILES["pull-request.yml"]["jobs"]["synth"])}
    deployed = {values["stack"] for _, values in callers("deploy-stack.yml")}
    assert synthesized == set(COMMITTED_STACKS) == deployed


def test_every_preview_and_update_runs_the_policy_pack_with_an_existing_environment_config():
    checked = 0
    for name, job_id, step in pulumi_steps():
        inputs = step["with"]
        if inputs["command"] not in ("preview", "up"):
            continue
        assert (REPO / inputs["policyPacks"] / "PulumiPolicy.yaml").exists(), (name, job_id)
        for values in contexts(name):
            config = substitute(inputs["policyPackConfigs"], values)
            stack = substitute(inputs["stack-name"], values)
            environment = read_stack_config(stack)["envstack:environment"] if not REVIEW_STACK.match(stack) else "dev"
            assert config == f"policies/{environment}.json", (name, job_id, stack)
            assert (REPO / config).exists(), config
            checked += 1
    assert checked >= 7  # 3 PR previews, 3 deploys, the review stack


def test_make_targets_and_envstack_commands_exist():
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.MULTILINE))
    subparsers = next(a for a in cli.parser()._actions if a.dest == "command")
    commands = set(subparsers.choices)
    used_targets, used_commands = set(), set()
    for _, script in run_scripts():
        used_targets |= set(re.findall(r"\bmake ([\w-]+)", script))
        used_commands |= set(re.findall(r"\benvstack ([\w-]+)", script))
    assert {"test", "synth", "setup"} <= used_targets
    assert {"synth", "check-outputs", "review-stack-file"} <= used_commands
    assert used_targets <= targets
    assert used_commands <= commands


def test_local_actions_and_reusable_workflows_exist_and_actions_are_pinned():
    for name, job_id, job in jobs():
        if "uses" in job:
            assert (REPO / job["uses"]).is_file(), (name, job_id)
    for name, job_id, step in steps():
        uses = step.get("uses")
        if uses is None:
            continue
        if uses.startswith("./"):
            assert (REPO / uses / "action.yml").is_file(), (name, job_id, uses)
        else:
            assert re.match(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$", uses), (name, job_id, uses)


# --- shape of every workflow ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FILES))
def test_bash_by_default_read_only_token_and_timeouts(name):
    workflow = FILES[name]
    assert workflow["defaults"]["run"]["shell"] == "bash"
    assert workflow["permissions"] == {"contents": "read"}
    for job_id, job in workflow["jobs"].items():
        if "uses" not in job:  # a reusable workflow's own jobs carry their timeouts
            assert 0 < job["timeout-minutes"] <= 120, (name, job_id)


def job_needs_aws(name: str, job: dict[str, Any]) -> bool:
    if "uses" in job:
        return "aws-role-arn" in job.get("with", {})
    return any(step.get("uses") == SETUP_ACTION and "aws-role-arn" in step.get("with", {})
               for step in job.get("steps", []))


def called_jobs(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The jobs of the reusable workflow a caller job runs (none for a job with steps)."""
    return list(FILES[Path(job["uses"]).name]["jobs"].values()) if "uses" in job else []


def job_comments(job: dict[str, Any]) -> bool:
    all_steps = job.get("steps", []) + [s for called in called_jobs(job) for s in called.get("steps", [])]
    return any(str(s.get("with", {}).get("comment-on-pr", "false")) != "false" for s in all_steps)


def test_oidc_and_pull_request_write_only_where_needed():
    """Also in reusable workflows: their top-level `contents: read` caps their jobs, whatever the caller grants, so
    a job that logs in to AWS or comments must ask for it itself."""
    for name, job_id, job in jobs():
        permissions = job.get("permissions", {})
        assert permissions.get("contents", "read") == "read", (name, job_id)
        assert (permissions.get("id-token") == "write") == job_needs_aws(name, job), (name, job_id)
        assert (permissions.get("pull-requests") == "write") == job_comments(job), (name, job_id)
        assert set(permissions) <= {"contents", "id-token", "pull-requests"}, (name, job_id)


LEVELS = {"none": 0, "read": 1, "write": 2}


def test_callers_grant_what_every_called_job_asks_for():
    """GitHub refuses to start a run whose nested job asks for more than its caller grants, even a job its `if:` would
    skip: so drift (no pull request comment) has a reusable workflow of its own."""
    checked = 0
    for name, job_id, job in jobs():
        granted = job.get("permissions", {})
        for called in called_jobs(job):
            for scope, level in called.get("permissions", {}).items():
                assert LEVELS[granted.get(scope, "none")] >= LEVELS[level], (name, job_id, scope)
                checked += 1
    assert checked >= 3 * 2 + 3 + 2  # deploy x3 (contents, id-token), preview (+ pull-requests), drift


def test_aws_credentials_only_by_oidc_role():
    configure = [s for _, _, s in steps() if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert configure and all(set(s["with"]) >= {"role-to-assume", "aws-region"} for s in configure)
    text = "\n".join(p.read_text() for p in WORKFLOWS.glob("*.yml"))
    assert "aws-access-key-id" not in text and "secrets.AWS" not in text


# --- pull requests ----------------------------------------------------------------------------------------------------

def test_pull_request_checks_run_without_credentials():
    workflow = FILES["pull-request.yml"]
    for job_id in ("test", "synth"):
        job = workflow["jobs"][job_id]
        assert "permissions" not in job and not job_needs_aws("pull-request.yml", job)
        assert "secrets." not in yaml.safe_dump(job) and "vars." not in yaml.safe_dump(job)
    synth = workflow["jobs"]["synth"]
    script = next(s["run"] for s in synth["steps"] if "make synth" in s.get("run", ""))
    assert "$GITHUB_STEP_SUMMARY" in script and 'exit "$status"' in script
    upload = next(s for s in synth["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "out/${{ matrix.stack }}.json"


def test_previews_only_for_branches_of_this_repository_with_a_role():
    preview = FILES["pull-request.yml"]["jobs"]["preview"]
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    called = FILES["preview-stack.yml"]["jobs"]["preview"]
    assert called["if"] == "inputs.aws-role-arn != ''"
    step = next(s for s in called["steps"] if PULUMI_ACTION.match(s.get("uses", "")))
    assert step["with"]["command"] == "preview" and step["with"]["comment-on-pr"] is True


def role_variables(workflow: str) -> dict[str, str]:
    """stack -> the role variable each call of `workflow` passes."""
    return {values["stack"]: values["aws-role-arn"] for _, values in callers(workflow)}


def test_previews_and_drift_use_the_read_only_roles_and_deploys_the_deploy_roles():
    """The deploy roles trust only `environment:<env>` subjects: a pull request or a scheduled run never gets them."""
    read_only = {stack: f"${{{{ vars.AWS_PREVIEW_ROLE_ARN_{stack.upper()} }}}}" for stack in COMMITTED_STACKS}
    deploy = {stack: f"${{{{ vars.AWS_ROLE_ARN_{stack.upper()} }}}}" for stack in COMMITTED_STACKS}
    assert role_variables("preview-stack.yml") == read_only
    assert role_variables("drift-stack.yml") == read_only
    assert role_variables("deploy-stack.yml") == deploy


def test_deploy_roles_only_in_jobs_with_a_github_environment():
    """A deploy role's OIDC trust names only `environment:<env>`: a job without an environment could not assume it,
    and one that could would be a way around the environment's reviewers."""
    deploying = [(name, job_id, job) for name, job_id, job in jobs()
                 if any("vars.AWS_ROLE_ARN_" in str(s.get("with", {}).get("aws-role-arn", ""))
                        for s in job.get("steps", []))]
    deploying += [("deploy-stack.yml", job_id, job) for job_id, job in FILES["deploy-stack.yml"]["jobs"].items()]
    assert len(deploying) >= 3  # deploy, review stack up and down
    for name, job_id, job in deploying:
        assert job.get("environment"), (name, job_id)


# --- runners ----------------------------------------------------------------------------------------------------------

RUNNER_INPUT = "${{ inputs.runner || 'ubuntu-latest' }}"


def test_every_stack_job_runs_on_its_environments_runner():
    """prod's EKS API is private (and dev/staging's allow listed CIDRs only): `pulumi up`, preview and refresh need a
    runner that reaches it, chosen per environment by `vars.RUNNER_<ENV>`, GitHub-hosted when that is empty."""
    for workflow in ("deploy-stack.yml", "preview-stack.yml", "drift-stack.yml"):
        assert FILES[workflow]["on"]["workflow_call"]["inputs"]["runner"]["default"] == ""
        for job_id, job in FILES[workflow]["jobs"].items():
            assert job["runs-on"] == RUNNER_INPUT, (workflow, job_id)
        runners = {values["stack"]: values["runner"] for _, values in callers(workflow)}
        assert runners == {stack: f"${{{{ vars.RUNNER_{stack.upper()} }}}}" for stack in COMMITTED_STACKS}, workflow
    for job_id, job in FILES["review-stack.yml"]["jobs"].items():  # review stacks are built from the dev profile
        assert job["runs-on"] == "${{ vars.RUNNER_DEV || 'ubuntu-latest' }}", job_id


# --- merge to main ----------------------------------------------------------------------------------------------------

def test_main_deploys_dev_then_staging_then_prod():
    workflow = FILES["deploy.yml"]
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    chain = workflow["jobs"]
    assert chain["dev"]["needs"] == "test"
    assert chain["staging"]["needs"] == "dev" and chain["prod"]["needs"] == "staging"
    assert {job_id: job["with"].get("promoted-from") for job_id, job in chain.items() if "uses" in job} == {
        "dev": None, "staging": "dev", "prod": "staging"}
    assert {job_id: job["with"]["stack"] for job_id, job in chain.items() if "uses" in job} == {
        "dev": "dev", "staging": "staging", "prod": "prod"}


def test_each_deploy_runs_in_its_environment_one_at_a_time_from_the_pushed_commit():
    job = FILES["deploy-stack.yml"]["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.stack }}"
    assert job["concurrency"] == {"group": "deploy-${{ inputs.stack }}", "cancel-in-progress": False}
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["ref"] == "${{ github.sha }}"
    assert job["env"]["ENVSTACK_PROMOTED_FROM"] == "${{ inputs.promoted-from }}"
    names = [s.get("uses", s.get("run", "")) for s in job["steps"]]
    up = next(i for i, s in enumerate(job["steps"]) if s.get("with", {}).get("command") == "up")
    check = next(i for i, n in enumerate(names) if "envstack check-outputs" in n)
    assert up < check
    assert '--commit "$GITHUB_SHA"' in job["steps"][check]["run"]
    assert "pulumi stack output --stack \"$STACK\" --json" in job["steps"][check]["run"]


# --- drift and review stacks ------------------------------------------------------------------------------------------

def test_drift_runs_on_a_schedule_for_every_stack_and_fails_visibly():
    workflow = FILES["drift.yml"]
    assert workflow["on"]["schedule"][0]["cron"]
    job = workflow["jobs"]["drift"]
    assert job["uses"] == "./.github/workflows/drift-stack.yml"
    assert {entry["stack"] for entry in job["strategy"]["matrix"]["include"]} == set(COMMITTED_STACKS)
    called = FILES["drift-stack.yml"]["jobs"]["drift"]
    assert called["if"] == "inputs.aws-role-arn != ''"
    assert called["concurrency"] == {"group": "drift-${{ inputs.stack }}", "cancel-in-progress": False}
    detect = next(s for s in called["steps"] if "pulumi refresh" in s.get("run", ""))
    assert "pulumi refresh --stack \"$STACK\" --preview-only --expect-no-changes" in detect["run"]
    assert "::error" in detect["run"] and "exit 1" in detect["run"]


def test_review_stack_is_created_from_dev_on_the_label_and_removed_on_close():
    workflow = FILES["review-stack.yml"]
    assert {"labeled", "unlabeled", "closed", "synchronize"} <= set(workflow["on"]["pull_request"]["types"])
    up, down = workflow["jobs"]["up"], workflow["jobs"]["down"]
    for job in (up, down):
        assert "'review-stack'" in job["if"] and "head.repo.full_name == github.repository" in job["if"]
        assert job["environment"] == "review"
    assert "github.event.action != 'closed'" in up["if"] and "github.event.action == 'closed'" in down["if"]
    create = next(s for s in up["steps"] if s.get("with", {}).get("command") == "up")
    assert create["with"]["upsert"] is True
    assert create["with"]["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}"
    remove = next(s for s in down["steps"] if s.get("with", {}).get("command") == "destroy")
    assert remove["with"]["remove"] is True
    assert substitute(remove["with"]["stack-name"], {}) == f"pr-{PR_NUMBER}"
    assert workflow["env"]["STACK"] == "pr-${{ github.event.pull_request.number }}"


def test_review_stack_file_is_dev_without_dev_secrets(tmp_path):
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    dev = (REPO / "Pulumi.dev.yaml").read_text().replace("config:", "secretsprovider: awskms://alias/x\n"
                                                         "encryptedkey: AQID\nconfig:", 1)
    (tmp_path / "Pulumi.dev.yaml").write_text(dev + "  envstack:apiToken:\n    secure: AAABAGZha2U=\n")
    path = write_review_stack_file(7, root=tmp_path)
    assert path.name == "Pulumi.pr-7.yaml"
    document = yaml.safe_load(path.read_text())
    assert set(document) == {"config"}
    config = read_stack_config("pr-7", tmp_path)
    assert config["envstack:environment"] == "dev"
    assert "envstack:apiToken" not in config
    assert {k: v for k, v in config.items() if k != "envstack:apiToken"} == {
        k: v for k, v in read_stack_config("dev", tmp_path).items() if k != "envstack:apiToken"}


def test_review_stack_file_command_rejects_a_non_number(capsys):
    assert cli.main(["review-stack-file", "0"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["review-stack-file", "abc"])


# --- the linters themselves -------------------------------------------------------------------------------------------

def test_actionlint_rejects_an_input_pulumi_actions_does_not_have(tmp_path):
    """The offline lint in `make test` really checks action inputs (the policy pack inputs are camelCase)."""
    actionlint = Path(sys.executable).parent / "actionlint"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # actionlint finds the project by its .git
    (tmp_path / ".github").mkdir()
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    shutil.copytree(REPO / ".github" / "actions", tmp_path / ".github" / "actions")
    ok = subprocess.run([str(actionlint)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout
    broken = tmp_path / ".github" / "workflows" / "deploy-stack.yml"
    broken.write_text(broken.read_text().replace("policyPacks:", "policy-packs:"))
    result = subprocess.run([str(actionlint)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert 'input "policy-packs" is not defined in action "pulumi/actions@v7"' in result.stdout
