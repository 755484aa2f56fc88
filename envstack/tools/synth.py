"""Runs the real envstack program for one stack under Pulumi's mocks and records what it would build.

No cloud account and no Pulumi CLI: the stack file's configuration is fed to the runtime exactly as
`pulumi up` would, every resource registration is recorded (type, name, parent, dependencies, provider, inputs and
every resource option the engine receives: protect, ignoreChanges, retainOnDelete, deleteBeforeReplace,
replaceOnChanges, aliases, customTimeouts, additionalSecretOutputs, deletedWith), and the stack outputs are resolved,
secrets kept opaque.
"""

import contextlib
import gc
import json
import logging
import runpy
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from components.manifest import MANIFEST, ComponentEntry, ConnectionEntry
from envstack.program.config import StackConfig, load_stack_config
from envstack.program.config.files import ROOT, SECRET, program_values, read_stack_config, runtime_config, stack_file
from envstack.program.config.placeholders import placeholders

from .mocks import AwsMocks

__all__ = ["ROOT", "RecordingMonitor", "ResourceRecord", "Synthesis", "install_mocks", "read_stack_config",
           "stack_file", "synthesize"]

PROJECT = "envstack"
AWS_PROVIDER = "pulumi:providers:aws"


@dataclass
class ResourceRecord:
    urn: str
    type: str
    name: str
    parent: str | None
    dependencies: list[str]
    protect: bool
    provider: str | None
    custom: bool
    inputs: dict[str, Any]
    propertyDependencies: dict[str, list[str]] = field(default_factory=dict)  # noqa: N815 (engine's name)
    # The resource options as the engine receives them (RegisterResourceRequest), under the engine's names.
    ignoreChanges: list[str] = field(default_factory=list)  # noqa: N815
    retainOnDelete: bool = False  # noqa: N815
    deleteBeforeReplace: bool = False  # noqa: N815
    replaceOnChanges: list[str] = field(default_factory=list)  # noqa: N815
    aliases: list[str] = field(default_factory=list)  # the URNs this resource had before: state moves, no replacement
    customTimeouts: dict[str, str | None] | None = None  # noqa: N815 ({create, update, delete}: "60m" or None)
    additionalSecretOutputs: list[str] = field(default_factory=list)  # noqa: N815
    deletedWith: str | None = None  # noqa: N815


@dataclass
class Synthesis:
    stack: str
    environment: str
    resources: list[ResourceRecord]
    outputs: dict[str, Any]
    secret_outputs: list[str] = field(default_factory=list)
    mock_values: frozenset[str] = frozenset()  # ids, ARNs, addresses... the mocks made up (see envstack/tools/mocks.py)
    components: list[ComponentEntry] = field(default_factory=list)  # as the program built them (components/manifest.py)
    connections: list[ConnectionEntry] = field(default_factory=list)  # allow(source, target, port), in program order
    usage: dict[str, Any] = field(default_factory=dict)  # envstack:usage as validated (camelCase), for the estimate
    policy: dict[str, Any] = field(default_factory=dict)  # the stack file's envstack:policy (its pack tightening)
    # What the mocks answered each registration (by URN): its id and outputs. Made up, so tests compare a reference
    # with the id or ARN of the resource it should name, never with a literal; not in the JSON.
    ids: dict[str, str] = field(default_factory=dict, repr=False)
    states: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    placeholders: list[str] = field(default_factory=list)  # example values in the configuration (placeholders.py)
    # What the program logged as a warning or an error (pulumi.log.warn), kept out of the terminal: most are the
    # placeholders and component warnings above, told once by warnings().
    logged: list[str] = field(default_factory=list, repr=False)

    def of_type(self, type_: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> ResourceRecord:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}")
        return found[0]

    def by_urn(self) -> dict[str, ResourceRecord]:
        return {r.urn: r for r in self.resources}

    def id_of(self, record: ResourceRecord) -> str:
        """The id the mocks gave `record`: what a reference to it carries."""
        return self.ids[record.urn]

    def state_of(self, record: ResourceRecord) -> dict[str, Any]:
        """The outputs the mocks gave `record` (its ARN, endpoint...)."""
        return self.states[record.urn]

    def warnings(self) -> list[str]:
        """Example values left in the configuration (`configuration: ...`), then what components warn about, as
        `<component>: <warning>`, in the order the program built them; then any other warning the program logged
        (`program: ...`)."""
        told = [*(f"configuration: {line}" for line in self.placeholders),
                *(f"{c.name}: {warning}" for c in self.components for warning in c.warnings)]
        return [*told, *(f"program: {line}" for line in self.logged if not any(t.endswith(line) for t in told))]

    def component(self, name: str) -> ComponentEntry:
        found = [c for c in self.components if c.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one component named {name}, found {len(found)}")
        return found[0]

    def _provider_input(self, key: str) -> Any:
        providers = self.of_type(AWS_PROVIDER)
        return providers[0].inputs.get(key) if providers else None

    @property
    def region(self) -> str | None:
        """The region of the stack's AWS provider (what `aws:region` set)."""
        region = self._provider_input("region")
        return str(region) if region else None

    @property
    def allowed_account_ids(self) -> list[str]:
        """The accounts the provider may touch (`envstack:allowedAccountIds`); empty: any."""
        value = self._provider_input("allowedAccountIds") or []
        return [str(a) for a in (json.loads(value) if isinstance(value, str) else value)]

    def invented_by_mocks(self, value: Any) -> bool:
        """Whether a value is, or is built from, something the mocks made up rather than the configuration."""
        if isinstance(value, dict):
            return any(self.invented_by_mocks(v) for v in value.values())
        if isinstance(value, list):
            return any(self.invented_by_mocks(v) for v in value)
        return isinstance(value, str) and value != SECRET and (
            value in self.mock_values or any(len(m) >= 12 and m in value for m in self.mock_values))

    def mock_outputs(self) -> list[str]:
        return [name for name, value in self.outputs.items() if self.invented_by_mocks(value)]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "environment": self.environment,
            "resources": [asdict(r) for r in self.resources],
            "components": [{"type": c.token, "name": c.name, "settings": plain(c.settings),
                            "warnings": list(c.warnings)} for c in self.components],
            "connections": [asdict(c) for c in self.connections],
            "outputs": self.outputs,
            "warnings": self.warnings(),
            "region": self.region,
            "allowed_account_ids": self.allowed_account_ids,
            "mock_outputs": self.mock_outputs(),
        }


def plain(value: Any) -> Any:
    """Engine values as JSON: secrets hidden, resource references as URNs, assets as text."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return getattr(value, "_urn_hint", None) or type(value).__name__
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that keeps what the real engine would be told about each registration."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: list[ResourceRecord] = []
        self.logged: list[str] = []  # the program's warnings and errors (pulumi.log), in order
        self.ids: dict[str, str] = {}
        self.states: dict[str, dict[str, Any]] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives (the mock monitor's qualifies the type by the parent's last type only, and by
        the root stack's): the parent's whole qualified type, `$`, the type; none for a child of the root stack
        (pulumi/pulumi sdk/go/common/resource/urn.go, NewURN). State snapshots and aliases compare these."""
        return urn_of(pulumi.get_stack(), pulumi.get_project(), parent, type_, name)

    def GetDeploymentInfo(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        # Without resource references, resources given as inputs (pulumi-eks's `cluster`, `nodeRole`) arrive as
        # their URN or id: a reference would be rehydrated here, on the monitor's thread, outside the program's loop.
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.ids[response.urn] = response.id
            # As the wire carries them: rehydrating a resource reference here, off the program's loop, would fail.
            self.states[response.urn] = json_format.MessageToDict(response.object)
            self.records.append(ResourceRecord(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                dependencies=sorted(set(request.dependencies)),
                protect=bool(request.protect),
                provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                custom=bool(request.custom),
                inputs=plain(rpc.deserialize_properties(request.object)),
                propertyDependencies={key: sorted(set(deps.urns))
                                      for key, deps in sorted(request.propertyDependencies.items())},
                **resource_options(request, response.urn),
            ))
        return response


def resource_options(request: Any, urn: str) -> dict[str, Any]:
    """The options of a RegisterResourceRequest besides protect, parent, provider and dependencies."""
    timeouts = {key: getattr(request.customTimeouts, key, "") or None for key in ("create", "update", "delete")}
    return {
        "ignoreChanges": list(request.ignoreChanges),
        "retainOnDelete": bool(request.retainOnDelete),
        "deleteBeforeReplace": bool(request.deleteBeforeReplace),
        "replaceOnChanges": list(request.replaceOnChanges),
        "aliases": [*request.aliasURNs, *(alias.urn or alias_urn(alias.spec, urn, request.parent)
                                          for alias in request.aliases)],
        "customTimeouts": timeouts if any(timeouts.values()) else None,
        "additionalSecretOutputs": list(request.additionalSecretOutputs),
        "deletedWith": request.deletedWith or None,
    }


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def urn_of(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    parent_type = parent.split("::")[2] if parent else ROOT_STACK_TYPE
    qualified = type_ if parent_type == ROOT_STACK_TYPE else f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def alias_urn(spec: Any, urn: str, parent_urn: str) -> str:
    """The URN an alias spec names, as the engine computes it: each field the spec leaves empty is the resource's
    own (the parent too, unless `noParent`)."""
    stack, project, qualified_type, name = urn.removeprefix("urn:pulumi:").split("::", 3)
    parent = "" if spec.noParent else (spec.parentUrn or parent_urn)
    return urn_of(spec.stack or stack, spec.project or project, parent, spec.type or qualified_type.rsplit("$", 1)[-1],
                  spec.name or name)


def install_mocks(mocks: AwsMocks, stack: str, project: str = PROJECT) -> RecordingMonitor:
    """Point Pulumi's runtime at `mocks` for a new program run (a fresh root stack): the one mock harness of
    `envstack synth` and of the tests that build a component on its own."""
    settings.ROOT.set(None)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor,
                             logger=_program_logger(stack, monitor.logged))
    return monitor


class _Kept(logging.Handler):
    def __init__(self, kept: list[str]):
        super().__init__(logging.WARNING)
        self.kept = kept

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append(record.getMessage())


def _program_logger(stack: str, kept: list[str]) -> logging.Logger:
    """Where the mocks send the program's pulumi.log messages: into the synthesis (its warnings()), not the root
    logger, which printed them unattributed to standard error, once per stack (`make cost`, `envstack diff`)."""
    logger = logging.getLogger(f"envstack.program.{stack}")
    logger.propagate = False
    logger.handlers = [_Kept(kept)]
    return logger


@contextlib.contextmanager
def rarer_collections() -> Iterator[None]:
    """A synthesis allocates hundreds of thousands of short-lived objects (Outputs, futures, protobuf messages) on a
    heap holding the provider SDKs' classes; at CPython's default thresholds (700, 10, 10) full collections walk that
    heap many times per run (prod: 4.4 s -> 3.6 s with 50,000; docs/testing.md, "Speed"). Restored afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 50_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def synthesize(stack: str, config: dict[str, Any] | None = None, root: Path = ROOT) -> Synthesis:
    """Run `__main__.py` for `stack` under mocks. `config` replaces the stack file's values when given."""
    with rarer_collections():
        return _synthesize(stack, config, root)


def _synthesize(stack: str, config: dict[str, Any] | None, root: Path) -> Synthesis:
    config = read_stack_config(stack, root) if config is None else config
    values, secret_keys = runtime_config(config)
    pulumi.runtime.set_all_config(values, secret_keys)
    mocks = AwsMocks(values.get("aws:region", "us-west-2"))
    monitor = install_mocks(mocks, stack)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    MANIFEST.reset()
    runpy.run_path(str(root / "__main__.py"), run_name="__main__")
    _sync_await(wait_for_rpcs())
    outputs, secret_outputs = _stack_outputs()
    environment = values.get(f"{PROJECT}:environment", "")
    # Registrations arrive from several threads; sorting by URN makes the synthesis (and its JSON) deterministic.
    records = sorted(monitor.records, key=lambda r: r.urn)
    cfg = _validated(stack, config)
    return Synthesis(stack, environment, records, outputs, secret_outputs, frozenset(mocks.invented),
                     list(MANIFEST.components), list(MANIFEST.connections),
                     cfg.usage.model_dump(by_alias=True) if cfg else {},
                     dict(program_values(config)[0].get("policy") or {}), monitor.ids, monitor.states,
                     [p.line() for p in placeholders(cfg)] if cfg else [], list(monitor.logged))


def _validated(stack: str, config: dict[str, Any]) -> StackConfig | None:
    """The stack's configuration as the program validated it (the program ran first: it is valid); none for
    another project (bootstrap/)."""
    raw, region = program_values(config)
    if "environment" not in raw:
        return None
    return load_stack_config(stack, raw, region)


def _stack_outputs() -> tuple[dict[str, Any], list[str]]:
    root_resource = settings.get_root_resource()
    exported = getattr(root_resource, "outputs", None) or {}
    outputs: dict[str, Any] = {}
    secrets: list[str] = []
    for name, value in exported.items():
        output = pulumi.Output.from_input(value)
        if _sync_await(output.is_secret()):
            outputs[name], secrets = SECRET, [*secrets, name]
        else:
            outputs[name] = plain(_sync_await(output.future()))
    return outputs, secrets
