"""The `envstack` command. Exit codes: 0 ok, 1 a mandatory policy violation or refused action, 2 bad input."""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from policies.evaluate import PolicyConfigError

from . import policy_gate
from .config import ConfigError
from .report import summary
from .synth import Synthesis, synthesize

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT = 0, 1, 2

# Sections added to `synth` by later stages (cost, policy): each gets the synthesis and the parsed arguments,
# prints its part of the summary and returns (json key, json value, exit code).
SynthSection = Callable[[Synthesis, argparse.Namespace], tuple[str, object, int]]
SYNTH_SECTIONS: list[SynthSection] = [policy_gate.section]


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
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
