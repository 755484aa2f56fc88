"""Key paths into nested mappings: the inputs a synthesis records, configuration layers, documents read from YAML."""

from collections.abc import Iterator, Mapping
from typing import Any

_ABSENT = object()


def at(document: Any, *path: str, default: Any = None) -> Any:
    """document[path[0]][path[1]]...; `default` where a step is not a key of a mapping."""
    for part in path:
        if not isinstance(document, Mapping) or part not in document:
            return default
        document = document[part]
    return document


def has(document: Any, *path: str) -> bool:
    """Whether every step of the path is a key (the value at its end may be anything, None included)."""
    return at(document, *path, default=_ABSENT) is not _ABSENT


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every key path to a value that is not a non-empty mapping (lists are one value)."""
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from leaves(inner, (*path, str(key)))
    else:
        yield path, value
