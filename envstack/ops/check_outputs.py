"""`envstack check-outputs STACK FILE [--commit SHA]`: the post-deploy check of a stack's outputs and record.

FILE is `pulumi stack output --json` of the deployed stack. The expected outputs are the program's own exports for
that stack, synthesized offline from the same commit, so the check follows the program as components are added.
With --commit, the stack's deployment record must also name that commit.
"""

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envstack.program.config import ConfigError
from envstack.tools.exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from envstack.tools.synth import Synthesis, synthesize

from .promote import RefusedError, read_record
from .stacks import StackFileError, describe


def _empty(value: Any) -> bool:
    return value in ("", [], {})


def output_problems(expected: Synthesis, deployed: Mapping[str, Any]) -> list[str]:
    """One line per exported output that the deployed stack lacks, leaves empty, or that disagrees on the env."""
    problems = []
    for name, synthesized in expected.outputs.items():
        if deployed.get(name) is None:
            problems.append(f"output {name} is missing")
        elif _empty(deployed[name]) and not _empty(synthesized):
            problems.append(f"output {name} is empty")
    environment = deployed.get("environment")
    if environment is not None and environment != expected.environment:
        problems.append(f"output environment is {environment!r}, expected {expected.environment!r}")
    return problems


def record_problems(stack: str, commit: str) -> list[str]:
    """The deployment record must name `commit`: the next stage promotes what this record says the stack runs."""
    try:
        record = read_record(stack, describe(stack).region)
    except (RefusedError, StackFileError) as error:
        return [str(error)]
    return [] if record.commit == commit else [f"deployment record names commit {record.commit}, expected {commit}"]


def check_outputs(args: argparse.Namespace) -> int:
    try:
        deployed = json.loads(Path(args.file).read_text())
        if not isinstance(deployed, dict):
            raise ValueError("expected a JSON object of stack outputs")
        expected = synthesize(args.stack)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, ValueError) as error:
        print(f"stack {args.stack}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    problems = output_problems(expected, deployed)
    if args.commit:
        problems += record_problems(args.stack, args.commit)
    for problem in problems:
        print(f"stack {args.stack}: {problem}", file=sys.stderr)
    if not problems:
        print(f"stack {args.stack}: all {len(expected.outputs)} outputs present")
    return EXIT_REFUSED if problems else EXIT_OK
