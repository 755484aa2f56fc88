"""`envstack verify` inside the cluster: the EKS token, the Kubernetes client against a fake API server on 127.0.0.1
(TLS with the cluster's CA, Kubernetes' own response shapes), the nodes check, the probe Job's lifecycle (created,
read, always deleted), and its manifest: valid for each stack's Kubernetes version, within the restricted Pod Security
profile, the namespace's quota and LimitRange, its NetworkPolicies' egress and the baseline's admission policy."""

import base64
import http.server
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import celpy
import kubernetes_validate
import pytest
from conftest import FIXTURES
from test_verify import NOW, OUTPUTS, config
from verify_servers import LOOPBACK, Authority, http_server

from components.cluster_baseline import SERVICE_ACCOUNT
from envstack.ops import verify
from envstack.ops.verify import kube, workload
from envstack.ops.verify.core import Unanswered, VerifyContext, run_check
from envstack.tools.synth import Synthesis
from envstack.tools.validate import load

REGION = "us-west-2"


# ---- the token -------------------------------------------------------------------------------------------------------

def test_the_token_is_a_presigned_get_caller_identity_naming_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=REGION)
    token = kube.eks_token(session, "envstack-prod", REGION)
    assert token.startswith("k8s-aws-v1.") and not token.endswith("=")
    encoded = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    split = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(split.query))
    assert (split.scheme, split.netloc, split.path) == ("https", f"sts.{REGION}.amazonaws.com", "/")
    assert query["Action"] == "GetCallerIdentity" and query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id" and "x-k8s-aws-id" not in query
    other = kube.eks_token(session, "envstack-staging", REGION)
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(base64.urlsafe_b64decode(
        other.removeprefix("k8s-aws-v1.") + "==").decode()).query))["X-Amz-Signature"] != query["X-Amz-Signature"]


# ---- a fake API server -----------------------------------------------------------------------------------------------

def status(code: int, reason: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return code, {"Content-Type": "application/json"}, json.dumps(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
         "code": code}).encode()


def ok(body: Any, code: int = 200) -> tuple[int, dict[str, str], bytes]:
    text = body if isinstance(body, str) else json.dumps(body)
    return code, {"Content-Type": "text/plain" if isinstance(body, str) else "application/json"}, text.encode()


def node(name: str, ready: str = "True") -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {
        "nodeInfo": {"kubeletVersion": "v1.35.2-eks-a1b2c3"},
        "conditions": [{"type": "MemoryPressure", "status": "False"},
                       {"type": "Ready", "status": ready,
                        "reason": "KubeletReady" if ready == "True" else "KubeletNotReady",
                        "message": "" if ready == "True" else "container runtime network not ready"}]}}


REPORT_OK = {"probe": "envstack-verify", "namespace": "app", "ok": True,
             "credentials": {"ok": True, "detail": "Pod Identity credentials ASIA... from http://169.254.170.23/v1/c"},
             "database": {"ok": True, "detail": "select 1 as app over TLSv1.3 (certificate verified)"},
             "cache": {"ok": True, "detail": "PING answered PONG for envstack-prod-app over TLSv1.3"}}


@dataclass
class FakeApi:
    """A Kubernetes API server's answers for verify's calls; `scenario` says what the probe Job goes through."""

    nodes: list[dict[str, Any]] = field(default_factory=lambda: [node("ip-10-2-0-10"), node("ip-10-2-32-11")])
    scenario: str = "ok"
    report: dict[str, Any] = field(default_factory=lambda: dict(REPORT_OK))
    polls_until_done: int = 2
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    def respond(self, handler: http.server.BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        authorization = handler.headers.get("Authorization", "")
        if not authorization.startswith("Bearer k8s-aws-v1."):
            return status(401, "Unauthorized", "Unauthorized")
        self.tokens.add(authorization)
        path, _, query = handler.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        self.calls.append(f"{handler.command} {path}")
        if path == "/api/v1/nodes":
            return ok({"kind": "NodeList", "apiVersion": "v1", "items": self.nodes})
        job = re.fullmatch(r"/apis/batch/v1/namespaces/([^/]+)/jobs(?:/([^/]+))?", path)
        if job and handler.command == "POST":
            return self._create(json.loads(body))
        if job and handler.command == "DELETE":
            self.deleted.append((job[2], json.loads(body)))
            return ok({"kind": "Status", "status": "Success"})
        if job:
            return self._job(job[2])
        if re.fullmatch(r"/api/v1/namespaces/[^/]+/pods", path):
            return self._pods(params["labelSelector"])
        if re.fullmatch(r"/api/v1/namespaces/[^/]+/pods/[^/]+/log", path):
            assert params == {"container": "probe"}
            return ok(self._log())
        if re.fullmatch(r"/api/v1/namespaces/[^/]+/events", path):
            return ok({"kind": "EventList", "items": self._events(params["fieldSelector"])})
        return status(404, "NotFound", f"{path} not found")

    def _create(self, job: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if self.scenario == "forbidden":
            return status(403, "Forbidden", 'jobs.batch is forbidden: User "arn:aws:sts::111111111111:assumed-role/'
                          'preview/x" cannot create resource "jobs" in API group "batch" in the namespace "app"')
        self.jobs[job["metadata"]["name"]] = {**job, "status": {}}
        return ok(self.jobs[job["metadata"]["name"]], 201)

    def _job(self, name: str) -> tuple[int, dict[str, str], bytes]:
        found = self.jobs[name]
        self.polls_until_done -= 1
        if self.scenario == "api-error":
            return status(500, "InternalError", "etcdserver: request timed out")
        if self.polls_until_done <= 0 and self.scenario in ("ok", "failed", "no-report"):
            key = "succeeded" if self.scenario == "ok" else "failed"
            found["status"] = {key: 1, "conditions": [
                {"type": "Complete" if key == "succeeded" else "Failed", "status": "True"}]}
        return ok(found)

    def _pods(self, selector: str) -> tuple[int, dict[str, str], bytes]:
        name = selector.removeprefix("batch.kubernetes.io/job-name=")
        assert name in self.jobs, selector
        if self.scenario == "quota":
            return ok({"kind": "PodList", "items": []})
        phase = {"ok": "Succeeded", "failed": "Failed", "no-report": "Failed", "pull": "Pending"}[self.scenario]
        pod: dict[str, Any] = {"metadata": {"name": f"{name}-x7k2p"}, "status": {"phase": phase}}
        if self.scenario == "pull":
            pod["status"]["containerStatuses"] = [{"name": "probe", "state": {"waiting": {
                "reason": "ImagePullBackOff", "message": 'Back-off pulling image "python@sha256:..."'}}}]
        return ok({"kind": "PodList", "items": [pod]})

    def _log(self) -> str:
        if self.scenario == "no-report":
            return "Traceback (most recent call last):\n  ...\nMemoryError\n"
        return "some noise\n" + json.dumps(self.report) + "\n"

    def _events(self, selector: str) -> list[dict[str, Any]]:
        assert selector.startswith("involvedObject.name=")
        message = ('Error creating: pods "envstack-verify-abc-x" is forbidden: exceeded quota: compute, requested: '
                   'requests.cpu=50m, used: requests.cpu=2, limited: requests.cpu=2')
        return [{"type": "Warning", "reason": "FailedCreate", "message": message}] * 2 + [
            {"type": "Normal", "reason": "SuccessfulCreate", "message": "ignored"}]


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


@pytest.fixture
def api(authority: Authority) -> Iterator[tuple[FakeApi, kube.Kubernetes]]:
    fake = FakeApi()
    with http_server(fake.respond, authority.server_context("kubernetes")) as port:
        yield fake, kube.Kubernetes(f"https://{LOOPBACK}:{port}", authority.ca_pem, lambda: "k8s-aws-v1.abc")


def ctx_with(client: kube.Kubernetes, **changes: Any) -> VerifyContext:
    return VerifyContext(config(), account="111111111111", outputs=OUTPUTS, now=NOW, kubernetes=client,
                         rds_ca_bundle="-----BEGIN CERTIFICATE-----\n...", **changes)


def run(name: str, ctx: VerifyContext) -> list[Any]:
    return run_check(name, dict(verify.CHECKS)[name], ctx)


# ---- the client ------------------------------------------------------------------------------------------------------

def test_the_client_trusts_only_the_clusters_authority(authority: Authority, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with http_server(FakeApi().respond, Authority(other).server_context("kubernetes")) as port:
        client = kube.Kubernetes(f"https://{LOOPBACK}:{port}", authority.ca_pem, lambda: "k8s-aws-v1.abc")
        with pytest.raises(kube.KubernetesError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get("/api/v1/nodes")


def test_a_refusal_or_silence_is_unanswered_and_says_why(api: tuple[FakeApi, kube.Kubernetes],
                                                         authority: Authority) -> None:
    _, client = api
    anonymous = kube.Kubernetes(client.server, authority.ca_pem, lambda: "not-a-token")
    [result] = run("nodes", ctx_with(anonymous))
    assert isinstance(result, Unanswered) and "HTTP 401 Unauthorized" in result.detail
    assert "EKS access entry" in result.detail
    [result] = run("nodes", ctx_with(kube.Kubernetes(f"https://{LOOPBACK}:9", authority.ca_pem, lambda: "t")))
    assert isinstance(result, Unanswered) and "did not answer" in result.detail and "private endpoint" in result.detail


# ---- nodes -----------------------------------------------------------------------------------------------------------

def test_every_node_ready(api: tuple[FakeApi, kube.Kubernetes]) -> None:
    fake, client = api
    [result] = run("nodes", ctx_with(client))
    assert result.status == "ok" and result.detail == "2 nodes Ready (kubelet v1.35.2-eks-a1b2c3)"
    fake.nodes.append(node("ip-10-2-64-12", "False"))
    results = run("nodes", ctx_with(client))
    assert [r.status for r in results] == ["fail"]
    assert "ip-10-2-64-12 is not Ready: KubeletNotReady container runtime network not ready" in results[0].detail
    fake.nodes.clear()
    assert [r.status for r in run("nodes", ctx_with(client))] == ["fail"]


# ---- the probe Job's lifecycle ---------------------------------------------------------------------------------------

@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workload, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(workload, "WAIT_SECONDS", 0.5)


def test_the_probe_job_is_created_read_and_deleted(api: tuple[FakeApi, kube.Kubernetes], quick: None) -> None:
    fake, client = api
    [result] = run("probe", ctx_with(client))
    assert result.status == "ok", result.detail
    assert result.detail.startswith("app: Pod Identity credentials") and "PING answered PONG" in result.detail
    [(name, job)] = fake.jobs.items()
    assert re.fullmatch(r"envstack-verify-[0-9a-f]{6}", name) and job["metadata"]["namespace"] == "app"
    assert fake.deleted == [(name, {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})]
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PROBE_DB_HOST"] == OUTPUTS["databaseEndpoint"] and env["PROBE_CACHE_ID"] == OUTPUTS[
        "cacheReplicationGroupId"] and env["PROBE_RDS_CA"].startswith("-----BEGIN CERTIFICATE-----")


def test_each_failing_part_of_the_path_is_a_line_with_its_stage(api: tuple[FakeApi, kube.Kubernetes],
                                                                quick: None) -> None:
    fake, client = api
    fake.scenario = "failed"
    fake.report = {**REPORT_OK, "ok": False,
                   "database": {"ok": False, "stage": "authentication", "detail": "the server asked app for a "
                                "SCRAM/SASL password, not an IAM token: app lacks the rds_iam role"},
                   "cache": {"ok": False, "stage": "network", "detail": "no TCP connection to master...:6379"}}
    results = run("probe", ctx_with(client))
    assert [(r.status, r.detail.split(":")[:3]) for r in results] == [
        ("fail", ["app", " PostgreSQL", " authentication"]), ("fail", ["app", " cache", " network"])]
    assert len(fake.deleted) == 1


def test_an_unverified_database_certificate_is_a_warning(api: tuple[FakeApi, kube.Kubernetes], quick: None) -> None:
    fake, client = api
    fake.report = {**REPORT_OK, "database": {"ok": True, "detail": "select 1 as app over TLSv1.3 (certificate NOT "
                                                                   "verified (no RDS CA bundle given))"}}
    [result] = run("probe", ctx_with(client))
    assert result.status == "warn"


@pytest.mark.parametrize(("scenario", "fragment"), [
    ("quota", "no probe pod was created: Error creating: pods \"envstack-verify-abc-x\" is forbidden: exceeded quota"),
    ("pull", "the probe pod stayed Pending: ImagePullBackOff: Back-off pulling image"),
    ("no-report", "the probe pod ended Failed without its report: Traceback (most recent call last):"),
])
def test_a_probe_that_cannot_report_says_why_and_is_deleted(api: tuple[FakeApi, kube.Kubernetes], quick: None,
                                                            scenario: str, fragment: str) -> None:
    fake, client = api
    fake.scenario = scenario
    [result] = run("probe", ctx_with(client))
    assert result.status == "fail" and fragment in result.detail, result.detail
    assert result.detail.count("exceeded quota") <= 1  # the same event twice is said once
    assert [name for name, _ in fake.deleted] == list(fake.jobs)


def test_the_job_is_deleted_when_the_api_fails_midway(api: tuple[FakeApi, kube.Kubernetes], quick: None) -> None:
    fake, client = api
    fake.scenario = "api-error"
    [result] = run("probe", ctx_with(client))
    assert isinstance(result, Unanswered) and "HTTP 500 etcdserver: request timed out" in result.detail
    assert [name for name, _ in fake.deleted] == list(fake.jobs) and len(fake.jobs) == 1


def test_without_the_right_to_create_jobs_the_probe_is_unanswered(api: tuple[FakeApi, kube.Kubernetes],
                                                                 quick: None) -> None:
    fake, client = api
    fake.scenario = "forbidden"
    [result] = run("probe", ctx_with(client))
    assert isinstance(result, Unanswered) and "HTTP 403" in result.detail and "cannot create resource" in result.detail
    assert not fake.deleted


def test_no_probe_means_no_kubernetes_write(api: tuple[FakeApi, kube.Kubernetes]) -> None:
    fake, client = api
    [result] = run("probe", ctx_with(client, probe=False))
    assert result.status == "skipped" and not isinstance(result, Unanswered) and not fake.calls


# ---- the manifest against each stack's cluster -----------------------------------------------------------------------

TARGET = workload.ProbeTarget(REGION, "envstack-prod-postgres.c0ffee.us-west-2.rds.amazonaws.com", 5432, "app", "app",
                              "master.envstack-prod-cache.abcdef.usw2.cache.amazonaws.com", 6379, "envstack-prod-app",
                              "envstack-prod-cache")


def probe_job(namespace: str = "app") -> dict[str, Any]:
    return workload.probe_job(namespace, "envstack-verify-0a1b2c", TARGET, rds_ca="-----BEGIN CERTIFICATE-----\n")


def of_type(s: Synthesis, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return [r.inputs for r in s.resources if r.type == f"kubernetes:{kind}" and
            (namespace is None or r.inputs["metadata"].get("namespace") == namespace)]


def test_the_job_is_valid_for_each_stacks_kubernetes_version(stack: Synthesis) -> None:
    kubernetes_validate.validate(probe_job(), load(stack.stack, FIXTURES).config.cluster.version, strict=True)


def test_the_validation_refuses_a_broken_job() -> None:
    broken = probe_job()
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = ["250m"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.35", strict=True)


def test_the_probe_runs_as_the_baselines_app_service_account() -> None:
    spec = probe_job()["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == SERVICE_ACCOUNT == workload.SERVICE_ACCOUNT
    image = spec["containers"][0]["image"]
    assert re.fullmatch(r"[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), image
    assert spec["containers"][0]["command"][:2] == ["python3", "-c"]  # the probe's source, nothing installed


# The Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards), baseline and restricted
# controls, as Pod Security Admission checks a pod spec.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                      "secret"}
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What the restricted profile refuses in `pod` (a pod spec); [] when it passes."""
    problems = []
    pod_context = pod.get("securityContext", {})
    containers = [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(f"{key}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds)}")
    if any(s.get("name") not in SAFE_SYSCTLS for s in pod_context.get("sysctls", [])):
        problems.append("sysctls")
    for c in containers:
        sc, name = c.get("securityContext", {}), c["name"]

        def either(key: str, sc: dict[str, Any] = sc) -> Any:
            return sc.get(key, pod_context.get(key))

        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if either("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot must be true")
        if either("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        if (either("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        capabilities = sc.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities must drop ALL")
        if not set(capabilities.get("add", [])) <= {"NET_BIND_SERVICE"} & BASELINE_CAPABILITIES:
            problems.append(f"{name}: adds capabilities")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            problems.append(f"{name}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
        se_linux = either("seLinuxOptions") or {}
        if se_linux.get("user") or se_linux.get("role") or se_linux.get("type", "container_t") not in (
                "container_t", "container_init_t", "container_kvm_t", "container_engine_t"):
            problems.append(f"{name}: seLinuxOptions")
        if (either("appArmorProfile") or {}).get("type", "RuntimeDefault") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: appArmorProfile")
    return problems


def test_the_probe_pod_passes_the_restricted_profile() -> None:
    spec = probe_job()["spec"]["template"]["spec"]
    assert restricted_violations(spec) == []
    # As the Pod Identity webhook leaves it: a projected token volume and its mount.
    mutated = json.loads(json.dumps(spec))
    mutated["volumes"] = [{"name": "eks-pod-identity-token", "projected": {"sources": [{"serviceAccountToken": {
        "audience": "pods.eks.amazonaws.com", "expirationSeconds": 86400, "path": "eks-pod-identity-token"}}]}}]
    assert restricted_violations(mutated) == []


@pytest.mark.parametrize("change", [
    lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
    lambda s: s["securityContext"].update(runAsUser=0),
    lambda s: s["securityContext"].pop("runAsNonRoot") and s["containers"][0]["securityContext"].pop("runAsNonRoot"),
    lambda s: s["securityContext"].pop("seccompProfile"),
    lambda s: s["containers"][0]["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
    lambda s: s.update(volumes=[{"name": "host", "hostPath": {"path": "/"}}]),
    lambda s: s.update(hostNetwork=True),
])
def test_the_profile_check_refuses_what_the_restricted_profile_refuses(change: Any) -> None:
    spec = json.loads(json.dumps(probe_job()["spec"]["template"]["spec"]))
    change(spec)
    assert restricted_violations(spec)


def quantity(text: str) -> float:
    """A Kubernetes quantity as a number (cpu in cores, memory in bytes)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    assert match, text
    return float(match[1]) * units.get(match[2], 1)


def test_the_probe_fits_each_stacks_limit_range_and_quota(stack: Synthesis) -> None:
    resources = probe_job()["spec"]["template"]["spec"]["containers"][0]["resources"]
    for namespace in stack.outputs["appNamespaces"]:
        [limit_range] = of_type(stack, "core/v1:LimitRange", namespace)
        [item] = limit_range["spec"]["limits"]
        for resource, most in item["max"].items():
            assert quantity(resources["limits"][resource]) <= quantity(most)
        [quota] = of_type(stack, "core/v1:ResourceQuota", namespace)
        hard = quota["spec"]["hard"]
        for kind in ("requests", "limits"):
            for resource, value in resources[kind].items():
                assert quantity(value) <= quantity(hard[f"{kind}.{resource}"]), (namespace, kind, resource)


@dataclass(frozen=True)
class Destination:
    port: int
    protocol: str = "TCP"
    ip: str | None = None  # an address outside the cluster
    namespace: str | None = None  # or a pod: its namespace and labels
    labels: tuple[tuple[str, str], ...] = ()


def peer_matches(peer: dict[str, Any], to: Destination) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        return to.ip is not None and ipaddress.ip_address(to.ip) in ipaddress.ip_network(block["cidr"]) and not any(
            ipaddress.ip_address(to.ip) in ipaddress.ip_network(e) for e in block.get("except", []))
    if to.namespace is None:
        return False
    namespaces = (peer.get("namespaceSelector") or {}).get("matchLabels")
    if "namespaceSelector" in peer and namespaces and namespaces != {"kubernetes.io/metadata.name": to.namespace}:
        return False
    pods = (peer.get("podSelector") or {}).get("matchLabels", {})
    return set(pods.items()) <= set(to.labels)


def egress_allowed(policies: list[dict[str, Any]], namespace: str, to: Destination) -> bool:
    """NetworkPolicy semantics for a pod every policy selects (the baseline's select all pods): egress is allowed when
    some Egress policy has a rule whose peers (none: any) and ports (none: any) both match; a pod peer without a
    namespaceSelector means the policy's own namespace."""
    for policy in policies:
        spec = policy["spec"]
        if "Egress" not in spec.get("policyTypes", []):
            continue
        for rule in spec.get("egress") or []:
            peers = [p if "namespaceSelector" in p or "ipBlock" in p else
                     {**p, "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
                     for p in rule.get("to", [])]
            ports = rule.get("ports", [])
            if (not peers or any(peer_matches(p, to) for p in peers)) and (not ports or any(
                    p.get("protocol", "TCP") == to.protocol and p.get("port") in (None, to.port) for p in ports)):
                return True
    return False


def test_the_namespaces_egress_lets_the_probe_reach_what_it_needs_and_nothing_it_does_not(stack: Synthesis) -> None:
    """The agent (credentials), DNS, and the data stores' ports in the isolated subnets; the IAM tokens are signed in
    the pod, so no AWS API (and no package index) needs to be reachable."""
    for namespace in stack.outputs["appNamespaces"]:
        policies = of_type(stack, "networking.k8s.io/v1:NetworkPolicy", namespace)
        data_cidrs = {peer["ipBlock"]["cidr"] for p in policies if p["metadata"]["name"] == "allow-data-stores"
                      for rule in p["spec"]["egress"] for peer in rule["to"]}
        assert data_cidrs
        store = str(next(ipaddress.ip_network(sorted(data_cidrs)[0]).hosts()))
        needed = [Destination(80, ip="169.254.170.23"), Destination(53, "UDP", namespace="kube-system",
                                                                     labels=(("k8s-app", "kube-dns"),)),
                  Destination(TARGET.db_port, ip=store), Destination(TARGET.cache_port, ip=store)]
        for to in needed:
            assert egress_allowed(policies, namespace, to), (namespace, to)
        assert not egress_allowed(policies, namespace, Destination(443, ip="198.51.100.7")) or \
            "0.0.0.0/0" in json.dumps(policies)  # dev allows HTTPS anywhere (no interface endpoints)
        assert not egress_allowed(policies, namespace, Destination(5432, ip="192.0.2.10"))


def test_the_baselines_admission_policy_lets_the_probe_in(stack: Synthesis) -> None:
    """Each ValidatingAdmissionPolicy either does not match Jobs and Pods or admits the probe's (evaluated with CEL)."""
    job = probe_job()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "app"},
           "spec": job["spec"]["template"]["spec"]}
    policies = of_type(stack, "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")
    assert policies
    for policy in policies:
        for obj, group, resource in ((job, "batch", "jobs"), (pod, "", "pods")):
            if matches(policy, group, resource):
                env = celpy.Environment()
                activation = {"object": celpy.json_to_cel(obj)}
                assert all(env.program(env.compile(v["expression"])).evaluate(activation)
                           for v in policy["spec"]["validations"]), policy["metadata"]["name"]
    service = next(p for p in policies if p["metadata"]["name"] == "envstack-service-exposure")
    assert matches(service, "", "services") and not matches(service, "batch", "jobs")


def matches(policy: dict[str, Any], group: str, resource: str) -> bool:
    def has(values: list[str], value: str) -> bool:
        return "*" in values or value in values
    return any(has(rule.get("apiGroups", []), group) and has(rule.get("resources", []), resource) and
               has(rule.get("operations", []), "CREATE")
               for rule in policy["spec"]["matchConstraints"].get("resourceRules", []))
