"""The environments: one profile file each, envstack/program/profiles/<environment>.yaml (common.yaml aside).

Adding a file adds an environment: validate and synth accept stacks of it, CI deploys its stacks in their place in
the promotion order, `envstack promote` follows its paths, and the policy gate runs with its policy configuration.
Besides `settings:` and `guardrails:`, a profile says where it stands:

    promotion:
      from: staging          # its stacks take the commit the stacks of `staging` run (`envstack promote`), and CI
                             # deploys them after those; none: a first stage (dev)
      rollbackFrom: [prod]   # environments whose commit its stacks may be rolled back to
    policy:
      base: staging          # without policies/<environment>.json: that environment's file, with this one's
                             # guardrail thresholds

The promotion order (`waves()`): the environments promoted from none first, then each wave those promoted from the
previous one; `environments()` lists them in that order.
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import paths
from .errors import ConfigError, FileProblem

COMMON = "common"  # settings every environment shares: not an environment
PROMOTION, ROLLBACK = "promotion", "rollback"


class Promotion(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    from_: str | None = Field(default=None, alias="from")
    rollback_from: tuple[str, ...] = Field(default=(), alias="rollbackFrom")


class PolicySource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str | None = None


def profile_path(name: str) -> Path:
    return paths.PROFILES / f"{name}.yaml"


def profile_where(name: str) -> str:
    """The profile file as a problem line names it: relative to the checkout."""
    path = profile_path(name)
    return str(path.relative_to(paths.ROOT)) if path.is_relative_to(paths.ROOT) else str(path)


def read_profile(name: str) -> dict[str, Any]:
    """A profile file's document ({} when empty)."""
    with open(profile_path(name), encoding="utf-8") as f:
        document = yaml.safe_load(f) or {}
    if not isinstance(document, dict):
        raise _error(name, f"expected a mapping of settings, guardrails, promotion and policy, got {document!r}")
    return document


def _error(name: str, message: str) -> ConfigError:
    return ConfigError("profiles", [FileProblem(profile_where(name), message)])


def _names() -> list[str]:
    return sorted(p.stem for p in paths.PROFILES.glob("*.yaml") if p.stem != COMMON)


def _part(name: str, key: str, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(read_profile(name).get(key) or {})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in (key, *first["loc"]))
        raise _error(name, f"{where} = {first.get('input')!r}: {first['msg']}") from None


@cache
def promotions() -> dict[str, Promotion]:
    """Each environment's promotion entry, checked: it names environments that exist."""
    found = {name: _part(name, "promotion", Promotion) for name in _names()}
    for name, promotion in found.items():
        for key, named in (("from", [promotion.from_] if promotion.from_ else []),
                           ("rollbackFrom", list(promotion.rollback_from))):
            unknown = [n for n in named if n not in found or n == name]
            if unknown:
                raise _error(name, f"promotion.{key} = {unknown[0]!r}: expected another environment (a profile: "
                                   f"{', '.join(n for n in found if n != name)})")
    return found


@cache
def waves() -> tuple[tuple[str, ...], ...]:
    """The environments in promotion order: first those promoted from none, then those promoted from the previous
    wave's, each wave sorted by name. A cycle of promotions is refused."""
    remaining, placed, order = dict(promotions()), set[str](), []
    while remaining:
        wave = tuple(sorted(n for n, p in remaining.items() if p.from_ is None or p.from_ in placed))
        if not wave:
            raise _error(sorted(remaining)[0], f"promotion.from makes a cycle through {', '.join(sorted(remaining))}: "
                                               "one environment must be promoted from none")
        order.append(wave)
        placed.update(wave)
        for name in wave:
            del remaining[name]
    return tuple(order)


def environments() -> tuple[str, ...]:
    """Every environment, in promotion order."""
    return tuple(name for wave in waves() for name in wave)


def expected_environment() -> str:
    """What an environment is expected to be, for an error naming a value that is none."""
    return (f"expected one of {', '.join(environments())} (an environment is a profile: "
            "envstack/program/profiles/<environment>.yaml)")


def promoted_from(environment: str) -> str | None:
    return promotions()[environment].from_


def promotion_paths() -> dict[tuple[str, str], str]:
    """(source environment, target environment) -> 'promotion' or 'rollback', as the profiles declare them."""
    every = [(name, promotions()[name]) for name in environments()]
    return {**{(p.from_, name): PROMOTION for name, p in every if p.from_},
            **{(source, name): ROLLBACK for name, p in every for source in p.rollback_from}}


def policy_base(environment: str) -> str | None:
    """The environment whose policy configuration this one starts from when it has no file of its own."""
    base: str | None = _part(environment, "policy", PolicySource).base
    if base is not None and base not in environments():
        raise _error(environment, f"policy.base = {base!r}: expected an environment ({', '.join(environments())})")
    return base


def clear() -> None:
    """Forget what was read (a test that adds a profile file)."""
    promotions.cache_clear()
    waves.cache_clear()
