"""Builds a StackConfig from a stack's raw `envstack:` values and its environment's profile."""

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import MISSING, NAMESPACE, ConfigError, Problem
from .guardrails import CHECKS, Guardrails, check
from .stack import ENVIRONMENTS, StackConfig

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
REGION_KEY = "aws:region"


class Profile(BaseModel):
    """An environment's defaults (`settings`, overridable per stack) and its `guardrails` (not overridable)."""

    settings: dict[str, Any]
    guardrails: Guardrails


COMMON = "common"  # settings every environment shares (e.g. add-on versions for the pinned Kubernetes version)


def _read(name: str) -> dict[str, Any]:
    with open(PROFILES / f"{name}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


@cache
def load_profile(environment: str) -> Profile:
    """The environment's profile, its settings laid over the common ones."""
    profile = _read(environment)
    common = _read(COMMON).get("settings") or {}
    return Profile.model_validate({**profile, "settings": deep_merge(common, profile.get("settings") or {})})


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Override wins; mappings merge key by key; lists and scalars are replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_value(value: Any) -> Any:
    """Pulumi hands config to programs as strings; objects, lists, numbers and booleans as JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_stack_config(stack: str, raw: Mapping[str, Any], region: str | None) -> StackConfig:
    """Validate everything; raise ConfigError listing every problem, or return the typed configuration."""
    environment = raw.get("environment", MISSING)
    if environment not in ENVIRONMENTS:
        raise ConfigError(stack, [Problem(f"{NAMESPACE}:environment", environment,
                                          f"expected one of {', '.join(ENVIRONMENTS)}")])
    profile = load_profile(environment)
    document = deep_merge(profile.settings, raw)
    problems = [Problem(f"{NAMESPACE}:{k}", raw[k], "the stack name and project are not configurable")
                for k in ("stack", "project") if k in raw]
    document = {**document, "stack": stack, **({"region": region} if region else {})}
    try:
        config = StackConfig.model_validate(document)
    except ValidationError as error:
        # Report the guardrails of the areas that are valid too, so one run shows every problem.
        problems += _problems(error) + _guardrails_of_valid_areas(document, profile.guardrails)
        raise ConfigError(stack, problems) from None
    problems += check(config, profile.guardrails)
    if problems:
        raise ConfigError(stack, problems)
    return config


def _guardrails_of_valid_areas(document: Mapping[str, Any], guardrails: Guardrails) -> list[Problem]:
    """Guardrail checks over a configuration whose invalid areas are left out; a check needing one is skipped."""
    valid: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        key = field.alias or name
        if key in document and field.annotation is not None:
            try:
                valid[name] = TypeAdapter(field.annotation).validate_python(document[key])
            except ValidationError:
                continue
    partial = StackConfig.model_construct(**valid)
    found: list[Problem] = []
    for rule in CHECKS:
        try:
            found += rule(partial, guardrails)
        except AttributeError:  # the rule reads an area that is invalid: its own error is reported already
            continue
    return found


def _problems(error: ValidationError) -> list[Problem]:
    return [_problem(e) for e in error.errors()]


def _problem(e: Any) -> Problem:
    loc = tuple(e["loc"])
    key = _key(loc)
    if e["type"] == "missing":
        return Problem(key, MISSING, "a value is required")
    if e["type"] == "extra_forbidden":
        known = ", ".join(_known_keys(loc[:-1])) or "none"
        return Problem(key, e["input"], f"unknown key; expected one of: {known}")
    message = str(e["msg"]).removeprefix("Value error, ")
    return Problem(key, e["input"], message)


def _key(loc: tuple[Any, ...]) -> str:
    if loc == ("region",):
        return REGION_KEY
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{NAMESPACE}:{path}"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys the model accepts at a location, for 'did you mean' help."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    hidden = {"stack", "project", "region"} if model is StackConfig else set()
    return [f.alias or n for n, f in model.model_fields.items() if n not in hidden]
