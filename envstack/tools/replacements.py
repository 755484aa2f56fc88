"""Which input changes replace a stateful resource (delete and create: its data goes, unless restored), by type.

One table serves both the state-compatibility snapshot and `envstack diff`: envstack/tools/state_snapshot.py's
STATEFUL (the inputs the Terraform AWS provider marks ForceNew, per stateful type, with their sources). This module
answers the diff's question for one changed input path of a synthesis (`kmsKeyId`, `launchTemplate.id`,
`vpcConfig.subnetIds[0]`): a change anywhere inside a listed input counts.
"""

from typing import Any

from .state_snapshot import STATEFUL, is_downgrade


def _within(path: str, inputs: tuple[str, ...]) -> str | None:
    """The listed input `path` is, or lies inside."""
    return next((name for name in inputs if path == name or path.startswith((f"{name}.", f"{name}["))), None)


def effect(resource_type: str, path: str, before: Any, after: Any) -> str | None:
    """'replace' when changing `path` from `before` to `after` replaces a stateful resource of this type, else None
    (an input of a type that holds no state, or one the provider updates in place)."""
    watched = STATEFUL.get(resource_type)
    if watched is None:
        return None
    if _within(path, watched.replaced_by):
        return "replace"
    downgraded = _within(path, watched.replaced_on_downgrade)
    if downgraded and before is not None and after is not None and is_downgrade(downgraded, after, before):
        return "replace"
    return None
