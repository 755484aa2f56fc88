"""actionlint with the actions' inputs checked, although third-party actions are pinned by commit SHA.

actionlint knows popular actions' inputs by `owner/repo@vN` only, so a `uses: owner/repo@<sha> # vN.M.P` step goes
unchecked. This lints a copy of .github in which every such pin is replaced by the major tag of its comment; a SHA
pin without a `# vN...` comment is an error (nobody could tell which release it is). Exit code: actionlint's, or 1.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"(uses:\s*[\w.-]+/[\w./-]+)@([0-9a-f]{40})(\s*#\s*(v\d+)[\w.-]*)?")


def with_tags(text: str, where: str) -> tuple[str, list[str]]:
    problems = []

    def one(match: re.Match[str]) -> str:
        if not match.group(4):
            problems.append(f"{where}: {match.group(1)}@{match.group(2)} has no `# vN.M.P` tag comment")
            return match.group(0)
        return f"{match.group(1)}@{match.group(4)}"
    return PIN.sub(one, text), problems


def main(root: Path = ROOT) -> int:
    actionlint = Path(sys.executable).parent / "actionlint"
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch)
        subprocess.run(["git", "init", "-q", str(copy)], check=True)  # actionlint finds the project by its .git
        shutil.copytree(root / ".github", copy / ".github")
        for path in sorted((copy / ".github").rglob("*.yml")):
            text, found = with_tags(path.read_text(), str(path.relative_to(copy)))
            path.write_text(text)
            problems += found
        result = subprocess.run([str(actionlint)], cwd=copy, check=False)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else result.returncode


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
