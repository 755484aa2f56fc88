"""How stacks are named: one `Pulumi.<stack>.yaml` each; review stacks `pr-<N>` are generated, not kept."""

import re
from pathlib import Path

from .paths import ROOT

_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[^.]+)\.yaml$")
REVIEW_STACK = re.compile(r"^pr-[1-9][0-9]*$")


def stack_file(stack: str, root: Path = ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def stack_names(paths: list[str]) -> list[str]:
    """The stacks these file paths define, sorted (review stacks `pr-<N>` excluded: they are generated, not kept)."""
    names = (m["stack"] for m in (_STACK_FILE.match(Path(p).name) for p in paths) if m)
    return sorted(n for n in names if not REVIEW_STACK.match(n))


def present(root: Path = ROOT) -> list[str]:
    """Stack names with a stack file in the working tree (review stacks excluded)."""
    return stack_names([p.name for p in root.glob("Pulumi.*.yaml")])


def review_stacks_present(root: Path = ROOT) -> list[str]:
    """The review stacks (`pr-<N>`) whose generated stack file is in the working tree, by number."""
    names = (m["stack"] for m in (_STACK_FILE.match(p.name) for p in root.glob("Pulumi.*.yaml")) if m)
    return sorted((n for n in names if REVIEW_STACK.match(n)), key=lambda n: int(n.removeprefix("pr-")))
