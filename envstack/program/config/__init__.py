"""Typed stack configuration: environment profiles, stack overrides, guardrails and clear errors."""

from typing import Any

from .errors import ConfigError, Problem
from .loader import load_profile, load_stack_config
from .profiles import environments
from .stack import StackConfig

__all__ = ["ConfigError", "Problem", "StackConfig", "environments", "load_profile", "load_stack_config"]


def __getattr__(name: str) -> Any:
    """`ENVIRONMENTS`: the environments the profile files define, in promotion order (read when asked: a profile
    file is an environment, envstack/program/config/profiles.py)."""
    if name == "ENVIRONMENTS":
        return environments()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
