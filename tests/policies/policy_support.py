"""Builders for policy tests: SDK argument objects by hand (as the CLI would build them) and synth records."""

import asyncio
from inspect import isawaitable
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policies.pack import all_policies

# Any: a test calls validate on whichever kind the name refers to.
POLICIES: dict[str, Any] = {p.name: p for p in all_policies()}
STACK = "prod"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::envstack::{type_}::{name}"


def opts(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def make_args(type_: str, props: dict[str, Any], config: dict[str, Any] | None = None, name: str = "r",
              protect: bool = False, provider: PolicyProviderResource | None = None) -> ResourceValidationArgs:
    # Props go through the SDK's unknown-checking proxy, exactly as the policy server does.
    return ResourceValidationArgs(type_, unknown_checking_proxy(props), urn(type_, name), name, opts(protect),
                                  provider, config)


def run(policy_name: str, args: Any) -> list[str]:
    found: list[str] = []
    result = POLICIES[policy_name].validate(args, lambda message, urn=None: found.append(message))
    if result is not None and isawaitable(result):
        asyncio.run(result)  # type: ignore[arg-type]
    return found


def check(policy_name: str, type_: str, props: dict[str, Any], config: dict[str, Any] | None = None,
          **kwargs: Any) -> list[str]:
    return run(policy_name, make_args(type_, props, config, **kwargs))


def resource(type_: str, name: str, props: dict[str, Any], dependencies: list[PolicyResource] | None = None,
             property_dependencies: dict[str, list[PolicyResource]] | None = None) -> PolicyResource:
    return PolicyResource(type_, unknown_checking_proxy(props), urn(type_, name), name, opts(), None, None,
                          dependencies or [], property_dependencies or {})


def check_stack(policy_name: str, resources: list[PolicyResource],
                config: dict[str, Any] | None = None) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    POLICIES[policy_name].validate(StackValidationArgs(resources, config),
                                   lambda message, urn=None: found.append((message, urn)))
    return found


def record(type_: str, name: str, inputs: dict[str, Any], *, dependencies: tuple[str, ...] = (),
           protect: bool = False, provider: str | None = None, parent: str | None = None,
           custom: bool = True) -> dict[str, Any]:
    """A resource record shaped like an entry of `envstack synth --json`'s `resources`."""
    return {"urn": urn(type_, name), "type": type_, "name": name, "parent": parent, "dependencies": list(dependencies),
            "protect": protect, "provider": provider, "custom": custom, "inputs": inputs}
