"""The stacks a checkout defines: one `Pulumi.<stack>.yaml` each (review stacks `pr-<N>` are generated, not kept).

`committed()` is what CI, tests and cost reports iterate: the stack files git tracks, so a review stack file left
in the working tree, or a half-written new one, never changes what the suite checks. `present()` is every stack
file in the working tree, for checks that must also see a stack the user has not committed yet.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[^.]+)\.yaml$")
REVIEW_STACK = re.compile(r"^pr-[1-9][0-9]*$")


def _names(paths: list[str]) -> list[str]:
    names = (m["stack"] for m in (_STACK_FILE.match(Path(p).name) for p in paths) if m)
    return sorted(n for n in names if not REVIEW_STACK.match(n))


def present(root: Path = ROOT) -> list[str]:
    """Stack names with a stack file in the working tree (review stacks excluded)."""
    return _names([p.name for p in root.glob("Pulumi.*.yaml")])


def committed(root: Path = ROOT) -> list[str]:
    """Stack names whose stack file git tracks (review stacks excluded); the working tree outside a git checkout."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "--", "Pulumi.*.yaml"], capture_output=True,
                                text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return present(root)
    return _names(listed)
