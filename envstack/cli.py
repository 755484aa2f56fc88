"""The `envstack` command. Exit codes: 0 ok, 1 a mandatory policy violation or refused action, 2 bad input.

Each command's module is imported only when that command runs, so `envstack validate` and `envstack config` never
load Pulumi or the provider SDKs (tests/test_cli.py checks sys.modules): keep imports of heavy modules out of the
top of this file.
"""

import argparse
import contextlib
import importlib
import importlib.util
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

from .program.config import ConfigError
from .program.config.files import ROOT
from .tools.exit_codes import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK
from .tools.validate import load, report_error

STDOUT = "-"  # `--json -`: the document on standard output, the human summary on standard error

Command = Callable[[argparse.Namespace], int]


def lazy(target: str) -> Command:
    """The command `module:function` (relative to envstack), imported when it runs."""
    module, name = target.split(":")

    def run(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(module, __package__), name)(args))
    run.__module__, run.__qualname__ = importlib.util.resolve_name(module, __package__), name
    return run


def environment(name: str) -> str:
    """An environment named on the command line: one with a profile (envstack/program/profiles/<name>.yaml)."""
    from .program.config.profiles import environments, expected_environment

    if name not in environments():
        raise argparse.ArgumentTypeError(f"{name!r}: {expected_environment()}")
    return name


def synth_sections() -> list[Callable[[Any, argparse.Namespace], tuple[str, object, int]]]:
    """Sections added to `synth` after the summary: each gets the synthesis and the parsed arguments, prints its
    part of the summary and returns (json key, json value, exit code)."""
    from .tools import cost, policy_gate

    return [policy_gate.section, cost.section]


@contextlib.contextmanager
def human_output(args: argparse.Namespace) -> Iterator[TextIO]:
    """Where the summary goes: nowhere with --quiet, standard error when the JSON takes standard output."""
    stream: TextIO = io.StringIO() if args.quiet else sys.stderr if args.json == STDOUT else sys.stdout
    with contextlib.redirect_stdout(stream):
        yield stream


def synth(args: argparse.Namespace) -> int:
    try:
        checked = load(args.stack, args.root)  # the configuration first, without the SDKs: a typo costs < 1 s
    except (ConfigError, FileNotFoundError) as error:
        return report_error(error, args.stack)
    from policies.evaluate import PolicyConfigError

    from .tools.policy_gate import effective_config
    from .tools.report import summary
    from .tools.synth import synthesize

    try:  # the stack's policy tightening too, before the program runs
        effective_config(checked.config.environment, checked.config.policy)
    except PolicyConfigError as error:
        print(f"stack {args.stack}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        synthesis = synthesize(args.stack, root=args.root)
    except ConfigError as error:
        return report_error(error, args.stack)
    document = synthesis.to_json()
    code = EXIT_OK
    with human_output(args):
        print(*(f"note: {note}" for note in checked.notes), sep="\n", end="\n\n" if checked.notes else "")
        print(summary(synthesis))
        for section in synth_sections():
            try:
                key, value, section_code = section(synthesis, args)
            except PolicyConfigError as error:
                print(f"stack {args.stack}: {error}", file=sys.stderr)
                return EXIT_BAD_INPUT
            document[key] = value
            code = max(code, section_code)
        if args.json and args.json != STDOUT:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
            print(f"\nwrote {args.json}")
    if args.json == STDOUT:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    if args.quiet and code != EXIT_OK:
        broken = sorted({v["policy"] for v in document.get("policy", {}).get("violations", [])
                         if v["level"] == "mandatory"})
        print(f"stack {args.stack}: mandatory policy violations: {', '.join(broken)}", file=sys.stderr)
    return code


def package_version() -> str:
    try:
        return version("envstack")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="envstack", description=__doc__.split("\n\n")[0])
    root.add_argument("--version", action="version", version=f"envstack {package_version()}")
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", help="print only problems (the exit code tells)")
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, run: Command, help: str, *, checks: bool = False) -> argparse.ArgumentParser:
        """A subcommand; `checks`: it answers ok or not (validate, synth), so --quiet leaves the exit code only."""
        p = commands.add_parser(name, help=help, description=help, parents=[quiet] if checks else [])
        p.set_defaults(run=run)
        return p

    p = command("validate", lazy(".tools.validate:validate"), "check stacks' configuration and guardrails, without "
                                                        "running the program (well under a second)", checks=True)
    p.add_argument("stacks", nargs="*", metavar="STACK", help="stack names (default: every Pulumi.<stack>.yaml)")
    p = command("config", lazy(".tools.effective:config_command"), "a stack's effective configuration, each value with "
                                                              "where it comes from (stack file, profile, add-on pins)")
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("--json", action="store_true", help="print [{key, value, source}] as JSON")
    p = command("synth", synth, "run a stack's program offline under Pulumi's mocks", checks=True)
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("--json", metavar="PATH", help="also write the machine-readable synthesis here ('-': standard "
                                                  "output, the summary then goes to standard error)")
    p.add_argument("--enforce", metavar="ENV", type=environment,
                   help="evaluate policies with another environment's policy configuration")
    p = command("policy-config", lazy(".tools.policy_gate:policy_config_command"),
                "a stack's effective policy configuration: its environment's policies/<env>.json tightened by the "
                "stack file's envstack:policy (for pulumi --policy-pack-config)")
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("-o", "--output", metavar="PATH", help="write it here (default: standard output)")
    p = command("diff", lazy(".tools.diff:run"),
                "what changes from A to B: resources, inputs, cost, policy "
                "(A, B: STACK, STACK@GITREF or a synth JSON file)")
    p.add_argument("operands", nargs="+", metavar="A B", help="STACK, STACK@REF (e.g. prod@main) or FILE.json")
    p.add_argument("--base", metavar="REF", help="compare STACK at git revision REF with the working tree's STACK")
    p.add_argument("--format", choices=["text", "markdown"], default="text",
                   help="markdown: for a pull request's job summary or comment")
    p.add_argument("--ignore-stack-name", action="store_true",
                   help="read each stack's name inside values as the same word (compare staging with prod on what "
                        "differs besides the name)")
    p = command("preflight", lazy(".ops.preflight:run"), "read-only checks against the stack's AWS account before "
                                                     "`pulumi up` (account, region and AZs, certificate, roles, "
                                                     "instance types, add-on pins, database and cache sizes, "
                                                     "quotas)", checks=True)
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("--check", action="append", metavar="NAME",
                   help="run only this check (repeatable), named as its lines name it, e.g. certificate")
    p.add_argument("--json", metavar="PATH", help="also write {stack, region, account, results} here ('-': "
                                                  "standard output, the lines then go to standard error)")
    p = command("verify", lazy(".ops.verify:run"), "after `pulumi up`: prove the running stack works (EKS, nodes, "
                                               "load balancer, data stores, alarms, budget, logs, and a probe Job "
                                               "per application namespace that logs in to both stores)", checks=True)
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("--outputs", default="-", metavar="FILE",
                   help="`pulumi stack output --json` of the stack (default '-': standard input)")
    p.add_argument("--check", action="append", metavar="NAME", help="run only this check (repeatable), e.g. probe")
    p.add_argument("--skip", action="append", metavar="NAME", help="leave this check out (repeatable)")
    p.add_argument("--no-probe", action="store_true",
                   help="read-only: no probe Job (the daily drift run; needs no Kubernetes write access)")
    p.add_argument("--probe-image", metavar="IMAGE@sha256:...", help="the probe's image (default: python:3.13-slim "
                                                                     "from ECR Public, pinned by digest)")
    p.add_argument("--rds-ca-bundle", metavar="PEM", help="the CA bundle the probe verifies the database's "
                                                          "certificate with (default: fetched from AWS's truststore)")
    p.add_argument("--json", metavar="PATH", help="also write {stack, region, account, exit, results} here ('-': "
                                                  "standard output, the lines then go to standard error)")
    p.add_argument("--summary", metavar="PATH", help="append a markdown verdict and table of problems (CI: "
                                                     "$GITHUB_STEP_SUMMARY)")
    p = command("promote", lazy(".ops.promote:promote"), "give TARGET the commit SOURCE runs, along a path the "
                                                     "profiles declare (promotion.from; rollbackFrom: a rollback)")
    p.add_argument("source", help="stack whose deployed commit (from its deployment record) is promoted")
    p.add_argument("target", help="stack that gets that commit")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--run", dest="execute", action="store_true", help="run the preview and update it prints")
    mode.add_argument("--dispatch", action="store_true",
                      help="run it in CI instead: `gh workflow run promote.yml` (the target's GitHub environment)")
    mode.add_argument("--github-output", action="store_true",
                      help="CI: read the source's record and write commit, kind, source and target to $GITHUB_OUTPUT")
    p.add_argument("--describe", action="store_true",
                   help="CI, with --github-output: check the path only (no AWS); write kind, source and target")
    p.add_argument("--yes", action="store_true", help="pass --yes to `pulumi up` (no confirmation prompt)")
    p = command("check-forward", lazy(".ops.promote:check_forward_command"),
                "refuse to deploy a commit that is not a descendant of the one the stack's deployment record names")
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml (region) and its deployment record")
    p.add_argument("--commit", metavar="SHA", required=True, help="the commit about to be deployed")
    p.add_argument("--rollback", action="store_true", help="a rollback: going backwards is the point")
    p = command("check-viewer", lazy(".ops.access:check_viewer"),
                "check that a CI role (preview, reader) has an EKS access entry that reads the stack's cluster")
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("role_arn", metavar="ROLE_ARN", help="the role the job runs as (its full IAM role ARN)")
    p = command("check-outputs", lazy(".ops.check_outputs:check_outputs"),
                "check a deployed stack's `pulumi stack output --json` against the outputs the program exports")
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("file", help="JSON written by `pulumi stack output --json`")
    p.add_argument("--commit", metavar="SHA", help="also require the stack's deployment record to name this commit")
    p = command("review-stack-file", lazy(".ops.review:review_stack_file"),
                "write Pulumi.pr-<NUMBER>.yaml: pull request NUMBER's review stack, from the dev stack file")
    p.add_argument("number", type=int, help="pull request number")
    p.add_argument("--secrets-provider", required=True, metavar="URL",
                   help="the review stacks' cloud secrets provider, e.g. awskms://alias/envstack-review?region=...")
    p.add_argument("--deployer-role-arn", metavar="ARN",
                   help="the role `pulumi up` runs as (the review role): envstack:cluster.deployerRoleArn")
    p = command("review-stacks", lazy(".ops.review:review_stacks"),
                "review stacks in the backend: admit a new one under the cap, clean up closed or old ones (runs "
                "pulumi and gh)")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("admit", help="refuse a new review stack when --max exist already")
    q.add_argument("number", type=int, help="pull request number")
    q.add_argument("--max", type=int, default=5, help="most review stacks at once (default 5)")
    q = actions.add_parser("clean-up", help="review stacks whose pull request is not open or that are too old")
    q.add_argument("--max-age-days", type=int, default=7, help="destroy review stacks older than this (default 7)")
    q.add_argument("--destroy", action="store_true", help="destroy and remove them (else only list them)")
    q.add_argument("--secrets-provider", default="", metavar="URL", help="with --destroy: as for review-stack-file")
    p = command("unlock", lazy(".ops.locks:unlock"),
                "delete a stale lock of a stack (pulumi cancel), refused while a GitHub run of that stack is not "
                "finished (asks gh)")
    p.add_argument("stack", help="stack name")
    p.add_argument("--check", action="store_true", help="only check that no run of the stack is in progress")
    p.add_argument("--yes", action="store_true", help="pass --yes to `pulumi cancel` (no confirmation prompt)")
    p = command("deploying", lazy(".ops.locks:deploying"),
                "exit 1 while a deploy or unlock of the stack is not finished, or finished after --since (asks gh): "
                "a drift check then skips, a refresh would report the change in flight as drift")
    p.add_argument("stack", help="stack name")
    p.add_argument("--since", metavar="TIME", help="also count those that finished at or after TIME (ISO 8601 UTC)")
    p = command("stacks", lazy(".ops.stacks:list_stacks"), "the committed stacks: environment, region, GitHub variable "
                                                       "suffixes (the CI matrices)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the matrix entries as JSON")
    form.add_argument("--github-output", action="store_true",
                      help="append `all`, `dev`, `staging`, `prod` matrices to $GITHUB_OUTPUT")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.root = ROOT
    try:
        return int(args.run(args))
    except BrokenPipeError:  # `envstack stacks --json | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return EXIT_OK
    except KeyboardInterrupt:
        print("envstack: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
