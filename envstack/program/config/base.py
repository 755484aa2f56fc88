"""Shared base for every configuration model: camelCase keys, unknown keys rejected, immutable; and the checks
list elements share, so a problem names the element that is wrong (`notificationEmails[2]`), not the list."""

import re
from collections.abc import Callable, Mapping
from ipaddress import IPv4Network
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=False,
        allow_inf_nan=False,  # `.inf` and `.nan` are YAML numbers, never a meant size, budget or threshold
        use_attribute_docstrings=True,  # a field's docstring is its description in docs/configuration.md
    )


def matches(pattern: str | re.Pattern[str], expected: str) -> Callable[[str], str]:
    """An after-validator: the value matches `pattern`, else "expected <expected>"."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"expected {expected}")
        return value
    check.expected = expected  # type: ignore[attr-defined]  # for docs/configuration.md
    return check


def integer_as_text(value: Any) -> Any:
    """A before-validator for text that YAML (and `pulumi config set --path`) may hand over as a whole number:
    `engineVersion: 16` means "16". Other numbers are left for the string check, which asks to quote them."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def cidr_text(value: Any) -> Any:
    """A before-validator: a CIDR is written as text. pydantic (like `ipaddress`) would read a number, or a YAML
    `true`, as an address (`167772160` -> 10.0.0.0/32, `true` -> 0.0.0.1/32) and then complain about its prefix."""
    if not isinstance(value, str | IPv4Network):
        raise ValueError(f"expected an IPv4 CIDR written as text, such as 10.0.0.0/16, not {type(value).__name__} "
                         f"{value!r}")
    return value


# An IPv4 range as a stack file writes it: "10.0.0.0/16" (host bits clear).
Cidr = Annotated[IPv4Network, BeforeValidator(cidr_text)]


def major_upgrades_apply_now(apply_immediately: bool, info: ValidationInfo) -> bool:
    """A field validator of a data store's `applyImmediately` (declared after `allowMajorVersionUpgrade`): true
    whenever `allowMajorVersionUpgrade` is. A major version (or engine) change waiting for the maintenance window
    fails: the parameter group of the new family replaces the old one, whose deletion fails while the store still
    uses it, and the provider reads back the old version, so the next `up` asks again (RDS: without
    AllowMajorVersionUpgrade)."""
    if (info.data or {}).get("allow_major_version_upgrade") and not apply_immediately:
        raise ValueError("true while allowMajorVersionUpgrade is true: a major upgrade left for the maintenance "
                         "window fails (the new family's parameter group replaces one still in use); deploy it with "
                         "applyImmediately: true, then set both back")
    return apply_immediately


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Override wins; mappings merge key by key; lists and scalars are replaced whole; `null` over a mapping removes
    it (a stack leaves out a node group its profile defines: `spot: null`)."""
    merged = dict(base)
    for key, value in override.items():
        if value is None and isinstance(merged.get(key), Mapping):
            del merged[key]
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
