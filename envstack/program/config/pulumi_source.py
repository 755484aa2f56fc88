"""Reads a stack's configuration from the Pulumi runtime: the one place that touches Pulumi config."""

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from .errors import NAMESPACE, ConfigError
from .files import ROOT, SECRET, key_problems
from .loader import REGION_KEY, load_stack_config, parse_value
from .neighbours import neighbours
from .overlap import overlaps
from .placeholders import placeholders
from .stack import StackConfig


class ProgramConfigError(ConfigError, pulumi.RunError):
    """A ConfigError raised inside the program: Pulumi prints a RunError's message without a traceback."""


def every_value() -> dict[str, Any]:
    """Every `<namespace>:<key>` the stack sets, whether given by the CLI (PULUMI_CONFIG) or by mocks."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def namespace_values(namespace: str = NAMESPACE) -> dict[str, Any]:
    """The stack's `<namespace>:` values, the namespace left out."""
    prefix = f"{namespace}:"
    return {k[len(prefix):]: parse_value(v) for k, v in every_value().items() if k.startswith(prefix)}


def stack_config() -> StackConfig:
    stack = pulumi.get_stack()
    others = neighbours(stack, ROOT)  # the checkout's other stack files: VPC ranges apart from other environments
    keys = key_problems({key: SECRET if runtime_config.is_config_secret(key) else parse_value(value)
                         for key, value in every_value().items()})
    try:
        cfg = load_stack_config(stack, namespace_values(), runtime_config.get_config(REGION_KEY), others)
    except ConfigError as error:
        raise ProgramConfigError(error.stack, [*keys, *error.problems]) from None
    if keys:
        raise ProgramConfigError(stack, keys)
    for note in overlaps(stack, cfg.environment, cfg.network.cidr, others)[1]:
        pulumi.log.info(note)
    for placeholder in placeholders(cfg):  # `envstack preflight` refuses them; the preview says so too
        pulumi.log.warn(placeholder.line())
    return cfg
