"""The envstack policy pack: its identity, its rules and its analyzer server, importable without starting it.

The pack pins its deployability rules to mandatory in code. The engine (the CLI reading `--policy-pack-config`, or
Pulumi Cloud applying a policy group's configuration) sends every rule an enforcement level in
`ConfigureAnalyzerRequest`, where `"all": "disabled"` or `"<rule>": "advisory"` would silence or soften a rule; the
SDK's analyzer then skips a disabled rule and reports the others at the level it was given
(pulumi_policy/policy.py, `_PolicyAnalyzerServicer._get_enforcement_level`). `Analyzer` below answers MANDATORY for a
deployability rule whatever it was configured with, so AWS's own constraints gate every stack however the pack is
configured; the offline evaluator refuses such a configuration outright (`policies.evaluate.resolve`).
"""

from __future__ import annotations

import sys
import time
from concurrent import futures
from pathlib import Path
from typing import NoReturn

import grpc
import yaml
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from .rules import DEPLOYABILITY, all_policies

NAME = "envstack"
DESCRIPTION = "Production gate for envstack: RDS, Redis, EKS, ALB, network, logging, KMS/IAM, tags and protect."
ENFORCEMENT_LEVEL = EnforcementLevel.ADVISORY  # default for rules that set none (all of ours set one)
PACK_FILE = Path(__file__).resolve().parent / "PulumiPolicy.yaml"
# As the SDK's PolicyPack: gRPC messages up to 400 MB (a stack's resources in one AnalyzeStack request).
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024


def version() -> str:
    """The pack's version: PulumiPolicy.yaml's, which `pulumi policy publish` publishes it under."""
    return str(yaml.safe_load(PACK_FILE.read_text())["version"])


class Analyzer(_PolicyAnalyzerServicer):
    """The SDK's analyzer service, except that a deployability rule runs mandatory whatever its configuration."""

    def _get_enforcement_level(self, policy: Policy) -> EnforcementLevel:
        if policy.name in DEPLOYABILITY:
            return EnforcementLevel.MANDATORY
        return super()._get_enforcement_level(policy)


def analyzer() -> Analyzer:
    return Analyzer(NAME, version(), all_policies(), ENFORCEMENT_LEVEL, None, DESCRIPTION)


def serve() -> NoReturn:
    """What the SDK's PolicyPack(...) does, with `Analyzer`: serve on a free local port, print it for the engine (its
    first line of output), then run until the engine stops the process."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES)])
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(analyzer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(24 * 60 * 60)
    except KeyboardInterrupt:
        server.stop(0)
    sys.exit(0)


__all__ = ["DESCRIPTION", "ENFORCEMENT_LEVEL", "NAME", "Analyzer", "all_policies", "analyzer", "serve", "version"]
