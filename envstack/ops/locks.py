"""`envstack unlock STACK [--check] [--yes]`: clear a stale lock of a stack, never one a running job holds.

A `pulumi up`, `refresh` or `destroy` on the diy (S3) backend writes `.pulumi/locks/<org>/<project>/<stack>/<id>.json`
and deletes it when it ends (pulumi/pulumi pkg/backend/diy/lock.go); a killed job leaves it, and every later update
of the stack stops with "the stack is currently locked". `pulumi cancel` deletes every lock file of the stack (diy
backend.go CancelCurrentUpdate) whoever holds it, so this command first asks GitHub (`gh`) for runs not yet
completed with a job for this stack (deploy, drift, preview, unlock; for a review stack, any review-stack run) and
refuses while there is one. The unlock workflow (unlock-stack.yml) runs it in the stack's GitHub environment with
its deploy role (preview roles may not delete locks: bootstrap's bucket policy) and in the deploy jobs' concurrency
group, so no deploy or drift of the stack can start meanwhile.
"""

import argparse
import os
import re
import subprocess
import sys
from typing import Any

from envstack.program.paths import ROOT
from envstack.program.stack_names import REVIEW_STACK
from envstack.tools.exit_codes import EXIT_OK, EXIT_REFUSED

from .review import CommandError, command_json

ACTIVE = ("queued", "in_progress", "waiting", "requested", "pending")
REVIEW_WORKFLOWS = ("review stack", "review stack clean-up")


def job_pattern(stack: str) -> re.Pattern[str]:
    """The jobs that lock or read `stack`: `deploy prod`, `drift prod`, `preview prod [for approval]`, `unlock prod`,
    alone or as a called workflow's job (`prod (...) / deploy prod`)."""
    return re.compile(rf"(^|/ )(deploy|drift|preview|unlock) {re.escape(stack)}( for approval)?$")


def active_runs() -> list[dict[str, Any]]:
    runs = command_json(["gh", "run", "list", "--limit", "200", "--json", "databaseId,status,workflowName,url"])
    return [run for run in runs or [] if run.get("status") in ACTIVE
            and str(run.get("databaseId")) != os.environ.get("GITHUB_RUN_ID")]


def runs_for(stack: str) -> list[str]:
    """The URLs of runs not yet completed that have (or may have) a job for `stack`."""
    pattern, found = job_pattern(stack), []
    for run in active_runs():
        if REVIEW_STACK.match(stack) and run.get("workflowName") in REVIEW_WORKFLOWS:
            found.append(run["url"])
            continue
        jobs = (command_json(["gh", "run", "view", str(run["databaseId"]), "--json", "jobs"]) or {}).get("jobs", [])
        if any(pattern.search(job.get("name", "")) and job.get("status") != "completed" for job in jobs):
            found.append(run["url"])
    return found


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
