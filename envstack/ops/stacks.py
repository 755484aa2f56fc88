"""The stacks a checkout defines: one `Pulumi.<stack>.yaml` each (review stacks `pr-<N>` are generated, not kept).

`committed()` is what CI, tests and cost reports iterate: the stack files git tracks, so a review stack file left
in the working tree, or a half-written new one, never changes what the suite checks. `present()` is every stack
file in the working tree, for checks that must also see a stack the user has not committed yet.

`describe()` is what CI needs to know of a stack without running it: its environment (the GitHub environment, the
policy configuration, the promotion stage), its region (AWS credentials, the deployment record), and the suffixes
of its GitHub variables. GitHub variable names allow letters, digits and underscores only: `prod-eu` reads
`AWS_ROLE_ARN_PROD_EU` if set, else its environment's `AWS_ROLE_ARN_PROD`.
"""

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from envstack.program.paths import ROOT
from envstack.program.stack_names import present, stack_names
from envstack.tools.exit_codes import EXIT_BAD_INPUT, EXIT_OK

# The deploy workflow's jobs, one per wave of the promotion order (.github/workflows/deploy.yml: GitHub Actions has
# no dynamic jobs): a merge deploys every stack of the first wave's environments, then of the second's, then of the
# third's. Which environments a wave holds comes from the profiles (envstack/program/config/profiles.py): a `qa`
# promoted from dev deploys in the second job, beside staging.
WAVE_JOBS = ("dev", "staging", "prod")


def committed(root: Path = ROOT) -> list[str]:
    """Stack names whose stack file git tracks (review stacks excluded); the working tree outside a git checkout."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "--", "Pulumi.*.yaml"], capture_output=True,
                                text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return present(root)
    return stack_names(listed)


def variable_suffix(name: str) -> str:
    """The part of a GitHub variable name that names a stack or environment: `prod-eu` -> `PROD_EU`."""
    return name.upper().replace("-", "_")


class StackFileError(ValueError):
    """A stack file CI cannot place: the message names the stack, the key, the value and what was expected."""


@dataclass(frozen=True)
class StackInfo:
    stack: str
    environment: str
    region: str

    @property
    def stack_key(self) -> str:
        return variable_suffix(self.stack)

    @property
    def environment_key(self) -> str:
        return variable_suffix(self.environment)

    def matrix_entry(self, promoted_from: str = "") -> dict[str, str]:
        """One entry of a GitHub Actions matrix (keys usable as `matrix.<key>` in expressions)."""
        return {"stack": self.stack, "environment": self.environment, "region": self.region,
                "stackKey": self.stack_key, "environmentKey": self.environment_key, "promotedFrom": promoted_from}


def describe(stack: str, root: Path = ROOT) -> StackInfo:
    from envstack.program.config.errors import ConfigError
    from envstack.program.config.files import read_stack_config  # the CLI's reader
    from envstack.program.config.profiles import (  # imported here so listing stacks stays light
        environments,
        expected_environment,
    )

    try:
        config = read_stack_config(stack, root)
    except ConfigError as error:  # a file the CLI cannot read: its problems, each naming the file and line
        raise StackFileError("\n".join(problem.line(stack) for problem in error.problems)) from None
    environment, region = config.get("envstack:environment"), config.get("aws:region")
    if environment not in environments():
        raise StackFileError(f"stack {stack}: envstack:environment = {environment!r}: {expected_environment()}")
    if not isinstance(region, str) or not region:
        raise StackFileError(f"stack {stack}: aws:region = {region!r}: expected an AWS region such as us-west-2")
    return StackInfo(stack=stack, environment=environment, region=region)


def promoted_from_stacks(environment: str, infos: list[StackInfo]) -> str:
    """The stacks whose commit `environment`'s stacks take: those of the environment it is promoted from, or, when
    that one has none, of the one before it (comma-separated; "" for a first stage)."""
    from envstack.program.config.profiles import promoted_from

    source = promoted_from(environment)
    while source is not None:
        members = [info.stack for info in infos if info.environment == source]
        if members:
            return ",".join(members)
        source = promoted_from(source)
    return ""


def by_stage(infos: list[StackInfo]) -> dict[str, list[dict[str, str]]]:
    """Matrix entries per deploy job (WAVE_JOBS), in promotion order; each names the stacks it is promoted from.
    StackFileError when a stack's environment is in a wave the workflow has no job for."""
    from envstack.program.config.profiles import waves

    stages: dict[str, list[dict[str, str]]] = {job: [] for job in WAVE_JOBS}
    for number, wave in enumerate(waves()):
        members = [info for info in infos if info.environment in wave]
        if members and number >= len(WAVE_JOBS):
            raise StackFileError(f"stack {members[0].stack}: environment {members[0].environment} is wave "
                                 f"{number + 1} of the promotion order ({' -> '.join('/'.join(w) for w in waves())}), "
                                 f"and .github/workflows/deploy.yml deploys {len(WAVE_JOBS)} waves (jobs "
                                 f"{', '.join(WAVE_JOBS)}): add a job, or promote it from an earlier environment")
        if members:
            stages[WAVE_JOBS[number]] += [info.matrix_entry(promoted_from=promoted_from_stacks(info.environment, infos))
                                          for info in sorted(members, key=lambda i: (i.environment, i.stack))]
    return stages


def github_outputs(infos: list[StackInfo]) -> dict[str, str]:
    """`all` and one key per deploy job, each a JSON list of matrix entries (`fromJSON` in a workflow)."""
    stages = by_stage(infos)
    every = [entry for job in WAVE_JOBS for entry in stages[job]]
    return {"all": json.dumps(every, separators=(",", ":")),
            **{job: json.dumps(entries, separators=(",", ":")) for job, entries in stages.items()}}


def list_stacks(args: argparse.Namespace) -> int:
    """`envstack stacks`: the committed stacks with environment, region and GitHub variable suffixes."""
    try:
        infos = [describe(stack, args.root) for stack in committed(args.root)]
    except (StackFileError, FileNotFoundError) as error:
        print(f"envstack stacks: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.github_output:
        lines = [f"{key}={value}" for key, value in github_outputs(infos).items()]
        with open(os.environ.get("GITHUB_OUTPUT") or os.devnull, "a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        print("\n".join(lines))
    elif args.json:
        print(json.dumps([info.matrix_entry() for info in infos], indent=2))
    else:
        for info in infos:
            print(f"{info.stack:<16} {info.environment:<8} {info.region:<16} "
                  f"vars *_{info.stack_key} (else *_{info.environment_key})")
    return EXIT_OK
