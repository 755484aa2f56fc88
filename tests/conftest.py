"""Shared harness: the real program run under Pulumi's mocks, once per configuration and test session.

The suite owns its stacks: tests/stacks/Pulumi.<stack>.yaml, one per environment, named after it (dev, staging,
prod). Nothing here reads the repository's own stack files, which users edit and add to (test_stack_files.py checks
those, whatever they are). A synthesis sees the fixtures as the checkout's stacks (the VPC ranges it must keep apart
from), not the working tree's.
"""

import contextlib
import copy
import functools
import gc
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.session
import pytest
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from envstack import cli
from envstack.program.config import StackConfig, load_profile, load_stack_config, pulumi_source
from envstack.program.config.base import deep_merge
from envstack.program.config.files import project_defaults, stack_file_config
from envstack.program.stack_names import present
from envstack.tools.mocks import AwsMocks
from envstack.tools.synth import ROOT, RecordingMonitor, ResourceRecord, Synthesis, install_mocks, synthesize

# The cyclic garbage collector, tuned for this suite (docs/testing.md, "Speed"): a synthesis allocates hundreds of
# thousands of short-lived objects (Outputs, futures, protobuf messages) on a heap that holds the provider SDKs'
# classes, and at CPython's default thresholds (700, 10, 10) full collections walk that heap many times per
# synthesis (a quarter of the suite's CPU time). Collections stay on, only rarer; what the test modules' imports
# built is frozen out of them once collected (pytest_collection_finish).
gc.set_threshold(50_000, 10, 10)
# botocore parses its JSON data files (endpoints, partitions, each service's model) again for every new Session, and
# moto's mock_aws starts each test on a new default session (~0.06 s a test, most of test_promote's time): one
# loader per data path for the run. It only reads botocore's own files, which do not change while it runs.
botocore.session.create_loader = functools.cache(botocore.session.create_loader)
FIXTURES = Path(__file__).resolve().parent / "stacks"
# The suite's stacks, one per environment, in promotion order.
STACKS = tuple(sorted(present(FIXTURES), key=lambda s: ("dev", "staging", "prod").index(s)))
_cache: dict[str, Synthesis] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`envstack ARGV...` in this process: its exit code, standard output and standard error."""
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stack_config(stack: str) -> dict[str, Any]:
    """A fixture stack's configuration as the Pulumi CLI would give it: Pulumi.yaml's values under its file's."""
    return {**project_defaults(ROOT, stack), **stack_file_config(stack, FIXTURES)}


@contextmanager
def stacks_of(checkout: Path) -> Iterator[None]:
    """The program sees `checkout`'s stack files as the checkout's other stacks (its VPC-range neighbours)."""
    with mock.patch.object(pulumi_source, "ROOT", checkout):
        yield


def synthesize_config(stack: str, config: dict[str, Any], checkout: Path = FIXTURES) -> Synthesis:
    """`config` synthesized as stack `stack` beside `checkout`'s stacks, once per session for the same stack and
    configuration (read-only: do not mutate the result). The neighbours can only refuse a configuration, which
    `envstack synth` checks first, so they are not part of the key."""
    key = json.dumps([stack, config], sort_keys=True, default=str)
    if key not in _cache:
        with stacks_of(checkout):
            _cache[key] = synthesize(stack, config)
    return _cache[key]


def synthesize_file(stack: str, root: Path = FIXTURES) -> Synthesis:
    """Pulumi.<stack>.yaml of `root` synthesized (cached by its configuration): what `envstack synth` runs, for
    tests that go through the command."""
    return synthesize_config(stack, {**project_defaults(ROOT, stack), **stack_file_config(stack, root)}, root)


def synth(stack: str) -> Synthesis:
    """The fixture stack, synthesized once per session."""
    return synthesize_config(stack, stack_config(stack))


def with_overrides(stack: str, **overrides: Any) -> dict[str, Any]:
    """The fixture stack's configuration with `envstack:<key>` values replaced (a key set to None is removed;
    a key with a namespace, `aws:region`, is taken as written)."""
    config = copy.deepcopy(stack_config(stack))
    for key, value in overrides.items():
        full = key if ":" in key else f"envstack:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    return config


def synth_with(stack: str, **overrides: Any) -> Synthesis:
    """The fixture stack with `envstack:<key>` values replaced (see with_overrides), synthesized."""
    return synthesize_config(stack, with_overrides(stack, **overrides))


# What a stack file names itself (ownership, its account, the runners that reach a private API endpoint through a
# transit gateway, who reaches a public one): with an environment's profile, a whole configuration.
STACK_FILE = {
    "owner": "ops@example.com", "team": "platform", "repository": "github.com/example/envstack",
    "allowedAccountIds": ["111111111111"],
    "monitoring": {"notificationEmails": ["oncall@acme-corp.io"]},  # staging and prod want one; no profile has it
    "network": {"transitGateway": {"id": "tgw-0123456789abcdef0", "cidrs": ["10.250.0.0/24"]}},
    "cluster": {"publicAccessCidrs": ["52.94.0.0/22"], "apiAccessCidrs": ["10.250.0.0/24"],
                "deployerRoleArn": "arn:aws:iam::111111111111:role/envstack-deployer"},
}


def certificate(region: str) -> str:
    return f"arn:aws:acm:{region}:111111111111:certificate/00000000-0000-4000-8000-000000000000"


def profile_config(environment: str = "prod", stack: str = "unit", region: str = "us-west-2",
                   **overrides: Any) -> StackConfig:
    """The environment's profile with STACK_FILE (TLS with a certificate of the region) and `overrides` (envstack:
    keys): what arguments.py builds a component's arguments from, for tests that build one component alone."""
    stack_file = {"environment": environment, **STACK_FILE,
                  "loadBalancer": {"tls": True, "certificateArn": certificate(region)}}
    return load_stack_config(stack, deep_merge(stack_file, overrides), region)


def kubernetes_version(environment: str = "dev") -> str:
    """The Kubernetes minor the environment's profile runs (the profiles are the one place it is written)."""
    return str(load_profile(environment).settings["cluster"]["version"])


def named(synthesis: Synthesis, name: str, type_: str | None = None) -> ResourceRecord:
    """The one resource of that name (and type)."""
    found = [r for r in synthesis.resources if r.name == name and (type_ is None or r.type == type_)]
    assert len(found) == 1, (name, type_, [r.urn for r in found])
    return found[0]


def id_of(synthesis: Synthesis, name: str, type_: str | None = None) -> str:
    """The id the mocks gave the resource of that name: what a reference to it carries (whatever they made up)."""
    return synthesis.id_of(named(synthesis, name, type_))


def region(synthesis: Synthesis) -> str:
    """The region the synthesis ran in (its provider's)."""
    return str(synthesis.region)


def network_settings(synthesis: Synthesis) -> dict[str, Any]:
    """The profile's network settings overlaid with the fixture stack file's (its own CIDR, say)."""
    profile = load_profile(synthesis.environment).settings["network"]
    return {**profile, **stack_config(synthesis.stack).get("envstack:network", {})}


def scratch_checkout(root: Path, *stacks: str) -> Path:
    """A project directory at `root` with Pulumi.yaml, __main__.py and the named fixture stacks (all without
    names), for commands that read a checkout (`cli.ROOT`, `root=`)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, root / name)
    for stack in stacks or STACKS:
        shutil.copy(FIXTURES / f"Pulumi.{stack}.yaml", root / f"Pulumi.{stack}.yaml")
    return root


@pytest.fixture
def checkout(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch checkout of the fixture stacks that the `envstack` command and the program read as theirs; a test
    may add or break stack files in it. `envstack synth` there takes the session's cached syntheses."""
    root = scratch_checkout(tmp_path_factory.mktemp("checkout"))
    from envstack import cli
    from envstack.tools import synth as synth_module
    monkeypatch.setattr(cli, "ROOT", root)
    monkeypatch.setattr(pulumi_source, "ROOT", root)
    monkeypatch.setattr(synth_module, "synthesize", lambda stack, config=None, root=root: (
        synthesize_config(stack, config) if config is not None else synthesize_file(stack, root)))
    return root


def under_mocks(mocks: AwsMocks | None = None, region: str = "us-west-2") -> RecordingMonitor:
    """A fresh program run under the synthesis mocks, for a component built on its own (stack `unit`)."""
    return install_mocks(mocks or AwsMocks(region), "unit")


def run_monitored(program: Callable[[], Any], mocks: AwsMocks | None = None,
                  region: str = "us-west-2") -> RecordingMonitor:
    """`program` run under the synthesis mocks to the end: the monitor holds its records, ids and outputs."""
    monitor = under_mocks(mocks, region)
    program()
    _sync_await(wait_for_rpcs())
    return monitor


def run_program(program: Callable[[], Any], mocks: AwsMocks | None = None,
                region: str = "us-west-2") -> list[ResourceRecord]:
    """What `program` registers under the synthesis mocks, once every registration has finished."""
    return run_monitored(program, mocks, region).records


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> Synthesis:
    return synth(request.param)


@pytest.fixture
def stacks() -> Callable[[str], Synthesis]:
    return synth


def command_in_process(*argv: str, root: Path, env: dict[str, str],
                       stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`envstack ARGV` run in this process as from a shell: the stack files of `root`, an AWS environment of its own
    (no profile, no credentials file, no instance metadata: only `env`), `stdin` as its input; what it printed."""
    from envstack import cli
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment = {**clean, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                   "AWS_EC2_METADATA_DISABLED": "true", "NO_COLOR": "1", **env}
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, environment, clear=True), mock.patch.object(cli, "ROOT", root), \
            mock.patch.object(sys, "stdin", io.StringIO(stdin)), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return subprocess.CompletedProcess(list(argv), code, out.getvalue(), err.getvalue())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on the loopback, answering as account 222222222222 (not prod's allowed account); shared by the
    preflight and verify tests (a test that creates resources resets it: POST /moto-api/reset)."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "MOTO_ACCOUNT_ID": "222222222222"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("moto_server did not start on 127.0.0.1")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
