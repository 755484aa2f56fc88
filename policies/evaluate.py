"""Offline evaluation of the envstack pack over synthesized resource records (used by `envstack synth`).

It runs the very policy objects the Pulumi CLI runs, building the SDK's own argument types from records shaped like
the entries of `envstack synth --json`'s `resources` list:

    {"urn", "type", "name", "parent", "dependencies": [urn], "protect", "provider": urn | None, "custom",
     "inputs": {camelCase inputs}, "propertyDependencies": {prop: [urn]} (optional)}
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import isawaitable
from pathlib import Path
from typing import Any, TypedDict

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from .rules import DEPLOYABILITY, all_policies
from .rules.base import merged_config

Record = Mapping[str, Any]
LEVELS = {level.value: level for level in EnforcementLevel}


class Violation(TypedDict):
    policy: str
    level: str  # "mandatory" | "advisory"
    urn: str | None  # None for a stack-wide finding
    message: str


@dataclass
class PolicyReport:
    rules_evaluated: int = 0
    violations: list[Violation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rules_evaluated": self.rules_evaluated, "violations": list(self.violations)}


class PolicyConfigError(ValueError):
    """The policy configuration names an unknown rule or option, or an invalid enforcement level."""


def has_mandatory(report: PolicyReport) -> bool:
    return any(v["level"] == "mandatory" for v in report.violations)


def load_config(config: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    try:
        loaded = json.loads(Path(config).read_text())
    except (OSError, ValueError) as e:
        raise PolicyConfigError(f"cannot read policy configuration {config}: {e}") from e
    if not isinstance(loaded, dict):
        raise PolicyConfigError(f"policy configuration {config} is not a JSON object")
    return loaded


def _level(value: Any, where: str) -> EnforcementLevel:
    if not isinstance(value, str) or value not in LEVELS:
        raise PolicyConfigError(f"{where}: enforcement level must be one of {', '.join(LEVELS)}, got {value!r}")
    return LEVELS[value]


Resolved = dict[str, tuple[EnforcementLevel, dict[str, Any]]]

# The engine checks each rule's options against its JSON schema before it runs the pack (pulumi/pulumi
# pkg/resource/plugin/analyzer_plugin.go, ValidatePolicyPackConfig), so `pulumi preview` fails on a value the schema
# refuses. The same check here, for the keywords the pack's schemas use (tests hold every schema to these).
SCHEMA_KEYWORDS = frozenset({"type", "items", "minimum", "maximum", "exclusiveMinimum", "default", "description"})
_OF_TYPE: dict[str, Callable[[Any], bool]] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
}


def schema_problem(value: Any, schema: Mapping[str, Any]) -> str | None:
    """What the option's JSON schema refuses in `value`, or None."""
    kind = schema.get("type")
    if kind in _OF_TYPE and not _OF_TYPE[kind](value):
        return f"expected {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    if kind == "array":
        return next((f"item {i}: {problem}" for i, item in enumerate(value)
                     if (problem := schema_problem(item, schema.get("items", {})))), None)
    bounds = [("minimum", lambda v, b: v >= b, "at least"), ("maximum", lambda v, b: v <= b, "at most"),
              ("exclusiveMinimum", lambda v, b: v > b, "more than")]
    for keyword, holds, words in bounds:
        if keyword in schema and not holds(value, schema[keyword]):
            return f"expected {words} {schema[keyword]}"
    return None


def resolve(policies: Sequence[Policy], config: Mapping[str, Any]) -> Resolved:
    """Per rule: its level (rule entry, else "all", else the rule's own) and options (schema defaults + file).

    A deployability rule must come out mandatory, whether a rule entry or "all" would relax it: the configuration is
    refused, naming each such rule (the pack's server runs them mandatory anyway: `policies.pack.Analyzer`)."""
    by_name = {p.name: p for p in policies}
    unknown = sorted(set(config) - set(by_name) - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy configuration names unknown rules: {', '.join(unknown)}")
    default = _level(config["all"], "all") if "all" in config else None
    resolved, relaxed = {}, []
    for name, policy in by_name.items():
        entry = config.get(name)
        options = dict(entry) if isinstance(entry, Mapping) else {}
        raw = options.pop("enforcementLevel", entry if isinstance(entry, str) else None)
        level = _level(raw, name) if raw is not None else default or policy.enforcement_level \
            or EnforcementLevel.ADVISORY
        if name in DEPLOYABILITY and level != EnforcementLevel.MANDATORY:
            relaxed.append(f"{name} ({level.value}{'' if raw is not None else ' from all'})")
        schema = policy.config_schema.properties if policy.config_schema else {}
        if extra := sorted(set(options) - set(schema)):
            raise PolicyConfigError(f"{name}: unknown options {', '.join(extra)}")
        for option, value in options.items():
            if problem := schema_problem(value, schema[option]):
                raise PolicyConfigError(f"{name}.{option} = {value!r}: {problem}")
        resolved[name] = (level, merged_config(policy, options))
    if relaxed:
        raise PolicyConfigError(
            f"deployability rules (AWS would refuse the update) are mandatory in every environment, whatever \"all\" "
            f"says; this configuration relaxes {', '.join(relaxed)}: name each \"mandatory\"")
    return resolved


# ---- a stack's tightening of its environment's configuration --------------------------------------------------

# How far each level goes: a stack may move a rule up this order, never down.
STRENGTH = {EnforcementLevel.DISABLED: 0, EnforcementLevel.ADVISORY: 1, EnforcementLevel.MANDATORY: 2,
            EnforcementLevel.REMEDIATE: 2}
# How an option tightens, by its name: (prefix, test(base, given) that `given` is at least as strict).
Tighter = Callable[[Any, Any], bool]
_HIGHER: Tighter = lambda base, given: given >= base  # noqa: E731
_LOWER: Tighter = lambda base, given: given <= base  # noqa: E731
_MORE: Tighter = lambda base, given: set(given) >= set(base)  # noqa: E731
_FEWER: Tighter = lambda base, given: set(given) <= set(base)  # noqa: E731
_ON: Tighter = lambda base, given: bool(given) or not base  # noqa: E731
_OFF: Tighter = lambda base, given: not given or bool(base)  # noqa: E731
TIGHTENING: list[tuple[str, Tighter, str]] = [
    ("minimum", _HIGHER, "no lower"), ("maximum", _LOWER, "no higher"), ("required", _MORE, "a superset"),
    ("forbidden", _MORE, "a superset"), ("types", _MORE, "a superset"), ("allowed", _FEWER, "a subset"),
    ("supported", _FEWER, "a subset"), ("require", _ON, "true if it was"), ("allow", _OFF, "false if it was"),
    ("publicShare", _LOWER, "no higher"),
]


def tightening(option: str) -> tuple[Tighter, str]:
    """How `option` may move when a stack tightens it (every option of the pack has a rule: tested)."""
    for prefix, tighter, meaning in TIGHTENING:
        if option.startswith(prefix):
            return tighter, meaning
    raise KeyError(f"option {option} has no tightening direction (policies/evaluate.py TIGHTENING)")


def tighten(base: Mapping[str, Any], overlay: Mapping[str, Any], policies: Sequence[Policy] | None = None,
            where: str = "the stack's policy configuration") -> dict[str, Any]:
    """The environment's configuration `base` with a stack's `overlay` (the same format) laid over it: each rule
    the overlay names gets its level and options merged into base's, and the overlay's "all" is a floor every rule
    is raised to. Refused (PolicyConfigError naming each rule and option) where the overlay would relax anything."""
    policies = policies if policies is not None else all_policies()
    before = resolve(policies, base)
    resolve(policies, {name: entry for name, entry in overlay.items() if name != "all"})  # names, options, levels
    floor = _level(overlay["all"], f"{where}: all") if "all" in overlay else EnforcementLevel.DISABLED
    effective: dict[str, Any] = {"all": base["all"]} if "all" in base else {}
    relaxed = []
    for policy in policies:
        level, options = before[policy.name]
        entry = overlay.get(policy.name, {})
        given = dict(entry) if isinstance(entry, Mapping) else {"enforcementLevel": entry}
        new_level = _level(given.pop("enforcementLevel", level.value), f"{where}: {policy.name}")
        if STRENGTH[new_level] < STRENGTH[level]:
            relaxed.append(f"{policy.name} ({level.value} -> {new_level.value})")
        if STRENGTH[floor] > STRENGTH[new_level]:
            new_level = floor
        for option, value in given.items():
            tighter, meaning = tightening(option)
            if not tighter(options[option], value):
                relaxed.append(f"{policy.name}.{option} ({options[option]!r} -> {value!r}: must be {meaning})")
        effective[policy.name] = {"enforcementLevel": new_level.value, **options, **given}
    if relaxed:
        raise PolicyConfigError(f"{where} may only tighten its environment's; it relaxes {', '.join(relaxed)}")
    resolve(policies, effective)
    return effective


def _options(record: Record) -> PolicyResourceOptions:
    return PolicyResourceOptions(bool(record.get("protect")), [], None, [], PolicyCustomTimeouts(0, 0, 0), [],
                                 record.get("parent"))


def _providers(records: Sequence[Record]) -> Callable[[Record], PolicyProviderResource | None]:
    providers = {r["urn"]: PolicyProviderResource(r["type"], unknown_checking_proxy(dict(r.get("inputs") or {})),
                                                  r["urn"], r["name"])
                 for r in records if str(r["type"]).startswith("pulumi:providers:")}

    def lookup(record: Record) -> PolicyProviderResource | None:
        ref = record.get("provider")
        if not ref:
            return None
        # A provider reference may be "<urn>::<id>".
        return providers.get(ref) or providers.get(str(ref).rsplit("::", 1)[0])

    return lookup


def _stack_resources(records: Sequence[Record], provider_of: Callable[[Record], PolicyProviderResource | None]) \
        -> list[PolicyResource]:
    resources = {r["urn"]: PolicyResource(r["type"], unknown_checking_proxy(dict(r.get("inputs") or {})), r["urn"],
                                          r["name"], _options(r), provider_of(r), None, [], {}) for r in records}
    for record in records:
        resource = resources[record["urn"]]
        resource.parent = resources.get(record.get("parent") or "")
        resource.dependencies = [resources[u] for u in record.get("dependencies") or [] if u in resources]
        resource.property_dependencies = {
            prop: [resources[u] for u in urns if u in resources]
            for prop, urns in (record.get("propertyDependencies") or {}).items()}
    return list(resources.values())


def _is_component_of_envstack_or_engine(record: Record) -> bool:
    package = str(record["type"]).split(":", 1)[0]
    return package in ("pulumi", "envstack")


def _run(policy: ResourceValidationPolicy | StackValidationPolicy, args: ResourceValidationArgs | StackValidationArgs,
         level: EnforcementLevel,
         default_urn: str | None, report: PolicyReport) -> None:
    def violation(message: str, urn: str | None = None, lvl: EnforcementLevel = level) -> None:
        report.violations.append(Violation(policy=policy.name, level=lvl.value, urn=urn or default_urn,
                                           message=message))

    try:
        result = policy.validate(args, violation)  # type: ignore[arg-type]
        if result is not None and isawaitable(result):
            async def wait() -> None:
                await result
            asyncio.run(wait())
    except _NotApplicableError:
        pass
    except UnknownValueError as e:
        violation(f"can't run during preview: {e.message}", lvl=EnforcementLevel.ADVISORY)
    except Exception as e:  # a broken rule must never break synth
        violation(f"rule failed: {type(e).__name__}: {e}", lvl=EnforcementLevel.ADVISORY)


def evaluate(resources: Sequence[Record], config: str | Path | Mapping[str, Any],
             policies: Sequence[Policy] | None = None) -> PolicyReport:
    """Run every enabled rule over the records with the environment's configuration (a path or a dict)."""
    policies = policies if policies is not None else all_policies()
    resolved = resolve(policies, load_config(config))
    provider_of = _providers(resources)
    report = PolicyReport()
    stack_resources: list[PolicyResource] | None = None
    # What a resource rule sees of each record, built once for all rules (the rule adds its own options).
    seen = [(r["type"], unknown_checking_proxy(dict(r.get("inputs") or {})), r["urn"], r["name"], _options(r),
             provider_of(r)) for r in resources if not _is_component_of_envstack_or_engine(r)]
    for policy in policies:
        level, options = resolved[policy.name]
        if level == EnforcementLevel.DISABLED:
            continue
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY
        report.rules_evaluated += 1
        if isinstance(policy, ResourceValidationPolicy):
            for type_, props, urn, name, opts, provider in seen:
                _run(policy, ResourceValidationArgs(type_, props, urn, name, opts, provider, options), level, urn,
                     report)
        elif isinstance(policy, StackValidationPolicy):
            stack_resources = stack_resources or _stack_resources(resources, provider_of)
            _run(policy, StackValidationArgs(stack_resources, options), level, None, report)
    return report
