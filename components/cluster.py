"""Cluster: EKS with pulumi-eks, secure by default, and managed node groups.

control plane   private endpoint, reached on 443 from the listed private networks (self-hosted runners, VPN) by
                rules on the cluster security group; public endpoint off, or limited to listed CIDRs;
                authentication mode API with access entries (no aws-auth ConfigMap), secrets encrypted with a CMK,
                all five log types to a log group envstack creates (retention, CMK), an OIDC provider for IRSA, a
                pinned version
access          access entries: the role that runs `pulumi up` (cluster admin: it applies the baseline),
                administrators, CI deployers (a Kubernetes group the baseline's RBAC binds) and viewers (read-only:
                the CI roles that preview and drift-check the stack). With a deployer role, the implicit admin entry
                EKS gives the cluster's creator is turned off (see no_creator_admin_transform); without one (a dev
                stack), the creator keeps that implicit entry
node groups     managed, AL2023, in the private subnets, launched from envstack's launch template (IMDSv2 only
                with hop limit 1, encrypted gp3 root volume), on the cluster's Kubernetes version, rolling
                updates; desiredSize is the initial size, then the Cluster Autoscaler's (components/node_scaling.py)
add-ons         EKS-managed and pinned: vpc-cni (with network policy enforcement), kube-proxy, eks-pod-identity-agent
                before the nodes; coredns and aws-ebs-csi-driver (IRSA role) once there are nodes to run on

Managed nodes use the security group EKS creates for the cluster, so `connections` names that one: what may reach
the nodes (the ALB on a NodePort) and what the nodes may reach (the database, the cache) is said with `allow`.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from policies.facts import DEPLOYER_ENTRY_TAG

from .base import Component, policy_document
from .connections import Connections
from .node_scaling import NODE_GROUP_TAG, Scaling, plan, running_node_groups

CI_DEPLOYER_GROUP = "envstack:ci-deployers"
# AWS managed policies, by name: their ARNs are the partition's (Where.managed_policy).
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy")
CLUSTER_POLICY = "AmazonEKSClusterPolicy"  # what pulumi-eks gives its own cluster role
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
# The audience of the projected service-account token, which EKS's pod identity webhook sets: sts.amazonaws.com in
# every partition, China's included (eksctl-io/eksctl#1910; terraform-aws-eks#1704: sts.amazonaws.com.cn fails with
# "Incorrect token audience").
IRSA_AUDIENCE = "sts.amazonaws.com"
# Networking add-ons go in before the nodes (a node without a CNI never gets ready); the others need nodes to run.
ADDONS_BEFORE_NODES = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
ADDONS_AFTER_NODES = ("coredns", "aws-ebs-csi-driver")
ADDON_SETTINGS = {"vpc-cni": {"enableNetworkPolicy": "true"}}  # without it, NetworkPolicies are not enforced
ROOT_DEVICE = "/dev/xvda"  # AL2023
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY_ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"


@dataclass(frozen=True)
class NodeGroupSpec:
    name: str
    instance_types: tuple[str, ...]
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    ami_type: str
    min_size: int
    max_size: int
    desired_size: int
    disk_size_gib: int
    max_unavailable: int
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ClusterArgs:
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    name: str  # the EKS cluster's physical name
    version: str
    upgrade_policy: Literal["STANDARD", "EXTENDED"]
    endpoint_public_access: bool
    public_access_cidrs: tuple[str, ...]
    api_access_cidrs: tuple[str, ...]  # private networks (runners, VPN) that reach the private endpoint
    deployer_role_arn: str | None  # the role `pulumi up` runs as: cluster admin (it applies the baseline)
    admin_role_arns: tuple[str, ...]
    ci_deployer_role_arns: tuple[str, ...]
    viewer_role_arns: tuple[str, ...]  # read-only roles (CI previews and drift): AmazonEKSAdminViewPolicy
    log_types: tuple[str, ...]
    log_retention_days: int
    node_groups: tuple[NodeGroupSpec, ...]
    addon_versions: Mapping[str, str]  # EKS add-on name -> version
    deletion_protection: bool
    protect: bool  # the KMS keys
    tags: Mapping[str, str]  # for launch template tag specifications
    # An autoscaler sets the node groups' desired sizes (desired_size: the initial one); without, the spec's is kept.
    autoscaled: bool
    permissions_boundary: str | None  # carried by the cluster, node and IRSA roles
    # What a runner outside the VPC reaches the private endpoint through (network.transitGateway's routes): no
    # Kubernetes object is sent before they exist.
    api_routes: Sequence[pulumi.Resource] = ()


def _cluster_wide(role_arn: str, association: str, policy: str,
                  tags: Mapping[str, str] | None = None) -> eks.AccessEntryArgs:
    """An access entry with the EKS access policy `policy` at cluster scope (its association keyed `association`)."""
    partition = role_arn.split(":")[1]
    return eks.AccessEntryArgs(principal_arn=role_arn, tags=dict(tags) if tags else None, access_policies={
        association: eks.AccessPolicyAssociationArgs(
            policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{policy}",
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"))})


def _cluster_admin(role_arn: str, tags: Mapping[str, str] | None = None) -> eks.AccessEntryArgs:
    return _cluster_wide(role_arn, "cluster-admin", "AmazonEKSClusterAdminPolicy", tags)


def _cluster_viewer(role_arn: str) -> eks.AccessEntryArgs:
    """Read access to every Kubernetes object, Secrets included (EKS user guide, "Access policy permissions":
    AmazonEKSAdminViewPolicy), which `pulumi preview` and `pulumi refresh` need to read the baseline's objects: a
    role without an entry gets "unreachable cluster" and drift is never detected."""
    return _cluster_wide(role_arn, "cluster-view", "AmazonEKSAdminViewPolicy")


def role_name(role_arn: str) -> str:
    """arn:aws:iam::123456789012:role/some/path/platform-admin -> platform-admin."""
    return role_arn.rsplit("/", 1)[-1]


def access_entry_key(kind: str, role_arn: str) -> str:
    """An access entry's key, `<kind>-<role name>` (`admin-platform-admin`): what it is, never its position in a list.
    pulumi-eks names the entry `<cluster resource>-<key>` and its policy associations `<entry>-<association>`
    (nodejs/eks/cluster/authenticationMode.ts, createAccessEntries): keyed by position, removing the first of two
    roles replaced the second's entry create-before-delete onto a principal that still has one, and EKS answered 409
    ResourceInUseException. Role names are unique per account; configuration refuses two roles of one name in a list."""
    return f"{kind}-{role_name(role_arn)}"


def aliases_transform(renamed: Mapping[tuple[str, str], str]) -> pulumi.ResourceTransform:
    """Gives a child that a remote component (pulumi-eks) creates the alias `renamed[(type, name)]`, its name in
    earlier envstack versions, so the engine moves its state instead of replacing it."""
    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        old = renamed.get((args.type_, args.name))
        if old is None:
            return None
        return pulumi.ResourceTransformResult(props=args.props, opts=pulumi.ResourceOptions.merge(
            args.opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old)])))
    return transform


def attached(role: aws.iam.Role, attachments: Sequence[aws.iam.RolePolicyAttachment]) -> pulumi.Output[aws.iam.Role]:
    """`role`, known only once its managed policies are attached, as pulumi-eks's own ServiceRole.resolvedRole
    (nodejs/eks/servicerole.ts): a cluster or node group given the role waits for its permissions, and is deleted
    before they are detached. EKS acts with them until the end: without them it cannot delete the security groups and
    network interfaces it made (aws_eks_cluster), nor the instances and interfaces of a node group (aws_eks_node_group;
    Terraform AWS provider docs, "Ensure that IAM Role permissions are created before and deleted after")."""
    return pulumi.Output.all(*(attachment.id for attachment in attachments)).apply(lambda _: role)


def update_config_transform(max_unavailable: int) -> pulumi.ResourceTransform:
    """pulumi-eks's ManagedNodeGroup has no update config: set it on the aws:eks NodeGroup it creates."""
    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != "aws:eks/nodeGroup:NodeGroup":
            return None
        props = {**args.props, "updateConfig": {"maxUnavailable": max_unavailable}}
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)
    return transform


def no_creator_admin_transform() -> pulumi.ResourceTransform:
    """pulumi-eks 4.x hard-codes `accessConfig.bootstrapClusterCreatorAdminPermissions: true` whenever
    `authenticationMode` is set (nodejs/eks/cluster/cluster.ts; pulumi/pulumi-eks#2373: no argument overrides it).
    EKS then gives whoever runs `pulumi up` an implicit admin access entry, and the explicit one envstack declares
    for that role fails with 409 ResourceInUseException (terraform-aws-eks#3293), failing the whole component.
    Turn the implicit entry off on the aws:eks Cluster it creates: every principal is an explicit, reviewed entry.
    pulumi-eks lists the field in ignoreChanges, so this sets it at creation and never replaces a cluster."""
    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != "aws:eks/cluster:Cluster":
            return None
        # pulumi-eks passes accessConfig as a plain object (never an Output) when authenticationMode is set.
        given = cast(dict[str, Any], args.props.get("accessConfig") or {})
        access = {**given, "bootstrapClusterCreatorAdminPermissions": False}
        return pulumi.ResourceTransformResult(props={**args.props, "accessConfig": access}, opts=args.opts)
    return transform


class Cluster(Component):
    kube_provider: k8s.Provider
    connections: Connections

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("envstack:kubernetes:Cluster", name, {
            "name": args.name, "version": args.version, "upgradePolicy": args.upgrade_policy,
            "endpointPublicAccess": args.endpoint_public_access, "publicAccessCidrs": list(args.public_access_cidrs),
            "apiAccessCidrs": list(args.api_access_cidrs),
            "nodeGroups": [g.name for g in args.node_groups], "logTypes": list(args.log_types)}, opts,
            permissions_boundary=args.permissions_boundary, protect=args.protect, name_prefix=args.name)
        self._args = args
        self.name = args.name
        # The cluster's own role (pulumi-eks would make one we could not name before the key): the secrets key's
        # policy must name it, or a version upgrade fails with "Role ... could not be assumed"
        # (aws/containers-roadmap#1533). The account's principals use the key through EKS only (cluster creation
        # grants the role through EKS).
        self.cluster_role = self.service_role("eks", "eks")
        self._cluster_role_ready = attached(self.cluster_role, self.attach_policies(
            self.cluster_role, "eks", (CLUSTER_POLICY,)))
        self.secrets_key = self.kms_key("secrets", f"EKS secrets envelope encryption for {args.name}",
                                        services=("eks",), users=[self.cluster_role.arn])
        self.control_plane_logs = self._control_plane_log_group()
        self.node_role = self.service_role("nodes", "ec2")
        self._node_role_ready = attached(self.node_role, self.attach_policies(self.node_role, "nodes", NODE_POLICIES))
        self.eks = self._cluster()
        self.oidc_provider_arn = self.eks.oidc_provider_arn
        self.ebs_csi_role = self.irsa_role("ebs-csi", "kube-system", "ebs-csi-controller-sa", (EBS_CSI_POLICY,))
        self._addon_roles = {"aws-ebs-csi-driver": self.ebs_csi_role}
        early = self._addons(ADDONS_BEFORE_NODES)
        running = running_node_groups(args.name, self) if args.autoscaled else {}
        self.node_groups = [self._node_group(spec, early, running) for spec in args.node_groups]
        self.addons = early + self._addons(ADDONS_AFTER_NODES, depends_on=self.node_groups)
        # What turns Kubernetes storage objects into EBS volumes and back: the CSI driver and the nodes it runs on.
        # Objects that own volumes (namespaces of PVCs, the StorageClass) depend on them, so that a destroy deletes
        # them, and the driver deletes the volumes, before the driver and nodes go (ClusterBaseline).
        addons = dict(zip((*ADDONS_BEFORE_NODES, *ADDONS_AFTER_NODES), self.addons, strict=True))
        self.storage_controllers: list[pulumi.Resource] = [addons["aws-ebs-csi-driver"], *self.node_groups]
        cluster_security_group_id = self.eks.eks_cluster.vpc_config.cluster_security_group_id
        self.api_access_rules = self._api_access(cluster_security_group_id)
        self.kubeconfig = pulumi.Output.secret(self.eks.kubeconfig_json)
        # A private endpoint answers a runner only through its security group rule and, from another network, the
        # transit gateway routes: the Kubernetes objects of the first `up` wait for them, or their first requests
        # race the rules (created once the cluster exists) and time out.
        self.kube_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                          opts=self.child(depends_on=[*self.api_access_rules, *args.api_routes]))
        self.cluster_name = self.eks.eks_cluster.name
        self.arn = self.eks.eks_cluster.arn
        self.endpoint = self.eks.eks_cluster.endpoint
        self.node_role_arns = [self.node_role.arn]
        # Each node group's Auto Scaling group, by the group's name: what the edge attaches and monitoring watches,
        # keyed by what it is (removing one group leaves the others' attachments and alarms as they are).
        self.node_group_asgs: dict[str, pulumi.Output[str]] = {
            spec.name: group.node_group.apply(lambda g: g.resources).apply(lambda rs: rs[0].autoscaling_groups[0].name)
            for spec, group in zip(args.node_groups, self.node_groups, strict=True)}
        self.connections = Connections(owner=self, label="cluster-nodes", security_group_id=cluster_security_group_id,
                                       restricts_egress=False)
        self.register_outputs({
            "cluster_name": self.cluster_name, "endpoint": self.endpoint,
            "oidc_provider_arn": self.oidc_provider_arn, "node_role_arns": self.node_role_arns,
            "node_group_asgs": self.node_group_asgs,
        })

    def _control_plane_log_group(self) -> aws.cloudwatch.LogGroup:
        """Created before the cluster under the name EKS writes to, so the logs get retention and a CMK."""
        return self.log_group("control-plane", self._args.log_retention_days,
                              name=f"/aws/eks/{self._args.name}/cluster")

    def _cluster(self) -> eks.Cluster:
        a = self._args
        return eks.Cluster(
            f"{self.label}-eks",
            # Read from the log group so the control plane is only created once its log group exists.
            name=self.control_plane_logs.name.apply(lambda _: a.name),
            version=a.version,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=a.upgrade_policy),
            vpc_id=a.vpc_id,
            private_subnet_ids=list(a.private_subnet_ids),
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=a.endpoint_public_access,
            public_access_cidrs=list(a.public_access_cidrs) if a.endpoint_public_access else None,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=self._access_entries(),
            service_role=self._cluster_role_ready,
            encryption_config_key_arn=self.secrets_key.arn,
            enabled_cluster_log_types=list(a.log_types),
            create_oidc_provider=True,
            skip_default_node_group=True,
            # Managed node groups use the cluster security group EKS creates; pulumi-eks's extra groups are for
            # self-managed nodes and would only add rules.
            skip_default_security_groups=True,
            # envstack installs every add-on as a pinned EKS-managed add-on (below) instead.
            bootstrap_self_managed_addons=False,
            use_default_vpc_cni=True,
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=False),
            deletion_protection=a.deletion_protection,
            tags=dict(a.tags),
            # The deployer's explicit entry replaces the creator's implicit one; without a deployer the creator keeps
            # it (and no explicit entry may name the creator: preflight's `deployer` check).
            opts=self.child(depends_on=[self.control_plane_logs], transforms=[
                *([no_creator_admin_transform()] if a.deployer_role_arn else []),
                aliases_transform(self._access_entry_aliases())]),
        )

    def _api_access(self, security_group_id: pulumi.Input[str]) -> list[aws.vpc.SecurityGroupIngressRule]:
        """The private endpoint answers only what the cluster security group admits: the listed networks on 443.
        A rule is named by its CIDR (`cluster-api-10.250.0.0-24`; `cluster-api-<i>` before, its alias)."""
        return [aws.vpc.SecurityGroupIngressRule(
            f"{self.label}-api-{cidr.replace('/', '-')}", security_group_id=security_group_id, ip_protocol="tcp",
            from_port=443, to_port=443, cidr_ipv4=cidr, description=f"Kubernetes API (private endpoint) from {cidr}",
            opts=self.child(aliases=[pulumi.Alias(name=f"{self.label}-api-{i}")]))
            for i, cidr in enumerate(self._args.api_access_cidrs)]

    def _access_entries(self) -> dict[str, eks.AccessEntryArgs]:
        a = self._args
        # The deployer and the administrators get cluster admin. The deployer's entry replaces the creator's
        # implicit one (turned off above): without it `pulumi up` could not create the baseline's objects. Its tag
        # tells the policy pack which entry is the deploying role's (eks-no-implicit-creator-admin).
        deployer = {"deployer": _cluster_admin(a.deployer_role_arn, dict([DEPLOYER_ENTRY_TAG]))} \
            if a.deployer_role_arn else {}
        admins = {access_entry_key("admin", arn): _cluster_admin(arn) for arn in a.admin_role_arns}
        # CI deployers get no EKS access policy: their rights are the namespaced RBAC of the cluster baseline.
        deployers = {access_entry_key("ci-deployer", arn): eks.AccessEntryArgs(
            principal_arn=arn, kubernetes_groups=[CI_DEPLOYER_GROUP]) for arn in a.ci_deployer_role_arns}
        # Read-only roles (always keyed by role name: they have no positional names to alias).
        viewers = {access_entry_key("viewer", arn): _cluster_viewer(arn) for arn in a.viewer_role_arns}
        return {**deployer, **admins, **deployers, **viewers}

    def _access_entry_aliases(self) -> dict[tuple[str, str], str]:
        """Entries were keyed `admin-<i>` / `ci-deployer-<i>` by position before (CHANGELOG, "stable identities"):
        each entry (and its policy association) takes over the state of the one at its position, so upgrading
        replaces nothing; an upgrade deploy that also reorders the lists replaces what moved, as before."""
        prefix, renamed = f"{self.label}-eks", {}
        for kind, arns in (("admin", self._args.admin_role_arns), ("ci-deployer", self._args.ci_deployer_role_arns)):
            for i, arn in enumerate(arns):
                new, old = f"{prefix}-{access_entry_key(kind, arn)}", f"{prefix}-{kind}-{i}"
                renamed[(ACCESS_ENTRY, new)] = old
                renamed[(ACCESS_POLICY_ASSOCIATION, f"{new}-cluster-admin")] = f"{old}-cluster-admin"
        return renamed

    def _launch_template(self, spec: NodeGroupSpec) -> aws.ec2.LaunchTemplate:
        """No AMI and no user data: EKS picks the AL2023 image for `amiType` and bootstraps the node itself."""
        tags = {**self._args.tags, "Name": f"{self._args.name}-{spec.name}"}
        return aws.ec2.LaunchTemplate(
            f"{self.label}-{spec.name}", name_prefix=f"{self._args.name}-{spec.name}-",
            description=f"EKS managed node group {spec.name} of {self._args.name}",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE, ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=spec.disk_size_gib, volume_type="gp3", encrypted="true",
                    delete_on_termination="true"))],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume", "network-interface")],
            update_default_version=True, opts=self.child())

    def _node_group(self, spec: NodeGroupSpec, after: list[aws.eks.Addon],
                    running: Mapping[str, Scaling]) -> eks.ManagedNodeGroup:
        template = self._launch_template(spec)
        scaling = plan(Scaling(spec.min_size, spec.max_size, spec.desired_size), running.get(spec.name),
                       autoscaled=self._args.autoscaled)
        return eks.ManagedNodeGroup(
            f"{self.label}-{spec.name}",
            cluster=self.eks,
            node_role=self._node_role_ready,
            subnet_ids=list(self._args.private_subnet_ids),
            ami_type=spec.ami_type,
            capacity_type=spec.capacity_type,
            instance_types=list(spec.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=spec.min_size, max_size=spec.max_size, desired_size=scaling.desired_size),
            labels=dict(spec.labels),
            # With a launch template pulumi-eks leaves `version` unset (nodejs/eks/nodes/nodegroup.ts,
            # createManagedNodeGroup), so a cluster upgrade would move only the control plane. envstack's template
            # names no AMI, so EKS accepts a version and rolls the nodes to it.
            version=self._args.version,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)),
            ignore_scaling_changes=scaling.ignore_desired_changes,  # components/node_scaling.py
            tags={**self._args.tags, NODE_GROUP_TAG: spec.name},
            opts=self.child(depends_on=after, transforms=[update_config_transform(spec.max_unavailable)]),
        )

    def _addons(self, names: tuple[str, ...], depends_on: list[pulumi.Resource] | None = None) -> list[aws.eks.Addon]:
        return [aws.eks.Addon(
            f"{self.label}-{addon}", cluster_name=self.eks.eks_cluster.name, addon_name=addon,
            addon_version=self._args.addon_versions.get(addon),
            configuration_values=json.dumps(ADDON_SETTINGS[addon]) if addon in ADDON_SETTINGS else None,
            service_account_role_arn=self._addon_roles[addon].arn if addon in self._addon_roles else None,
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
            opts=self.child(depends_on=depends_on or [])) for addon in names]

    def irsa_role(self, suffix: str, namespace: str, service_account: str,
                  managed_policies: tuple[str, ...] = ()) -> aws.iam.Role:
        """A role only `namespace/service_account` of this cluster may assume (IAM roles for service accounts)."""
        trust = pulumi.Output.all(self.eks.oidc_provider_arn, self.eks.oidc_issuer).apply(
            lambda a: policy_document({
                "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": a[0]},
                "Condition": {"StringEquals": {f"{a[1]}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                               f"{a[1]}:aud": IRSA_AUDIENCE}}}))
        return self.trusting_role(suffix, trust, managed_policies)
