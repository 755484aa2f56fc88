"""ClusterBaseline: what every application namespace gets before the first deploy (pulumi-kubernetes).

isolation   Pod Security Admission labels (enforce / warn / audit levels per environment); NetworkPolicies:
            deny everything, then allow the namespace itself, DNS to kube-system, the database and cache ports in
            the data subnets, HTTPS to the configured CIDRs (AWS APIs for IRSA), and the application port from
            the load balancer's subnets and the nodes' subnets.
            The ALB reaches pods through a NodePort: with externalTrafficPolicy Local packets keep the ALB's
            address (the public subnets); with the default Cluster policy kube-proxy forwards them from a node
            and SNATs them to that node's IP (the private subnets). Admitting both keeps the application
            reachable whichever policy its Service uses; the price is that anything in the private subnets
            (nodes, and pods, which take VPC addresses there) may also reach the application port.
access      the application's ServiceAccount with a read-only Role; a CI-deployer Role that writes workloads
            (never RBAC, NetworkPolicies or quotas: those stay the platform's), bound to the Kubernetes group the
            CI access entry of the cluster maps to
capacity    a ResourceQuota (no LoadBalancer Services: the ALB is the way in) and a LimitRange per namespace
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import LimitRangeItemArgs, LimitRangeSpecArgs, ResourceQuotaSpecArgs
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)
from pulumi_kubernetes.rbac.v1 import PolicyRuleArgs, RoleRefArgs, SubjectArgs

from .base import Component
from .cluster import CI_DEPLOYER_GROUP

Level = Literal["privileged", "baseline", "restricted"]
READ = ["get", "list", "watch"]
WRITE = [*READ, "create", "update", "patch", "delete"]
MANAGED_BY = {"app.kubernetes.io/managed-by": "envstack"}
RBAC_GROUP = "rbac.authorization.k8s.io"
# What the application may read about its own namespace.
APP_READS = {"": ["pods", "services", "configmaps"], "apps": ["deployments"]}
# What CI deploys. RBAC objects, NetworkPolicies, quotas and limits are absent on purpose: no escalation.
CI_WRITES = {
    "": ["services", "configmaps", "secrets", "serviceaccounts", "persistentvolumeclaims", "pods"],
    "apps": ["deployments", "statefulsets", "daemonsets", "replicasets"],
    "batch": ["jobs", "cronjobs"],
    "autoscaling": ["horizontalpodautoscalers"],
    "policy": ["poddisruptionbudgets"],
    "networking.k8s.io": ["ingresses"],
}
CI_READS = {"": ["pods/log", "events", "endpoints"], "events.k8s.io": ["events"]}


@dataclass(frozen=True)
class PodSecurity:
    enforce: Level = "restricted"
    warn: Level = "restricted"
    audit: Level = "restricted"


@dataclass(frozen=True)
class Quota:
    requests_cpu: str = "2"
    requests_memory: str = "4Gi"
    limits_cpu: str = "4"
    limits_memory: str = "8Gi"
    pods: int = 40


@dataclass(frozen=True)
class ContainerLimits:
    default_request_cpu: str = "100m"
    default_request_memory: str = "128Mi"
    default_limit_cpu: str = "500m"
    default_limit_memory: str = "512Mi"
    max_cpu: str = "2"
    max_memory: str = "4Gi"


@dataclass(frozen=True)
class BaselineArgs:
    namespaces: tuple[str, ...] = ("app",)
    app_port: int = 8080
    service_account: str = "app"
    pod_security: PodSecurity = PodSecurity()
    pod_security_version: str = "latest"  # e.g. "v1.35": the policy does not change under the namespace's feet
    quota: Quota = Quota()
    container_limits: ContainerLimits = ContainerLimits()
    load_balancer_cidrs: tuple[str, ...] = ()  # where the ALB lives (the public subnets)
    node_cidrs: tuple[str, ...] = ()  # where the nodes live (the private subnets): SNAT source of NodePort traffic
    data_cidrs: tuple[str, ...] = ()  # where the database and the cache live (the isolated subnets)
    data_ports: tuple[int, ...] = (5432, 6379)
    https_egress_cidrs: tuple[str, ...] = ()  # where pods may call HTTPS APIs (AWS STS, Secrets Manager, ECR...)
    ci_deployer_group: str = CI_DEPLOYER_GROUP
    extra_labels: dict[str, str] = field(default_factory=dict)


def _rules(grants: dict[str, list[str]], verbs: list[str]) -> list[PolicyRuleArgs]:
    return [PolicyRuleArgs(api_groups=[group], resources=resources, verbs=verbs) for group, resources in grants.items()]


def _ports(ports: Sequence[int], protocol: str = "TCP") -> list[NetworkPolicyPortArgs]:
    return [NetworkPolicyPortArgs(protocol=protocol, port=port) for port in ports]


def _cidrs(cidrs: Sequence[str]) -> list[NetworkPolicyPeerArgs]:
    return [NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=cidr)) for cidr in cidrs]


class ClusterBaseline(Component):
    def __init__(self, name: str, args: BaselineArgs, kube_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("envstack:kubernetes:Baseline", name, {
            "namespaces": list(args.namespaces), "podSecurity": vars(args.pod_security), "appPort": args.app_port,
            "quota": vars(args.quota)}, opts)
        self._args = args
        self._provider = kube_provider
        self.namespaces = [self._namespace(ns) for ns in args.namespaces]
        self.register_outputs({"namespaces": [n.metadata.name for n in self.namespaces]})

    def _opts(self) -> pulumi.ResourceOptions:
        return self.child(provider=self._provider)

    def _meta(self, name: str, namespace: pulumi.Input[str] | None = None,
              labels: dict[str, str] | None = None) -> ObjectMetaArgs:
        return ObjectMetaArgs(name=name, namespace=namespace,
                              labels={**MANAGED_BY, **self._args.extra_labels, **(labels or {})})

    def _namespace(self, name: str) -> k8s.core.v1.Namespace:
        psa = self._args.pod_security
        levels = {f"pod-security.kubernetes.io/{mode}": level
                  for mode, level in (("enforce", psa.enforce), ("warn", psa.warn), ("audit", psa.audit))}
        versions = {f"{key}-version": self._args.pod_security_version for key in levels}
        namespace = k8s.core.v1.Namespace(
            f"{self.label}-{name}", metadata=self._meta(name, labels={**levels, **versions}), opts=self._opts())
        # Every namespaced object reads the namespace's name, so it waits for the namespace.
        ns = namespace.metadata.name
        self._network_policies(name, ns)
        self._rbac(name, ns)
        self._capacity(name, ns)
        return namespace

    def _network_policy(self, key: str, ns: pulumi.Input[str], policy: str, types: list[str],
                        ingress: list[NetworkPolicyIngressRuleArgs] | None = None,
                        egress: list[NetworkPolicyEgressRuleArgs] | None = None) -> k8s.networking.v1.NetworkPolicy:
        return k8s.networking.v1.NetworkPolicy(
            f"{self.label}-{key}-{policy}", metadata=self._meta(policy, ns),
            spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(), policy_types=types, ingress=ingress,
                                       egress=egress),
            opts=self._opts())

    def _egress_policy(self, key: str, ns: pulumi.Input[str], policy: str, cidrs: Sequence[str],
                       ports: Sequence[int]) -> None:
        """TCP egress to `cidrs` on `ports`; no policy at all when there are no CIDRs."""
        if cidrs:
            self._network_policy(key, ns, policy, ["Egress"], egress=[NetworkPolicyEgressRuleArgs(
                to=_cidrs(cidrs), ports=_ports(ports))])

    def _network_policies(self, key: str, ns: pulumi.Input[str]) -> None:
        a = self._args
        same_namespace = [NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs())]
        kube_dns = NetworkPolicyPeerArgs(
            namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
            pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}))
        self._network_policy(key, ns, "default-deny-all", ["Ingress", "Egress"])
        self._network_policy(key, ns, "allow-same-namespace", ["Ingress", "Egress"],
                             ingress=[NetworkPolicyIngressRuleArgs(from_=same_namespace)],
                             egress=[NetworkPolicyEgressRuleArgs(to=same_namespace)])
        self._network_policy(key, ns, "allow-dns", ["Egress"], egress=[NetworkPolicyEgressRuleArgs(
            to=[kube_dns], ports=_ports([53], "UDP") + _ports([53], "TCP"))])
        self._egress_policy(key, ns, "allow-data-stores", a.data_cidrs, a.data_ports)
        # IRSA pods call STS, Secrets Manager, ECR... over HTTPS; AWS publishes no fixed ranges for them.
        self._egress_policy(key, ns, "allow-https-egress", a.https_egress_cidrs, [443])
        if a.load_balancer_cidrs:
            self._network_policy(key, ns, "allow-load-balancer", ["Ingress"], ingress=[NetworkPolicyIngressRuleArgs(
                from_=_cidrs(a.load_balancer_cidrs + a.node_cidrs), ports=_ports([a.app_port]))])

    def _role(self, key: str, ns: pulumi.Input[str], role: str, rules: list[PolicyRuleArgs],
              subject: SubjectArgs) -> None:
        k8s.rbac.v1.Role(f"{self.label}-{key}-{role}", metadata=self._meta(role, ns), rules=rules, opts=self._opts())
        k8s.rbac.v1.RoleBinding(
            f"{self.label}-{key}-{role}", metadata=self._meta(role, ns), subjects=[subject],
            role_ref=RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=role), opts=self._opts())

    def _rbac(self, key: str, ns: pulumi.Input[str]) -> None:
        a = self._args
        account = k8s.core.v1.ServiceAccount(f"{self.label}-{key}-{a.service_account}",
                                             metadata=self._meta(a.service_account, ns), opts=self._opts())
        self._role(key, ns, f"{a.service_account}-read-only", _rules(APP_READS, READ),
                   SubjectArgs(kind="ServiceAccount", name=account.metadata.name, namespace=ns))
        self._role(key, ns, "ci-deployer", _rules(CI_WRITES, WRITE) + _rules(CI_READS, READ),
                   SubjectArgs(kind="Group", name=a.ci_deployer_group, api_group=RBAC_GROUP))

    def _capacity(self, key: str, ns: pulumi.Input[str]) -> None:
        q, c = self._args.quota, self._args.container_limits
        k8s.core.v1.ResourceQuota(
            f"{self.label}-{key}-quota", metadata=self._meta("compute", ns),
            spec=ResourceQuotaSpecArgs(hard={
                "requests.cpu": q.requests_cpu, "requests.memory": q.requests_memory,
                "limits.cpu": q.limits_cpu, "limits.memory": q.limits_memory, "pods": str(q.pods),
                "services.loadbalancers": "0"}),
            opts=self._opts())
        k8s.core.v1.LimitRange(
            f"{self.label}-{key}-limits", metadata=self._meta("container-defaults", ns),
            spec=LimitRangeSpecArgs(limits=[LimitRangeItemArgs(
                type="Container",
                default={"cpu": c.default_limit_cpu, "memory": c.default_limit_memory},
                default_request={"cpu": c.default_request_cpu, "memory": c.default_request_memory},
                max={"cpu": c.max_cpu, "memory": c.max_memory})]),
            opts=self._opts())
