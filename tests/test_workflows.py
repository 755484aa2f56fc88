"""The GitHub Actions workflows: they name only stacks, files, make targets and envstack commands that exist, follow
the stack files (matrices from `envstack stacks`, variables per environment with a per-stack override, policy
configuration per environment), and keep the delivery rules (same commit dev -> staging -> prod, environments, one
update per stack, OIDC only where needed, credentials that outlive the job, pinned actions and CLI, policy pack on
every preview and update, fork-safe pull request checks, forward-only deploys, a preview before prod's approval,
drift told apart from errors, review stacks that keep their secrets provider and expire, promotion)."""

import json
import operator
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FIXTURES

from envstack import cli
from envstack.ops import stacks
from envstack.ops.review import write_review_stack_file
from envstack.program import stack_names
from envstack.tools.synth import read_stack_config

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
ACTIONS = REPO / ".github" / "actions"
SETUP_ACTION = "./.github/actions/setup"
PULUMI_ACTION = re.compile(r"^pulumi/actions@")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)
PR_NUMBER = "42"  # stands for ${{ github.event.pull_request.number }}
sys.path.insert(0, str(REPO / "scripts"))
import actionlint_tags  # noqa: E402  (scripts/ is not a package)


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


FILES = {path.name: load(path) for path in sorted(WORKFLOWS.glob("*.yml"))}
LOCAL_ACTIONS = {f"./.github/actions/{path.parent.name}": load(path) for path in sorted(ACTIONS.glob("*/action.yml"))}
ACTION = LOCAL_ACTIONS[SETUP_ACTION]
COMMITTED_STACKS = stacks.committed(REPO)
INFOS = {stack: stacks.describe(stack, REPO) for stack in COMMITTED_STACKS}
OUTPUTS = stacks.github_outputs(list(INFOS.values()))  # what the `stacks` jobs write for this checkout
MATRIX_OUTPUT = re.compile(r"^\$\{\{ fromJSON\(needs\.stacks\.outputs\.(\w+)\) \}\}$")


def jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, workflow in FILES.items():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, job_id, job in jobs():
        for step in job.get("steps", []):
            yield name, job_id, step
    for uses, action in LOCAL_ACTIONS.items():
        for step in action["runs"]["steps"]:
            yield uses, "action", step


def pulumi_steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    return ((n, j, s) for n, j, s in steps()
            if PULUMI_ACTION.match(s.get("uses", "")) and "command" in s.get("with", {}))


def matrix_entries(job: dict[str, Any]) -> list[dict[str, str]]:
    """The matrix of a job, with `fromJSON(needs.stacks.outputs.X)` read from what `envstack stacks` writes."""
    include = job.get("strategy", {}).get("matrix", {}).get("include")
    if include is None:
        return [{}]
    if isinstance(include, str):
        key = MATRIX_OUTPUT.match(include)
        assert key, include
        return [{k: str(v) for k, v in entry.items()} for entry in yaml.safe_load(OUTPUTS[key.group(1)])]
    return [{k: str(v) for k, v in entry.items()} for entry in include]


def substitute(text: str, values: dict[str, str]) -> str:
    """Expand ${{ matrix.X }} / ${{ inputs.X }} from `values` and the pull request number; keep other expressions."""
    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression == "github.event.pull_request.number":
            return PR_NUMBER
        head, _, key = expression.partition(".")
        if head in ("matrix", "inputs") and key in values:
            return values[key]
        return match.group(0)
    return EXPRESSION.sub(one, text)


def callers(workflow: str, caller: str | None = None) -> list[tuple[str, dict[str, str]]]:
    """The jobs that call reusable `workflow` (in `caller` only, if given), with their `with:` per matrix entry."""
    found = []
    for name, job_id, job in jobs():
        if job.get("uses") == f"./.github/workflows/{workflow}" and caller in (None, name):
            for values in matrix_entries(job):
                found.append((job_id, {k: substitute(str(v), values) for k, v in job.get("with", {}).items()}))
    return found


def contexts(workflow: str) -> list[dict[str, str]]:
    """Every set of `inputs`/`matrix` values a job of `workflow` runs with (promote.yml's are its dispatch's)."""
    if "workflow_call" in FILES[workflow]["on"]:
        return [values for _, values in callers(workflow) if "fromJSON(needs.path" not in str(values)]
    return [entry for job in FILES[workflow]["jobs"].values() for entry in matrix_entries(job)]


def run_scripts() -> Iterator[tuple[str, str]]:
    for name, _, step in steps():
        if "run" in step:
            yield name, step["run"]


def is_stack(name: str) -> bool:
    return name in COMMITTED_STACKS or bool(stack_names.REVIEW_STACK.match(name))


# --- a tiny evaluator of the GitHub expressions the workflows use -----------------------------------------------------
# Operators as GitHub evaluates them: `&&`/`||` give an operand, `!`, `==`/`!=`, parentheses; values are string
# literals and context names (a missing one is '', as an unset variable compares), `vars[format('X_{0}', inputs.k)]`
# and the status functions, looked up by name.
TOKEN = re.compile(r"\s*('(?:[^']|'')*'|&&|\|\||==|!=|!|\(|\)"
                   r"|vars\[format\('\w*\{0\}', inputs\.[\w-]+\)\]|[A-Za-z_][\w.-]*(?:\(\))?)")
VARS_INDEX = re.compile(r"^vars\[format\('(\w*)\{0\}', inputs\.([\w-]+)\)\]$")
BINARY: tuple[dict[str, Callable[[Any, Any], Any]], ...] = (  # by precedence, lowest first
    {"||": lambda a, b: a or b}, {"&&": lambda a, b: a and b}, {"==": operator.eq, "!=": operator.ne})


def tokens_of(expression: str) -> list[str]:
    inner = EXPRESSION.fullmatch(expression.strip())
    text, tokens, position = (inner.group(1) if inner else expression).strip(), [], 0
    while position < len(text):
        match = TOKEN.match(text, position)
        assert match, f"cannot read {text[position:]!r}"
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def value_of(expression: str, lookup: dict[str, Any]) -> Any:
    tokens = tokens_of(expression)

    def name(token: str) -> Any:
        if index := VARS_INDEX.match(token):
            return lookup.get(f"vars.{index.group(1)}{lookup.get('inputs.' + index.group(2), '')}", "")
        return lookup.get(token, "")

    def primary(i: int) -> tuple[Any, int]:
        token = tokens[i]
        if token == "(":
            value, i = level(0, i + 1)
            assert tokens[i] == ")", expression
            return value, i + 1
        if token == "!":
            value, i = primary(i + 1)
            return not value, i
        if token.startswith("'"):
            return token[1:-1].replace("''", "'"), i + 1
        return name(token), i + 1

    def level(n: int, i: int) -> tuple[Any, int]:
        """Operators of precedence `n` and above: `||`, then `&&`, then `==`/`!=`, then a primary."""
        if n == len(BINARY):
            return primary(i)
        left, i = level(n + 1, i)
        while i < len(tokens) and tokens[i] in BINARY[n]:
            symbol = tokens[i]
            right, i = level(n + 1, i + 1)
            left = BINARY[n][symbol](left, right)
        return left, i

    value, end = level(0, 0)
    assert end == len(tokens), expression
    return value


def evaluate(expression: str, inputs: dict[str, str], variables: dict[str, str]) -> str:
    """A value expression (`a || b || 'literal'`) with these inputs and variables."""
    return str(value_of(expression, {**{f"inputs.{k}": v for k, v in inputs.items()},
                                     **{f"vars.{k}": v for k, v in variables.items()}}))


def stack_inputs(stack: str) -> dict[str, str]:
    info = INFOS[stack]
    return {"stack": stack, "environment": info.environment, "region": info.region, "stack-key": info.stack_key,
            "environment-key": info.environment_key}


def test_the_evaluator_reads_overrides_fallbacks_and_literals():
    inputs = {"stack-key": "PROD_EU", "environment-key": "PROD"}
    expression = ("${{ vars[format('R_{0}', inputs.stack-key)] || vars[format('R_{0}', inputs.environment-key)]"
                  " || 'x' }}")
    assert evaluate(expression, inputs, {"R_PROD": "p", "R_PROD_EU": "e"}) == "e"
    assert evaluate(expression, inputs, {"R_PROD": "p"}) == "p"
    assert evaluate(expression, inputs, {}) == "x"


# --- references -------------------------------------------------------------------------------------------------------

def test_there_are_workflows_for_every_event():
    events = {event for workflow in FILES.values() for event in workflow["on"]}
    assert {"pull_request", "push", "schedule", "workflow_call", "workflow_dispatch"} <= events


def test_every_stack_a_workflow_names_exists():
    named = []
    for workflow in FILES:
        for values in contexts(workflow):
            named += [values[k] for k in ("stack",) if k in values]
    for name, _, step in pulumi_steps():
        for values in contexts(name) if name in FILES else [{}]:
            named.append(substitute(step["with"]["stack-name"], values))
    resolved = [name for name in named if "${{" not in name]
    assert set(COMMITTED_STACKS) <= set(resolved)
    assert [name for name in resolved if not is_stack(name)] == []


def stacks_of(workflow: str, caller: str | None = None) -> list[str]:
    return sorted(values["stack"] for _, values in callers(workflow, caller))


def test_every_committed_stack_is_synthesized_previewed_drift_checked_and_deployed():
    synthesized = sorted(values["stack"] for values in matrix_entries(FILES["pull-request.yml"]["jobs"]["synth"]))
    assert synthesized == COMMITTED_STACKS
    assert stacks_of("preview-stack.yml") == COMMITTED_STACKS
    assert stacks_of("drift-stack.yml") == COMMITTED_STACKS
    assert stacks_of("deploy-stack.yml", "deploy.yml") == COMMITTED_STACKS


def test_matrix_entries_come_from_the_stack_files():
    """The `stacks` jobs run `envstack stacks --github-output`; every matrix reads one of its outputs."""
    for name, job_id, job in jobs():
        include = job.get("strategy", {}).get("matrix", {}).get("include")
        if include is None:
            continue
        key = MATRIX_OUTPUT.match(str(include))
        assert key, (name, job_id)
        assert "stacks" in job["needs"], (name, job_id)
        producer = FILES[name]["jobs"]["stacks"]
        assert producer["outputs"][key.group(1)] == f"${{{{ steps.stacks.outputs.{key.group(1)} }}}}"
        assert any(s.get("run") == "envstack stacks --github-output" for s in producer["steps"])
        assert "permissions" not in producer


# ---- environments without stacks ------------------------------------------------------------------------------
# GitHub refuses a job whose matrix is empty ("Matrix vector 'include' does not contain any values"): such a job must
# be skipped by its `if:`, which GitHub evaluates before the matrix, and the next stage must still run. The runs
# below evaluate the workflows' own `if:` expressions as GitHub does for the operators they use: `&&`/`||` give an
# operand, `!`, `==`/`!=`, and the status functions over the job's ancestors (a job whose `if:` calls none of them
# runs only when every ancestor succeeded; a skipped one is no success).
STATUS_FUNCTIONS = ("success()", "failure()", "cancelled()", "always()")


def ancestors(workflow: dict[str, Any], job_id: str) -> set[str]:
    direct = workflow["jobs"][job_id].get("needs", [])
    direct = [direct] if isinstance(direct, str) else direct
    return set(direct).union(*(ancestors(workflow, need) for need in direct))


def run(name: str, infos: list[stacks.StackInfo], variables: dict[str, str] | None = None,
        failing: tuple[str, ...] = (), fork: bool = False) -> dict[str, str]:
    """Each job's result in a run of workflow `name` whose `stacks` job sees `infos`; `failing` jobs fail; `fork`:
    a pull request from another repository."""
    workflow, outputs = FILES[name], stacks.github_outputs(infos)
    variables = {"PULUMI_BACKEND_URL": "s3://state", **(variables or {})}
    results: dict[str, str] = {}
    for job_id, job in workflow["jobs"].items():  # written in dependency order
        before = ancestors(workflow, job_id)
        assert before <= set(results), (name, job_id)
        lookup: dict[str, Any] = {
            "success()": all(results[a] == "success" for a in before),
            "failure()": any(results[a] == "failure" for a in before), "cancelled()": False, "always()": True,
            "github.event.pull_request.head.repo.full_name": "fork/envstack" if fork else "acme/envstack",
            "github.repository": "acme/envstack",
            **{f"vars.{key}": value for key, value in variables.items()},
            **{f"needs.{a}.result": results[a] for a in before},
            **{f"needs.stacks.outputs.{key}": value for key, value in outputs.items()}}
        condition = str(job.get("if", ""))
        status = any(f in condition for f in STATUS_FUNCTIONS)
        runs = value_of(condition, lookup) if status else lookup["success()"] and (
            not condition or value_of(condition, lookup))
        include = str(job.get("strategy", {}).get("matrix", {}).get("include", ""))
        if runs and MATRIX_OUTPUT.match(include):
            key = MATRIX_OUTPUT.match(include).group(1)  # type: ignore[union-attr]
            assert yaml.safe_load(outputs[key]), f"{name} {job_id}: Matrix vector 'include' does not contain any values"
        results[job_id] = ("failure" if job_id in failing else "success") if runs else "skipped"
    return results


def infos_of(*environments: str) -> list[stacks.StackInfo]:
    return [info for info in INFOS.values() if info.environment in environments]


DEPLOY_STAGES = ("dev", "staging", "prod-preview", "prod")


def stages(results: dict[str, str]) -> tuple[str, ...]:
    return tuple(results[stage] for stage in DEPLOY_STAGES)


def test_the_evaluator_reads_conditions():
    lookup = {"needs.a.result": "success", "vars.X": "x", "cancelled()": False}
    assert value_of("(vars.Y || vars.X) != ''", lookup) is True
    assert value_of("(vars.Y || vars.Z) != ''", lookup) is False
    assert value_of("!cancelled() && needs.a.result == 'success'", lookup) is True
    assert value_of("needs.a.result == 'failure' || vars.X == 'x' && vars.Y == 'y'", lookup) is False
    assert value_of("!(vars.X == 'x') || 'it''s' == 'it''s'", lookup) is True


def test_every_stage_deploys_when_every_environment_has_stacks():
    assert stages(run("deploy.yml", list(INFOS.values()))) == ("success",) * 4


@pytest.mark.parametrize(("environments", "expected"), [
    (("staging", "prod"), ("skipped", "success", "success", "success")),
    (("dev", "prod"), ("success", "skipped", "success", "success")),
    (("prod",), ("skipped", "skipped", "success", "success")),
    (("dev", "staging"), ("success", "success", "skipped", "skipped")),
    (("dev",), ("success", "skipped", "skipped", "skipped")),
    ((), ("skipped",) * 4),
])
def test_an_environment_without_stacks_is_skipped_and_the_next_one_still_deploys(environments, expected):
    assert stages(run("deploy.yml", infos_of(*environments))) == expected


@pytest.mark.parametrize(("failing", "expected"), [
    (("test",), ("skipped",) * 4),
    (("dev",), ("failure", "skipped", "skipped", "skipped")),
    (("staging",), ("success", "failure", "skipped", "skipped")),
    (("prod-preview",), ("success", "success", "failure", "skipped")),
])
def test_a_failed_stage_stops_the_later_ones(failing, expected):
    assert stages(run("deploy.yml", list(INFOS.values()), failing=failing)) == expected


def test_a_failure_before_an_empty_stage_stops_the_later_ones_too():
    assert stages(run("deploy.yml", infos_of("dev", "prod"), failing=("dev",))) == (
        "failure", "skipped", "skipped", "skipped")


def test_a_stage_without_its_backend_is_skipped_and_stops_the_later_ones():
    assert stages(run("deploy.yml", list(INFOS.values()), variables={"PULUMI_BACKEND_URL": ""})) == ("skipped",) * 4
    only_dev = {"PULUMI_BACKEND_URL": "", "PULUMI_BACKEND_URL_DEV": "s3://dev"}
    assert stages(run("deploy.yml", list(INFOS.values()), variables=only_dev)) == (
        "success", "skipped", "skipped", "skipped")
    # dev has no stacks: staging and prod go on with their own backends
    assert stages(run("deploy.yml", infos_of("staging", "prod"), variables={
        "PULUMI_BACKEND_URL": "", "PULUMI_BACKEND_URL_STAGING": "s3://s", "PULUMI_BACKEND_URL_PROD": "s3://p"})) == (
        "skipped", "success", "success", "success")


@pytest.mark.parametrize("name", ["pull-request.yml", "drift.yml"])
def test_a_repository_without_stack_files_skips_the_per_stack_jobs(name):
    everything = run(name, list(INFOS.values()))
    nothing = run(name, [])
    per_stack = {job_id for job_id, job in FILES[name]["jobs"].items()
                 if "stacks" in ancestors(FILES[name], job_id)}
    assert per_stack and {everything[job_id] for job_id in per_stack} == {"success"}
    assert {nothing[job_id] for job_id in per_stack} == {"skipped"}
    assert nothing["stacks"] == "success"


POLICY_CONFIG = re.compile(r'envstack policy-config "\$STACK" --output (\S+)')


def test_every_preview_and_update_runs_the_policy_pack_with_the_stacks_effective_config():
    """Each pulumi preview/up passes the file an earlier step of its job wrote with `envstack policy-config` for the
    same stack: its environment's policies/<env>.json tightened by the stack file's envstack:policy."""
    checked = 0
    for name, _, job in jobs():
        written: dict[str, str] = {}  # path -> the STACK it was written for
        for step in job.get("steps", []):
            env = {**FILES[name].get("env", {}), **job.get("env", {}), **step.get("env", {})}
            if match := POLICY_CONFIG.search(step.get("run", "")):
                written[match.group(1)] = env["STACK"]
            inputs = step.get("with", {})
            if not PULUMI_ACTION.match(step.get("uses", "")) or inputs.get("command") not in ("preview", "up"):
                continue
            assert (REPO / inputs["policyPacks"] / "PulumiPolicy.yaml").exists(), name
            assert inputs["policyPackConfigs"] in written, (name, step["name"])
            for values in contexts(name):
                stack = substitute(inputs["stack-name"], values)
                assert substitute(written[inputs["policyPackConfigs"]], values) == stack, (name, stack)
                assert is_stack(stack), stack
                checked += 1
    prod = [s for s, info in INFOS.items() if info.environment == "prod"]
    assert checked >= 2 * len(COMMITTED_STACKS) + len(prod) + 1  # PR previews, deploys, prod previews, review stack


def test_make_targets_and_envstack_commands_exist():
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.MULTILINE))
    subparsers = next(a for a in cli.parser()._actions if a.dest == "command")
    commands = set(subparsers.choices)
    used_targets, used_commands = set(), set()
    for _, script in run_scripts():
        used_targets |= set(re.findall(r"\bmake ([\w-]+)", script))
        used_commands |= set(re.findall(r"\benvstack ([\w-]+)", script))
    assert {"test", "synth", "setup"} <= used_targets
    assert {"synth", "check-outputs", "check-forward", "preflight", "stacks", "promote", "review-stack-file",
            "review-stacks"} <= used_commands
    assert used_targets <= targets
    assert used_commands <= commands


def uses_lines() -> list[tuple[str, str]]:
    paths = sorted(WORKFLOWS.glob("*.yml")) + sorted(ACTIONS.glob("*/action.yml"))
    return [(path.name, line.strip()) for path in paths for line in path.read_text().splitlines()
            if line.strip().startswith(("uses:", "- uses:"))]


def test_third_party_actions_are_pinned_by_commit_with_the_tag_in_a_comment():
    """A tag can be moved to other code; a commit cannot. The comment says which release the commit is."""
    third_party = [(name, line) for name, line in uses_lines() if "./" not in line]
    assert len(third_party) >= 10
    for name, line in third_party:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), (name, line)
    # one commit per action: the same release everywhere
    commits: dict[str, set[str]] = {}
    for _, line in third_party:
        action, commit = line.split("uses: ", 1)[1].split(" #")[0].split("@")
        commits.setdefault(action, set()).add(commit)
    assert all(len(found) == 1 for found in commits.values()), commits


def test_local_actions_and_reusable_workflows_exist():
    for name, job_id, job in jobs():
        if "uses" in job:
            assert (REPO / job["uses"]).is_file(), (name, job_id)
    for name, job_id, step in steps():
        if step.get("uses", "").startswith("./"):
            assert (REPO / step["uses"] / "action.yml").is_file(), (name, job_id)


def test_the_pulumi_cli_is_the_version_of_the_sdk_in_uv_lock():
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    sdk = next(p["version"] for p in lock["package"] if p["name"] == "pulumi")
    assert (REPO / ".pulumi-version").read_text().strip() == sdk
    installs = [s for _, _, s in steps() if PULUMI_ACTION.match(s.get("uses", ""))]
    assert installs and all(s["with"]["pulumi-version-file"] == ".pulumi-version" for s in installs)


# --- shape of every workflow ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FILES))
def test_bash_by_default_read_only_token_and_timeouts(name):
    workflow = FILES[name]
    assert workflow["defaults"]["run"]["shell"] == "bash"
    assert workflow["permissions"] == {"contents": "read"}
    for job_id, job in workflow["jobs"].items():
        if "uses" not in job:  # a reusable workflow's own jobs carry their timeouts
            assert 0 < job["timeout-minutes"] <= 120, (name, job_id)


def setup_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if s.get("uses") == SETUP_ACTION and s.get("with", {}).get("aws-role-arn")]


def job_needs_aws(job: dict[str, Any]) -> bool:
    if "uses" in job:
        return any(job_needs_aws(called) for called in called_jobs(job))
    return bool(setup_steps(job))


def called_jobs(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The jobs of the reusable workflow a caller job runs (none for a job with steps)."""
    return list(FILES[Path(job["uses"]).name]["jobs"].values()) if "uses" in job else []


def own_and_called_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", []) + [s for called in called_jobs(job) for s in called.get("steps", [])]


COMMENT_API = re.compile(r"\bgh api\b.*?/comments\b|\bgh pr comment\b")  # the GitHub CLI posting a comment


def job_writes_pull_requests(job: dict[str, Any]) -> bool:
    all_steps = own_and_called_steps(job)
    return (any(str(s.get("with", {}).get("comment-on-pr", "false")) != "false" for s in all_steps)
            or any("--destroy" in s.get("run", "") for s in all_steps)  # the clean-up's `gh pr edit/comment`
            or any(COMMENT_API.search(s.get("run", "")) for s in all_steps))


def job_writes_issues(job: dict[str, Any]) -> bool:
    return any("gh issue" in s.get("run", "") for s in own_and_called_steps(job))


def test_oidc_pull_request_and_issue_write_only_where_needed():
    """Also in reusable workflows: their top-level `contents: read` caps their jobs, whatever the caller grants, so
    a job that logs in to AWS, comments or opens issues must ask for it itself."""
    for name, job_id, job in jobs():
        permissions = job.get("permissions", {})
        assert permissions.get("contents", "read") == "read", (name, job_id)
        assert (permissions.get("id-token") == "write") == job_needs_aws(job), (name, job_id)
        assert (permissions.get("pull-requests") == "write") == job_writes_pull_requests(job), (name, job_id)
        assert (permissions.get("issues") == "write") == job_writes_issues(job), (name, job_id)
        # reading the Actions runs: only `envstack unlock` and `envstack deploying` (is a run of the stack in
        # progress?)
        assert (permissions.get("actions") == "read") == any(
            "envstack unlock" in s.get("run", "") or "envstack deploying" in s.get("run", "")
            for s in own_and_called_steps(job)), (name, job_id)
        assert set(permissions) <= {"contents", "id-token", "pull-requests", "issues", "actions"}, (name, job_id)


def test_no_job_holds_aws_credentials_and_a_token_that_writes_issues():
    for name, job_id, job in jobs():
        if "steps" in job:
            assert not (setup_steps(job) and job.get("permissions", {}).get("issues") == "write"), (name, job_id)


LEVELS = {"none": 0, "read": 1, "write": 2}


def test_callers_grant_what_every_called_job_asks_for():
    """GitHub refuses to start a run whose nested job asks for more than its caller grants, even a job its `if:` would
    skip: so drift (no pull request comment) and the approval preview have reusable workflows of their own."""
    checked = 0
    for name, job_id, job in jobs():
        granted = job.get("permissions", {})
        for called in called_jobs(job):
            for scope, level in called.get("permissions", {}).items():
                assert LEVELS[granted.get(scope, "none")] >= LEVELS[level], (name, job_id, scope)
                checked += 1
    assert checked >= 15  # deploy x4 callers, previews, drift (+ issues), promote


def test_aws_credentials_only_by_oidc_role_for_as_long_as_the_job_may_run():
    """configure-aws-credentials asks for one hour unless told (src/index.ts DEFAULT_ROLE_DURATION): a two-hour
    deploy would lose its credentials half-way."""
    configure = [s for _, _, s in steps() if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert configure and all(set(s["with"]) >= {"role-to-assume", "aws-region", "role-duration-seconds"}
                             for s in configure)
    text = "\n".join(p.read_text() for p in WORKFLOWS.glob("*.yml"))
    assert "aws-access-key-id" not in text and "secrets.AWS" not in text
    checked = 0
    default = ACTION["inputs"]["role-duration-seconds"]["default"]
    for name, job_id, job in jobs():
        for step in setup_steps(job):
            seconds = int(step["with"].get("role-duration-seconds", default))
            assert job["timeout-minutes"] * 60 <= seconds <= 43200, (name, job_id, seconds)
            checked += 1
    assert checked >= 8  # preview, approval preview, deploy, drift, review up, down, clean-up, promote record
    assert FILES["deploy-stack.yml"]["jobs"]["deploy"]["timeout-minutes"] == 120


# --- variables: per environment, with a per-stack override under a name GitHub allows -------------------------------

GITHUB_VARIABLE = re.compile(r"^(?!GITHUB_)[A-Za-z_][A-Za-z0-9_]*$")
# PR previews: the preview role (trusted for pull requests only); drift, approval previews and promotions' records:
# the reader role (trusted for main only); deploys: the deploy role (trusted for the GitHub environment only).
ROLE_OF = {"preview-stack.yml": "AWS_PREVIEW_ROLE_ARN_", "drift-stack.yml": "AWS_READER_ROLE_ARN_",
           "approval-preview-stack.yml": "AWS_READER_ROLE_ARN_", "deploy-stack.yml": "AWS_ROLE_ARN_"}


def role_expression(workflow: str) -> str:
    job, = FILES[workflow]["jobs"].values() if workflow != "drift-stack.yml" else [FILES[workflow]["jobs"]["drift"]]
    setup = next(s for s in job["steps"] if s.get("uses") == SETUP_ACTION)
    role = setup["with"]["aws-role-arn"]
    return job["env"][EXPRESSION.fullmatch(role).group(1).split(".", 1)[1]] if role.startswith("${{ env.") else role


@pytest.mark.parametrize("workflow", sorted(ROLE_OF))
def test_each_stack_job_uses_its_stacks_role_else_its_environments(workflow):
    """Read-only preview roles for previews and drift, deploy roles for deploys; `AWS_ROLE_ARN_PROD_EU` overrides
    `AWS_ROLE_ARN_PROD` for prod-eu only."""
    prefix = ROLE_OF[workflow]
    expression = role_expression(workflow)
    for stack in COMMITTED_STACKS:
        inputs = stack_inputs(stack)
        environment_var, stack_var = prefix + inputs["environment-key"], prefix + inputs["stack-key"]
        assert GITHUB_VARIABLE.match(environment_var) and GITHUB_VARIABLE.match(stack_var)
        assert evaluate(expression, inputs, {environment_var: "env-role"}) == "env-role"
        assert evaluate(expression, inputs, {environment_var: "env-role", stack_var: "own-role"}) == "own-role"
        other = prefix + ("STAGING" if inputs["environment-key"] != "STAGING" else "PROD")
        assert evaluate(expression, inputs, {other: "x"}) == ""


@pytest.mark.parametrize("workflow", ["preview-stack.yml", "drift-stack.yml", "approval-preview-stack.yml"])
def test_read_only_jobs_first_check_that_their_role_reads_the_cluster(workflow):
    """Preview and refresh read the baseline's Kubernetes objects as the job's role: `envstack check-viewer` refuses
    a role the stack's configuration gives no access entry (envstack:cluster.viewerRoleArns), before the preview."""
    job = FILES[workflow]["jobs"]["drift" if workflow == "drift-stack.yml" else "preview"]
    names = [s.get("run", s.get("uses", "")) for s in job["steps"]]
    check = next(i for i, n in enumerate(names) if n.startswith("envstack check-viewer"))
    pulumi = next(i for i, s in enumerate(job["steps"]) if "pulumi refresh" in s.get("run", "")
                  or PULUMI_ACTION.match(s.get("uses", "")))
    assert check < pulumi
    step = job["steps"][check]
    role = step.get("env", {}).get("ROLE") or job["env"]["PREVIEW_ROLE"]
    assert role == role_expression(workflow)
    assert step["run"] in ('envstack check-viewer "$STACK" "$ROLE"', 'envstack check-viewer "$STACK" "$PREVIEW_ROLE"')
    assert cli.parser().parse_args(["check-viewer", "dev", "arn:aws:iam::1:role/x"]).run.__module__ == (
        "envstack.ops.access")


@pytest.mark.parametrize("workflow", ["preview-stack.yml", "drift-stack.yml", "approval-preview-stack.yml",
                                      "deploy-stack.yml"])
def test_each_stack_job_runs_on_its_runner_with_its_backend(workflow):
    """prod's EKS API is private (and dev/staging's allow listed CIDRs only): `pulumi up`, preview and refresh need a
    runner that reaches it, `RUNNER_<STACK>` else `RUNNER_<ENV>`, GitHub-hosted when neither is set. The backend is
    `PULUMI_BACKEND_URL_<ENV>` else the shared `PULUMI_BACKEND_URL`."""
    for job in FILES[workflow]["jobs"].values():
        if "env" not in job or "PULUMI_BACKEND_URL" not in job["env"]:
            continue
        for stack in COMMITTED_STACKS:
            inputs = stack_inputs(stack)
            runner = job["runs-on"]
            assert evaluate(runner, inputs, {}) == "ubuntu-latest"
            assert evaluate(runner, inputs, {f"RUNNER_{inputs['environment-key']}": "env-runner"}) == "env-runner"
            assert evaluate(runner, inputs, {f"RUNNER_{inputs['environment-key']}": "env-runner",
                                             f"RUNNER_{inputs['stack-key']}": "own"}) == "own"
            backend = job["env"]["PULUMI_BACKEND_URL"]
            assert evaluate(backend, inputs, {"PULUMI_BACKEND_URL": "s3://shared"}) == "s3://shared"
            assert evaluate(backend, inputs, {"PULUMI_BACKEND_URL": "s3://shared",
                                              f"PULUMI_BACKEND_URL_{inputs['environment-key']}": "s3://own"}
                            ) == "s3://own"


def test_callers_pass_each_stacks_environment_region_and_variable_keys():
    for workflow in ROLE_OF:
        for job_id, values in callers(workflow):
            if "fromJSON(needs.path" in str(values):
                continue  # promote.yml: checked in its own test
            stack = values["stack"]
            assert {k: values[k] for k in stack_inputs(stack)} == stack_inputs(stack), (workflow, job_id)


def test_deploy_roles_only_in_jobs_with_a_github_environment():
    """A deploy role's OIDC trust names only `environment:<env>`: a job without an environment could not assume it,
    and one that could would be a way around the environment's reviewers."""
    deploying = [(name, job_id, job) for name, job_id, job in jobs()
                 if any(re.search(r"AWS_ROLE_ARN_", str(s["with"]["aws-role-arn"])) for s in setup_steps(job))]
    assert len(deploying) >= 4  # deploy, review stack up and down, review clean-up
    for name, job_id, job in deploying:
        assert job.get("environment"), (name, job_id)
    assert FILES["deploy-stack.yml"]["jobs"]["deploy"]["environment"] == "${{ inputs.environment }}"


# --- pull requests ----------------------------------------------------------------------------------------------------

def test_pull_request_checks_run_without_credentials():
    workflow = FILES["pull-request.yml"]
    for job_id in ("test", "stacks", "synth", "diff"):
        job = workflow["jobs"][job_id]
        assert "permissions" not in job and not job_needs_aws(job)
        assert "secrets." not in yaml.safe_dump(job) and "vars." not in yaml.safe_dump(job)
    synth = workflow["jobs"]["synth"]
    script = next(s["run"] for s in synth["steps"] if "make synth" in s.get("run", ""))
    assert "$GITHUB_STEP_SUMMARY" in script and 'exit "$status"' in script
    upload = next(s for s in synth["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "out/${{ matrix.stack }}.json"


def test_every_committed_stack_is_diffed_base_against_head_into_the_job_summary():
    """`envstack diff STACK@<base sha> STACK --format markdown`: the base commit needs the full history."""
    job = FILES["pull-request.yml"]["jobs"]["diff"]
    assert {values["stack"] for values in matrix_entries(job)} == set(COMMITTED_STACKS)
    assert job["steps"][0]["with"]["fetch-depth"] == 0
    step = next(s for s in job["steps"] if "envstack diff" in s.get("run", ""))
    assert step["env"] == {"STACK": "${{ matrix.stack }}", "BASE": "${{ github.event.pull_request.base.sha }}"}
    assert 'envstack diff "$STACK@$BASE" "$STACK" --format markdown' in step["run"]
    assert "$GITHUB_STEP_SUMMARY" in step["run"] and 'exit "$status"' in step["run"]
    argv = ["diff", "dev@main", "dev", "--format", "markdown"]
    assert cli.parser().parse_args(argv).run.__module__ == "envstack.tools.diff"
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["name"] == "diff-${{ matrix.stack }}"


def test_the_diff_comment_is_one_comment_updated_in_place_from_this_repositorys_branches_only():
    job = FILES["pull-request.yml"]["jobs"]["diff-comment"]
    assert job["needs"] == ["stacks", "diff"] and job_writes_pull_requests(job)
    every = list(INFOS.values())
    assert run("pull-request.yml", every)["diff-comment"] == "success"
    assert run("pull-request.yml", every, failing=("diff",))["diff-comment"] == "success"  # a failed diff is news
    assert run("pull-request.yml", every, fork=True)["diff-comment"] == "skipped"
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    download = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["pattern"] == "diff-*"
    script = next(s["run"] for s in job["steps"] if "run" in s)
    assert "--method PATCH" in script and "startswith" in script  # finds its own comment by the marker
    assert [j for j, other in FILES["pull-request.yml"]["jobs"].items() if job_writes_pull_requests(other)] == [
        "diff-comment"]  # one comment per pull request: pulumi/actions comments nowhere
    assert not [s for _, _, s in pulumi_steps() if str(s["with"].get("comment-on-pr", "false")) != "false"]


def comment_step() -> dict[str, Any]:
    return next(s for s in FILES["pull-request.yml"]["jobs"]["diff-comment"]["steps"] if "run" in s)


@pytest.mark.parametrize(("existing", "method"), [("", "POST"), ("4711", "PATCH")])
@pytest.mark.parametrize("size", [2_000, 200_000])
def test_the_diff_comment_stays_under_githubs_limit_and_is_updated_in_place(tmp_path, existing, method, size):
    """GitHub refuses a comment body over 65,536 characters (HTTP 422): a long diff is cut, with the way to the job
    summaries; the comment found by its marker (on any page) is updated, else one is posted."""
    diffs = tmp_path / "diffs"
    diffs.mkdir()
    (diffs / "diff-dev.md").write_text("### dev\n```\n" + "é resource changed\n" * (size // 19) + "```\n")
    (diffs / "diff-prod.md").write_text("### prod\nno change\n")
    log = tmp_path / "gh.log"
    fake = (f'echo "$*" >> {log}\n'
            f'if [ "$3" = PATCH ] || [ "$3" = POST ]; then cp comment.md {tmp_path}/sent.md; fi\n'
            f'if [ "$2" != --method ]; then echo "{existing}"; fi')
    env = {"PR": "7", "REPO": "acme/envstack", "RUN_URL": "https://github.com/acme/envstack/actions/runs/9"}
    ran = run_bash(comment_step()["run"], env, tmp_path, {"gh": fake}, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    calls = log.read_text().splitlines()
    assert "--paginate" in calls[0]  # every page of comments, not the first 30
    assert calls[1].startswith(f"api --method {method} ")
    assert (f"issues/comments/{existing}" in calls[1]) == bool(existing)
    body = (tmp_path / "sent.md").read_text(encoding="utf-8")
    assert body.startswith("<!-- envstack diff -->") and len(body) <= 65_536
    assert len(body.encode()) <= 65_536
    cut = size > 65_536
    assert ("Every stack's whole diff is in the job summaries of https://github.com/acme/envstack/actions/runs/9"
            in body) == cut
    assert ("### prod" in body) != cut and body.count("```") % 2 == 0
    assert ("pulumi preview (where its preview role is configured) is in the job summaries of "
            "https://github.com/acme/envstack/actions/runs/9" in body) != cut  # the previews' place


def test_previews_only_for_branches_of_this_repository_with_a_role():
    every = list(INFOS.values())
    assert run("pull-request.yml", every)["preview"] == "success"
    assert run("pull-request.yml", every, fork=True)["preview"] == "skipped"
    called = FILES["preview-stack.yml"]["jobs"]["preview"]
    inputs = stack_inputs(COMMITTED_STACKS[0])
    variable = f"AWS_PREVIEW_ROLE_ARN_{inputs['environment-key']}"
    assert evaluate(called["if"].removesuffix(" != ''"), inputs, {}) == ""
    assert evaluate(called["if"].removesuffix(" != ''"), inputs, {variable: "role"}) == "role"
    step = next(s for s in called["steps"] if PULUMI_ACTION.match(s.get("uses", "")))
    # the whole preview in the job summary; the pull request's one comment (the diff) points there
    assert step["with"]["command"] == "preview" and step["with"]["comment-on-summary"] is True
    assert "comment-on-pr" not in step["with"] and "pull-requests" not in called["permissions"]


# --- merge to main ----------------------------------------------------------------------------------------------------

def test_main_deploys_every_stack_of_dev_then_staging_then_prod_with_a_preview_before_prods_approval():
    workflow = FILES["deploy.yml"]
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    chain = workflow["jobs"]
    assert chain["dev"]["needs"] == ["test", "stacks"]
    assert chain["staging"]["needs"] == ["stacks", "dev"]
    assert chain["prod-preview"]["needs"] == ["stacks", "dev", "staging"]  # dev's result, when staging has no stack
    assert chain["prod"]["needs"] == ["stacks", "prod-preview"]
    for stage in ("dev", "staging", "prod"):
        deployed = callers("deploy-stack.yml", "deploy.yml")
        entries = [values for job_id, values in deployed if job_id == stage]
        assert sorted(v["stack"] for v in entries) == sorted(s for s, i in INFOS.items() if i.environment == stage)
        assert all(v["environment"] == stage and v["ref"] == "${{ github.sha }}" for v in entries)
        previous = {"dev": "", "staging": "dev", "prod": "staging"}[stage]
        assert all(v["promoted-from"] == ",".join(s for s, i in INFOS.items() if i.environment == previous)
                   for v in entries)
    previewed = [values for _, values in callers("approval-preview-stack.yml", "deploy.yml")]
    assert sorted(v["stack"] for v in previewed) == sorted(s for s, i in INFOS.items() if i.environment == "prod")
    assert all(v["ref"] == "${{ github.sha }}" for v in previewed)


def test_the_approver_reads_a_preview_of_that_commit_against_that_stack():
    job = FILES["approval-preview-stack.yml"]["jobs"]["preview"]
    assert "if" not in job and "pull-requests" not in job["permissions"]
    check = job["steps"][0]["run"]
    assert 'if [ -z "$PREVIEW_ROLE" ]' in check and "exit 1" in check  # no role: the gate fails, never skips
    checkout = job["steps"][1]
    assert checkout["with"]["ref"] == "${{ inputs.ref }}"
    step = next(s for s in job["steps"] if PULUMI_ACTION.match(s.get("uses", "")))
    assert step["with"]["command"] == "preview" and step["with"]["comment-on-summary"] is True


def test_each_deploy_runs_in_its_environment_one_at_a_time_forward_only():
    job = FILES["deploy-stack.yml"]["jobs"]["deploy"]
    assert job["concurrency"] == {"group": "deploy-${{ inputs.stack }}", "cancel-in-progress": False}
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["ref"] == "${{ inputs.ref }}"
    assert checkout["with"]["fetch-depth"] == 0  # the forward check needs the history
    assert job["env"]["ENVSTACK_COMMIT"] == "${{ inputs.ref }}"
    assert job["env"]["ENVSTACK_PROMOTED_FROM"] == "${{ inputs.promoted-from }}"
    names = [s.get("uses", s.get("run", "")) for s in job["steps"]]
    forward = next(i for i, n in enumerate(names) if "envstack check-forward" in n)
    preflight = next(i for i, n in enumerate(names) if n == 'envstack preflight "$STACK"')
    up = next(i for i, s in enumerate(job["steps"]) if s.get("with", {}).get("command") == "up")
    check = next(i for i, n in enumerate(names) if "envstack check-outputs" in n)
    assert forward < preflight < up < check  # preflight with the deploy role's credentials, before the update
    assert 'envstack check-forward "$STACK" --commit "$ENVSTACK_COMMIT" "${rollback[@]}"' in names[forward]
    assert '--commit "$ENVSTACK_COMMIT"' in job["steps"][check]["run"]
    assert "pulumi stack output --stack \"$STACK\" --json" in job["steps"][check]["run"]


def run_bash(script: str, env: dict[str, str], tmp_path: Path, fakes: dict[str, str],
             cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A workflow step's script in bash -eo pipefail (GitHub's `shell: bash`), with fake commands first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    environment = {**os.environ, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], env=environment,
                          capture_output=True, text=True, timeout=30, cwd=cwd)


@pytest.mark.parametrize(("rollback", "argv"), [("false", "check-forward prod --commit abc"),
                                                ("true", "check-forward prod --commit abc --rollback")])
def test_the_forward_check_passes_rollback_only_for_a_rollback(tmp_path, rollback, argv):
    job = FILES["deploy-stack.yml"]["jobs"]["deploy"]
    step = next(s for s in job["steps"] if "envstack check-forward" in s.get("run", ""))
    result = run_bash(step["run"], {"STACK": "prod", "ENVSTACK_COMMIT": "abc", "ROLLBACK": rollback}, tmp_path,
                      {"envstack": 'echo "$@"'})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == argv


# --- runners: AWS CLI v2 >= 2.7 ----------------------------------------------------------------------------------

AWS_CLI_SCRIPT = ACTIONS / "setup" / "aws-cli.sh"


def test_the_setup_action_ensures_the_aws_cli_wherever_it_logs_in_to_aws():
    """pulumi-eks refuses an AWS CLI older than 2.7 (assertCompatibleAWSCLIExists) and runs `aws eks get-token`."""
    steps_ = ACTION["runs"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps_]
    check = names.index("AWS CLI v2 >= 2.7")
    assert steps_[check]["if"] == "inputs.aws-role-arn != ''"
    assert steps_[check]["run"] == '"$GITHUB_ACTION_PATH/aws-cli.sh"' and os.access(AWS_CLI_SCRIPT, os.X_OK)
    assert check < next(i for i, s in enumerate(steps_) if PULUMI_ACTION.match(s.get("uses", "")))


AWS_CLI_FINGERPRINT = "FB5DB77FD5C118B80511ADA8A6310ACC4672475C"  # AWS CLI user guide, "Verify ... installer files"


def aws_cli(tmp_path: Path, fakes: dict[str, str], system: str = "Linux x86_64",
            script: Path = AWS_CLI_SCRIPT) -> subprocess.CompletedProcess:
    kernel, machine = system.split()
    fakes = {"uname": f'if [ "$1" = -s ]; then echo {kernel}; else echo {machine}; fi', **fakes}
    env = {"RUNNER_TOOL_CACHE": str(tmp_path / "cache"), "GITHUB_PATH": str(tmp_path / "github_path")}
    return run_bash(str(script), env, tmp_path, fakes)


needs_gpg = pytest.mark.skipif(not (shutil.which("gpg") and shutil.which("gpgv") and shutil.which("gpgconf")),
                               reason="gpg, gpgv and gpgconf verify the installer's signature")


@pytest.fixture
def signer(tmp_path: Path) -> Iterator[tuple[str, str, Callable[[Path, Path], None]]]:
    """A throwaway PGP key: its fingerprint, its armored public key, and sign(file, signature)."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet"]
    try:
        subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key", "Test <t@example.com>", "rsa2048", "sign", "1d"],
                       check=True, capture_output=True)
        listed = subprocess.run([*gpg, "--with-colons", "--fingerprint"], check=True, capture_output=True, text=True)
        fingerprint = next(line.split(":")[9] for line in listed.stdout.splitlines() if line.startswith("fpr:"))
        public = subprocess.run([*gpg, "--armor", "--export"], check=True, capture_output=True, text=True).stdout

        def sign(file: Path, signature: Path) -> None:
            subprocess.run([*gpg, "--detach-sign", "-o", str(signature), str(file)], check=True, capture_output=True)
        yield fingerprint, public, sign
    finally:  # key generation and signing start an agent for this home: stop it
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)


def signed_download(tmp_path: Path, sign: Callable[[Path, Path], None] | None) -> str:
    """A fake curl serving a zip and its .sig (signed by `sign`, or by nobody) and logging the URLs."""
    archive, signature = tmp_path / "served.zip", tmp_path / "served.sig"
    archive.write_bytes(b"PK\x03\x04 an installer")
    if sign:
        sign(archive, signature)
    else:
        signature.write_bytes(b"not a signature")
    return (f'echo "$5" >> {tmp_path / "curl.log"}\n'
            f'case "$5" in *.sig) cp {signature} "$7" ;; *) cp {archive} "$7" ;; esac')


def unzip_installer(tmp_path: Path) -> str:
    """A fake unzip putting what AWS's zip holds as aws/install (-i DIR -b BIN puts `aws` in BIN), and logging."""
    installer = tmp_path / "install"
    installer.write_text('#!/bin/bash\nmkdir -p "$4"\n'
                         'printf \'#!/bin/bash\\necho aws-cli/2.27.1 Python/3.13\\n\' > "$4/aws"\nchmod +x "$4/aws"\n')
    installer.chmod(0o755)
    return f'echo unzipped >> {tmp_path / "unzip.log"}\nmkdir -p "$5/aws" && cp {installer} "$5/aws/install"'


def trusting(tmp_path: Path, fingerprint: str, public: str) -> Path:
    """The script as shipped, except that it trusts a throwaway key instead of AWS's (whose signatures no test can
    make)."""
    shipped = tmp_path / "setup"
    shipped.mkdir()
    (shipped / "aws-cli-team.asc").write_text(public)
    script = shipped / "aws-cli.sh"
    script.write_text(AWS_CLI_SCRIPT.read_text().replace(AWS_CLI_FINGERPRINT, fingerprint))
    script.chmod(0o755)
    return script


def test_the_setup_action_trusts_the_aws_cli_teams_key_only():
    """The key beside the script is AWS's: its fingerprint, which the script checks, is the one AWS publishes."""
    assert f"FINGERPRINT={AWS_CLI_FINGERPRINT}\n" in AWS_CLI_SCRIPT.read_text()
    if shutil.which("gpg"):
        shown = subprocess.run(["gpg", "--batch", "--with-colons", "--show-keys",
                                str(ACTIONS / "setup" / "aws-cli-team.asc")], capture_output=True, text=True,
                               check=True).stdout
        assert [line.split(":")[9] for line in shown.splitlines() if line.startswith("fpr:")] == [AWS_CLI_FINGERPRINT]


@pytest.mark.parametrize("version", ["2.7.0", "2.15.30", "2.10.1"])
def test_a_recent_aws_cli_passes(tmp_path, version):
    ran = aws_cli(tmp_path, {"aws": f'echo "aws-cli/{version} Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22"'})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"aws-cli {version}" in ran.stdout


@needs_gpg
def test_an_old_or_missing_aws_cli_is_installed_once_its_signature_verifies(tmp_path, signer):
    """The installer runs only after gpgv reports a valid signature by the trusted fingerprint."""
    fingerprint, public, sign = signer
    ran = aws_cli(tmp_path, {"aws": 'echo "aws-cli/2.6.4 Python/3.9 Linux/5 exe/x86_64"',
                             "curl": signed_download(tmp_path, sign), "unzip": unzip_installer(tmp_path)},
                  script=trusting(tmp_path, fingerprint, public))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "found 2.6.4: installing" in ran.stdout and "aws-cli 2.27.1 installed" in ran.stdout
    assert (tmp_path / "curl.log").read_text().split() == [
        "https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip",
        "https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip.sig"]
    assert (tmp_path / "github_path").read_text().strip().endswith("envstack-aws-cli/bin")


@needs_gpg
@pytest.mark.parametrize("signed", [False, True])
def test_an_installer_not_signed_by_the_aws_cli_team_is_never_run(tmp_path, signer, signed):
    """A download signed by nobody, or by another key than AWS's: stopped before unzip and install."""
    ran = aws_cli(tmp_path, {"aws": "exit 127", "curl": signed_download(tmp_path, signer[2] if signed else None),
                             "unzip": unzip_installer(tmp_path)})
    assert ran.returncode == 1
    assert f"PGP signature is not the AWS CLI Team's ({AWS_CLI_FINGERPRINT})" in ran.stdout
    assert not (tmp_path / "unzip.log").exists()


@needs_gpg
def test_a_verified_installer_that_fails_stops_with_a_clear_message(tmp_path, signer):
    fingerprint, public, sign = signer
    ran = aws_cli(tmp_path, {"aws": "exit 127", "curl": signed_download(tmp_path, sign), "unzip": "exit 0"},
                  script=trusting(tmp_path, fingerprint, public))
    assert ran.returncode == 1 and "found no aws command, and AWS's installer failed" in ran.stdout


@pytest.mark.parametrize(("system", "fakes", "why"), [
    ("Darwin arm64", {"aws": 'echo "aws-cli/1.33.0 Python/3.9 Darwin/23"'},
     "found 1.33.0, and this runner (Darwin/arm64)"),
    ("Linux x86_64", {"aws": 'echo "aws-cli/2.6.4 Python/3.9"', "curl": "exit 22", "unzip": "exit 0"},
     "found 2.6.4, and the download from awscli.amazonaws.com failed"),
])
def test_an_aws_cli_that_cannot_be_had_stops_with_a_clear_message(tmp_path, system, fakes, why):
    ran = aws_cli(tmp_path, fakes, system)
    assert ran.returncode == 1
    assert "::error title=AWS CLI v2 >= 2.7.0 required::" in ran.stdout and why in ran.stdout


# --- drift ------------------------------------------------------------------------------------------------------------

def drift_step() -> dict[str, Any]:
    return next(s for s in FILES["drift-stack.yml"]["jobs"]["drift"]["steps"] if s.get("id") == "refresh")


def run_drift(tmp_path: Path, refresh: int, before: int = 0, after: int = 0) -> tuple[subprocess.CompletedProcess,
                                                                                  str, str, list[str]]:
    """The drift step with `pulumi` exiting `refresh` and `envstack deploying` exiting `before` (no --since) and
    `after` (--since): 0 no deploy of the stack, 1 one runs or ran, 2 GitHub could not be asked."""
    output, summary, log = tmp_path / "output", tmp_path / "summary", tmp_path / "calls"
    fakes = {"pulumi": f'echo "pulumi $*" >> {log}\nexit {refresh}',
             "envstack": f'echo "envstack $*" >> {log}\nif [ "$3" = --since ]; then exit {after}; fi\nexit {before}'}
    ran = run_bash(drift_step()["run"], {"STACK": "prod", "GITHUB_OUTPUT": str(output),
                                         "GITHUB_STEP_SUMMARY": str(summary)}, tmp_path, fakes)
    return ran, output.read_text(), summary.read_text(), log.read_text().splitlines()


@pytest.mark.parametrize(("code", "result", "fails", "annotation"), [
    (0, "clean", False, None),
    (7, "drift", True, "::error title=drift in prod::"),
    (1, "error", True, "::error title=drift check of prod failed::pulumi refresh exited 1"),
    (255, "error", True, "exited 255"),
])
def test_drift_is_exit_code_7_and_any_other_failure_is_an_error(tmp_path, code, result, fails, annotation):
    """`--expect-no-changes` exits 7 when changes were proposed (pulumi/pulumi cmd/exit_codes.go ExitNoChanges)."""
    ran, output, summary, _ = run_drift(tmp_path, code)
    assert (ran.returncode != 0) == fails
    assert output == f"result={result}\n"
    if annotation:
        assert annotation in ran.stdout
    assert ("DRIFTED" in summary) == (result == "drift")


def test_drift_is_skipped_while_a_deploy_of_the_stack_is_not_finished(tmp_path):
    """A deploy queued, waiting for approval or running: no refresh (its changes in flight are not drift)."""
    ran, output, summary, calls = run_drift(tmp_path, refresh=7, before=1)
    assert ran.returncode == 0 and output == "result=skipped\n" and "skipped" in summary
    assert calls == ["envstack deploying prod"]


@pytest.mark.parametrize(("after", "result"), [(0, "drift"), (1, "skipped"), (2, "error")])
def test_drift_seen_while_a_deploy_started_is_not_reported_as_drift(tmp_path, after, result):
    """A deploy job exists only once its run reaches the stack's stage: after a refresh that saw changes, the check
    asks again for deploys not finished or finished since it started."""
    ran, output, _, calls = run_drift(tmp_path, refresh=7, after=after)
    assert output == f"result={result}\n" and (ran.returncode == 0) == (result == "skipped")
    assert calls[0] == "envstack deploying prod" and calls[1].startswith("pulumi refresh --stack prod")
    assert re.fullmatch(r"envstack deploying prod --since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", calls[2])


def test_drift_is_an_error_when_github_cannot_be_asked(tmp_path):
    ran, output, _, calls = run_drift(tmp_path, refresh=0, before=2)
    assert ran.returncode != 0 and output == "result=error\n" and calls == ["envstack deploying prod"]
    assert "could not ask GitHub" in ran.stdout


def test_drift_runs_daily_for_every_stack_and_opens_one_issue_per_drifted_stack():
    workflow = FILES["drift.yml"]
    assert workflow["on"]["schedule"][0]["cron"]
    assert stacks_of("drift-stack.yml") == COMMITTED_STACKS
    called = FILES["drift-stack.yml"]["jobs"]
    # not the deploy jobs' group: GitHub keeps one pending job per group, and a drift queued there would cancel a
    # deploy waiting for the running one (`envstack deploying` keeps drift off a stack being deployed instead)
    assert FILES["deploy-stack.yml"]["jobs"]["deploy"]["concurrency"]["group"] == "deploy-${{ inputs.stack }}"
    assert called["drift"]["concurrency"] == {"group": "drift-${{ inputs.stack }}", "cancel-in-progress": False}
    assert called["drift"]["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert called["drift"]["outputs"]["result"] == "${{ steps.refresh.outputs.result }}"
    assert called["issue"]["needs"] == "drift"
    assert called["issue"]["if"] == "always() && needs.drift.outputs.result == 'drift'"


@pytest.mark.parametrize(("existing", "expected"), [("", "issue create --title drift: prod"),
                                                    ("12", "issue comment 12 --body Still drifted")])
def test_drift_issue_is_created_once_then_commented(tmp_path, existing, expected):
    step = FILES["drift-stack.yml"]["jobs"]["issue"]["steps"][0]
    env = {"STACK": "prod", "ENVIRONMENT": "prod", "TITLE": "drift: prod", "RUN_URL": "https://x/runs/1"}
    log = tmp_path / "gh.log"
    fake = f'echo "$*" >> {log}\nif [ "$2" = list ]; then echo "{existing}"; fi'
    ran = run_bash(step["run"], env, tmp_path, {"gh": fake})
    assert ran.returncode == 0, ran.stderr
    calls = log.read_text().splitlines()
    assert calls[0].startswith('issue list --state open --search "drift: prod" in:title')
    assert calls[1].startswith(expected) and len(calls) == 2


# --- locks ------------------------------------------------------------------------------------------------------------

def test_a_stale_lock_is_cleared_only_when_no_run_of_the_stack_is_in_progress():
    """`envstack unlock` first without credentials (a refused unlock never queues in the deploy group, where GitHub
    would cancel a pending deploy for it), then in the deploy group with the stack's deploy role."""
    workflow = FILES["unlock-stack.yml"]
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]) == {"stack"}
    check, unlock = workflow["jobs"]["check"], workflow["jobs"]["unlock"]
    assert not job_needs_aws(check) and unlock["needs"] == "check"
    assert [s["run"] for s in check["steps"] if "envstack unlock" in s.get("run", "")] == [
        'envstack unlock "$STACK" --check']
    assert [s["run"] for s in unlock["steps"] if "envstack unlock" in s.get("run", "")] == [
        'envstack unlock "$STACK" --yes']
    assert unlock["concurrency"] == {"group": "deploy-${{ inputs.stack }}", "cancel-in-progress": False}
    assert unlock["environment"] == "${{ fromJSON(needs.check.outputs.stack).environment }}"
    assert "AWS_ROLE_ARN_" in setup_steps(unlock)[0]["with"]["aws-role-arn"]  # the deploy role: it may delete locks
    assert cli.parser().parse_args(["unlock", "prod"]).run.__module__ == "envstack.ops.locks"


@pytest.mark.parametrize(("stack", "ok"), [("prod", True), ("nope", False)])
def test_the_unlock_workflow_finds_the_stacks_variables(tmp_path, stack, ok):
    step = next(s for s in FILES["unlock-stack.yml"]["jobs"]["check"]["steps"] if s.get("id") == "stack")
    entries = [info.matrix_entry() for info in INFOS.values()]
    if stack == "prod":
        stack = next(s for s, info in INFOS.items() if info.environment == "prod")
    output = tmp_path / "output"
    fake = f"cat <<'JSON'\n{json.dumps(entries)}\nJSON"
    ran = run_bash(step["run"], {"STACK": stack, "GITHUB_OUTPUT": str(output)}, tmp_path, {"envstack": fake},
                   cwd=tmp_path)
    assert (ran.returncode == 0) == ok, ran.stderr
    if ok:
        assert json.loads(output.read_text().removeprefix("stack="))["stack"] == stack
    else:
        assert "unknown stack 'nope'" in ran.stderr


# --- review stacks ----------------------------------------------------------------------------------------------------

def test_review_stack_is_created_from_dev_on_the_label_and_removed_on_close():
    workflow = FILES["review-stack.yml"]
    assert {"labeled", "unlabeled", "closed", "synchronize"} <= set(workflow["on"]["pull_request"]["types"])
    up, down = workflow["jobs"]["up"], workflow["jobs"]["down"]
    for job in (up, down):
        assert "'review-stack'" in job["if"] and "head.repo.full_name == github.repository" in job["if"]
        assert job["environment"] == "review"
        assert "vars.AWS_ROLE_ARN_REVIEW != ''" in job["if"]
        assert setup_steps(job)[0]["with"]["aws-role-arn"] == "${{ vars.AWS_ROLE_ARN_REVIEW }}"
        writes = next(s["run"] for s in job["steps"] if "envstack review-stack-file" in s.get("run", ""))
        assert ('envstack review-stack-file "$PR_NUMBER" --secrets-provider "$SECRETS_PROVIDER" \\\n'
                '  --deployer-role-arn "$DEPLOYER_ROLE_ARN"') in writes
    assert workflow["env"]["DEPLOYER_ROLE_ARN"] == "${{ vars.AWS_ROLE_ARN_REVIEW }}"
    assert "github.event.action != 'closed'" in up["if"] and "github.event.action == 'closed'" in down["if"]
    assert workflow["env"]["SECRETS_PROVIDER"] == "${{ vars.PULUMI_SECRETS_PROVIDER_REVIEW }}"
    names = [s.get("run", s.get("uses", "")) for s in up["steps"]]
    written = next(i for i, n in enumerate(names) if "envstack review-stack-file" in n)
    admit = next(i for i, n in enumerate(names) if "envstack review-stacks admit" in n)
    preflight = names.index('envstack preflight "$STACK"')  # quotas: VPCs and Elastic IPs of the dev account
    create = next(i for i, s in enumerate(up["steps"]) if s.get("with", {}).get("command") == "up")
    assert written < admit < preflight < create
    assert up["steps"][create]["with"]["upsert"] is True
    assert up["steps"][create]["with"]["secrets-provider"] == "${{ env.SECRETS_PROVIDER }}"
    remove = next(s for s in down["steps"] if s.get("with", {}).get("command") == "destroy")
    assert remove["with"]["remove"] is True
    assert substitute(remove["with"]["stack-name"], {}) == f"pr-{PR_NUMBER}"
    assert workflow["env"]["STACK"] == "pr-${{ github.event.pull_request.number }}"


def test_review_stacks_expire_on_a_schedule():
    workflow = FILES["review-stack-cleanup.yml"]
    assert workflow["on"]["schedule"][0]["cron"]
    job = workflow["jobs"]["clean-up"]
    assert job["environment"] == "review"
    script = next(s["run"] for s in job["steps"] if "envstack review-stacks clean-up" in s.get("run", ""))
    assert '--max-age-days "$MAX_AGE_DAYS" --destroy' in script and '--secrets-provider "$SECRETS_PROVIDER"' in script
    assert job["env"]["MAX_AGE_DAYS"] == "${{ vars.REVIEW_STACK_MAX_AGE_DAYS || 7 }}"


def test_review_stack_file_is_dev_without_dev_secrets_and_names_the_review_secrets_provider(tmp_path):
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    dev = (FIXTURES / "Pulumi.dev.yaml").read_text().replace("config:", "secretsprovider: awskms://alias/x\n"
                                                         "encryptedkey: AQID\nconfig:", 1)
    (tmp_path / "Pulumi.dev.yaml").write_text(dev + "  envstack:apiToken:\n    secure: AAABAGZha2U=\n")
    provider = "awskms://alias/envstack-review?region=us-west-2"
    path = write_review_stack_file(7, provider, root=tmp_path, deployer_role_arn="arn:aws:iam::1:role/review")
    assert path.name == "Pulumi.pr-7.yaml"
    document = yaml.safe_load(path.read_text())
    # the review key, never dev's: no `encryptedkey` of dev's data key, and a provider on every run
    assert document["secretsprovider"] == provider and set(document) == {"secretsprovider", "config"}
    config = read_stack_config("pr-7", tmp_path)
    assert config["envstack:environment"] == "dev"
    assert "envstack:apiToken" not in config
    dev = read_stack_config("dev", tmp_path)
    assert config["envstack:cluster"] == {**dev["envstack:cluster"], "deployerRoleArn": "arn:aws:iam::1:role/review"}
    assert {k: v for k, v in config.items() if k not in ("envstack:apiToken", "envstack:cluster")} == {
        k: v for k, v in dev.items() if k not in ("envstack:apiToken", "envstack:cluster")}


@pytest.mark.parametrize("argv", [["0", "--secrets-provider", "awskms://alias/x"],
                                  ["7", "--secrets-provider", ""], ["7", "--secrets-provider", "passphrase"]])
def test_review_stack_file_command_rejects_a_bad_number_or_provider(capsys, argv):
    assert cli.main(["review-stack-file", *argv]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_review_stack_file_command_needs_a_number_and_a_provider():
    for argv in (["abc", "--secrets-provider", "awskms://alias/x"], ["7"]):
        with pytest.raises(SystemExit):
            cli.main(["review-stack-file", *argv])


# --- promotion --------------------------------------------------------------------------------------------------------

def test_promote_workflow_deploys_the_sources_commit_in_the_targets_environment():
    workflow = FILES["promote.yml"]
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]) == {"source", "target"}
    jobs_ = workflow["jobs"]
    assert "permissions" not in jobs_["path"]  # path check: no AWS access
    path_run = next(s["run"] for s in jobs_["path"]["steps"] if "envstack promote" in s.get("run", ""))
    assert path_run == 'envstack promote "$SOURCE" "$TARGET" --describe --github-output'
    record_run = next(s["run"] for s in jobs_["record"]["steps"] if "envstack promote" in s.get("run", ""))
    assert record_run == 'envstack promote "$SOURCE" "$TARGET" --github-output'
    role = setup_steps(jobs_["record"])[0]["with"]["aws-role-arn"]
    assert "AWS_READER_ROLE_ARN_" in role and "needs.path.outputs.source" in role  # the source's read-only role
    deploy = jobs_["deploy"]
    assert deploy["uses"] == "./.github/workflows/deploy-stack.yml"
    assert deploy["with"]["ref"] == "${{ needs.record.outputs.commit }}"
    assert deploy["with"]["environment"] == "${{ fromJSON(needs.path.outputs.target).environment }}"
    assert deploy["with"]["rollback"] == "${{ needs.record.outputs.rollback == 'true' }}"
    assert "approval-preview" in deploy["needs"]
    assert jobs_["approval-preview"]["if"] == "fromJSON(needs.path.outputs.target).environment == 'prod'"


# --- the linters themselves -------------------------------------------------------------------------------------------

def copy_of_github(tmp_path: Path) -> Path:
    shutil.copytree(REPO / ".github", tmp_path / ".github")
    return tmp_path


def test_actionlint_checks_inputs_of_actions_pinned_by_commit(tmp_path):
    """Plain actionlint skips the inputs of a SHA-pinned action; scripts/actionlint_tags.py lints them by tag."""
    root = copy_of_github(tmp_path)
    assert actionlint_tags.main(root) == 0
    broken = root / ".github" / "workflows" / "deploy-stack.yml"
    broken.write_text(broken.read_text().replace("policyPacks:", "policy-packs:"))
    assert actionlint_tags.main(root) == 1


def test_a_commit_pin_without_its_tag_is_refused():
    text, problems = actionlint_tags.with_tags("      - uses: pulumi/actions@" + "a" * 40 + "\n", "x.yml")
    assert problems and "has no `# vN.M.P` tag comment" in problems[0]
    text, problems = actionlint_tags.with_tags("      - uses: pulumi/actions@" + "a" * 40 + " # v7.0.0\n", "x.yml")
    assert problems == [] and text == "      - uses: pulumi/actions@v7\n"


# ---- envstack verify after every update, and its read-only part with every drift check (issue 24) -------------------

def verify_steps(name: str) -> list[tuple[str, int, dict[str, Any]]]:
    """(job, index, step) of each step of workflow `name` that runs `envstack verify`."""
    return [(job_id, i, step) for job_id, job in FILES[name]["jobs"].items()
            for i, step in enumerate(job.get("steps", [])) if "envstack verify" in step.get("run", "")]


def test_verify_runs_after_every_up_and_its_read_only_part_with_every_drift_check():
    for name in ("deploy-stack.yml", "review-stack.yml"):
        [(job_id, index, step)] = verify_steps(name)
        job_steps = FILES[name]["jobs"][job_id]["steps"]
        [up] = [i for i, s in enumerate(job_steps) if PULUMI_ACTION.match(s.get("uses", ""))
                and s["with"]["command"] == "up"]
        assert up < index == len(job_steps) - 1, name  # after the update, and nothing after it: no rollback
        assert "if" not in step and not step.get("continue-on-error"), name  # a failure fails the job
        assert "--no-probe" not in step["run"] and '--summary "$GITHUB_STEP_SUMMARY"' in step["run"], name
    [(job_id, index, step)] = verify_steps("drift-stack.yml")
    # drifted or not, but not while a deploy runs (the refresh step's result "skipped")
    assert "--no-probe" in step["run"]
    assert step["if"] == "${{ !cancelled() && steps.refresh.outputs.result != 'skipped' }}"
    assert FILES["drift-stack.yml"]["jobs"][job_id]["steps"][index - 1]["id"] == "refresh"


@pytest.mark.parametrize("name", ["deploy-stack.yml", "review-stack.yml", "drift-stack.yml"])
@pytest.mark.parametrize("code", [0, 1, 2])
def test_a_verification_that_fails_fails_the_step_with_the_summary_written(tmp_path, name, code):
    """The step's script with a fake `envstack` (recording its arguments, exiting `code`) and `pulumi` (the outputs):
    the arguments are the command's own, the summary goes to $GITHUB_STEP_SUMMARY, and any exit but 0 fails it."""
    [(_, _, step)] = verify_steps(name)
    calls = tmp_path / "calls"
    fakes = {"envstack": f'printf "%s\\n" "$*" >> {calls}\nexit {code}', "pulumi": "echo '{\"clusterName\": \"c\"}'"}
    summary = tmp_path / "summary.md"
    done = run_bash(step["run"], {"STACK": "prod", "GITHUB_STEP_SUMMARY": str(summary)}, tmp_path, fakes,
                    cwd=tmp_path)
    assert (done.returncode == 0) == (code == 0), done.stderr
    [line] = [line for line in calls.read_text().splitlines() if line.startswith("verify ")]
    args = cli.parser().parse_args(shlex.split(line))
    assert (args.stack, args.outputs, args.summary) == ("prod", "out/prod-outputs.json", str(summary))
    assert args.no_probe == (name == "drift-stack.yml")
