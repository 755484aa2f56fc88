"""ClusterBaseline: what every application namespace gets before the first deploy (pulumi-kubernetes).

isolation   Pod Security Admission labels (enforce / warn / audit levels per environment); NetworkPolicies:
            deny everything, then allow the namespace itself, DNS to kube-system, the database and cache ports in
            the data subnets, HTTPS to the configured CIDRs, the EKS Pod Identity agent, and the application port
            from the load balancer's subnets only.
            The ALB reaches pods through a NodePort with externalTrafficPolicy Local: kube-proxy hands the packet
            to a pod on the same node without SNAT, so it keeps the ALB's address (the public subnets). The
            private subnets are not admitted: under the VPC CNI every pod has an address there. Kubelet probes
            come from the node's own address, which the VPC CNI network policy agent always admits.
exposure    a ValidatingAdmissionPolicy bound to the application namespaces: Services never LoadBalancer, never
            externalIPs (CVE-2020-8554), NodePort only on the load balancer's port; a `services.nodeports` quota
storage     one default StorageClass: EBS CSI gp3, encrypted, bound when the pod is scheduled (since Kubernetes 1.30
            EKS marks no class default, so a claim without one would stay Pending)
access      the application's ServiceAccount with a read-only Role; a CI-deployer Role that writes workloads
            (never RBAC, NetworkPolicies or quotas: those stay the platform's), bound to the Kubernetes group the
            CI access entry of the cluster maps to
capacity    a ResourceQuota (no LoadBalancer Services: the ALB is the way in) and a LimitRange per namespace
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.admissionregistration.v1 import (
    MatchResourcesArgs,
    NamedRuleWithOperationsArgs,
    ValidatingAdmissionPolicyBindingSpecArgs,
    ValidatingAdmissionPolicySpecArgs,
    ValidationArgs,
)
from pulumi_kubernetes.core.v1 import LimitRangeItemArgs, LimitRangeSpecArgs, ResourceQuotaSpecArgs
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, LabelSelectorRequirementArgs, ObjectMetaArgs
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
# The EKS Pod Identity agent answers pods on this link-local address, port 80 (EKS user guide, "Set up the Amazon
# EKS Pod Identity Agent"); default-deny egress would block the credentials of every Pod Identity workload.
POD_IDENTITY_AGENT = "169.254.170.23/32"
NAMESPACE_NAME = "kubernetes.io/metadata.name"  # the label the API server sets on every namespace
STORAGE_CLASS = "gp3"
EXPOSURE_POLICY = "envstack-service-exposure"
SERVICE_ACCOUNT = "app"  # made in every application namespace: the one workload identity trusts
LOCAL_TRAFFIC_MESSAGE = (
    "a NodePort Service must set externalTrafficPolicy: Local: with Cluster (the default) kube-proxy forwards the load "
    "balancer's requests to pods on other nodes with the node's address as source, which the allow-load-balancer "
    "NetworkPolicy does not admit, so they are dropped")


@dataclass(frozen=True)
class PodSecurity:
    enforce: Level
    warn: Level
    audit: Level


@dataclass(frozen=True)
class Quota:
    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    pods: int


@dataclass(frozen=True)
class ContainerLimits:
    default_request_cpu: str
    default_request_memory: str
    default_limit_cpu: str
    default_limit_memory: str
    max_cpu: str
    max_memory: str


@dataclass(frozen=True)
class BaselineArgs:
    namespaces: tuple[str, ...]
    app_port: int
    pod_security: PodSecurity
    pod_security_version: str  # e.g. "v1.35": the policy does not change under the namespace's feet
    quota: Quota
    container_limits: ContainerLimits
    load_balancer_cidrs: tuple[str, ...]  # where the ALB lives (the public subnets)
    node_port: int  # the one NodePort a Service may use: the load balancer's target port
    data_cidrs: tuple[str, ...]  # where the database and the cache live (the isolated subnets)
    data_ports: tuple[int, ...]  # the database's and the cache's
    https_egress_cidrs: tuple[str, ...]  # where pods may call HTTPS APIs (AWS STS, Secrets Manager, ECR...)


def _rules(grants: dict[str, list[str]], verbs: list[str]) -> list[PolicyRuleArgs]:
    return [PolicyRuleArgs(api_groups=[group], resources=resources, verbs=verbs) for group, resources in grants.items()]


def _ports(ports: Sequence[int], protocol: str = "TCP") -> list[NetworkPolicyPortArgs]:
    return [NetworkPolicyPortArgs(protocol=protocol, port=port) for port in ports]


def _cidrs(cidrs: Sequence[str]) -> list[NetworkPolicyPeerArgs]:
    return [NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=cidr)) for cidr in cidrs]


class ClusterBaseline(Component):
    def __init__(self, name: str, args: BaselineArgs, kube_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None, storage_controllers: Sequence[pulumi.Resource] = ()):
        """`storage_controllers`: what makes and deletes the volumes behind PVCs (the EBS CSI add-on, the node
        groups). The namespaces and the StorageClass depend on them, so a destroy deletes the namespaces (their PVCs,
        so the driver deletes the EBS volumes; reclaimPolicy Delete) while the driver still runs: deleted after it,
        every PV's volume would be left in the account, unattached and billed."""
        super().__init__("envstack:kubernetes:Baseline", name, {
            "namespaces": list(args.namespaces), "podSecurity": vars(args.pod_security), "appPort": args.app_port,
            "quota": vars(args.quota)}, opts)
        self._args = args
        self._provider = kube_provider
        self._storage_controllers = list(storage_controllers)
        self.storage_class = self._default_storage_class()
        self.namespaces = [self._namespace(ns) for ns in args.namespaces]
        self.exposure_policy = self._service_exposure_policy()
        self.register_outputs({"namespaces": [n.metadata.name for n in self.namespaces],
                               "storage_class": self.storage_class.metadata.name})

    def _opts(self, owns_volumes: bool = False) -> pulumi.ResourceOptions:
        return self.child(provider=self._provider, depends_on=self._storage_controllers if owns_volumes else None)

    def _meta(self, name: str, namespace: pulumi.Input[str] | None = None, labels: dict[str, str] | None = None,
              annotations: dict[str, str] | None = None) -> ObjectMetaArgs:
        return ObjectMetaArgs(name=name, namespace=namespace, annotations=annotations,
                              labels={**MANAGED_BY, **(labels or {})})

    def _namespace(self, name: str) -> k8s.core.v1.Namespace:
        psa = self._args.pod_security
        levels = {f"pod-security.kubernetes.io/{mode}": level
                  for mode, level in (("enforce", psa.enforce), ("warn", psa.warn), ("audit", psa.audit))}
        versions = {f"{key}-version": self._args.pod_security_version for key in levels}
        namespace = k8s.core.v1.Namespace(
            f"{self.label}-{name}", metadata=self._meta(name, labels={**levels, **versions}),
            opts=self._opts(owns_volumes=True))
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
        self._egress_policy(key, ns, "allow-pod-identity-agent", [POD_IDENTITY_AGENT], [80])
        if a.load_balancer_cidrs:
            self._network_policy(key, ns, "allow-load-balancer", ["Ingress"], ingress=[NetworkPolicyIngressRuleArgs(
                from_=_cidrs(a.load_balancer_cidrs), ports=_ports([a.app_port]))])

    def _role(self, key: str, ns: pulumi.Input[str], role: str, rules: list[PolicyRuleArgs],
              subject: SubjectArgs) -> None:
        k8s.rbac.v1.Role(f"{self.label}-{key}-{role}", metadata=self._meta(role, ns), rules=rules, opts=self._opts())
        k8s.rbac.v1.RoleBinding(
            f"{self.label}-{key}-{role}", metadata=self._meta(role, ns), subjects=[subject],
            role_ref=RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=role), opts=self._opts())

    def _rbac(self, key: str, ns: pulumi.Input[str]) -> None:
        account = k8s.core.v1.ServiceAccount(f"{self.label}-{key}-{SERVICE_ACCOUNT}",
                                             metadata=self._meta(SERVICE_ACCOUNT, ns), opts=self._opts())
        self._role(key, ns, f"{SERVICE_ACCOUNT}-read-only", _rules(APP_READS, READ),
                   SubjectArgs(kind="ServiceAccount", name=account.metadata.name, namespace=ns))
        self._role(key, ns, "ci-deployer", _rules(CI_WRITES, WRITE) + _rules(CI_READS, READ),
                   SubjectArgs(kind="Group", name=CI_DEPLOYER_GROUP, api_group=RBAC_GROUP))

    def _capacity(self, key: str, ns: pulumi.Input[str]) -> None:
        q, c = self._args.quota, self._args.container_limits
        k8s.core.v1.ResourceQuota(
            f"{self.label}-{key}-quota", metadata=self._meta("compute", ns),
            spec=ResourceQuotaSpecArgs(hard={
                "requests.cpu": q.requests_cpu, "requests.memory": q.requests_memory,
                "limits.cpu": q.limits_cpu, "limits.memory": q.limits_memory, "pods": str(q.pods),
                # The ALB is the way in: no cloud load balancer, one NodePort Service (the admission policy
                # pins its port).
                "services.loadbalancers": "0", "services.nodeports": "1"}),
            opts=self._opts())
        k8s.core.v1.LimitRange(
            f"{self.label}-{key}-limits", metadata=self._meta("container-defaults", ns),
            spec=LimitRangeSpecArgs(limits=[LimitRangeItemArgs(
                type="Container",
                default={"cpu": c.default_limit_cpu, "memory": c.default_limit_memory},
                default_request={"cpu": c.default_request_cpu, "memory": c.default_request_memory},
                max={"cpu": c.max_cpu, "memory": c.max_memory})]),
            opts=self._opts())

    def _default_storage_class(self) -> k8s.storage.v1.StorageClass:
        """The cluster's default class: the EBS CSI driver (an add-on of the cluster) with encrypted gp3 volumes,
        created in the AZ of the pod that claims it (WaitForFirstConsumer), so a pod never waits for a volume
        stuck in another zone."""
        return k8s.storage.v1.StorageClass(
            f"{self.label}-{STORAGE_CLASS}",
            metadata=self._meta(STORAGE_CLASS, annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
            provisioner="ebs.csi.aws.com", parameters={"type": "gp3", "encrypted": "true"},
            volume_binding_mode="WaitForFirstConsumer", allow_volume_expansion=True, reclaim_policy="Delete",
            opts=self._opts(owns_volumes=True))

    def _service_exposure_policy(self) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy:
        """Services in the application namespaces cannot open another way in: never LoadBalancer, never
        externalIPs (CVE-2020-8554: a Service's externalIPs intercept traffic to any address), and NodePort only on
        the load balancer's target port, with externalTrafficPolicy Local (the only way the ALB's packets keep their
        source address, the one the NetworkPolicy admits: Kubernetes docs, "Preserving the client source IP").
        admissionregistration.k8s.io/v1 (Kubernetes 1.30+)."""
        port = self._args.node_port
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{self.label}-service-exposure", metadata=self._meta(EXPOSURE_POLICY),
            spec=ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=MatchResourcesArgs(resource_rules=[NamedRuleWithOperationsArgs(
                    api_groups=[""], api_versions=["v1"], operations=["CREATE", "UPDATE"], resources=["services"])]),
                validations=[
                    ValidationArgs(expression="!has(object.spec.type) || object.spec.type != 'LoadBalancer'",
                                   message="Services of type LoadBalancer are not allowed: the ALB is the way in"),
                    ValidationArgs(expression="!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
                                   message="spec.externalIPs is not allowed (CVE-2020-8554)"),
                    ValidationArgs(
                        expression=f"!has(object.spec.type) || object.spec.type != 'NodePort' || "
                                   f"object.spec.ports.all(p, has(p.nodePort) && p.nodePort == {port})",
                        message=f"a NodePort Service must set nodePort: {port} (the load balancer's target port)"),
                    # The API server defaults the field to Cluster before validating admission, so a Service that
                    # leaves it out is refused too.
                    ValidationArgs(
                        expression="!has(object.spec.type) || object.spec.type != 'NodePort' || "
                                   "(has(object.spec.externalTrafficPolicy) && "
                                   "object.spec.externalTrafficPolicy == 'Local')",
                        message=LOCAL_TRAFFIC_MESSAGE),
                ]),
            opts=self._opts())
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{self.label}-service-exposure", metadata=self._meta(EXPOSURE_POLICY),
            spec=ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=policy.metadata.name, validation_actions=["Deny"],
                match_resources=MatchResourcesArgs(namespace_selector=LabelSelectorArgs(match_expressions=[
                    LabelSelectorRequirementArgs(key=NAMESPACE_NAME, operator="In",
                                                 values=list(self._args.namespaces))]))),
            opts=self._opts())
        return policy
