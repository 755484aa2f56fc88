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

# The promotion order: a merge deploys every stack of one environment, then of the next.
STAGES = ("dev", "staging", "prod")


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
    from envstack.program.config.files import (
        read_stack_config,  # the CLI's reader; imported here so listing stacks stays light
    )

    config = read_stack_config(stack, root)
    environment, region = config.get("envstack:environment"), config.get("aws:region")
    if environment not in STAGES:
        raise StackFileError(f"stack {stack}: envstack:environment = {environment!r}: "
                             f"expected one of {', '.join(STAGES)}")
    if not isinstance(region, str) or not region:
        raise StackFileError(f"stack {stack}: aws:region = {region!r}: expected an AWS region such as us-west-2")
    return StackInfo(stack=stack, environment=environment, region=region)


def by_stage(infos: list[StackInfo]) -> dict[str, list[dict[str, str]]]:
    """Matrix entries per environment, in promotion order; each names the previous stage's stacks it follows."""
    stages: dict[str, list[dict[str, str]]] = {}
    previous = ""
    for stage in STAGES:
        members = [info for info in infos if info.environment == stage]
        stages[stage] = [info.matrix_entry(promoted_from=previous) for info in members]
        previous = ",".join(info.stack for info in members) or previous
    return stages


def github_outputs(infos: list[StackInfo]) -> dict[str, str]:
    """`all` and one key per environment, each a JSON list of matrix entries (`fromJSON` in a workflow)."""
    stages = by_stage(infos)
    every = [entry for stage in STAGES for entry in stages[stage]]
    return {"all": json.dumps(every, separators=(",", ":")),
            **{stage: json.dumps(entries, separators=(",", ":")) for stage, entries in stages.items()}}


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
