"""Reads a stack's configuration from the Pulumi runtime: the one place that touches Pulumi config."""

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from .errors import NAMESPACE, ConfigError
from .loader import REGION_KEY, load_stack_config, parse_value
from .stack import StackConfig


class ProgramConfigError(ConfigError, pulumi.RunError):
    """A ConfigError raised inside the program: Pulumi prints a RunError's message without a traceback."""


def namespace_values(namespace: str = NAMESPACE) -> dict[str, Any]:
    """Every `<namespace>:<key>` the stack sets, whether given by the CLI (PULUMI_CONFIG) or by mocks."""
    every = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{namespace}:"
    return {k[len(prefix):]: parse_value(v) for k, v in every.items() if k.startswith(prefix)}


def stack_config() -> StackConfig:
    try:
        return load_stack_config(pulumi.get_stack(), namespace_values(), runtime_config.get_config(REGION_KEY))
    except ConfigError as error:
        raise ProgramConfigError(error.stack, error.problems) from None
