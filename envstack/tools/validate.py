"""`envstack validate [STACK...]`: a stack's configuration and guardrails, checked without the provider SDKs.

It reads the stack file as `pulumi up` would hand it to the program and runs the same validation the program runs
first (envstack/program/config), so a typo costs well under a second. Nothing here may import pulumi or a provider SDK:
tests/test_cli.py runs it in a fresh interpreter and looks at sys.modules.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from envstack.program import stack_names
from envstack.program.config import ConfigError, StackConfig, load_stack_config
from envstack.program.config.files import (
    ROOT,
    by_line,
    key_problems,
    located,
    program_values,
    read_stack_config,
    stack_document,
)
from envstack.program.config.neighbours import neighbours
from envstack.program.config.overlap import overlaps

from .exit_codes import EXIT_BAD_INPUT, EXIT_OK
from .prices import load_book
from .terminal import paint


@dataclass(frozen=True)
class Checked:
    config: StackConfig
    notes: list[str]  # worth knowing, not wrong: a review stack sharing dev's VPC range


def load(stack: str, root: Path = ROOT) -> Checked:
    """The stack's validated configuration. FileNotFoundError without a stack file; ConfigError on any problem."""
    document = stack_document(stack, root)
    values = read_stack_config(stack, root)
    keys = key_problems(values, document)  # a namespace or provider key the program would ignore
    raw, region = program_values(values)
    others = neighbours(stack, root)
    try:
        cfg = load_stack_config(stack, raw, region, others)
    except ConfigError as error:  # point at the stack file's line where it sets the key
        raise ConfigError(stack, by_line([*keys, *(located(problem, document) for problem in error.problems)])) \
            from None
    if keys:
        raise ConfigError(stack, keys)
    return Checked(cfg, [*overlaps(stack, cfg.environment, cfg.network.cidr, others)[1], *size_notes(cfg)])


def size_notes(cfg: StackConfig) -> list[str]:
    """The configured sizes the region's price tables say it is not offered, or no region is (validation accepts a
    known family's size by name: whether AWS offers it is the tables' to say, and they are dated, so a note)."""
    book = load_book()
    sizes = [("database.instanceClass", "rds_instance", (cfg.database.instance_class,)),
             ("cache.nodeType", "elasticache_node", (cfg.cache.engine, cfg.cache.node_type)),
             *((f"cluster.nodeGroups.{name}.instanceTypes[{i}]", "ec2_instance", (size,))
               for name, group in cfg.cluster.node_groups.items() for i, size in enumerate(group.instance_types))]
    return [f"envstack:{key} = {path[-1]!r}: {note}; the estimate lists it unpriced (`envstack preflight` asks AWS)"
            for key, item, path in sizes if (note := book.size_note(cfg.region, item, *path))]


def report_error(error: ConfigError | FileNotFoundError, stack: str) -> int:
    """Print a configuration error the way every command does; the exit code for bad input."""
    err = sys.stderr
    if isinstance(error, ConfigError):
        header, *lines = error.render().splitlines()
        print(paint(header, "error", err), *lines, sep="\n", file=err)
    else:
        print(paint(f"stack {stack}: {error}", "error", err), file=err)
    return EXIT_BAD_INPUT


def configured(args: argparse.Namespace) -> StackConfig | None:
    """`args.stack`'s validated configuration; None once its problems are reported (the command then exits with
    EXIT_BAD_INPUT)."""
    try:
        return load(args.stack, args.root).config
    except (ConfigError, FileNotFoundError) as error:
        report_error(error, args.stack)
        return None


def validate(args: argparse.Namespace) -> int:
    code, root = EXIT_OK, args.root
    names = args.stacks or stack_names.present(root)
    if not names:
        print(f"envstack validate: no stack file (Pulumi.<stack>.yaml) in {root}", file=sys.stderr)
        return EXIT_BAD_INPUT
    skipped = [] if args.stacks else stack_names.review_stacks_present(root)
    if skipped and not args.quiet:
        print(paint(f"note: skipped the review stack(s) {', '.join(skipped)}: generated from the dev stack file "
                    f"(`envstack validate {skipped[0]}` checks one)", "dim", sys.stdout))
    for stack in names:
        try:
            checked = load(stack, root)
        except (ConfigError, FileNotFoundError) as error:
            code = report_error(error, stack)
            continue
        if not args.quiet:
            cfg = checked.config
            print(paint(f"stack {stack}: valid", "ok", sys.stdout) +
                  f" (environment {cfg.environment}, region {cfg.region})")
            print(*(paint(f"note: {note}", "dim", sys.stdout) for note in checked.notes), sep="\n",
                  end="\n" if checked.notes else "")
    return code
