"""How envstack writes for people: colour only on a terminal, never with NO_COLOR (https://no-color.org)."""

import os
from typing import TextIO

_CODES = {"error": "1;31", "warning": "33", "ok": "32", "bold": "1", "dim": "2"}


def colour(stream: TextIO) -> bool:
    """True when `stream` is a terminal and NO_COLOR is unset or empty."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str, stream: TextIO) -> str:
    """`text` in `style` (error, warning, ok, bold, dim) when `stream` takes colour; else `text` unchanged."""
    return f"\033[{_CODES[style]}m{text}\033[0m" if colour(stream) else text
