"""The workload probe's own logic (envstack/ops/verify/probe.py) against local servers on 127.0.0.1: the Pod Identity
agent, PostgreSQL with an IAM login over TLS, Valkey with IAM AUTH over TLS. The servers check each token with
botocore's signer, and each failure comes back as the stage it belongs to."""

import ast
import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from verify_servers import (
    CREDENTIALS,
    LOOPBACK,
    Authority,
    Postgres,
    Valkey,
    agent,
    botocore_elasticache_token,
    botocore_rds_token,
    http_server,
    same_token,
    tcp_server,
)

from envstack.ops.verify import probe
from envstack.ops.verify.workload import probe_source

REGION = "us-west-2"
GROUP = "envstack-prod-cache"
CACHE_USER = "envstack-prod-app"
POD_TOKEN = "eyJhbGciOiJSUzI1NiJ9.pod-identity-token"
AT = datetime.datetime(2026, 5, 4, 12, 30, 15, tzinfo=datetime.UTC)


def creds() -> probe.Credentials:
    return probe.Credentials(CREDENTIALS["AccessKeyId"], CREDENTIALS["SecretAccessKey"], CREDENTIALS["Token"])


# ---- token signing ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", [5432, 6543])
def test_the_rds_token_is_botocores(port: int) -> None:
    host = "envstack-prod-postgres.abc123.us-west-2.rds.amazonaws.com"
    token = probe.rds_token(host, port, "app", REGION, creds(), AT)
    reference = botocore_rds_token(host, port, "app", REGION, AT.replace(tzinfo=None))
    assert same_token(token, reference), (token, reference)
    assert not token.startswith("https://") and f"{host}:{port}/?" in token and "X-Amz-Expires=900" in token
    assert not same_token(probe.rds_token(host, port, "other", REGION, creds(), AT), reference)


def test_the_elasticache_token_is_the_guides() -> None:
    token = probe.elasticache_token(GROUP, CACHE_USER, REGION, creds(), AT)
    reference = botocore_elasticache_token(GROUP, CACHE_USER, REGION, AT.replace(tzinfo=None))
    assert same_token(token, reference), (token, reference)
    assert token.startswith(f"{GROUP}/?") and "Action=connect" in token and f"User={CACHE_USER}" in token
    assert "elasticache%2Faws4_request" in token and "X-Amz-Security-Token=session%2Ftoken%3D%3D" in token
    assert same_token(probe.elasticache_token(GROUP.upper(), CACHE_USER, REGION, creds(), AT), reference)
    later = AT + datetime.timedelta(seconds=1)
    assert not same_token(probe.elasticache_token(GROUP, CACHE_USER, REGION, creds(), later), reference)


def test_credentials_without_a_session_token_sign_too() -> None:
    plain = probe.Credentials("AKIDEXAMPLE", "secret")
    assert "X-Amz-Security-Token" not in probe.presign("h", {"Action": "connect"}, "rds-db", REGION, plain, AT)


# ---- the probe against local servers ---------------------------------------------------------------------------------

@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


class World:
    """The pod's environment, and the servers it reaches (each started on demand)."""

    def __init__(self, authority: Authority, stack: ExitStack, tmp_path: Path):
        self.authority, self.stack = authority, stack
        token_file = tmp_path / "eks-pod-identity-token"
        token_file.write_text(POD_TOKEN + "\n")
        self.env = {"PROBE_NAMESPACE": "app", "PROBE_REGION": REGION, "PROBE_DB_HOST": LOOPBACK,
                    "PROBE_DB_NAME": "app", "PROBE_DB_USER": "app", "PROBE_CACHE_HOST": LOOPBACK,
                    "PROBE_CACHE_USER": CACHE_USER, "PROBE_CACHE_ID": GROUP, "PROBE_RDS_CA": authority.ca_pem,
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)}
        self.postgres = Postgres(authority.server_context("postgres"))
        self.valkey = Valkey(authority.server_context("valkey"), GROUP, CACHE_USER)

    def start(self, agent_status: int = 200) -> dict[str, str]:
        agent_port = self.stack.enter_context(http_server(agent(POD_TOKEN, agent_status)))
        self.postgres.port = self.stack.enter_context(tcp_server(self.postgres.handle))
        cache_port = self.stack.enter_context(tcp_server(self.valkey.handle))
        self.env.update({"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{LOOPBACK}:{agent_port}/v1/credentials",
                         "PROBE_DB_PORT": str(self.postgres.port), "PROBE_CACHE_PORT": str(cache_port)})
        return self.env


@pytest.fixture
def world(authority: Authority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # The cache's certificate is checked against the system's trust store, which OpenSSL reads from SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", authority.ca_file)
    with ExitStack() as stack:
        yield World(authority, stack, tmp_path)


def stages(report: dict[str, Any]) -> dict[str, str]:
    return {part: "ok" if report[part]["ok"] else report[part]["stage"]
            for part in ("credentials", "database", "cache")}


def test_the_whole_path_works(world: World) -> None:
    report = probe.run(world.start())
    assert report["ok"] and stages(report) == {"credentials": "ok", "database": "ok", "cache": "ok"}, report
    assert "select 1 as app over TLSv1.3 (certificate verified)" in report["database"]["detail"]
    assert f"PING answered PONG for {CACHE_USER}" in report["cache"]["detail"]
    assert [c[0] for c in world.valkey.commands] == ["AUTH", "PING"] and world.valkey.commands[0][1] == CACHE_USER
    assert len(world.postgres.seen) == 1


def test_the_probe_runs_as_the_job_runs_it(world: World) -> None:
    """`python3 -c <probe.py>` with only the pod's environment: one JSON line on standard output, exit 0."""
    env = {**world.start(), "PATH": os.environ["PATH"], "SSL_CERT_FILE": world.authority.ca_file}
    done = subprocess.run([sys.executable, "-c", probe_source()], env=env, capture_output=True, text=True, timeout=60)
    [line] = done.stdout.splitlines()
    assert done.returncode == 0 and json.loads(line)["ok"], done.stdout + done.stderr


def test_no_pod_identity_is_a_credentials_failure_and_nothing_else_is_tried(world: World) -> None:
    env = world.start()
    del env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    report = probe.run(env)
    assert stages(report) == {"credentials": "credentials", "database": "credentials", "cache": "credentials"}
    assert "no Pod Identity" in report["credentials"]["detail"] and not world.postgres.seen


def test_an_agent_that_refuses_and_one_that_is_unreachable(world: World) -> None:
    report = probe.run(world.start(agent_status=403))
    assert stages(report)["credentials"] == "credentials" and "HTTP 403" in report["credentials"]["detail"]
    world.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"http://{LOOPBACK}:9/v1/credentials"
    report = probe.run(world.env)
    assert stages(report)["credentials"] == "network" and "allow-pod-identity-agent" in report["credentials"]["detail"]


@pytest.mark.parametrize(("mode", "stage", "fragment"), [
    ("no-tls", "tls", "refused TLS"),
    ("scram", "authentication", "lacks the rds_iam role"),
    ("no-connect", "authorization", "42501 permission denied for database"),
    ("other-answer", "query", "select 1 returned [['2']]"),
])
def test_database_failures_name_their_stage(world: World, mode: str, stage: str, fragment: str) -> None:
    world.postgres.mode = mode
    report = probe.run(world.start())
    assert stages(report) == {"credentials": "ok", "database": stage, "cache": "ok"}
    assert fragment in report["database"]["detail"], report["database"]


def test_a_token_the_server_does_not_accept_is_refused_at_authentication(world: World) -> None:
    report = probe.run({**world.start(), "PROBE_REGION": "eu-west-1"})  # signed for another region
    assert stages(report)["database"] == "authentication", report["database"]
    assert "28P01 PAM authentication failed" in report["database"]["detail"]


def test_an_untrusted_database_certificate_is_a_tls_failure(world: World, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    report = probe.run({**world.start(), "PROBE_RDS_CA": Authority(other).ca_pem})
    assert stages(report)["database"] == "tls" and "CERTIFICATE_VERIFY_FAILED" in report["database"]["detail"]


def test_without_a_ca_bundle_the_database_is_reached_but_its_certificate_not_verified(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = world.start()
    del env["PROBE_RDS_CA"]
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", Authority(other).ca_file)  # nothing this pod trusts signed the server's
    report = probe.run(env)
    assert report["database"]["ok"] and "certificate NOT verified" in report["database"]["detail"]


def test_cache_failures_name_their_stage(world: World) -> None:
    world.valkey.mode = "noperm"
    report = probe.run(world.start())
    assert stages(report)["cache"] == "authorization" and "NOPERM" in report["cache"]["detail"]
    world.valkey.mode, world.valkey.user = "ok", "someone-else"
    report = probe.run(world.env)
    assert stages(report)["cache"] == "authentication" and "WRONGPASS" in report["cache"]["detail"]


def test_nothing_listening_is_a_network_failure(world: World) -> None:
    env = {**world.start(), "PROBE_DB_PORT": "9", "PROBE_CACHE_HOST": "no-such-host.invalid"}
    report = probe.run(env)
    assert stages(report) == {"credentials": "ok", "database": "network", "cache": "network"}
    assert "cannot resolve no-such-host.invalid" in report["cache"]["detail"]


def test_the_probe_needs_nothing_but_the_standard_library() -> None:
    tree = ast.parse(Path(probe.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported and imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))
