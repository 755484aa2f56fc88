"""`envstack unlock`: a stale lock is deleted with `pulumi cancel` only while no GitHub run of that stack is in
progress (`gh` and `pulumi` replaced by canned answers in their documented --json formats)."""

import subprocess

import pytest

from envstack import cli
from envstack.ops import locks

RUNS = [{"databaseId": 1, "status": "in_progress", "workflowName": "deploy", "url": "https://x/runs/1"},
        {"databaseId": 2, "status": "completed", "workflowName": "deploy", "url": "https://x/runs/2"},
        {"databaseId": 3, "status": "waiting", "workflowName": "promote", "url": "https://x/runs/3"},
        {"databaseId": 4, "status": "queued", "workflowName": "review stack", "url": "https://x/runs/4"}]
JOBS = {"1": [{"name": "stacks", "status": "completed"},
              {"name": "prod (prod, prod, us-west-2, PROD, PROD, staging) / deploy prod", "status": "in_progress"}],
        "3": [{"name": "deploy / deploy staging", "status": "waiting"}],
        "4": [{"name": "review stack up", "status": "queued"}]}


@pytest.fixture
def github(monkeypatch):
    ran: list[list[str]] = []

    def command_json(argv):
        ran.append(argv)
        if argv[:3] == ["gh", "run", "list"]:
            return RUNS
        if argv[:3] == ["gh", "run", "view"]:
            return {"jobs": JOBS.get(argv[3], [])}
        raise AssertionError(argv)
    monkeypatch.setattr(locks, "command_json", command_json)
    monkeypatch.setattr(locks.subprocess, "run",
                        lambda argv, cwd, check: ran.append(argv) or subprocess.CompletedProcess(argv, 0))
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    return ran


@pytest.mark.parametrize(("stack", "busy"), [("prod", ["https://x/runs/1"]), ("staging", ["https://x/runs/3"]),
                                             ("prod-eu", []), ("dev", []), ("pr-7", ["https://x/runs/4"])])
def test_runs_of_the_stack_are_found_by_their_jobs(github, stack, busy):
    assert locks.runs_for(stack) == busy


def test_unlock_is_refused_while_a_run_of_the_stack_is_in_progress(github, capsys):
    assert cli.main(["unlock", "prod", "--yes"]) == 1
    assert "refused: 1 run(s) of prod are not finished" in capsys.readouterr().err
    assert not [argv for argv in github if argv[0] == "pulumi"]


def test_unlock_cancels_when_nothing_runs(github, capsys):
    assert cli.main(["unlock", "dev", "--yes"]) == 0
    assert github[-1] == ["pulumi", "cancel", "--stack", "dev", "--non-interactive", "--yes"]
    assert cli.main(["unlock", "dev", "--check"]) == 0 and github[-1][0] == "gh"  # --check deletes nothing


def test_the_current_run_does_not_count(github, monkeypatch):
    monkeypatch.setenv("GITHUB_RUN_ID", "1")
    assert locks.runs_for("prod") == []


def test_the_job_pattern_does_not_confuse_stacks_sharing_a_prefix():
    pattern = locks.job_pattern("prod")
    assert pattern.search("deploy prod") and pattern.search("prod-preview (x) / preview prod for approval")
    assert not pattern.search("deploy prod-eu") and not pattern.search("deploy staging-prod")
