"""`envstack validate [STACK...]`: a stack's configuration and guardrails, checked without the provider SDKs.

It reads the stack file as `pulumi up` would hand it to the program and runs the same validation the program runs
first (envstack/config), so a typo costs well under a second. Nothing here may import pulumi or a provider SDK:
tests/test_cli.py runs it in a fresh interpreter and looks at sys.modules.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from . import stacks
from .config import ConfigError, StackConfig, load_stack_config
from .config.errors import NAMESPACE
from .config.files import ROOT, read_stack_config, runtime_config
from .config.loader import REGION_KEY, parse_value
from .exit_codes import EXIT_BAD_INPUT, EXIT_OK
from .terminal import paint


def program_values(values: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The stack's `envstack:` values and region exactly as the program reads them from the Pulumi runtime."""
    strings, _ = runtime_config(values)
    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix):]: parse_value(v) for k, v in strings.items() if k.startswith(prefix)}
    return raw, strings.get(REGION_KEY)


def load(stack: str, root: Path = ROOT) -> StackConfig:
    """The stack's validated configuration. FileNotFoundError without a stack file; ConfigError on any problem."""
    raw, region = program_values(read_stack_config(stack, root))
    return load_stack_config(stack, raw, region)


def report_error(error: ConfigError | FileNotFoundError, stack: str) -> int:
    """Print a configuration error the way every command does; the exit code for bad input."""
    err = sys.stderr
    if isinstance(error, ConfigError):
        header, *lines = error.render().splitlines()
        print(paint(header, "error", err), *lines, sep="\n", file=err)
    else:
        print(paint(f"stack {stack}: {error}", "error", err), file=err)
    return EXIT_BAD_INPUT


def validate(args: argparse.Namespace) -> int:
    code, root = EXIT_OK, args.root
    for stack in args.stacks or stacks.present(root):
        try:
            cfg = load(stack, root)
        except (ConfigError, FileNotFoundError) as error:
            code = report_error(error, stack)
            continue
        if not args.quiet:
            print(paint(f"stack {stack}: valid", "ok", sys.stdout) +
                  f" (environment {cfg.environment}, region {cfg.region})")
    return code
