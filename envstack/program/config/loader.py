"""Builds a StackConfig from a stack's raw `envstack:` values and its environment's profile."""

import difflib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import cache
from typing import Annotated, Any, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from .base import deep_merge
from .errors import MISSING, NAMESPACE, SECRET, ConfigError, FileProblem, Problem
from .guardrails import Guardrails, rules
from .overlap import Neighbour, overlaps
from .profiles import (
    COMMON,
    PolicySource,
    Promotion,
    environments,
    expected_environment,
    profile_where,
    read_profile,
)
from .stack import StackConfig

REGION_KEY = "aws:region"


class Profile(BaseModel):
    """An environment's defaults (`settings`, overridable per stack) and its `guardrails` (not overridable)."""

    settings: dict[str, Any]
    guardrails: Guardrails
    promotion: Promotion = Promotion()  # where it stands in the promotion order (profiles.py)
    policy: PolicySource = PolicySource()  # the policy configuration it starts from without a file of its own


def _read(name: str) -> dict[str, Any]:
    return read_profile(name)


def profile_settings(name: str) -> dict[str, Any]:
    """The `settings:` of one profile file (an environment's, or `common`), not merged."""
    return _read(name).get("settings") or {}


@cache
def load_profile(environment: str) -> Profile:
    """The environment's profile, its settings laid over the common ones."""
    profile = _read(environment)
    return Profile.model_validate({**profile, "settings": deep_merge(profile_settings(COMMON),
                                                                     profile.get("settings") or {})})


def parse_value(value: Any) -> Any:
    """Pulumi hands config to programs as strings; objects, lists, numbers and booleans as JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_stack_config(stack: str, raw: Mapping[str, Any], region: str | None,
                      others: Sequence[Neighbour] = ()) -> StackConfig:
    """Validate everything; raise ConfigError listing every problem, or return the typed configuration.
    `others`: the checkout's other stacks, whose VPC ranges this one must keep apart from."""
    environment = raw.get("environment", MISSING)
    if not isinstance(environment, str) or environment not in environments():
        raise ConfigError(stack, [Problem(f"{NAMESPACE}:environment", environment, expected_environment())])
    profile = _profile(stack, environment)
    document = deep_merge(profile.settings, raw)
    problems = [Problem(f"{NAMESPACE}:{k}", raw[k], "the stack name and project are not configurable")
                for k in ("stack", "project") if k in raw]
    document = {**document, "stack": stack, **({"region": region} if region else {})}
    try:
        config = StackConfig.model_validate(document)
    except ValidationError as error:
        # Every rule that reads only valid values runs too, so one run shows every problem.
        locations = [tuple(e["loc"]) for e in error.errors()]
        problems += _problems(error) + _checks_of_valid_parts(_partial(StackConfig, document, locations),
                                                              profile.guardrails, others)
        raise ConfigError(stack, problems) from None
    problems += [problem for rule in _rules(config, profile.guardrails, others) for problem in rule()]
    if problems:
        raise ConfigError(stack, problems)
    return config


def _profile(stack: str, environment: str) -> Profile:
    """The environment's profile; a ConfigError naming the profile file and each key it lacks or gets wrong (every
    guardrail is set by every profile: none has a value in code)."""
    try:
        return load_profile(environment)
    except ValidationError as error:
        path = profile_where(environment)
        raise ConfigError(stack, [FileProblem(path, f"{'.'.join(map(str, e['loc']))}: "
                                                    f"{'a value is required' if e['type'] == 'missing' else e['msg']}")
                                  for e in error.errors()]) from None


def _partial(model: Any, data: Mapping[str, Any], errors: list[tuple[Any, ...]]) -> Any:
    """`model` built from the valid parts of `data`: a field with an error is absent (reading it raises
    AttributeError), or, when it is itself a model with errors only in some fields, a partial model too."""
    values: dict[str, Any] = {}
    absent: list[str] = []
    data = _before_validators(model, data)
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in data or field.annotation is None:
            continue
        inner = [loc[1:] for loc in errors if loc and loc[0] == key]
        annotation = field.annotation
        if not inner:
            try:
                values[name] = _field_adapter(model, name).validate_python(data[key])
            except ValidationError:  # valid inside the model, not alone (a validator reading a sibling): skip it
                absent.append(name)
        elif _is_model(annotation) and isinstance(data[key], Mapping) and all(inner):
            values[name] = _partial(annotation, data[key], inner)
        else:
            absent.append(name)
    partial = model.model_construct(**values)
    for name in absent:
        partial.__dict__.pop(name, None)  # not the field's default: a rule must not read a value the user did not set
    return partial


@cache
def _field_adapter(model: Any, name: str) -> TypeAdapter[Any]:
    """A validator for one field of `model` on its own: its type with the field's constraints and before/after
    validators (`engineVersion: 16` read as "16"), which `field.annotation` alone leaves out."""
    field = model.model_fields[name]
    annotation: Any = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    return TypeAdapter(annotation)


def _before_validators(model: Any, data: Mapping[str, Any]) -> Mapping[str, Any]:
    """`data` as the model's own mode="before" validators pass it on (e.g. the cluster's add-on pins filled in)."""
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode == "before":
            data = getattr(model, decorator.cls_var_name)(data)
    return data


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _rules(cfg: StackConfig, guardrails: Guardrails, others: Sequence[Neighbour]) \
        -> list[Callable[[], Iterable[Problem]]]:
    """Cross-key rules, guardrails, then the VPC range against the other stacks'."""
    def apart() -> list[Problem]:
        return overlaps(cfg.stack, cfg.environment, cfg.network.cidr, others)[0]
    return [*rules(cfg, guardrails), apart]


def _checks_of_valid_parts(partial: StackConfig, guardrails: Guardrails, others: Sequence[Neighbour]) \
        -> list[Problem]:
    """The cross-key rules and guardrails that read only valid values; one reading a value with an error of its own
    is skipped (its error is reported already)."""
    found: list[Problem] = []
    for rule in _rules(partial, guardrails, others):
        try:
            found += list(rule())
        except AttributeError:
            continue
    return found


def _problems(error: ValidationError) -> list[Problem]:
    errors = error.errors()
    # pydantic counts a list's refused elements out and adds "too short": the elements' own errors say it all.
    inside = {tuple(e["loc"][:-1]) for e in errors if e["loc"] and isinstance(e["loc"][-1], int)}
    kept = [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in inside)]
    # A value that fits none of a union's members (a policy entry: a level or a mapping of options) is refused by
    # each member: one problem, its expectations joined with "or".
    by_key: dict[tuple[Any, ...], list[Problem]] = {}
    for e in kept:
        union = any(_union_member(part) for part in e["loc"])
        problem = _problem(e)
        by_key.setdefault((problem.key, repr(problem.value)) if union else (id(e),), []).append(problem)
    return [group[0] if len(group) == 1 else
            replace(group[0], expected="expected " + ", or ".join(p.expected.removeprefix("expected ") for p in group))
            for group in by_key.values()]


def _union_member(part: Any) -> bool:
    """A location part naming which member of a union failed (`literal['advisory',...]`, `dict[str,any]`)."""
    return isinstance(part, str) and "[" in part


def _problem(e: Any) -> Problem:
    # A mapping key with an error: the key is its input; a union's member: no key of the stack file.
    loc = tuple(part for part in e["loc"] if part != "[key]" and not _union_member(part))
    key = _key(loc)
    if e["type"] == "missing":
        return Problem(key, MISSING, "a value is required")
    if e["type"] == "extra_forbidden":
        return Problem(key, e["input"], _unknown_key(loc))
    if loc == ("stack",):
        return Problem("stack name", e["input"], str(e["msg"]).removeprefix("Value error, ") +
                       "; choose another with `pulumi stack init` (the stack file is Pulumi.<stack>.yaml)")
    if e["type"] == "string_type" and isinstance(e["input"], int | float) and not isinstance(e["input"], bool):
        return Problem(key, e["input"], "expected a string, and YAML read this unquoted value as a number "
                                        "(1.30 as 1.3, 0123 as octal 83): quote it in the stack file")
    if e["type"] in SHAPES:
        return Problem(key, e["input"], _shape(e["type"], loc, e["input"]))
    message = str(e["msg"]).removeprefix("Value error, ")
    if message.startswith("Input should be "):  # pydantic's own wording, in the voice of the other messages
        message = "expected " + message.removeprefix("Input should be ")
    if e["input"] == SECRET:
        message += ("; it is a secret (`pulumi config set --secret`): its plaintext needs the stack's secrets "
                    "provider, so only `pulumi preview` can check it; set this key in plain text (it is no secret)")
    return Problem(key, e["input"], message)


# A value of the wrong shape (a scalar where a list or a mapping is meant), in the stack file's words rather than
# pydantic's ("a valid tuple", "a valid dictionary or instance of ClusterConfig").
SHAPES = {"model_type": "mapping", "model_attributes_type": "mapping", "dict_type": "mapping", "tuple_type": "list",
          "list_type": "list"}


def _shape(error_type: str, loc: tuple[Any, ...], value: Any) -> str:
    if SHAPES[error_type] == "list":
        return "expected a list: [a, b], or one `- item` line each (a single value too: [a])"
    known = _known_keys(loc)
    expected = "expected a mapping of `key: value` lines" + (f" ({', '.join(known)})" if known else "")
    if value is None:  # `name: null` where the profile sets nothing to remove
        expected += "; null removes only what the profile sets (a node group of the profile: `spot: null`)"
    return expected


def _unknown_key(loc: tuple[Any, ...]) -> str:
    name = str(loc[-1])
    if len(loc) == 1 and "." in name:  # `pulumi config set envstack:network.azCount 3` without --path
        return (f"unknown key; a nested value is set with `pulumi config set --path 'envstack:{name}' VALUE` (in the "
                f"stack file: envstack:{name.split('.')[0]}: then the rest, indented)")
    known = _known_keys(loc[:-1])
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)  # a typo, not any word sharing letters
    if close:
        return f"unknown key; did you mean {close[0]}? (expected one of: {', '.join(known)})"
    return f"unknown key; expected one of: {', '.join(known)}" if known else "unknown key"


def _key(loc: tuple[Any, ...]) -> str:
    if loc == ("region",):
        return REGION_KEY
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{NAMESPACE}:{path}"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys the model at a location accepts, for 'did you mean' help ([] if it is not a model)."""
    model: Any = StackConfig
    for part in loc:
        if _is_model(model):
            field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return []
            model = field.annotation
        else:
            model = _element(model)  # a list index or a mapping key (a node group's name): the elements' type
    if not _is_model(model):
        return []
    hidden = {"stack", "project", "region"} if model is StackConfig else set()
    return [f.alias or n for n, f in model.model_fields.items() if n not in hidden]


def _element(annotation: Any) -> Any:
    """The model inside `tuple[Model, ...]` or `dict[str, Model]`, else the annotation itself."""
    args = [a for a in get_args(annotation) if a is not Ellipsis]
    return args[-1] if args else annotation
