"""`envstack unlock`: a stale lock is deleted with `pulumi cancel` only while no GitHub run of that stack is in
progress (`gh` and `pulumi` replaced by canned answers in their documented --json formats)."""

import subprocess
from datetime import datetime

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


# --- envstack deploying: the drift check's question ----------------------------------------------------------------

HISTORY = [{"databaseId": 10, "status": "completed", "workflowName": "deploy", "url": "https://x/runs/10",
            "updatedAt": "2026-05-01T09:58:00Z"},
           {"databaseId": 11, "status": "completed", "workflowName": "deploy", "url": "https://x/runs/11",
            "updatedAt": "2026-05-01T10:04:00Z"},
           {"databaseId": 12, "status": "waiting", "workflowName": "deploy", "url": "https://x/runs/12",
            "updatedAt": "2026-05-01T08:00:00Z"},
           {"databaseId": 13, "status": "in_progress", "workflowName": "pull request", "url": "https://x/runs/13",
            "updatedAt": "2026-05-01T10:01:00Z"}]
HISTORY_JOBS = {
    "10": [{"name": "prod (x) / deploy prod", "status": "completed", "completedAt": "2026-05-01T09:58:00Z"}],
    "11": [{"name": "staging (x) / deploy staging", "status": "completed", "completedAt": "2026-05-01T10:04:00Z"}],
    "12": [{"name": "prod (x) / deploy prod", "status": "waiting", "completedAt": "0001-01-01T00:00:00Z"}],
    "13": [{"name": "prod (x) / preview prod", "status": "in_progress", "completedAt": "0001-01-01T00:00:00Z"}]}


@pytest.fixture
def history(monkeypatch):
    def command_json(argv):
        if argv[:3] == ["gh", "run", "list"]:
            return HISTORY
        return {"jobs": HISTORY_JOBS[argv[3]]}
    monkeypatch.setattr(locks, "command_json", command_json)
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)


@pytest.mark.parametrize(("stack", "since", "busy", "code"), [
    ("prod", None, ["https://x/runs/12"], 1),  # waiting for prod's approval: it will change the stack
    ("prod", "2026-05-01T09:59:00Z", ["https://x/runs/12"], 1),  # run 10 ended before
    ("prod", "2026-05-01T09:57:00Z", ["https://x/runs/10", "https://x/runs/12"], 1),  # run 10 ended during
    ("staging", None, [], 0),
    ("staging", "2026-05-01T10:00:00Z", ["https://x/runs/11"], 1),
    ("dev", "2026-05-01T10:00:00Z", [], 0),  # a pull request's preview changes nothing
])
def test_deploys_of_the_stack_not_finished_or_finished_since(history, capsys, stack, since, busy, code):
    assert locks.changes_since(stack, datetime.fromisoformat(since) if since else None) == busy
    assert cli.main(["deploying", stack, *(["--since", since] if since else [])]) == code
    out = capsys.readouterr().out
    assert all(url in out for url in busy)


def test_deploying_is_an_error_when_github_cannot_be_asked(monkeypatch, capsys):
    def failing(argv):
        raise locks.CommandError("`gh run list` exited 4: authentication required")
    monkeypatch.setattr(locks, "command_json", failing)
    assert cli.main(["deploying", "prod"]) == 2
    assert "authentication required" in capsys.readouterr().err
    assert cli.main(["deploying", "prod", "--since", "yesterday"]) == 2
