"""No stack file a user can write produces a traceback: whatever YAML holds, `validate` and `config` answer with
exit 0 or with problem lines and exit 2 (and `synth` validates the same way before it runs anything)."""

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from envstack import cli

REPO = Path(__file__).resolve().parent.parent
DEV = (REPO / "Pulumi.dev.yaml").read_text()
CLUSTER = "  envstack:cluster:\n"


def added(text: str) -> str:
    return DEV + text


def in_cluster(text: str) -> str:
    return DEV.replace(CLUSTER, CLUSTER + text)


# (name, stack file text, what the last line says; "" when the stack is valid)
CORPUS = [
    ("date", added("  envstack:network: {flowLogTraffic: 2024-01-01}\n"),
     "envstack:network.flowLogTraffic = '2024-01-01': expected 'ALL', 'ACCEPT' or 'REJECT'"),
    ("binary", added("  envstack:network: {flowLogTraffic: !!binary aGVsbG8=}\n"),
     "Pulumi.dev.yaml:18: not a configuration value: tag:yaml.org,2002:binary"),
    ("set", added("  envstack:network: {flowLogTraffic: !!set {a, b}}\n"),
     "Pulumi.dev.yaml:18: not a configuration value: tag:yaml.org,2002:set"),
    ("custom tag", added("  envstack:network: {flowLogTraffic: !custom x}\n"),
     "Pulumi.dev.yaml:18: not a configuration value: could not determine a constructor for the tag '!custom'"),
    ("empty value", DEV.replace("envstack:owner: platform-team@example.com", "envstack:owner:"),
     "envstack:owner = None: expected a valid string"),
    ("number as a key", added("  envstack:network: {1: x}\n"), "envstack:network.1 = 'x': unknown key; expected one "),
    ("nan", added("  envstack:network: {azCount: .nan}\n"), "envstack:network.azCount = nan: expected a finite number"),
    ("inf", added("  envstack:monitoring: {monthlyBudgetUsd: .inf}\n"),
     "envstack:monitoring.monthlyBudgetUsd = inf: expected a finite number"),
    ("huge number", added("  envstack:allowedAccountIds: [123456789012345678901234567890]\n"),
     "envstack:allowedAccountIds[0] = 123456789012345678901234567890: expected a 12-digit AWS account id"),
    ("list in a list", added("  envstack:allowedAccountIds: [[1]]\n"),
     "envstack:allowedAccountIds[0] = [1]: expected a valid string"),
    ("environment list", DEV.replace("envstack:environment: dev", "envstack:environment: [dev]"),
     "envstack:environment = ['dev']: expected one of dev, staging, prod"),
    ("environment mapping", DEV.replace("envstack:environment: dev", "envstack:environment: {a: 1}"),
     "envstack:environment = {'a': 1}: expected one of dev, staging, prod"),
    ("version list", in_cluster("    version: [1]\n"), "envstack:cluster.version = [1]: expected a valid string"),
    ("add-ons list", in_cluster("    addonVersions: [1]\n"), "envstack:cluster.addonVersions = [1]: expected a valid "
                                                            "dictionary"),
    ("node group null", in_cluster("    nodeGroups: {main: null}\n"),
     "envstack:cluster.nodeGroups.main = None: expected a valid dictionary"),
    ("region mapping", DEV.replace("aws:region: us-west-2", "aws:region: {a: 1}"),
     "aws:region = '{\"a\": 1}': expected an AWS region"),
    ("region secret", DEV.replace("aws:region: us-west-2", "aws:region: {secure: AAAA}"),
     "aws:region = '[secret]': expected an AWS region"),
    ("transitions text", added("  envstack:loadBalancer: {accessLogs: {transitions: x}}\n"),
     "envstack:loadBalancer.accessLogs.transitions = 'x': expected a valid tuple"),
    ("windows as numbers", added("  envstack:database: {maintenanceWindow: 5}\n"),
     "envstack:database.maintenanceWindow = 5: expected a string, and YAML read this unquoted value as a number"),
    ("deep nesting", added("  envstack:network: " + "[" * 50 + "]" * 50 + "\n"), "envstack:network = [[[["),
    ("latin-1", None, "Pulumi.dev.yaml: cannot be read: 'utf-8' codec can't decode"),
    ("aliases", added("  envstack:network: &n {azCount: 2}\n  envstack:monitoring: *n\n"),
     "envstack:monitoring.azCount = 2: unknown key"),
    ("merge key", added("  envstack:network: {<<: {azCount: 3}, natGateways: single}\n"), ""),
    ("byte order mark", "\ufeff" + DEV, ""),
    ("CRLF", DEV.replace("\n", "\r\n"), ""),
    ("other namespaces", added("  kubernetes:context: x\n  pulumi:tags: {a: b}\n"), ""),
]


@pytest.mark.parametrize(("text", "last_line"), [row[1:] for row in CORPUS], ids=[row[0] for row in CORPUS])
def test_every_stack_file_gets_an_answer_never_a_traceback(tmp_path, monkeypatch, text, last_line):
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    path = tmp_path / "Pulumi.dev.yaml"
    if text is None:
        path.write_bytes(DEV.replace("platform-team", "pl\xe4tform-team").encode("latin-1"))
    else:
        path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(cli, "ROOT", tmp_path)
    for command in ("validate", "config"):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([command, "dev"])
        if last_line:
            assert code == 2
            assert err.getvalue().splitlines()[-1].startswith(f"stack dev: {last_line}"), err.getvalue()
        else:
            assert code == 0, err.getvalue()
