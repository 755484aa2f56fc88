"""`envstack preflight STACK`: read-only checks against the account a stack deploys to, before `pulumi up`.

Some facts only the account knows, and `pulumi up` finds them ten or forty minutes in, then stops halfway: a pinned
add-on version EKS no longer offers, a certificate that is not issued, an instance type the region lacks, a quota
with no room. Each check makes read-only calls with the caller's credentials and answers one line: ok, warn, fail,
or skipped with the reason (a call the account, the caller's permissions or an emulator does not support). Exit 0
when nothing would fail the update (warnings allowed), 1 when something would, 2 without credentials or with a bad
configuration. The IAM permissions it needs are listed in docs/preflight.md.

core.py holds what checks share; account.py, offerings.py, quotas.py and upgrades.py the checks, run in the order
they are registered (account first, so that later lines can name it).
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import boto3

from envstack.ops.preflight import account, offerings, quotas, upgrades  # noqa: F401 (registers the checks, in order)
from envstack.tools.exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from envstack.tools.terminal import paint
from envstack.tools.validate import configured

from .core import CHECKS, CREDENTIAL_ERRORS, STATUSES, STYLE, Context, Result, run_check

STDOUT = "-"

__all__ = ["CHECKS", "STYLE", "Context", "Result", "exit_code", "preflight", "run", "run_check"]


def preflight(ctx: Context, only: Sequence[str] = ()) -> list[Result]:
    """Every check (or those named), in order."""
    results: list[Result] = []
    for name, function in CHECKS:
        if not only or name in only:
            results += run_check(name, function, ctx)
        if name == "account" and results and results[-1].check == "account" and results[-1].status == "skipped":
            break  # the caller is unknown: any other answer could be another account's, and would fail alike
    return results


def exit_code(results: Sequence[Result]) -> int:
    return EXIT_REFUSED if any(r.status == "fail" for r in results) else EXIT_OK


def run(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.check or ()) - {name for name, _ in CHECKS})
    if unknown:
        print(f"envstack preflight: no check named {', '.join(unknown)}; the checks: "
              f"{', '.join(name for name, _ in CHECKS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if (cfg := configured(args)) is None:
        return EXIT_BAD_INPUT
    ctx = Context(cfg)
    out = sys.stderr if args.json == STDOUT else sys.stdout  # `--json -`: the document alone on standard output
    if not args.quiet:
        print(f"envstack preflight {cfg.stack}  (environment {cfg.environment}, region {cfg.region})", file=out)
    try:
        ctx.session = boto3.Session(region_name=cfg.region)  # a missing AWS_PROFILE is found here
        results = preflight(ctx, args.check or ())
    except CREDENTIAL_ERRORS as error:
        print(paint(f"stack {cfg.stack}: no AWS credentials: {error} (set AWS_PROFILE, or run where a role is "
                    "assumed)", "error", sys.stderr), file=sys.stderr)
        return EXIT_BAD_INPUT
    for result in results:
        if not args.quiet or result.status in ("fail", "warn"):
            print(result.line(out), file=out)
    if not args.quiet:
        counts = ", ".join(f"{sum(r.status == s for r in results)} {s}" for s in STATUSES)
        print(f"\n{len({r.check for r in results})} checks, {len(results)} answers: {counts}", file=out)
    if args.json:
        write_json(args.json, ctx, results)
    if any(r.check == "account" and r.status == "skipped" for r in results):
        print(paint(f"stack {cfg.stack}: could not identify the caller (STS GetCallerIdentity), so "
                    "nothing else was asked", "error", sys.stderr), file=sys.stderr)
        return EXIT_BAD_INPUT
    return exit_code(results)


def write_json(path: str, ctx: Context, results: Sequence[Result]) -> None:
    """{stack, region, account, results: [{check, status, detail}]} at PATH, or on standard output for '-'."""
    document = {"stack": ctx.cfg.stack, "region": ctx.cfg.region, "account": ctx.account,
                "results": [{"check": r.check, "status": r.status, "detail": r.detail} for r in results]}
    text = json.dumps(document, indent=2) + "\n"
    if path == STDOUT:
        sys.stdout.write(text)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
