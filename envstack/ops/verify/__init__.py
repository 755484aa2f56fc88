"""`envstack verify STACK`: after `pulumi up`, prove the running environment works, end to end.

Every other check of envstack runs before AWS is touched; this one asks the deployed stack. It reads the stack's
outputs (`pulumi stack output --json`, on standard input or --outputs FILE; no secret output is needed) and the
stack's validated configuration (what was meant), then makes read-only AWS calls, reads the Kubernetes API, and runs
a short-lived probe Job in each application namespace (the workload path: Pod Identity credentials, PostgreSQL and
the cache with IAM tokens over TLS). One line per answer, as preflight: ok, warn, fail, or skipped with the reason.
Exit 0 when everything answered and nothing failed (warnings allowed), 1 when a check failed, 2 when verify could not
run or a check could not be answered (no credentials, bad outputs, a call refused or unreachable). docs/verify.md
lists the checks, what each proves and what to do when it fails, and the permissions verify needs.

core.py holds what checks share; platform.py, edge.py, data.py, observability.py and workload.py the checks, run in
the order they are registered (account first: without it nothing else is asked).
"""

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import boto3

from envstack.ops.preflight.core import CREDENTIAL_ERRORS, STATUSES
from envstack.tools.exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from envstack.tools.terminal import paint
from envstack.tools.validate import configured

# isort: off
from . import platform, edge, data, observability, workload  # noqa: F401 (registers the checks, in this order)
# isort: on
from .core import CHECKS, Result, Unanswered, VerifyContext, run_check

STDIN = STDOUT = "-"
PINNED = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")  # an image reference pinned by digest
__all__ = ["CHECKS", "VerifyContext", "exit_code", "run", "verify"]


def verify(ctx: VerifyContext, only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Result]:
    """Every check (or those named, less those skipped), in order; nothing after an account that is not the stack's."""
    results: list[Result] = []
    for name, function in CHECKS:
        if (only and name not in only) or name in skip:
            continue
        results += run_check(name, function, ctx)
        if name == "account" and any(r.status in ("fail", "skipped") for r in results if r.check == "account"):
            break  # another account's answers, or none: every other line would be noise
    return results


def exit_code(results: Sequence[Result]) -> int:
    if any(r.status == "fail" for r in results):
        return EXIT_REFUSED
    return EXIT_BAD_INPUT if any(isinstance(r, Unanswered) for r in results) else EXIT_OK


def read_outputs(source: str, stdin: TextIO) -> dict[str, Any]:
    """`pulumi stack output --json`: a JSON object, from FILE or standard input."""
    if source == STDIN:
        if stdin.isatty():
            raise ValueError("no outputs: pipe `pulumi stack output --stack STACK --json` in, or give --outputs FILE")
        text = stdin.read()
    else:
        text = Path(source).read_text()
    outputs = json.loads(text)
    if not isinstance(outputs, dict) or "clusterName" not in outputs:
        raise ValueError("expected `pulumi stack output --json` of an envstack stack (a JSON object with clusterName)")
    return outputs


def run(args: argparse.Namespace) -> int:
    names = {name for name, _ in CHECKS}
    unknown = sorted((set(args.check or ()) | set(args.skip or ())) - names)
    if unknown:
        print(f"envstack verify: no check named {', '.join(unknown)}; the checks: {', '.join(n for n, _ in CHECKS)}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.probe_image and not PINNED.fullmatch(args.probe_image):
        print(f"envstack verify: --probe-image {args.probe_image}: expected an image pinned by digest "
              "(REPOSITORY[:TAG]@sha256:<64 hex digits>): the probe runs what the digest names, nothing else",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if (cfg := configured(args)) is None:
        return EXIT_BAD_INPUT
    try:
        outputs = read_outputs(args.outputs, sys.stdin)
        rds_ca = Path(args.rds_ca_bundle).read_text() if args.rds_ca_bundle else None
    except (OSError, ValueError) as error:
        print(f"stack {args.stack}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = sys.stderr if args.json == STDOUT else sys.stdout
    probing = not args.no_probe and (not args.check or "probe" in args.check) and "probe" not in (args.skip or ())
    if probing and rds_ca is None:
        rds_ca = workload.fetch_rds_ca(cfg.region)
    ctx = VerifyContext(cfg, outputs=outputs, probe=not args.no_probe, probe_image=args.probe_image or "",
                        rds_ca_bundle=rds_ca)
    if not args.quiet:
        print(f"envstack verify {cfg.stack}  (environment {cfg.environment}, region {cfg.region})", file=out)
    try:
        ctx.session = boto3.Session(region_name=cfg.region)
        results = verify(ctx, args.check or (), args.skip or ())
    except CREDENTIAL_ERRORS as error:
        print(paint(f"stack {cfg.stack}: no AWS credentials: {error} (set AWS_PROFILE, or run where a role is "
                    "assumed)", "error", sys.stderr), file=sys.stderr)
        return EXIT_BAD_INPUT
    for result in results:
        if not args.quiet or result.status in ("fail", "warn") or isinstance(result, Unanswered):
            print(result.line(out), file=out)
    code = exit_code(results)
    if not args.quiet:
        counts = ", ".join(f"{sum(r.status == s for r in results)} {s}" for s in STATUSES)
        print(f"\n{len({r.check for r in results})} checks, {len(results)} answers: {counts}", file=out)
    if code == EXIT_BAD_INPUT:
        print(f"stack {cfg.stack}: some checks could not be answered (skipped lines above)", file=sys.stderr)
    if args.json:
        write_json(args.json, ctx, results, code)
    if args.summary:
        with open(args.summary, "a") as summary:
            summary.write(markdown(cfg.stack, results, code))
    return code


def document(ctx: VerifyContext, results: Sequence[Result], code: int) -> dict[str, Any]:
    """{stack, region, account, exit, results: [{check, status, detail, answered}]}."""
    return {"stack": ctx.cfg.stack, "region": ctx.cfg.region, "account": ctx.account, "exit": code,
            "results": [{"check": r.check, "status": r.status, "detail": r.detail,
                         "answered": not isinstance(r, Unanswered)} for r in results]}


def write_json(path: str, ctx: VerifyContext, results: Sequence[Result], code: int) -> None:
    text = json.dumps(document(ctx, results, code), indent=2) + "\n"
    if path == STDOUT:
        sys.stdout.write(text)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)


VERDICT = {EXIT_OK: "works", EXIT_REFUSED: "FAILED verification", EXIT_BAD_INPUT: "could not be fully verified"}


def markdown(stack: str, results: Sequence[Result], code: int) -> str:
    """For a job summary: the verdict, and a table of what failed, warned or could not be answered."""
    worth = [r for r in results if r.status in ("fail", "warn") or isinstance(r, Unanswered)]
    lines = [f"### envstack verify {stack}: {VERDICT[code]}", "",
             f"{sum(r.status == 'ok' for r in results)} ok of {len(results)} answers "
             "(docs/verify.md: what each check proves and what to do when it fails)", ""]
    if worth:
        lines += ["| status | check | detail |", "|---|---|---|"]
        lines += [f"| {r.status} | {r.check} | {r.detail.replace('|', '&#124;')} |" for r in worth]
    return "\n".join(lines) + "\n\n"
