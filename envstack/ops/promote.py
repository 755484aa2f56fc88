"""`envstack promote SOURCE TARGET`: give TARGET the commit SOURCE runs, along an allowed promotion path only.

Paths are between environments (each stack file's envstack:environment), so `staging -> prod-eu` is a promotion like
`staging -> prod`. The commit comes from SOURCE's deployment record (SSM `/envstack/<stack>/deployment`, in the region
of SOURCE's stack file). Refused: a path between environments its profiles do not declare (`promotion.from`,
`promotion.rollbackFrom`: envstack/program/config/profiles.py), a dirty working tree or a checkout
that is not that commit (the program `pulumi up` runs is the checkout), and a target that would move backwards (the
commit is not a descendant of the one TARGET's record names) unless the move is a rollback.

`envstack check-forward STACK --commit SHA` is the same backwards check for the deploy job: a queued or re-run deploy
of an older commit is refused.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from envstack.program.config.profiles import promotion_paths
from envstack.program.deployment import LOCAL, DeploymentRecord, parameter_name
from envstack.program.paths import POLICY_DIR, ROOT
from envstack.tools.exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED

from .stacks import StackFileError, StackInfo, describe

ROLLBACK = "rollback"
WORKFLOW = "promote.yml"  # .github/workflows/promote.yml: the same move in the target's GitHub environment


class RefusedError(Exception):
    """A promotion that must not happen; the message is the one line the user sees."""


@dataclass(frozen=True)
class Step:
    """One command of the promotion, with the environment variables the deployment record is built from."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return shlex.join([f"{k}={v}" for k, v in self.env] + list(self.argv))


def check_path(source: StackInfo, target: StackInfo) -> str:
    """The kind of move ("promotion" or "rollback"), or RefusedError naming the paths that exist."""
    paths = promotion_paths()
    kind = paths.get((source.environment, target.environment))
    if kind is None or source.stack == target.stack:
        allowed = ", ".join(f"{s}->{t}" + (" (rollback)" if k == ROLLBACK else "") for (s, t), k in paths.items())
        raise RefusedError(f"promotion {source.stack}->{target.stack} (environments {source.environment}->"
                           f"{target.environment}) is not allowed; allowed paths between environments: {allowed} "
                           "(the profiles' promotion.from and promotion.rollbackFrom)")
    return kind


def find_record(stack: str, region: str) -> DeploymentRecord | None:
    """The stack's deployment record from SSM, None if it was never deployed, RefusedError if it cannot be used."""
    name = parameter_name(stack)
    try:
        value = boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise RefusedError(f"cannot read deployment record {name} in {region}: {error}") from error
    except BotoCoreError as error:
        raise RefusedError(f"cannot read deployment record {name} in {region}: {error}") from error
    try:
        return DeploymentRecord.from_json(value)
    except (ValueError, KeyError, TypeError) as error:
        raise RefusedError(f"deployment record {name} is not a valid record ({error!r}): {value[:80]}") from error


def read_record(stack: str, region: str) -> DeploymentRecord:
    """The record of a stack that must have been deployed by CI (a promotion's source)."""
    record = find_record(stack, region)
    name = parameter_name(stack)
    if record is None:
        raise RefusedError(f"no deployment record {name} in {region}: {stack} was never deployed by CI")
    if record.commit == LOCAL:
        raise RefusedError(f"{stack} runs a local deploy with no recorded commit ({name}); deploy it from CI first")
    return record


def _git(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def head_commit(cwd: Path = ROOT) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise RefusedError(f"cannot tell which commit this checkout is (git rev-parse HEAD): {error}") from error


def working_tree_changes(cwd: Path = ROOT) -> list[str]:
    """`git status --porcelain`: modified, staged and untracked paths (ignored files excluded)."""
    result = _git("status", "--porcelain", cwd=cwd)
    if result.returncode != 0:
        raise RefusedError(f"cannot tell whether the working tree is clean (git status): {result.stderr.strip()}")
    return result.stdout.splitlines()


def check_clean(changes: list[str]) -> None:
    if changes:
        raise RefusedError(f"the working tree has {len(changes)} uncommitted change(s) ({changes[0].strip()}"
                           f"{', ...' if len(changes) > 1 else ''}): `pulumi up` would deploy them under the "
                           f"recorded commit; commit or stash them first")


def is_ancestor(older: str, newer: str, cwd: Path = ROOT) -> bool | None:
    """Whether `older` is in `newer`'s history; None when git does not know one of them (a shallow clone)."""
    code = _git("merge-base", "--is-ancestor", older, newer, cwd=cwd).returncode
    return {0: True, 1: False}.get(code)


def check_forward(stack: str, current: DeploymentRecord | None, commit: str, kind: str = "promotion") -> str:
    """What deploying `commit` to `stack` means, or RefusedError when it would move the stack backwards."""
    if current is None:
        return f"{stack} has no deployment record: first deploy"
    if current.commit == LOCAL:
        return f"{stack} runs a local deploy with no recorded commit: nothing to compare with"
    if current.commit == commit:
        return f"{stack} already runs {commit}: deployed again"
    ancestor = is_ancestor(current.commit, commit)
    if ancestor:
        return f"{stack} runs {current.commit}, an ancestor of {commit}: forward"
    if kind == ROLLBACK:
        return f"{stack} runs {current.commit}: rollback to {commit}"
    if ancestor is None:
        raise RefusedError(f"{stack} runs {current.commit}, which this checkout's history does not contain: cannot "
                           f"tell whether {commit} is newer (fetch the full history: fetch-depth 0)")
    raise RefusedError(f"{stack} runs {current.commit} and {commit} is not a descendant of it: deploying it would "
                       f"move {stack} backwards; roll back with a rollback path (`envstack promote prod staging`)")


def check_checkout(record: DeploymentRecord, source: str, head: str) -> None:
    if head != record.commit:
        raise RefusedError(f"{source} runs {record.commit} but this checkout is {head}: "
                           f"run `git checkout {record.commit}` first")


def steps(source: str, target: StackInfo, commit: str, yes: bool = False) -> list[Step]:
    """`pulumi preview` then `pulumi up` of TARGET with the policy pack and TARGET's effective policy configuration
    (its environment's, tightened by its stack file: `envstack policy-config`, written first)."""
    config = f"out/policy-{target.stack}.json"
    policy = ("--policy-pack", POLICY_DIR.name, "--policy-pack-config", config)
    env = (("ENVSTACK_COMMIT", commit), ("ENVSTACK_PROMOTED_FROM", source))
    up = ("pulumi", "up", "-s", target.stack, *policy, *(("--yes",) if yes else ()))
    return [Step(("envstack", "policy-config", target.stack, "--output", config), ()),
            Step(("pulumi", "preview", "-s", target.stack, *policy), env), Step(up, env)]


def dispatch_command(source: str, target: str) -> list[str]:
    return ["gh", "workflow", "run", WORKFLOW, "-f", f"source={source}", "-f", f"target={target}"]


def run_steps(plan: Sequence[Step]) -> int:
    for step in plan:
        print(f"+ {step}", flush=True)
        result = subprocess.run(list(step.argv), cwd=ROOT, env={**os.environ, **dict(step.env)}, check=False)
        if result.returncode != 0:
            print(f"stopped: `{step.argv[0]} {step.argv[1]}` exited {result.returncode}", file=sys.stderr)
            return EXIT_REFUSED
    return EXIT_OK


def _describe(stack: str, root: Path = ROOT) -> StackInfo:
    try:
        return describe(stack, root)
    except FileNotFoundError as error:
        raise StackFileError(f"unknown stack {stack}: {error}") from error


def write_github_output(values: dict[str, str]) -> None:
    lines = [f"{key}={value}" for key, value in values.items()]
    with open(os.environ.get("GITHUB_OUTPUT") or os.devnull, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def _ci_outputs(source: StackInfo, target: StackInfo, kind: str) -> dict[str, str]:
    return {"kind": kind, "rollback": str(kind == ROLLBACK).lower(),
            "source": json.dumps(source.matrix_entry(), separators=(",", ":")),
            "target": json.dumps(target.matrix_entry(promoted_from=source.stack), separators=(",", ":"))}


def _promote(args: argparse.Namespace, source: StackInfo, target: StackInfo) -> int:
    kind = check_path(source, target)
    if args.describe and args.github_output:  # CI's first job: no AWS access yet; names the stacks and the move
        write_github_output(_ci_outputs(source, target, kind))
        return EXIT_OK
    if args.dispatch:
        return subprocess.run(dispatch_command(source.stack, target.stack), cwd=ROOT, check=False).returncode
    if not args.github_output:
        check_clean(working_tree_changes())
    record = read_record(source.stack, source.region)
    if args.github_output:  # CI: the deploy job checks out this commit and checks TARGET's record in its account
        write_github_output({"commit": record.commit, **_ci_outputs(source, target, kind)})
        return EXIT_OK
    forward = check_forward(target.stack, find_record(target.stack, target.region), record.commit, kind)
    check_checkout(record, source.stack, head_commit())
    plan = steps(source.stack, target, record.commit, yes=args.yes)
    print(f"{kind} {source.stack} -> {target.stack}: {target.stack} gets commit {record.commit} "
          f"({source.stack} runs it: deployed by {record.deployed_by} from {record.branch}; {forward})")
    for step in plan:
        print(f"  {step}")
    print(f"  or in {target.stack}'s GitHub environment ({target.environment}): "
          f"{shlex.join(dispatch_command(source.stack, target.stack))}")
    return run_steps(plan) if args.execute else EXIT_OK


def _answer(command: str, run: Callable[[], int]) -> int:
    """Run a command's body; a stack file CI cannot place is bad input (2), a refusal is 1."""
    try:
        return run()
    except StackFileError as error:
        print(f"envstack {command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RefusedError as refusal:
        print(f"envstack {command}: refused: {refusal}", file=sys.stderr)
        return EXIT_REFUSED


def promote(args: argparse.Namespace) -> int:
    return _answer("promote", lambda: _promote(args, _describe(args.source, args.root),
                                               _describe(args.target, args.root)))


def check_forward_command(args: argparse.Namespace) -> int:
    """`envstack check-forward STACK --commit SHA [--rollback]`: the deploy job's guard against going backwards."""
    def run() -> int:
        info = _describe(args.stack, args.root)
        print(check_forward(info.stack, find_record(info.stack, info.region), args.commit,
                            ROLLBACK if args.rollback else "promotion"))
        return EXIT_OK
    return _answer("check-forward", run)
