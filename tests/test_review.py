"""Review stacks in the backend: the cap on how many exist, and the clean-up of closed and old ones (`pulumi` and
`gh` replaced by canned answers in the formats their sources define)."""

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from envstack import cli
from envstack.ops import review

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
PROVIDER = "awskms://alias/envstack-review?region=us-west-2"
WRITE = review.write_review_stack_file  # the real one (the backend fixture replaces it)


def test_a_new_review_stack_is_admitted_under_the_cap_and_refused_at_it():
    assert review.admit("pr-9", ["pr-1", "pr-2"], 3) == "pr-9 is review stack 3 of at most 3"
    with pytest.raises(review.CommandError, match=r"3 review stacks exist \(pr-1, pr-2, pr-3\), the cap is 3"):
        review.admit("pr-9", ["pr-1", "pr-2", "pr-3"], 3)
    assert review.admit("pr-2", ["pr-1", "pr-2", "pr-3"], 3) == "pr-2 exists: updated"  # pushes still update it


def test_closed_and_old_review_stacks_expire():
    found = review.expired({"pr-1": NOW - timedelta(days=1), "pr-2": NOW - timedelta(days=9),
                            "pr-3": NOW - timedelta(days=2), "pr-4": None},
                           open_prs={1, 2, 4}, now=NOW, max_age=timedelta(days=7))
    assert found == [("pr-2", "created 9 days ago, more than 7"), ("pr-3", "pull request #3 is not open")]


@pytest.fixture
def backend(monkeypatch):
    """Canned `pulumi stack ls --json`, `pulumi stack history --json` and `gh pr list --json`; commands recorded."""
    history = {"pr-3": [{"version": 2, "startTime": "2026-05-09T10:00:00.000Z"},
                        {"version": 1, "startTime": "2026-04-20T10:00:00.000Z"}],
               "pr-5": [{"version": 1, "startTime": "2026-05-09T10:00:00.000Z"}]}
    answers = {("pulumi", "stack", "ls"): [{"name": "dev", "current": False},
                                           {"name": "organization/envstack/pr-3", "current": False},
                                           {"name": "pr-5", "current": True}, {"name": "pr-7", "current": False}],
               ("gh", "pr", "list"): [{"number": 3}, {"number": 5}]}

    def command_json(argv):
        if argv[:3] == ["pulumi", "stack", "history"]:
            return history.get(argv[argv.index("--stack") + 1], [])
        return answers[tuple(argv[:3])]
    ran = []
    monkeypatch.setattr(review, "command_json", command_json)
    monkeypatch.setattr(review.subprocess, "run",
                        lambda argv, cwd, check: ran.append(argv) or subprocess.CompletedProcess(argv, 0))
    monkeypatch.setattr(review, "datetime", type("FrozenDatetime", (datetime,), {"now": staticmethod(lambda tz: NOW)}))
    monkeypatch.setattr(review, "write_review_stack_file",
                        lambda number, provider, root, deployer_role_arn: ran.append(["write", number,
                                                                                      deployer_role_arn]))
    monkeypatch.setenv("ENVSTACK_DEPLOYER_ROLE_ARN", "arn:aws:iam::1:role/review")
    return ran


def test_clean_up_lists_without_destroying(capsys, backend):
    assert cli.main(["review-stacks", "clean-up", "--max-age-days", "7"]) == 0
    out = capsys.readouterr().out
    assert "3 review stacks, 2 to destroy" in out
    assert "pr-3: created 20 days ago, more than 7" in out and "pr-7: pull request #7 is not open" in out
    assert backend == []


def test_clean_up_destroys_removes_and_unlabels_an_open_pull_request(capsys, backend):
    assert cli.main(["review-stacks", "clean-up", "--destroy", "--secrets-provider", PROVIDER]) == 0
    assert backend[0] == ["write", 3, "arn:aws:iam::1:role/review"]
    assert backend[1] == ["pulumi", "destroy", "--stack", "pr-3", "--yes", "--remove", "--non-interactive"]
    assert backend[2] == ["gh", "pr", "edit", "3", "--remove-label", "review-stack"]
    assert backend[3][:4] == ["gh", "pr", "comment", "3"]
    assert backend[4:] == [["write", 7, "arn:aws:iam::1:role/review"],  # pull request 7 is closed: no label to remove
                           ["pulumi", "destroy", "--stack", "pr-7", "--yes", "--remove", "--non-interactive"]]


def test_clean_up_refuses_to_destroy_without_a_cloud_secrets_provider(capsys, backend):
    assert cli.main(["review-stacks", "clean-up", "--destroy"]) == 2
    assert "expected a cloud secrets provider URL" in capsys.readouterr().err and backend == []


def test_admit_reads_the_backend(capsys, backend):
    assert cli.main(["review-stacks", "admit", "9", "--max", "3"]) == 1
    assert "the cap is 3" in capsys.readouterr().err
    assert cli.main(["review-stacks", "admit", "9", "--max", "4"]) == 0


def test_a_failing_command_is_reported_not_a_traceback(capsys, monkeypatch):
    monkeypatch.setattr(review.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 255, "", "no login"))
    assert cli.main(["review-stacks", "admit", "9"]) == 1
    assert "`pulumi stack ls --json` exited 255: no login" in capsys.readouterr().err


def test_history_json_is_what_pulumi_stack_history_prints(monkeypatch):
    entries = [{"version": 1, "kind": "update", "startTime": "2026-05-01T08:00:00.000Z"}]
    monkeypatch.setattr(review, "command_json", lambda argv: entries if "--page-size" in argv else json.dumps(argv))
    assert review.created("pr-1") == datetime(2026, 5, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(("dev_file", "problem"), [
    ("config: [1]\n", "Pulumi.dev.yaml:1: `config:` must be a mapping"),
    ("config:\n  envstack:network: &n [*n]\n", "an alias inside its own anchor"),
    ("config:\n  envstack:team: a\n  envstack:team: b\n", "key 'envstack:team' is set twice"),
])
def test_a_dev_stack_file_the_cli_cannot_read_makes_no_review_stack(capsys, checkout, dev_file, problem):
    (checkout / "Pulumi.dev.yaml").write_text(dev_file)
    code = cli.main(["review-stack-file", "7", "--secrets-provider", PROVIDER])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and "Traceback" not in err
    assert not (checkout / "Pulumi.pr-7.yaml").exists()


@pytest.mark.parametrize(("dev_file", "problem"), [
    (None, "stack dev: no stack file Pulumi.dev.yaml"),
    ("config: [1]\n", "stack dev: Pulumi.dev.yaml:1: `config:` must be a mapping"),
])
def test_clean_up_reports_a_dev_stack_file_it_cannot_read(capsys, checkout, backend, monkeypatch, dev_file, problem):
    """`pulumi destroy` needs the review stack's file, made from dev's: without it, a failure per stack, destroying
    nothing, not a traceback."""
    monkeypatch.setattr(review, "write_review_stack_file", WRITE)
    dev = checkout / "Pulumi.dev.yaml"
    dev.unlink() if dev_file is None else dev.write_text(dev_file)
    assert cli.main(["review-stacks", "clean-up", "--destroy", "--secrets-provider", PROVIDER]) == 1
    err = capsys.readouterr().err
    assert f"pr-3: dev's stack file cannot be read: {problem}" in err and "Traceback" not in err
    assert not [argv for argv in backend if argv[0] == "pulumi"]
