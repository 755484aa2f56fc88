"""The other stacks of the checkout, for the one rule a stack cannot check alone: VPC ranges apart
(envstack/program/config/overlap.py)."""

from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from ..stack_names import present
from .errors import ConfigError
from .files import ROOT, program_values, read_stack_config
from .loader import load_profile
from .overlap import Neighbour
from .profiles import environments


def neighbours(stack: str, root: Path = ROOT) -> list[Neighbour]:
    """Every other stack file of the working tree (review stacks excluded) whose environment and range can be read;
    one that cannot is skipped here (its own validation says why)."""
    found: list[Neighbour] = []
    for name in present(root):
        if name == stack:
            continue
        try:
            raw, _ = program_values(read_stack_config(name, root))
        except (ConfigError, FileNotFoundError):
            continue
        neighbour = _neighbour(name, raw)
        if neighbour is not None:
            found.append(neighbour)
    return found


def _neighbour(stack: str, raw: dict[str, Any]) -> Neighbour | None:
    environment = raw.get("environment")
    if environment not in environments():
        return None
    network = raw.get("network")
    given = network.get("cidr") if isinstance(network, dict) else None
    cidr = given or load_profile(environment).settings.get("network", {}).get("cidr")
    try:
        return Neighbour(stack, environment, IPv4Network(cidr))
    except (TypeError, ValueError):
        return None
