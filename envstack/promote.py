"""`envstack promote SOURCE TARGET`: give TARGET the commit SOURCE runs, along an allowed promotion path only.

The commit comes from SOURCE's deployment record (SSM `/envstack/<stack>/deployment`, in the region of SOURCE's
stack file), and the current checkout must be that commit: the program that `pulumi up` runs is the checkout.
"""

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .deployment import LOCAL, DeploymentRecord, parameter_name
from .exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from .policy_gate import POLICY_DIR, policy_config_path
from .synth import ROOT, read_stack_config

DEFAULT_REGION = "us-west-2"  # as `envstack synth` assumes when a stack file names none

# The seed documents' promotion paths: forward one step at a time, and prod -> staging to roll staging back.
PATHS: dict[tuple[str, str], str] = {
    ("dev", "staging"): "promotion",
    ("staging", "prod"): "promotion",
    ("prod", "staging"): "rollback",
}


class RefusedError(Exception):
    """A promotion that must not happen; the message is the one line the user sees."""


@dataclass(frozen=True)
class Step:
    """One command of the promotion, with the environment variables the deployment record is built from."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return shlex.join([f"{k}={v}" for k, v in self.env] + list(self.argv))


def check_path(source: str, target: str) -> str:
    """The kind of move ("promotion" or "rollback"), or RefusedError naming the paths that exist."""
    if (source, target) not in PATHS:
        allowed = ", ".join(f"{s}->{t}" for s, t in PATHS)
        raise RefusedError(f"promotion {source}->{target} is not allowed; allowed paths: {allowed}")
    return PATHS[(source, target)]


def read_record(stack: str, region: str) -> DeploymentRecord:
    """SOURCE's deployment record from SSM, or RefusedError saying why it cannot be used."""
    name = parameter_name(stack)
    try:
        value = boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise RefusedError(f"no deployment record {name} in {region}: {stack} was never deployed by CI") from error
        raise RefusedError(f"cannot read deployment record {name} in {region}: {error}") from error
    except BotoCoreError as error:
        raise RefusedError(f"cannot read deployment record {name} in {region}: {error}") from error
    try:
        record = DeploymentRecord.from_json(value)
    except (ValueError, KeyError, TypeError) as error:
        raise RefusedError(f"deployment record {name} is not a valid record ({error!r}): {value[:80]}") from error
    if record.commit == LOCAL:
        raise RefusedError(f"{stack} runs a local deploy with no recorded commit ({name}); deploy it from CI first")
    return record


def head_commit(cwd: Path = ROOT) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise RefusedError(f"cannot tell which commit this checkout is (git rev-parse HEAD): {error}") from error


def check_checkout(record: DeploymentRecord, source: str, head: str) -> None:
    if head != record.commit:
        raise RefusedError(f"{source} runs {record.commit} but this checkout is {head}: "
                      f"run `git checkout {record.commit}` first")


def steps(source: str, target: str, commit: str, environment: str, yes: bool = False) -> list[Step]:
    """`pulumi preview` then `pulumi up` of TARGET with the policy pack and TARGET's environment's policy config."""
    policy = ("--policy-pack", POLICY_DIR.name,
              "--policy-pack-config", str(policy_config_path(environment).relative_to(ROOT)))
    env = (("GITHUB_SHA", commit), ("ENVSTACK_PROMOTED_FROM", source))
    up = ("pulumi", "up", "-s", target, *policy, *(("--yes",) if yes else ()))
    return [Step(("pulumi", "preview", "-s", target, *policy), env), Step(up, env)]


def run_steps(plan: Sequence[Step]) -> int:
    for step in plan:
        print(f"+ {step}", flush=True)
        result = subprocess.run(list(step.argv), cwd=ROOT, env={**os.environ, **dict(step.env)}, check=False)
        if result.returncode != 0:
            print(f"stopped: `{step.argv[0]} {step.argv[1]}` exited {result.returncode}", file=sys.stderr)
            return EXIT_REFUSED
    return EXIT_OK


def _stack_config(stack: str) -> Mapping[str, object]:
    try:
        return read_stack_config(stack)
    except FileNotFoundError as error:
        raise ValueError(f"unknown stack {stack}: {error}") from error


def stack_region(stack: str, config: Mapping[str, object] | None = None) -> str:
    """Where the stack (and so its deployment record) lives: its stack file's aws:region."""
    return str((config if config is not None else _stack_config(stack)).get("aws:region", DEFAULT_REGION))


def promote(args: argparse.Namespace) -> int:
    try:
        source_config, target_config = _stack_config(args.source), _stack_config(args.target)
    except ValueError as error:
        print(f"envstack promote: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        kind = check_path(args.source, args.target)
        record = read_record(args.source, stack_region(args.source, source_config))
        check_checkout(record, args.source, head_commit())
    except RefusedError as refusal:
        print(f"envstack promote: refused: {refusal}", file=sys.stderr)
        return EXIT_REFUSED
    environment = str(target_config.get("envstack:environment", args.target))
    plan = steps(args.source, args.target, record.commit, environment, yes=args.yes)
    print(f"{kind} {args.source} -> {args.target}: {args.target} gets commit {record.commit} "
          f"({args.source} runs it: deployed by {record.deployed_by} from {record.branch})")
    for step in plan:
        print(f"  {step}")
    return run_steps(plan) if args.execute else EXIT_OK

