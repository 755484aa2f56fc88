"""Configuration problems, reported one line each, before any resource is registered."""

from dataclasses import dataclass
from typing import Any

import pulumi

NAMESPACE = "envstack"


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is, what it was and what was expected."""

    key: str  # the full key path, e.g. "envstack:network.cidr" or "aws:region"
    value: Any
    expected: str

    def line(self, stack: str) -> str:
        shown = "(not set)" if self.value is MISSING else repr(self.value)
        return f"stack {stack}: {self.key} = {shown}: {self.expected}"


MISSING: Any = object()  # the value of a key that is required but absent


class ConfigError(pulumi.RunError):
    """Raised with every problem found; pulumi prints RunError messages without a traceback."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [p.line(self.stack) for p in self.problems]
        return f"invalid configuration ({len(lines)} problem(s)):\n" + "\n".join(lines)
