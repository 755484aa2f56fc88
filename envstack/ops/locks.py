"""`envstack unlock STACK [--check] [--yes]`: clear a stale lock of a stack, never one a running job holds.

A `pulumi up`, `refresh` or `destroy` on the diy (S3) backend writes `.pulumi/locks/<org>/<project>/<stack>/<id>.json`
and deletes it when it ends (pulumi/pulumi pkg/backend/diy/lock.go); a killed job leaves it, and every later update
of the stack stops with "the stack is currently locked". `pulumi cancel` deletes every lock file of the stack (diy
backend.go CancelCurrentUpdate) whoever holds it, so this command first asks GitHub (`gh`) for runs not yet
completed with a job for this stack (deploy, drift, preview, unlock; for a review stack, any review-stack run) and
refuses while there is one. The unlock workflow (unlock-stack.yml) runs it in the stack's GitHub environment with
its deploy role (preview and reader roles may not delete locks: bootstrap's bucket policy) and in the deploy jobs'
concurrency group, so no deploy of the stack can start meanwhile.

`envstack deploying STACK [--since TIME]` asks the same of deploy and unlock jobs only: the drift check skips a
stack being changed, and does not report as drift what a deploy changed during its refresh.
"""

import argparse
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from envstack.program.paths import ROOT
from envstack.program.stack_names import REVIEW_STACK
from envstack.tools.exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED

from .review import CommandError, command_json

ACTIVE = ("queued", "in_progress", "waiting", "requested", "pending")
REVIEW_WORKFLOWS = ("review stack", "review stack clean-up")
JOB_KINDS = ("deploy", "drift", "preview", "unlock")
CHANGES = ("deploy", "unlock")  # the jobs that change a stack (or its lock); drift and previews only read it


def job_pattern(stack: str, kinds: tuple[str, ...] = JOB_KINDS) -> re.Pattern[str]:
    """The jobs that lock or read `stack`: `deploy prod`, `drift prod`, `preview prod [for approval]`, `unlock prod`,
    alone or as a called workflow's job (`prod (...) / deploy prod`)."""
    return re.compile(rf"(^|/ )({'|'.join(kinds)}) {re.escape(stack)}( for approval)?$")


def listed_runs() -> list[dict[str, Any]]:
    """The repository's 200 latest runs, this one left out."""
    runs = command_json(["gh", "run", "list", "--limit", "200", "--json",
                         "databaseId,status,workflowName,url,updatedAt"])
    return [run for run in runs or [] if str(run.get("databaseId")) != os.environ.get("GITHUB_RUN_ID")]


def active_runs() -> list[dict[str, Any]]:
    return [run for run in listed_runs() if run.get("status") in ACTIVE]


def jobs_of(run: dict[str, Any]) -> list[dict[str, Any]]:
    return (command_json(["gh", "run", "view", str(run["databaseId"]), "--json", "jobs"]) or {}).get("jobs", [])


def moment(text: str | None) -> datetime:
    """GitHub's ISO 8601 times ("2026-05-01T10:00:00Z"; an unfinished job's completedAt is year 1)."""
    return datetime.fromisoformat((text or "0001-01-01T00:00:00Z").replace("Z", "+00:00"))


def runs_for(stack: str) -> list[str]:
    """The URLs of runs not yet completed that have (or may have) a job for `stack`."""
    pattern, found = job_pattern(stack), []
    for run in active_runs():
        if REVIEW_STACK.match(stack) and run.get("workflowName") in REVIEW_WORKFLOWS:
            found.append(run["url"])
            continue
        if any(pattern.search(job.get("name", "")) and job.get("status") != "completed" for job in jobs_of(run)):
            found.append(run["url"])
    return found


def changes_since(stack: str, since: datetime | None = None) -> list[str]:
    """The URLs of runs with a deploy or unlock job of `stack` not finished (queued, waiting for approval or
    running), or, with `since`, finished at or after it: a job of a deploy run exists only once the run reaches its
    stage, so a drift check asks again after its refresh whether one ran meanwhile."""
    pattern, found = job_pattern(stack, CHANGES), []
    for run in listed_runs():
        if run.get("status") not in ACTIVE and (since is None or moment(run.get("updatedAt")) < since):
            continue
        if any(pattern.search(job.get("name", "")) and (
                job.get("status") != "completed" or (since is not None and moment(job.get("completedAt")) >= since))
               for job in jobs_of(run)):
            found.append(run["url"])
    return found


def deploying(args: argparse.Namespace) -> int:
    """`envstack deploying STACK [--since TIME]`: exit 1 while a deploy or unlock of the stack is not finished (or
    finished after TIME), 0 when none, 2 when GitHub cannot be asked. The drift check runs in a concurrency group of
    its own: in the deploy group, a queued drift run would cancel a deploy waiting there (GitHub keeps one pending
    job per group, "Control the concurrency of workflows and jobs"), so it asks this before and after its refresh
    instead, and reports nothing as drift while a deploy of the stack changes it."""
    try:
        since = moment(args.since).astimezone(UTC) if args.since else None
    except ValueError:
        print(f"envstack deploying: --since {args.since!r}: expected an ISO 8601 time, e.g. 2026-05-01T10:00:00Z",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        busy = changes_since(args.stack, since)
    except CommandError as error:
        print(f"envstack deploying: {error} (needs `gh` with read access to the repository's Actions)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if busy:
        print(f"{args.stack}: a deploy or unlock is not finished{' or ran since ' + args.since if since else ''}: "
              f"{', '.join(busy)}")
        return EXIT_REFUSED
    print(f"{args.stack}: no deploy or unlock in progress{' nor since ' + args.since if since else ''}")
    return EXIT_OK


def unlock(args: argparse.Namespace) -> int:
    try:
        busy = runs_for(args.stack)
    except CommandError as error:
        print(f"envstack unlock: {error} (needs `gh` with read access to the repository's Actions)", file=sys.stderr)
        return EXIT_REFUSED
    if busy:
        print(f"envstack unlock: refused: {len(busy)} run(s) of {args.stack} are not finished, and a lock may be "
              f"theirs: {', '.join(busy)}; wait for them (or cancel them in GitHub), then unlock", file=sys.stderr)
        return EXIT_REFUSED
    if args.check:
        print(f"{args.stack}: no run of this stack in progress")
        return EXIT_OK
    argv = ["pulumi", "cancel", "--stack", args.stack, "--non-interactive", *(["--yes"] if args.yes else [])]
    print(f"{args.stack}: no run in progress; {' '.join(argv)}")
    return EXIT_OK if subprocess.run(argv, cwd=ROOT, check=False).returncode == 0 else EXIT_REFUSED
