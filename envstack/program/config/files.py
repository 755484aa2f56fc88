"""Reads `Pulumi.yaml` and `Pulumi.<stack>.yaml` as the Pulumi CLI does, without Pulumi: for `envstack validate`,
`envstack config` and `envstack synth`, which feed the result to the program as `pulumi up` would.

A stack file the CLI would refuse is refused here too, one line per problem naming the file and line: YAML that
does not parse (a tab among the indentation), a key set twice (the CLI's YAML library refuses duplicates), a
document or `config:` that is not a mapping, a key without its namespace. Empty files and comment-only files are
an empty configuration.
"""

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..paths import ROOT
from ..stack_names import stack_file
from .errors import NAMESPACE, SECRET, ConfigError, FileProblem, Problem, Reported
from .loader import REGION_KEY, parse_value
from .namespaces import key_problem

PROJECT = "envstack"
PROJECT_FILE = "Pulumi.yaml"
MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """SafeLoader that records every mapping key given twice instead of keeping the last one silently."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[tuple[Any, int, int]] = []  # (key, first line, repeated line)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *defaults`: keys given beside it override, as in the CLI
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    self.duplicates.append((key, seen[key], line))
                else:
                    seen[key] = line
            except TypeError:  # an unhashable key: SafeLoader's own error names it
                break
        return super().construct_mapping(node, deep=deep)


def _text(loader: yaml.SafeLoader, node: Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


def _not_configuration(loader: yaml.SafeLoader, node: Node) -> Any:
    raise yaml.constructor.ConstructorError(None, None, f"{node.tag} (Pulumi config is strings, numbers, booleans, "
                                                        "lists and mappings)", node.start_mark)


# Config reaches the program as strings and JSON: a date stays the text it was written as, and values JSON cannot
# carry (binary, sets) are refused where they are written.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _text)
_Loader.add_constructor("tag:yaml.org,2002:binary", _not_configuration)
_Loader.add_constructor("tag:yaml.org,2002:set", _not_configuration)

# A plain number with a leading zero and an 8 or 9 (`012345678901`) is text to PyYAML (not octal, not a YAML 1.1
# int), but the Pulumi CLI's YAML library (go-yaml v3, resolve.go) tries it as an integer in base 0 (octal: refused),
# then as a float: the number 12345678901. Read it as the CLI does, so the configuration judges what `pulumi up` gets.
_GO_DECIMAL = "tag:envstack,2026:go-yaml-decimal"
_Loader.add_implicit_resolver(_GO_DECIMAL, re.compile(r"^[-+]?0[0-9]*[89][0-9]*$"), list("-+0"))
_Loader.add_constructor(_GO_DECIMAL, lambda loader, node: int(loader.construct_scalar(node)))  # type: ignore[arg-type]


@dataclass
class YamlFile:
    """A parsed YAML document and the line of every mapping key in it, by key path."""

    path: Path
    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def line_of(self, *path: Any) -> int | None:
        return self.lines.get(path)


def _key_lines(node: Node | None, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], int]]:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                path = (*prefix, key_node.value)
                yield path, key_node.start_mark.line + 1
                yield from _key_lines(value_node, path)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield (*prefix, index), item.start_mark.line + 1
            yield from _key_lines(item, (*prefix, index))


def _syntax_error(error: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if "'\\t'" in problem:
        indented = mark is None or not text.splitlines()[mark.line][:mark.column].strip()
        problem = ("a tab character: YAML indents with spaces only" if indented else
                   "a tab character inside a value: write a space, or quote the value")
    context = getattr(error, "context", None)
    kind = "not a configuration value" if isinstance(error, yaml.constructor.ConstructorError) else "not valid YAML"
    message = f"{kind}: {problem}" + (f" ({context})" if context else "")
    return message, (mark.line + 1 if mark else None)


def _tab_before_comment(text: str, error: yaml.YAMLError) -> str | None:
    """`text` with the tab PyYAML refused replaced by a space, when it only separates a value from a comment or the
    line's end: go-yaml, the Pulumi CLI's reader, accepts such a tab (a tab in the indentation stays an error)."""
    mark = getattr(error, "problem_mark", None)
    if mark is None or "'\\t'" not in str(getattr(error, "problem", "")):
        return None
    line = text.splitlines(keepends=True)[mark.line] if mark.line < len(text.splitlines()) else ""
    rest = line[mark.column:].lstrip(" \t")
    if line[mark.column:mark.column + 1] != "\t" or not line[:mark.column].strip() or \
            (rest.strip() and not rest.startswith("#")):
        return None
    return text[:mark.index] + " " + text[mark.index + 1:]


def _parse(text: str) -> tuple[Node | None, Any, _Loader]:
    """The document's node and data, and the loader that read it (its duplicate keys); YAMLError when it is not YAML
    (tabs before a comment taken as the CLI takes them)."""
    for _ in range(text.count("\t") + 1):
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            return node, (loader.construct_document(node) if node is not None else None), loader
        except yaml.YAMLError as error:
            fixed = _tab_before_comment(text, error)
            if fixed is None:
                raise
            text = fixed
        finally:
            loader.dispose()
    raise AssertionError("unreachable: each retry removes a tab")


def read_yaml(path: Path, stack: str) -> YamlFile:
    """The document in `path`; ConfigError naming the file and line when it is not YAML or repeats a key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(stack, [FileProblem(path.name, f"cannot be read: {error}")]) from None
    try:
        node, data, loader = _parse(text)
        lines = dict(_key_lines(node))
    except yaml.YAMLError as error:
        message, line = _syntax_error(error, text)
        raise ConfigError(stack, [FileProblem(path.name, message, line)]) from None
    except RecursionError:  # `&a [*a]` (go-yaml: "anchor 'a' value contains itself"), or hundreds of levels deep
        raise ConfigError(stack, [FileProblem(path.name, "not a configuration value: an alias inside its own anchor "
                                                         "(`&a [*a]`), or values nested hundreds of levels deep")]) \
            from None
    if loader.duplicates:
        raise ConfigError(stack, [
            FileProblem(path.name, f"key {key!r} is set twice (first at line {first}); the Pulumi CLI refuses a "
                                   "duplicate key: keep one", line)
            for key, first, line in loader.duplicates])
    return YamlFile(path, data, lines)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__)


def config_section(document: YamlFile, stack: str) -> dict[str, Any]:
    """The `config:` mapping of a stack file (or project file), with namespaced string keys."""
    data, name = document.data, document.path.name
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(stack, [FileProblem(name, f"expected a mapping with a `config:` section, got {_kind(data)}",
                                              1)])
    config = data.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(stack, [FileProblem(name, "`config:` must be a mapping of `namespace:key: value` lines, "
                                                    f"got {_kind(config)}", document.line_of("config"))])
    problems = [FileProblem(name, _bad_key(key), document.line_of("config", str(key)))
                for key in config if not (isinstance(key, str) and ":" in key.strip(":"))]
    if problems:
        raise ConfigError(stack, problems)
    return config


def _bad_key(key: Any) -> str:
    if not isinstance(key, str):
        return f"config key {key!r} is {_kind(key)}: keys are `namespace:name` strings such as envstack:environment"
    return (f"config key {key!r} has no namespace: stack files name `namespace:key`, e.g. "
            f"{PROJECT}:{key.strip(':') or 'environment'}")


def project_defaults(root: Path, stack: str) -> dict[str, Any]:
    """Pulumi.yaml's `config:` values (`value:` or `default:`), keys namespaced with the project name."""
    path = root / PROJECT_FILE
    if not path.exists():
        return {}
    document = read_yaml(path, stack)
    data = document.data if isinstance(document.data, dict) else {}
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(stack, [FileProblem(path.name, "`config:` must be a mapping", document.line_of("config"))])
    values = {str(k) if ":" in str(k) else f"{PROJECT}:{k}": v.get("value", v.get("default"))
              if isinstance(v, dict) else v for k, v in config.items()}
    return {k: v for k, v in values.items() if v is not None}


def stack_document(stack: str, root: Path = ROOT) -> YamlFile:
    """Pulumi.<stack>.yaml parsed. FileNotFoundError when the stack has no file; ConfigError when it is not YAML."""
    path = stack_file(stack, root)
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name}: create it with at least envstack:environment")
    return read_yaml(path, stack)


# What a stack file holds besides `config:` (pulumi/pulumi sdk/go/common/workspace/project.go, ProjectStack). The CLI
# ignores any other key, so a misspelt `config:` would leave the stack with no settings at all.
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


def stack_file_config(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """The `config:` of Pulumi.<stack>.yaml alone; ConfigError when it cannot be read as configuration, or holds a
    key a stack file does not have."""
    document = stack_document(stack, root)
    config = config_section(document, stack)
    unknown = [key for key in (document.data if isinstance(document.data, dict) else {}) if key not in STACK_FILE_KEYS]
    if unknown:
        raise ConfigError(stack, [FileProblem(document.path.name, _unknown_top_level(key), document.line_of(key))
                                  for key in unknown])
    return config


def _unknown_top_level(key: Any) -> str:
    close = difflib.get_close_matches(str(key), STACK_FILE_KEYS, n=1, cutoff=0.7)
    hint = f"did you mean {close[0]}? " if close else ""
    return (f"unknown key {key!r}: {hint}a stack file holds {', '.join(STACK_FILE_KEYS)}; the Pulumi CLI ignores "
            "any other, with everything under it")


_PATH_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def located(problem: Reported, document: YamlFile) -> Reported:
    """`problem` with the stack file's line of its key, when the stack file sets that key (not the profile)."""
    if not isinstance(problem, Problem) or ":" not in problem.key:
        return problem
    namespace, path = problem.key.split(":", 1)
    parts: list[Any] = [int(index) if index else name for name, index in _PATH_PART.findall(path)]
    if not parts:
        return problem
    line = document.line_of("config", f"{namespace}:{parts[0]}", *parts[1:])
    return replace(problem, where=f"{document.path.name}:{line}") if line else problem


def by_line(problems: list[Reported]) -> list[Reported]:
    """Problems in the order of the stack file's lines, as a reader fixes them; those without a line (a key the
    stack file leaves out, a rule of several keys) after them, in the order found."""
    def line(problem: Reported) -> float:
        if isinstance(problem, Problem) and problem.where:
            return int(problem.where.rsplit(":", 1)[1])
        if isinstance(problem, FileProblem) and problem.line_number:
            return problem.line_number
        return float("inf")
    return sorted(problems, key=line)


def shown(value: Any) -> Any:
    """A configuration value as a problem line shows it: a `secure:` value as [secret]."""
    return SECRET if _is_secure(value) else value


def key_problems(config: dict[str, Any], document: YamlFile | None = None) -> list[Problem]:
    """A problem for each key outside `envstack:` that the stack may not set (envstack/program/config/namespaces.py),
    with the stack file's line where it sets the key."""
    def where(key: str) -> str:
        line = document.line_of("config", key) if document else None
        return f"{document.path.name}:{line}" if document and line else ""
    return [Problem(key, shown(value), message, where(key)) for key, value in config.items()
            if (message := key_problem(key)) is not None]


def read_stack_config(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """The `config:` of Pulumi.yaml's defaults overlaid with Pulumi.<stack>.yaml, as the CLI would."""
    return {**project_defaults(root, stack), **stack_file_config(stack, root)}


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _opaque(value: Any) -> Any:
    """`value` with every `secure:` object in it (`pulumi config set --secret --path` writes them inside mappings and
    lists) as SECRET: the CLI hands the program their plaintext, which only the stack's secrets provider has."""
    if _is_secure(value):
        return SECRET
    if isinstance(value, dict):
        return {k: _opaque(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_opaque(v) for v in value]
    return value


def runtime_config(config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Config as the language host receives it: strings, objects as JSON, `secure:` values opaque (a key holding
    one anywhere is secret, as the CLI marks it)."""
    values: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        shown = _opaque(value)
        values[key] = shown if isinstance(shown, str) else json.dumps(shown)
        if shown != value:
            secrets.append(key)
    return values, secrets


def program_values(values: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The stack's `envstack:` values and region exactly as the program reads them from the Pulumi runtime."""
    strings, _ = runtime_config(values)
    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix):]: parse_value(v) for k, v in strings.items() if k.startswith(prefix)}
    return raw, strings.get(REGION_KEY)
