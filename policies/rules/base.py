"""Shared plumbing for envstack's rules: safe prop access, config defaults, and rule declaration.

Unknown values (preview): reading one through the SDK's proxy raises `UnknownValueError`. Rules read only the props
they need; a value check lets the error propagate (the SDK turns it into an advisory "can't run during preview"
note, never a violation), while a presence check (`present`) counts an unknown value as set, since an output that
is not known yet (a key ARN, a bucket name) will be set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

Props = Mapping[str, Any]
P = TypeVar("P", ResourceValidationPolicy, StackValidationPolicy)

# Every rule declared with `resource_rule` / `stack_rule`, in declaration order.
REGISTRY: list[Policy] = []
# Checkov ids per rule name, for documentation.
CHECKOV: dict[str, str] = {}
# Where AWS (or the provider) documents what a deployability rule enforces, per rule name: docs/policies.md.
SOURCES: dict[str, str] = {}
# Deployability rules: constraints AWS, EKS or a provider enforces at `pulumi up` that can be read from the
# resources. They are mandatory in every environment (a dev stack that AWS refuses is no cheaper), so the
# policy configuration may not relax them (`policies.evaluate.resolve` refuses it; tests check every file).
DEPLOYABILITY: set[str] = set()
DEPLOYABILITY_TAG = "deployability"

_MISSING = object()


def dig(props: Any, *path: str | int, default: Any = None) -> Any:
    """props[path[0]][path[1]]...; `default` when a step is missing or None. Unknown values raise."""
    value = props
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, Sequence) or isinstance(value, str) or step >= len(value):
                return default
        elif not isinstance(value, Mapping) or step not in _keys(value):
            return default
        value = value[step]
        if value is None:
            return default
    return value


def _keys(mapping: Mapping[str, Any]) -> set[str]:
    # Iterating a proxy's keys never raises, whereas `key in proxy` reads (and may raise on) the value.
    return set(iter(mapping))


def present(props: Any, *path: str | int) -> bool:
    """True when the value is set: non-empty, or unknown (an output that will be set once created)."""
    try:
        value = dig(props, *path)
    except UnknownValueError:
        return True
    return value is not None and not (isinstance(value, (Mapping, Sequence)) and len(value) == 0)


def known(props: Any, *path: str | int, default: Any = None) -> Any:
    """The value, or `default` when it is missing or not known yet (for matching, never for judging)."""
    try:
        return dig(props, *path, default=default)
    except UnknownValueError:
        return default


def known_count(props: Any, *path: str | int) -> int | None:
    """How many items the list at `path` holds (0 when missing); None while it is not known yet."""
    try:
        return len(as_list(dig(props, *path)))
    except UnknownValueError:
        return None


def truthy(value: Any) -> bool:
    """Booleans arrive as bools; some AWS inputs (launch template EBS) are the strings "true"/"false"."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def as_mapping(value: Any) -> Mapping[str, Any]:
    """Objects may arrive JSON-encoded (provider config such as `defaultTags`, IAM policy documents)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def merged_config(policy: Policy, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Schema defaults (prod values) overlaid with the configuration the CLI or evaluator passes."""
    props = policy.config_schema.properties if policy.config_schema else {}
    config = {key: schema["default"] for key, schema in props.items() if "default" in schema}
    config.update({k: v for k, v in (given or {}).items() if k != "enforcementLevel"})
    return config


@dataclass
class Resource:
    """What a resource check sees: its type, props (camelCase), merged config and the raw SDK args."""

    type: str
    props: Props
    cfg: dict[str, Any]
    args: ResourceValidationArgs

    def get(self, *path: str | int, default: Any = None) -> Any:
        return dig(self.props, *path, default=default)

    def present(self, *path: str | int) -> bool:
        return present(self.props, *path)

    def true(self, *path: str | int) -> bool:
        return truthy(self.get(*path))


def retention_option(default_days: int) -> dict[str, Mapping[str, Any]]:
    """The `minimumDays` option of a backup or snapshot retention rule (AWS keeps at most 35 days; 0: no minimum)."""
    return {"minimumDays": {"type": "integer", "minimum": 0, "maximum": 35, "default": default_days}}


def short_retention(r: Resource, prop: str) -> Iterator[str]:
    """A violation when `prop` keeps fewer days than the rule's `minimumDays`."""
    days, minimum = r.get(prop, default=0), r.cfg["minimumDays"]
    if days < minimum:
        yield f"{prop} is {days:g} days; at least {minimum:g} required"


ResourceCheck = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[list[PolicyResource], dict[str, Any]], Iterable[tuple[str, str | None]]]


def _schema(options: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema({k: dict(v) for k, v in options.items()}) if options else None


def _tags(checkov: str, deployability: bool) -> list[str] | None:
    tags = ([checkov] if checkov else []) + ([DEPLOYABILITY_TAG] if deployability else [])
    return tags or None


def resource_rule(name: str, description: str, types: Iterable[str], *, severity: Severity = Severity.HIGH,
                  checkov: str = "", options: Mapping[str, Mapping[str, Any]] | None = None,
                  level: EnforcementLevel = EnforcementLevel.MANDATORY,
                  when: Callable[[Resource], bool] | None = None, deployability: bool = False, source: str = "",
                  ) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    """Declare a resource rule: the check yields one message per problem and only sees the given types
    (and, with `when`, only the resources the predicate accepts). `deployability`: AWS would refuse it at
    `pulumi up`, so the rule is mandatory in every environment; `source` names where AWS documents that."""
    wanted = frozenset(types)

    def declare(check: ResourceCheck) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type not in wanted:
                return
            resource = Resource(args.resource_type, args.props, merged_config(policy, args.get_config()), args)
            if when is not None and not when(resource):
                return
            for message in check(resource):
                report(message, None)

        policy = _registered(ResourceValidationPolicy, validate, name, description, severity, checkov, options, level,
                             deployability, source)
        return policy

    return declare


def stack_rule(name: str, description: str, *, severity: Severity = Severity.HIGH, checkov: str = "",
               options: Mapping[str, Mapping[str, Any]] | None = None,
               level: EnforcementLevel = EnforcementLevel.MANDATORY,
               deployability: bool = False, source: str = "") -> Callable[[StackCheck], StackValidationPolicy]:
    """Declare a stack rule: the check yields (message, urn) pairs over all resources of the stack.
    `deployability` and `source`: as for `resource_rule`."""

    def declare(check: StackCheck) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            for message, urn in check(args.resources, merged_config(policy, args.get_config())):
                report(message, urn)

        policy = _registered(StackValidationPolicy, validate, name, description, severity, checkov, options, level,
                             deployability, source)
        return policy

    return declare


def _registered(kind: type[P], validate: Callable[[Any, ReportViolation], None], name: str, description: str,
                severity: Severity, checkov: str, options: Mapping[str, Mapping[str, Any]] | None,
                level: EnforcementLevel, deployability: bool, source: str) -> P:
    """The policy a rule declares, added to the registry once its declaration is checked."""
    policy = kind(name=name, description=description, validate=validate, enforcement_level=level,
                  config_schema=_schema(options), severity=severity, tags=_tags(checkov, deployability))
    if any(p.name == policy.name for p in REGISTRY):
        raise ValueError(f"duplicate policy name {policy.name}")
    if deployability and policy.enforcement_level != EnforcementLevel.MANDATORY:
        raise ValueError(f"deployability rule {policy.name} must be mandatory")
    if deployability and not source:
        raise ValueError(f"deployability rule {policy.name} must name its source: where AWS documents the refusal")
    if source and not deployability:
        raise ValueError(f"rule {policy.name} names a source, which only a deployability rule shows (the reference's "
                         "source column): put it in a comment, or mark the rule deployability=True")
    REGISTRY.append(policy)
    CHECKOV[policy.name] = checkov
    if deployability:
        DEPLOYABILITY.add(policy.name)
        SOURCES[policy.name] = source
    return policy


# ---- stack helpers -------------------------------------------------------------------------------------------


def of_type(resources: Iterable[PolicyResource], *types: str) -> Iterator[PolicyResource]:
    return (r for r in resources if r.resource_type in types)


def identifiers(resource: PolicyResource) -> set[str]:
    """Known strings that name a resource: urn, name, and id/arn/physical-name props when known."""
    ids = {resource.urn, resource.name}
    for prop in ("id", "arn", "name", "identifier", "replicationGroupId", "clusterId"):
        value = known(resource.props, prop)
        if isinstance(value, str) and value:
            ids.add(value)
    return ids


def refers_to(value: Any, target: PolicyResource) -> bool:
    """Does a (known) reference value point at `target`? Matches ids, ARNs and ARNs ending in `/<name>/...`."""
    if not isinstance(value, str) or not value:
        return False
    ids = identifiers(target)
    return value in ids or (value.startswith("arn:") and f"/{target.name}/" in value + "/")


def linked(source: PolicyResource, target: PolicyResource, prop: str) -> bool:
    """Is `source` linked to `target` through `prop`? Property dependencies, then dependencies, then the value."""
    if target in source.property_dependencies.get(prop, []):
        return True
    if target in source.dependencies:
        return True
    return any(refers_to(v, target) for v in as_list(known(source.props, prop)))
