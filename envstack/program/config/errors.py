"""Configuration problems, reported one line each, before any resource is registered.

Nothing here imports Pulumi: `envstack validate` reports the same lines without loading the SDKs
(envstack/program/config/pulumi_source.py turns a ConfigError into the RunError Pulumi prints without a traceback).
"""

from dataclasses import dataclass
from typing import Any, Protocol

NAMESPACE = "envstack"


class Reported(Protocol):
    def line(self, stack: str) -> str: ...


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is, what it was and what was expected."""

    key: str  # the full key path, e.g. "envstack:network.cidr" or "aws:region"
    value: Any
    expected: str
    where: str = ""  # the stack file and line that set the key, when read from a file: "Pulumi.prod.yaml:12"

    def line(self, stack: str) -> str:
        shown = "(not set)" if self.value is MISSING else repr(self.value)
        return f"stack {stack}: {self.key} = {shown}: {self.expected}" + (f" ({self.where})" if self.where else "")


@dataclass(frozen=True)
class FileProblem:
    """A stack file that cannot be read as configuration at all: where (file, line) and why."""

    file: str
    message: str
    line_number: int | None = None

    def line(self, stack: str) -> str:
        where = f"{self.file}:{self.line_number}" if self.line_number else self.file
        return f"stack {stack}: {where}: {self.message}"


MISSING: Any = object()  # the value of a key that is required but absent
SECRET = "[secret]"  # what a `secure:` value shows offline: its plaintext needs the stack's secrets provider


class ConfigError(Exception):
    """Raised with every problem found."""

    def __init__(self, stack: str, problems: list[Problem] | list[FileProblem] | list[Reported]):
        self.stack = stack
        self.problems: list[Reported] = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [p.line(self.stack) for p in self.problems]
        return f"invalid configuration ({len(lines)} problem(s)):\n" + "\n".join(lines)
