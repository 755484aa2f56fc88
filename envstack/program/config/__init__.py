"""Typed stack configuration: environment profiles, stack overrides, guardrails and clear errors."""

from .errors import ConfigError, Problem
from .loader import load_profile, load_stack_config
from .stack import ENVIRONMENTS, StackConfig

__all__ = ["ENVIRONMENTS", "ConfigError", "Problem", "StackConfig", "load_profile", "load_stack_config"]
