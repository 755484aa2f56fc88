"""Inside the cluster: every node Ready, and the workload path proved by a probe Job in each application namespace.

The probe Job runs envstack/ops/verify/probe.py (`python3 -c`, standard library only) in a public Python image pinned
by digest, as the namespace's `app` ServiceAccount, so it gets exactly what an application gets: that namespace's Pod
Identity role, its NetworkPolicies (egress to the Pod Identity agent, DNS and the data stores' ports is all it needs:
the IAM tokens are signed locally, no AWS API is called), its Pod Security level (the Job satisfies `restricted`), its
quota and LimitRange (it asks for little, and says so). It is deleted when verify is done with it, whatever happened
(and deletes itself ttlSecondsAfterFinished later should verify die first).
"""

import copy
import json
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import kube
from .core import Result, SkipCheck, UnansweredError, VerifyContext, check

# The python:3.13-slim image index (linux/amd64 and linux/arm64: node groups may be either) from ECR Public's mirror of
# the Docker official images (no Docker Hub pull limits from AWS), pinned by digest: the digest
# nautechsystems/nautilus_trader pins for python:3.13-slim as of 2026-08-23 (its Dockerfile). Bump it with
# `crane digest public.ecr.aws/docker/library/python:3.13-slim`; `--probe-image` overrides it (e.g. an ECR mirror).
PROBE_IMAGE = ("public.ecr.aws/docker/library/python:3.13-slim"
               "@sha256:ffb752e139c0a19692a43af8d8523b274222dd68eebad5d583b45c2201c6e30a")
SERVICE_ACCOUNT = "app"  # the baseline's ServiceAccount in every application namespace (components/cluster_baseline.py)
PROBE_USER = 65532  # any non-root uid: the image's default user is root, which the restricted profile refuses
DEADLINE_SECONDS = 120  # the Job's activeDeadlineSeconds: the pod is stopped after it
WAIT_SECONDS = 180  # how long verify waits for the Job (image pull included)
POLL_SECONDS = 2.0
TTL_SECONDS = 600  # the Job deletes itself this long after it ends, should verify not get to delete it
# Well under any LimitRange maximum and quota the baseline sets (tests check every stack's).
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}}
LABELS = {"app.kubernetes.io/name": "envstack-verify", "app.kubernetes.io/component": "probe",
          "app.kubernetes.io/managed-by": "envstack"}
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # set by the Job controller on its pods (Kubernetes 1.27+)
# RDS guide, "Certificate bundles by AWS Region": the root and intermediate CAs of the region's database certificates.
RDS_CA_URL = "https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"


def kubernetes(ctx: VerifyContext) -> kube.Kubernetes:
    """The cluster's API (EKS DescribeCluster: endpoint and CA) with the caller's EKS token; made once."""
    if ctx.kubernetes is None:
        cluster = ctx.eks_cluster()
        ctx.kubernetes = kube.for_cluster(cluster, lambda: kube.eks_token(ctx.session, cluster["name"],
                                                                           ctx.cfg.region))
    return ctx.kubernetes


@check("nodes")
def nodes(ctx: VerifyContext) -> Iterator[Result]:
    """Kubernetes GET /api/v1/nodes: there are nodes and every one is Ready."""
    items = kubernetes(ctx).get("/api/v1/nodes").get("items", [])
    if not items:
        yield Result("nodes", "fail", "the cluster has no node: nothing can run (node groups at size 0?)")
        return
    kubelets = sorted({n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "?") for n in items})
    broken = []
    for node in items:
        ready: dict[str, Any] = next((c for c in node.get("status", {}).get("conditions", [])
                                      if c.get("type") == "Ready"), {})
        if ready.get("status") != "True":
            broken.append(node)
            yield Result("nodes", "fail", f"{node['metadata']['name']} is not Ready: "
                         f"{ready.get('reason', 'no Ready condition')} {ready.get('message', '')}".rstrip())
    if not broken:
        yield Result("nodes", "ok", f"{len(items)} nodes Ready (kubelet {', '.join(kubelets)})")


@dataclass(frozen=True)
class ProbeTarget:
    """What the probe connects to, from the stack's outputs."""

    region: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    cache_host: str
    cache_port: int
    cache_user: str
    cache_id: str

    @classmethod
    def of(cls, ctx: VerifyContext) -> "ProbeTarget":
        o = ctx.output
        return cls(ctx.cfg.region, o("databaseEndpoint"), int(o("databasePort")), o("databaseName"), o("databaseUser"),
                   o("cachePrimaryEndpoint"), int(o("cachePort")), o("cacheUser"), o("cacheReplicationGroupId"))

    def env(self, namespace: str, rds_ca: str | None) -> list[dict[str, str]]:
        values = {"PROBE_NAMESPACE": namespace, "PROBE_REGION": self.region, "PROBE_DB_HOST": self.db_host,
                  "PROBE_DB_PORT": str(self.db_port), "PROBE_DB_NAME": self.db_name, "PROBE_DB_USER": self.db_user,
                  "PROBE_CACHE_HOST": self.cache_host, "PROBE_CACHE_PORT": str(self.cache_port),
                  "PROBE_CACHE_USER": self.cache_user, "PROBE_CACHE_ID": self.cache_id,
                  "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
                  **({"PROBE_RDS_CA": rds_ca} if rds_ca else {})}
        return [{"name": k, "value": v} for k, v in values.items()]


def probe_source() -> str:
    return Path(__file__).with_name("probe.py").read_text()


def probe_job(namespace: str, name: str, target: ProbeTarget, image: str = PROBE_IMAGE,
              rds_ca: str | None = None) -> dict[str, Any]:
    """The batch/v1 Job that probes `namespace`: one try, a deadline, the restricted profile, small requests (a new
    document each time: nothing in it is shared)."""
    return copy.deepcopy({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
        "spec": {
            "backoffLimit": 0, "activeDeadlineSeconds": DEADLINE_SECONDS, "ttlSecondsAfterFinished": TTL_SECONDS,
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    # The Kubernetes API token is not needed; Pod Identity mounts its own projected token
                    # (eks-pod-identity-token, audience pods.eks.amazonaws.com) whatever this says.
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 5,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": PROBE_USER, "runAsGroup": PROBE_USER,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "probe", "image": image, "imagePullPolicy": "IfNotPresent",
                        "command": ["python3", "-c", probe_source()],
                        "env": target.env(namespace, rds_ca),
                        "resources": RESOURCES,
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
                    }],
                },
            },
        },
    })


@dataclass
class ProbeRun:
    """What became of one probe Job: its report (the probe's JSON line), or why there is none."""

    namespace: str
    job: str
    report: dict[str, Any] | None = None
    problem: str = ""
    cleanup: str = ""  # why the Job could not be deleted


def run_probe(api: kube.Kubernetes, job: dict[str, Any], clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> ProbeRun:
    """Create the Job, wait for it to end (WAIT_SECONDS at most), read its pod's log; delete it whatever happened."""
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    run = ProbeRun(namespace, name)
    api.create(jobs, job)
    try:
        deadline = clock() + WAIT_SECONDS
        while not _ended(api.get(f"{jobs}/{name}")) and clock() < deadline:
            sleep(POLL_SECONDS)
        _read(api, run)
    finally:
        try:
            api.delete(f"{jobs}/{name}", propagationPolicy="Background")
        except UnansweredError as error:
            run.cleanup = f"the probe Job {namespace}/{name} was not deleted ({error}); it deletes itself " \
                          f"{TTL_SECONDS} s after it ends"
    return run


def _ended(job: dict[str, Any]) -> bool:
    status = job.get("status", {})
    return bool(status.get("succeeded") or status.get("failed")) or any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in status.get("conditions", []))


def _read(api: kube.Kubernetes, run: ProbeRun) -> None:
    pods = api.get(f"/api/v1/namespaces/{run.namespace}/pods",
                   labelSelector=f"{JOB_NAME_LABEL}={run.job}").get("items", [])
    if not pods:
        run.problem = f"no probe pod was created: {_warnings(api, run.namespace, run.job) or 'no event says why'}"
        return
    pod = pods[0]
    phase = pod.get("status", {}).get("phase")
    if phase in ("Running", "Succeeded", "Failed"):
        log = api.log(f"/api/v1/namespaces/{run.namespace}/pods/{pod['metadata']['name']}/log", container="probe")
        run.report = _report(log)
        if run.report is None:
            run.problem = f"the probe pod ended {phase} without its report: {log.strip()[-300:] or 'no output'}"
        return
    why = _waiting(pod) or _warnings(api, run.namespace, pod["metadata"]["name"])
    run.problem = f"the probe pod stayed {phase}: {why or 'nothing says why'}"


def _report(log: str) -> dict[str, Any] | None:
    for line in reversed(log.splitlines()):
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and report.get("probe") == "envstack-verify":
            return report
    return None


def _waiting(pod: dict[str, Any]) -> str:
    """Why a pod is not running: its containers' waiting reasons, or its scheduling condition."""
    status = pod.get("status", {})
    reasons = [f"{s['state']['waiting'].get('reason')}: {s['state']['waiting'].get('message', '')}".rstrip(": ")
               for s in status.get("containerStatuses", []) if "waiting" in s.get("state", {})]
    reasons += [f"{c.get('reason')}: {c.get('message', '')}" for c in status.get("conditions", [])
                if c.get("type") == "PodScheduled" and c.get("status") == "False"]
    return "; ".join(reasons)


def _warnings(api: kube.Kubernetes, namespace: str, name: str) -> str:
    """The Warning events about `name` (a Job refused its pod: quota, Pod Security; a pod's image pull)."""
    events = api.get(f"/api/v1/namespaces/{namespace}/events",
                     fieldSelector=f"involvedObject.name={name}").get("items", [])
    return "; ".join(dict.fromkeys(e.get("message", "") for e in events if e.get("type") == "Warning"))


PARTS = (("credentials", "credentials"), ("database", "PostgreSQL"), ("cache", "cache"))


def results(run: ProbeRun) -> Iterator[Result]:
    """One line per namespace when the path works; one per failing part, with the stage, when it does not."""
    if run.cleanup:
        yield Result("probe", "fail", run.cleanup)
    report = run.report
    if report is None:
        yield Result("probe", "fail", f"{run.namespace}: {run.problem}")
        return
    failed = [(label, report.get(part) or {}) for part, label in PARTS if not (report.get(part) or {}).get("ok")]
    for label, part in failed:
        yield Result("probe", "fail", f"{run.namespace}: {label}: {part.get('stage', '?')}: {part.get('detail', '')}")
    if not failed:
        details = "; ".join(str(report[part]["detail"]) for part, _ in PARTS)
        verified = "certificate verified" in str(report["database"]["detail"])
        yield Result("probe", "ok" if verified else "warn", f"{run.namespace}: {details}")


def fetch_rds_ca(region: str) -> str | None:
    """The region's RDS CA bundle (public, over HTTPS), or None when it cannot be fetched from here."""
    try:
        with urllib.request.urlopen(RDS_CA_URL.format(region=region), timeout=10) as answer:
            text = answer.read().decode()
    except (OSError, ValueError):
        return None
    return text if "BEGIN CERTIFICATE" in text else None


@check("probe")
def probe(ctx: VerifyContext) -> Iterator[Result]:
    """In each application namespace, a probe Job as the `app` ServiceAccount: Pod Identity credentials, PostgreSQL
    `select 1` and cache `PING`, each with an IAM token over TLS."""
    if not ctx.probe:
        raise SkipCheck("--no-probe: the workload path was not probed")
    target = ProbeTarget.of(ctx)
    api = kubernetes(ctx)
    namespaces = ctx.outputs.get("appNamespaces") or list(ctx.cfg.cluster.baseline.namespaces)
    for namespace in namespaces:
        job = probe_job(namespace, f"envstack-verify-{secrets.token_hex(3)}", target, ctx.probe_image or PROBE_IMAGE,
                        ctx.rds_ca_bundle)
        yield from results(run_probe(api, job))
