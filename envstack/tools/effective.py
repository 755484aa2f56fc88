"""`envstack config STACK`: the stack's effective configuration, one key a line, with where each value comes from.

Layers, the first that sets a key wins: the stack file, Pulumi.yaml, the environment's profile, the common profile and
the add-on versions pinned for the cluster's Kubernetes version (the models hold no defaults). A node group's key
that no layer sets for the group comes from the first layer's cluster.nodeGroupDefaults. Lists are replaced whole, so
a list comes from one layer. Like `validate`, it never loads Pulumi or the provider SDKs.
"""

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from envstack.program.config import StackConfig
from envstack.program.config.cluster import ADDON_VERSIONS_FILE, version_pins
from envstack.program.config.errors import NAMESPACE
from envstack.program.config.files import PROJECT_FILE, program_values, project_defaults, stack_file, stack_file_config
from envstack.program.config.loader import COMMON, REGION_KEY, profile_settings
from envstack.program.config.profiles import profile_path
from envstack.program.paths import ROOT

from .exit_codes import EXIT_BAD_INPUT, EXIT_OK
from .nested import has, leaves
from .terminal import paint
from .validate import configured

UNSET = "(no layer)"  # never expected: the models hold no defaults (tests/test_cli.py)
# Keys under the first path that no layer sets come from the same key under the second: a node group's from
# cluster.nodeGroupDefaults (ClusterConfig._node_group_defaults).
INHERITED = (("cluster", "nodeGroups"), ("cluster", "nodeGroupDefaults"))
HIDDEN = {"stack", "project", "region"}  # the stack's name and project are not configuration; the region is aws:


@dataclass(frozen=True)
class Setting:
    key: str  # as a stack file names it: envstack:network.cidr, aws:region
    value: Any
    source: str  # a file (with the key it inherits from, if any)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def settings(stack: str, cfg: StackConfig, root: Path) -> list[Setting]:
    own, project = stack_file_config(stack, root), project_defaults(root, stack)
    package = ROOT  # paths as the repository shows them
    layers: list[tuple[str, Mapping[str, Any]]] = [
        (stack_file(stack, root).name, program_values(own)[0]),
        (PROJECT_FILE, program_values(project)[0]),
        (_relative(profile_path(cfg.environment), package), profile_settings(cfg.environment)),
        (_relative(profile_path(COMMON), package), profile_settings(COMMON)),
        (f"{_relative(ADDON_VERSIONS_FILE, package)} ({cfg.cluster.version})",
         {"cluster": version_pins(cfg.cluster.version)}),
    ]
    found = [Setting(REGION_KEY, cfg.region, stack_file(stack, root).name if REGION_KEY in own else PROJECT_FILE)]
    for path, value in leaves(cfg.model_dump(by_alias=True, mode="json", exclude=HIDDEN)):
        found.append(Setting(f"{NAMESPACE}:{'.'.join(path)}", value, _source(layers, path)))
    return found


def _source(layers: list[tuple[str, Mapping[str, Any]]], path: tuple[str, ...]) -> str:
    """The first layer that sets `path`, or the one its value is inherited from."""
    found = next((name for name, layer in layers if has(layer, *path)), None)
    group, defaults = INHERITED
    if found is None and path[:len(group)] == group and len(path) > len(group) + 1:
        inherited = (*defaults, *path[len(group) + 1:])
        found = next((f"{name} ({'.'.join(defaults)})" for name, layer in layers if has(layer, *inherited)), None)
    return found or UNSET


def shown(value: Any) -> str:
    """A value as a stack file would write it: bare strings, whole numbers without ".0", flow-style collections."""
    if isinstance(value, str):
        return value or "''"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # true, false, null, numbers


def _area(key: str) -> str:
    return key.split(":", 1)[1].split(".")[0] if key.startswith(f"{NAMESPACE}:") else key


def render(stack: str, cfg: StackConfig, found: list[Setting], stream: Any = None) -> str:
    """One line per key (key, value, where it comes from), a blank line between areas."""
    stream = stream or sys.stdout
    width = max(len(s.key) for s in found)
    value_width = min(48, max(len(shown(s.value)) for s in found))
    lines = [f"envstack config {stack}  (environment {cfg.environment}, region {cfg.region})", "",
             paint(f"{'key':<{width}}  {'value':<{value_width}}  from", "bold", stream)]
    for previous, setting in zip([None, *found], found, strict=False):
        if previous is not None and _area(previous.key) != _area(setting.key) and "." in setting.key:
            lines.append("")
        lines.append(f"{setting.key:<{width}}  {shown(setting.value):<{value_width}}  "
                     + paint(setting.source, "dim", stream))
    return "\n".join(lines)


def config_command(args: argparse.Namespace) -> int:
    if (cfg := configured(args)) is None:
        return EXIT_BAD_INPUT
    found = settings(args.stack, cfg, args.root)
    if args.json:
        print(json.dumps([asdict(s) for s in found], indent=2))
    else:
        print(render(args.stack, cfg, found))
    return EXIT_OK
