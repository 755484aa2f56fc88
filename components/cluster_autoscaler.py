"""ClusterAutoscaler: the Kubernetes Cluster Autoscaler, so that node groups follow the pods within minSize..maxSize.

    IAM role               trusted by pods.eks.amazonaws.com for this cluster's kube-system/cluster-autoscaler only
      + inline policy      the autoscaler's documented AWS policy, its writes limited to this cluster's node groups
    PodIdentityAssociation (cluster, kube-system, cluster-autoscaler) -> role
    ServiceAccount, ClusterRole(+Binding), Role(+Binding), Deployment   the upstream AWS manifest, as objects

Why Cluster Autoscaler and not Karpenter: envstack's capacity is EKS managed node groups whose `minSize`/`maxSize`
the configuration states per group, and Cluster Autoscaler scales exactly those (it "will respect the minimum and
maximum values of each Auto Scaling Group. It will only adjust the desired value": cluster-autoscaler/cloudprovider/
aws/README.md). Karpenter launches instances outside node groups from its own NodePools: those keys would mean
nothing, and it needs an interruption queue, EventBridge rules, an EC2NodeClass and nodes of its own to run on.

Discovery is by tag: EKS tags the Auto Scaling group of every managed node group `k8s.io/cluster-autoscaler/enabled`
and `k8s.io/cluster-autoscaler/<cluster>` (EKS user guide, "Simplify node lifecycle with managed node groups": "Nodes
launched as part of a managed node group are automatically tagged for auto-discovery by the Kubernetes Cluster
Autoscaler"), the tags `--node-group-auto-discovery` looks for. The objects are plain pulumi-kubernetes resources, not
a Helm release: no chart to fetch at deploy time, and every manifest is checked offline with kubernetes-validate.
The image's AWS SDK for Go v2 (v1.40 in the 1.35 branch's go.mod) reads EKS Pod Identity credentials (EKS user guide,
"Use pod identity with the AWS SDK": aws-sdk-go-v2 release-2023-11-14 or later).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import DeploymentSpecArgs
from pulumi_kubernetes.core.v1 import (
    AffinityArgs,
    CapabilitiesArgs,
    ContainerArgs,
    EnvVarArgs,
    HostPathVolumeSourceArgs,
    NodeAffinityArgs,
    NodeSelectorRequirementArgs,
    NodeSelectorTermArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    PreferredSchedulingTermArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecurityContextArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.rbac.v1 import PolicyRuleArgs, RoleRefArgs, SubjectArgs

from .base import Component, policy_document
from .partition import Where
from .workload_identity import pod_identity_trust

IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler"
NAME = "cluster-autoscaler"
RBAC_GROUP = "rbac.authorization.k8s.io"
# The upstream AWS example's rules (cluster-autoscaler/cloudprovider/aws/examples/cluster-autoscaler-autodiscover.yaml
# at tag cluster-autoscaler-1.35.2) and what that release needs beyond them: (api groups, resources, verbs, resource
# names).
CLUSTER_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (("",), ("events", "endpoints"), ("create", "patch"), ()),
    (("",), ("pods/eviction",), ("create",), ()),
    (("",), ("pods/status",), ("update",), ()),
    (("",), ("endpoints",), ("get", "update"), (NAME,)),
    (("",), ("nodes",), ("watch", "list", "get", "update"), ()),
    (("",), ("namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims",
             "persistentvolumes"), ("watch", "list", "get"), ()),
    (("extensions",), ("replicasets", "daemonsets"), ("watch", "list", "get"), ()),
    (("policy",), ("poddisruptionbudgets",), ("watch", "list"), ()),
    (("apps",), ("statefulsets", "replicasets", "daemonsets"), ("watch", "list", "get"), ()),
    (("storage.k8s.io",), ("storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"),
     ("watch", "list", "get"), ()),
    # Not in the 1.35 AWS example: 1.35 locks --enable-dynamic-resource-allocation on (config/flags/flags.go) and
    # always starts informers on these (simulator/dynamicresources/provider/provider.go, NewProviderFromInformers);
    # main.go then blocks "until caches are synced", which a forbidden list never is, so the autoscaler never
    # scales. The chart's ClusterRole grants them; kubernetes/autoscaler#9487 (1.36), #10278 (the 1.35 backport).
    (("resource.k8s.io",), ("resourceslices", "deviceclasses", "resourceclaims"), ("watch", "list", "get"), ()),
    (("batch", "extensions"), ("jobs",), ("get", "list", "watch", "patch"), ()),
    (("coordination.k8s.io",), ("leases",), ("create",), ()),
    (("coordination.k8s.io",), ("leases",), ("get", "update"), (NAME,)),
)
NAMESPACE_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (("",), ("configmaps",), ("create", "list", "watch"), ()),
    (("",), ("configmaps",), ("delete", "get", "update", "watch"),
     ("cluster-autoscaler-status", "cluster-autoscaler-priority-expander")),
)
# cluster-autoscaler/cloudprovider/aws/README.md, "Full Cluster Autoscaler Features Policy (Recommended)": what
# auto-discovery and the dynamic instance type list read; these actions take no resource ARN.
READS = ("autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
         "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities", "ec2:DescribeImages",
         "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions",
         "ec2:GetInstanceTypesFromInstanceRequirements")
WRITES = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")
CAPACITY_TYPE = "eks.amazonaws.com/capacityType"  # the label EKS puts on managed nodes


def autoscaler_policy(where: Where, cluster: str) -> str:
    """The documented policy, narrowed: DescribeNodegroup on this cluster's node groups only; the two writes on
    EKS's node group Auto Scaling groups (named eks-...) that carry this cluster's discovery tags, which EC2 Auto
    Scaling evaluates as aws:ResourceTag conditions on those actions (EC2 Auto Scaling user guide, "Control access
    to Auto Scaling groups using tags"), as the README recommends ("restrict the target resources ... using tag based
    conditionals")."""
    return policy_document(
        {"Sid": "Discover", "Effect": "Allow", "Action": list(READS), "Resource": "*"},
        {"Sid": "DescribeNodeGroups", "Effect": "Allow", "Action": "eks:DescribeNodegroup",
         "Resource": where.arn("eks", f"nodegroup/{cluster}/*/*")},
        {"Sid": "ScaleThisClustersNodeGroups", "Effect": "Allow", "Action": list(WRITES),
         "Resource": where.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/eks-*"),
         "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned",
                                        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}}})


def command(cluster: str) -> list[str]:
    """The upstream example's flags, this cluster's discovery tags: a scale-up picks the group that wastes least,
    similar groups (the same instance sizes across zones) are kept balanced, and pods with emptyDir volumes do not
    pin a node."""
    return ["./cluster-autoscaler", "--v=2", "--stderrthreshold=info", "--cloud-provider=aws",
            f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{cluster}",
            "--expander=least-waste", "--balance-similar-node-groups", "--skip-nodes-with-local-storage=false"]


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    cluster_name: str  # the EKS cluster's physical name: in the discovery tags and the policy
    cluster_arn: pulumi.Input[str]
    region: str
    version: str  # the release for the cluster's Kubernetes minor, e.g. v1.35.2
    # Started once there are nodes to run it on (and stopped before they go): the cluster's node groups.
    node_groups: Sequence[pulumi.Resource]
    permissions_boundary: str | None  # carried by its role, as by every role of the stack
    namespace: str = "kube-system"
    service_account: str = NAME


def _rules(rules: Sequence[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]]) \
        -> list[PolicyRuleArgs]:
    return [PolicyRuleArgs(api_groups=list(groups), resources=list(resources), verbs=list(verbs),
                           resource_names=list(names) or None) for groups, resources, verbs, names in rules]


class ClusterAutoscaler(Component):
    def __init__(self, name: str, args: ClusterAutoscalerArgs, kube_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("envstack:kubernetes:ClusterAutoscaler", name, {
            "image": f"{IMAGE}:{args.version}", "discovery": f"k8s.io/cluster-autoscaler/{args.cluster_name}",
            "serviceAccount": f"{args.namespace}/{args.service_account}"}, opts,
            permissions_boundary=args.permissions_boundary)
        self._args = args
        self._provider = kube_provider
        self.role, policy = self._role()
        association = aws.eks.PodIdentityAssociation(
            self.label, cluster_name=args.cluster_name, namespace=args.namespace,
            service_account=args.service_account, role_arn=self.role.arn, opts=self.child(depends_on=[policy]))
        self.deployment = self._kubernetes_objects(association)
        self.register_outputs({"role_arn": self.role.arn})

    def _role(self) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        a = self._args
        role = aws.iam.Role(
            self.label, description=f"Cluster Autoscaler of {a.cluster_name} (EKS Pod Identity)",
            assume_role_policy=pulumi.Output.from_input(a.cluster_arn).apply(
                lambda arn: pod_identity_trust(arn, a.namespace, a.service_account)),
            permissions_boundary=self.permissions_boundary, opts=self.child())
        policy = aws.iam.RolePolicy(
            self.label, role=role.id, policy=self.where.apply(lambda where: autoscaler_policy(where, a.cluster_name)),
            opts=self.child())
        return role, policy

    def _k8s(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return self.child(provider=self._provider, **kwargs)

    def _meta(self, namespaced: bool = True, name: str = NAME) -> ObjectMetaArgs:
        return ObjectMetaArgs(name=name, namespace=self._args.namespace if namespaced else None,
                              labels={"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "envstack"})

    def _kubernetes_objects(self, association: aws.eks.PodIdentityAssociation) -> k8s.apps.v1.Deployment:
        a = self._args
        # The ServiceAccount the association names: the pods' credentials come from it.
        account = k8s.core.v1.ServiceAccount(self.label, metadata=self._meta(name=a.service_account), opts=self._k8s())
        subject = SubjectArgs(kind="ServiceAccount", name=account.metadata.name, namespace=a.namespace)
        cluster_role = k8s.rbac.v1.ClusterRole(self.label, metadata=self._meta(False), rules=_rules(CLUSTER_RULES),
                                               opts=self._k8s())
        k8s.rbac.v1.ClusterRoleBinding(
            self.label, metadata=self._meta(False), subjects=[subject],
            role_ref=RoleRefArgs(api_group=RBAC_GROUP, kind="ClusterRole", name=cluster_role.metadata.name),
            opts=self._k8s())
        role = k8s.rbac.v1.Role(self.label, metadata=self._meta(), rules=_rules(NAMESPACE_RULES), opts=self._k8s())
        binding = k8s.rbac.v1.RoleBinding(
            self.label, metadata=self._meta(), subjects=[subject],
            role_ref=RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=role.metadata.name), opts=self._k8s())
        # After its credentials and rights exist and there are nodes to run on; deleted before the nodes go.
        return k8s.apps.v1.Deployment(
            self.label, metadata=self._meta(), spec=self._deployment_spec(account),
            opts=self._k8s(depends_on=[association, binding, *a.node_groups]))

    def _deployment_spec(self, account: k8s.core.v1.ServiceAccount) -> DeploymentSpecArgs:
        a = self._args
        labels = {"app.kubernetes.io/name": NAME}
        return DeploymentSpecArgs(
            replicas=1, selector=LabelSelectorArgs(match_labels=labels),
            template=PodTemplateSpecArgs(
                # Not evicted by its own scale-down; run on on-demand nodes where there are some (a spot reclaim
                # would stop the autoscaler when capacity is scarcest).
                metadata=ObjectMetaArgs(labels=labels,
                                        annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}),
                spec=PodSpecArgs(
                    service_account_name=account.metadata.name, priority_class_name="system-cluster-critical",
                    security_context=PodSecurityContextArgs(
                        run_as_non_root=True, run_as_user=65534, fs_group=65534,
                        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault")),
                    affinity=AffinityArgs(node_affinity=NodeAffinityArgs(
                        preferred_during_scheduling_ignored_during_execution=[PreferredSchedulingTermArgs(
                            weight=100, preference=NodeSelectorTermArgs(match_expressions=[
                                NodeSelectorRequirementArgs(key=CAPACITY_TYPE, operator="In",
                                                            values=["ON_DEMAND"])]))])),
                    containers=[ContainerArgs(
                        name=NAME, image=f"{IMAGE}:{a.version}", image_pull_policy="IfNotPresent",
                        command=command(a.cluster_name), env=[EnvVarArgs(name="AWS_REGION", value=a.region)],
                        resources=ResourceRequirementsArgs(requests={"cpu": "100m", "memory": "600Mi"},
                                                           limits={"memory": "600Mi"}),
                        security_context=SecurityContextArgs(
                            allow_privilege_escalation=False, read_only_root_filesystem=True,
                            capabilities=CapabilitiesArgs(drop=["ALL"])),
                        # The node's CA bundle, as the upstream manifest mounts it (AL2023 keeps it there).
                        volume_mounts=[VolumeMountArgs(name="ssl-certs", read_only=True,
                                                       mount_path="/etc/ssl/certs/ca-certificates.crt")])],
                    volumes=[VolumeArgs(name="ssl-certs", host_path=HostPathVolumeSourceArgs(
                        path="/etc/ssl/certs/ca-bundle.crt", type="File"))])))
