"""Shared harness: the real program run under Pulumi's mocks, once per stack and test session."""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from envstack.ops import stacks as stack_files
from envstack.program.config import load_profile
from envstack.tools.synth import Synthesis, read_stack_config, synthesize

# Every stack file git tracks: a new Pulumi.<stack>.yaml is synthesized and checked like the others.
STACKS = tuple(stack_files.committed())
_cache: dict[str, Synthesis] = {}


def synth(stack: str) -> Synthesis:
    """The committed stack file, synthesized once per session (read-only: do not mutate the result)."""
    if stack not in _cache:
        _cache[stack] = synthesize(stack)
    return _cache[stack]


def synth_with(stack: str, **overrides: Any) -> Synthesis:
    """The stack file with `envstack:<key>` values replaced (a key set to None is removed)."""
    config = copy.deepcopy(read_stack_config(stack))
    for key, value in overrides.items():
        full = key if ":" in key else f"envstack:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    return synthesize(stack, config)


def region(synthesis: Synthesis) -> str:
    """The stack file's aws:region (a new stack may live elsewhere than us-west-2)."""
    return str(read_stack_config(synthesis.stack)["aws:region"])


def network_settings(synthesis: Synthesis) -> dict[str, Any]:
    """The profile's network settings overlaid with the stack file's (its own CIDR, say)."""
    profile = load_profile(synthesis.environment).settings["network"]
    return {**profile, **read_stack_config(synthesis.stack).get("envstack:network", {})}


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> Synthesis:
    return synth(request.param)


@pytest.fixture
def stacks() -> Callable[[str], Synthesis]:
    return synth
