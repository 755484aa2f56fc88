"""Which stacks a checkout defines: tracked stack files for the suite, the working tree for the user's checks."""

import subprocess
from pathlib import Path

from envstack.ops import stacks


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_committed_ignores_untracked_and_review_stack_files(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod-eu.yaml", "Pulumi.pr-42.yaml"):
        (tmp_path / name).write_text("config: {}\n")
    git(tmp_path, "add", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.pr-42.yaml")
    assert stacks.committed(tmp_path) == ["dev"]
    assert stacks.present(tmp_path) == ["dev", "prod-eu"]


def test_outside_git_the_working_tree_counts(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.staging.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    assert stacks.committed(tmp_path) == ["staging"]
