"""The `envstack` command. Exit codes: 0 ok, 1 a mandatory policy violation or refused action, 2 bad input."""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from policies.evaluate import PolicyConfigError

from . import cost, diff, policy_gate
from .check_outputs import check_outputs
from .config import ConfigError
from .exit_codes import EXIT_BAD_INPUT, EXIT_OK
from .promote import WORKFLOW, check_forward_command, promote
from .report import summary
from .review import review_stack_file, review_stacks
from .stacks import list_stacks
from .synth import Synthesis, synthesize

# Sections added to `synth` by later stages (cost, policy): each gets the synthesis and the parsed arguments,
# prints its part of the summary and returns (json key, json value, exit code).
SynthSection = Callable[[Synthesis, argparse.Namespace], tuple[str, object, int]]
SYNTH_SECTIONS: list[SynthSection] = [policy_gate.section, cost.section]


def synth(args: argparse.Namespace) -> int:
    try:
        synthesis = synthesize(args.stack)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as error:
        print(f"stack {args.stack}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(summary(synthesis))
    document = synthesis.to_json()
    code = EXIT_OK
    for section in SYNTH_SECTIONS:
        try:
            key, value, section_code = section(synthesis, args)
        except PolicyConfigError as error:
            print(f"stack {args.stack}: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        document[key] = value
        code = max(code, section_code)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
        print(f"\nwrote {args.json}")
    return code


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="envstack", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    p = commands.add_parser("synth", help="run a stack's program offline under Pulumi's mocks")
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("--json", metavar="PATH", help="also write the machine-readable synthesis here")
    p.add_argument("--enforce", metavar="ENV", choices=["dev", "staging", "prod"],
                   help="evaluate policies with another environment's policy configuration")
    p.set_defaults(run=synth)
    p = commands.add_parser("promote", help="give TARGET the commit SOURCE runs, between environments dev->staging, "
                                            "staging->prod, prod->staging (rollback)")
    p.add_argument("source", help="stack whose deployed commit (from its deployment record) is promoted")
    p.add_argument("target", help="stack that gets that commit")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--run", dest="execute", action="store_true", help="run the preview and update it prints")
    mode.add_argument("--dispatch", action="store_true",
                      help=f"run it in CI instead: `gh workflow run {WORKFLOW}` (the target's GitHub environment)")
    mode.add_argument("--github-output", action="store_true",
                      help="CI: read the source's record and write commit, kind, source and target to $GITHUB_OUTPUT")
    p.add_argument("--describe", action="store_true",
                   help="CI, with --github-output: check the path only (no AWS); write kind, source and target")
    p.add_argument("--yes", action="store_true", help="pass --yes to `pulumi up` (no confirmation prompt)")
    p.set_defaults(run=promote)
    p = commands.add_parser("check-forward", help="refuse to deploy a commit that is not a descendant of the one "
                                                  "the stack's deployment record names")
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml (region) and its deployment record")
    p.add_argument("--commit", metavar="SHA", required=True, help="the commit about to be deployed")
    p.add_argument("--rollback", action="store_true", help="a rollback: going backwards is the point")
    p.set_defaults(run=check_forward_command)
    p = commands.add_parser("check-outputs", help="check a deployed stack's `pulumi stack output --json` against "
                                                  "the outputs the program exports")
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("file", help="JSON written by `pulumi stack output --json`")
    p.add_argument("--commit", metavar="SHA", help="also require the stack's deployment record to name this commit")
    p.set_defaults(run=check_outputs)
    p = commands.add_parser("review-stack-file", help="write Pulumi.pr-<NUMBER>.yaml: pull request NUMBER's review "
                                                      "stack, from the dev stack file")
    p.add_argument("number", type=int, help="pull request number")
    p.add_argument("--secrets-provider", required=True, metavar="URL",
                   help="the review stacks' cloud secrets provider, e.g. awskms://alias/envstack-review?region=...")
    p.add_argument("--deployer-role-arn", metavar="ARN",
                   help="the role `pulumi up` runs as (the review role): envstack:cluster.deployerRoleArn")
    p.set_defaults(run=review_stack_file)
    p = commands.add_parser("review-stacks", help="review stacks in the backend: admit a new one under the cap, "
                                                  "clean up closed or old ones (runs pulumi and gh)")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("admit", help="refuse a new review stack when --max exist already")
    q.add_argument("number", type=int, help="pull request number")
    q.add_argument("--max", type=int, default=5, help="most review stacks at once (default 5)")
    q = actions.add_parser("clean-up", help="review stacks whose pull request is not open or that are too old")
    q.add_argument("--max-age-days", type=int, default=7, help="destroy review stacks older than this (default 7)")
    q.add_argument("--destroy", action="store_true", help="destroy and remove them (else only list them)")
    q.add_argument("--secrets-provider", default="", metavar="URL", help="with --destroy: as for review-stack-file")
    p.set_defaults(run=review_stacks)
    p = commands.add_parser("stacks", help="the committed stacks: environment, region, GitHub variable suffixes "
                                           "(the CI matrices)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the matrix entries as JSON")
    form.add_argument("--github-output", action="store_true",
                      help="append `all`, `dev`, `staging`, `prod` matrices to $GITHUB_OUTPUT")
    p.set_defaults(run=list_stacks)
    diff.add_parser(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
