"""EKS: both the pulumi-eks component inputs (`eks:index:*`, what mocks show) and the AWS children a real preview
shows (`aws:eks/cluster:Cluster`, `aws:eks/nodeGroup:NodeGroup`, `aws:ec2/launchTemplate:LaunchTemplate`)."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ..facts import DEPLOYER_ENTRY_TAG
from .base import (
    Resource,
    as_list,
    as_mapping,
    identifiers,
    known,
    known_count,
    linked,
    of_type,
    resource_rule,
    stack_rule,
    truthy,
)
from .network import SHARE_OPTION, Group, Rule, public_share, security_groups

COMPONENT = "eks:index:Cluster"
CLUSTER = "aws:eks/cluster:Cluster"
CLUSTERS = (COMPONENT, CLUSTER)
MANAGED_NODE_GROUP = "eks:index:ManagedNodeGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
Findings = Iterator[tuple[str, str | None]]
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def _endpoint(r: Resource, prop: str, default: bool) -> bool:
    """endpointPublicAccess / endpointPrivateAccess with the AWS defaults (public on, private off)."""
    value = r.get(prop) if r.type == COMPONENT else r.get("vpcConfig", prop)
    return default if value is None else truthy(value)


@resource_rule("eks-private-endpoint", "The EKS API server must have its private endpoint enabled.", CLUSTERS)
def private_endpoint(r: Resource) -> Iterator[str]:
    if not _endpoint(r, "endpointPrivateAccess", False):
        yield "endpointPrivateAccess is not true: nodes reach the API server over the internet"


@resource_rule("eks-public-endpoint-restricted",
               "A public EKS endpoint must be limited to listed CIDRs that are not a large share of the internet.",
               CLUSTERS, severity=Severity.CRITICAL, checkov="CKV_AWS_38", options=SHARE_OPTION)
def public_endpoint_restricted(r: Resource) -> Iterator[str]:
    if not _endpoint(r, "endpointPublicAccess", True):
        return
    cidrs = as_list(r.get("publicAccessCidrs") if r.type == COMPONENT else r.get("vpcConfig", "publicAccessCidrs"))
    if not cidrs:
        yield "endpointPublicAccess is true and publicAccessCidrs is empty: EKS opens the API to 0.0.0.0/0"
    elif (share := public_share(cidrs)) >= r.cfg["publicShare"]:
        yield (f"endpointPublicAccess is true and publicAccessCidrs {', '.join(map(str, cidrs))} cover "
               f"{share:.1%} of the public address space: that is the internet")


@resource_rule("eks-public-endpoint-disabled", "The EKS API server must have no public endpoint.", CLUSTERS,
               severity=Severity.HIGH, checkov="CKV_AWS_39")
def public_endpoint_disabled(r: Resource) -> Iterator[str]:
    if _endpoint(r, "endpointPublicAccess", True):
        yield "endpointPublicAccess is true (AWS's default): the API server answers on the internet"


@resource_rule("eks-secrets-encryption", "EKS must envelope-encrypt Kubernetes secrets with a KMS key.", CLUSTERS,
               severity=Severity.CRITICAL, checkov="CKV_AWS_58")
def secrets_encryption(r: Resource) -> Iterator[str]:
    if r.type == COMPONENT:
        if not r.present("encryptionConfigKeyArn"):
            yield "encryptionConfigKeyArn is not set"
    elif not r.present("encryptionConfig", "provider", "keyArn"):
        yield "encryptionConfig.provider.keyArn is not set"
    elif "secrets" not in as_list(r.get("encryptionConfig", "resources")):
        yield "encryptionConfig.resources does not include secrets"


@resource_rule("eks-control-plane-logs", "EKS must send all control-plane log types to CloudWatch.", CLUSTERS,
               severity=Severity.MEDIUM, checkov="CKV_AWS_37",
               options={"requiredLogTypes": {"type": "array", "items": {"type": "string"}, "default": LOG_TYPES}})
def control_plane_logs(r: Resource) -> Iterator[str]:
    enabled = set(as_list(r.get("enabledClusterLogTypes")))
    missing = [t for t in r.cfg["requiredLogTypes"] if t not in enabled]
    if missing:
        yield f"enabledClusterLogTypes lacks {', '.join(missing)}"


@resource_rule("eks-supported-version", "EKS must pin a Kubernetes version in standard support.", CLUSTERS,
               severity=Severity.MEDIUM, checkov="CKV_AWS_339",
               options={"supportedVersions": {"type": "array", "items": {"type": "string"},
                                              "default": ["1.34", "1.35", "1.36", "1.37"]}})
def supported_version(r: Resource) -> Iterator[str]:
    version = r.get("version")
    if version is None:
        yield "version is not pinned: the cluster gets whatever EKS defaults to and upgrades by surprise"
    elif str(version) not in r.cfg["supportedVersions"]:
        yield f"version {version} is not one of the supported versions {', '.join(r.cfg['supportedVersions'])}"


@resource_rule("eks-no-default-node-group",
               "pulumi-eks clusters must skip the default self-managed node group (unencrypted, IMDSv1).",
               [COMPONENT], severity=Severity.MEDIUM)
def no_default_node_group(r: Resource) -> Iterator[str]:
    if not r.true("skipDefaultNodeGroup") and not r.present("fargate"):
        yield "skipDefaultNodeGroup is not true: pulumi-eks creates a self-managed t3.medium node group"


@resource_rule("eks-node-ssh-restricted", "Node groups must not allow SSH from 0.0.0.0/0.",
               [MANAGED_NODE_GROUP, NODE_GROUP, COMPONENT], severity=Severity.CRITICAL, checkov="CKV_AWS_100")
def node_ssh_restricted(r: Resource) -> Iterator[str]:
    if r.type == COMPONENT:
        if r.present("nodePublicKey") and not r.true("skipDefaultNodeGroup"):
            yield "the default node group gets an SSH key (nodePublicKey); use SSM Session Manager instead"
    elif r.present("remoteAccess", "ec2SshKey") and not r.present("remoteAccess", "sourceSecurityGroupIds"):
        yield "remoteAccess sets ec2SshKey without sourceSecurityGroupIds: SSH is open to 0.0.0.0/0"


@resource_rule("launch-template-imdsv2",
               "Node launch templates must require IMDSv2 with a response hop limit of 1.",
               [LAUNCH_TEMPLATE, MANAGED_NODE_GROUP, NODE_GROUP], checkov="CKV_AWS_79, CKV_AWS_341",
               options={"maximumHopLimit": {"type": "integer", "minimum": 1, "default": 1}})
def imdsv2(r: Resource) -> Iterator[str]:
    if r.type != LAUNCH_TEMPLATE:
        if not r.present("launchTemplate") and not r.true("enableIMDSv2"):
            yield "no launchTemplate (nor enableIMDSv2): nodes accept IMDSv1"
        return
    if r.get("metadataOptions", "httpTokens") != "required":
        yield "metadataOptions.httpTokens is not required (IMDSv1 allowed)"
    hops, maximum = r.get("metadataOptions", "httpPutResponseHopLimit"), r.cfg["maximumHopLimit"]
    if hops is None or hops > maximum:
        yield f"metadataOptions.httpPutResponseHopLimit is {hops}; at most {maximum:g} keeps pods off node credentials"


# No Checkov check covers launch templates' volumes (CKV_AWS_8 is launch configurations' and instances').
@resource_rule("launch-template-ebs-encrypted", "Node volumes must be encrypted.",
               [LAUNCH_TEMPLATE, MANAGED_NODE_GROUP, NODE_GROUP, COMPONENT])
def ebs_encrypted(r: Resource) -> Iterator[str]:
    if r.type == COMPONENT:
        if not r.true("skipDefaultNodeGroup") and not r.true("nodeRootVolumeEncrypted"):
            yield "the default node group's root volume is not encrypted (nodeRootVolumeEncrypted)"
    elif r.type != LAUNCH_TEMPLATE:
        if not r.present("launchTemplate"):
            yield "no launchTemplate: the root volume's encryption is left to the account default"
    else:
        ebs = [m.get("ebs") for m in as_list(r.get("blockDeviceMappings")) if m.get("ebs") is not None]
        if not ebs:
            yield "blockDeviceMappings defines no EBS volume: the root volume's encryption is the AMI's default"
        for i, volume in enumerate(ebs):
            if not truthy(volume.get("encrypted")):
                yield f"blockDeviceMappings[{i}].ebs.encrypted is not true"


# ---- deployability: what EKS refuses, or what makes `pulumi up` fail, read from the resources -------------------


# pulumi-eks 4.x sets bootstrapClusterCreatorAdminPermissions: true whenever authenticationMode is given
# (nodejs/eks/cluster/cluster.ts; pulumi/pulumi-eks#2373). EKS then creates an admin entry for the creator, and an
# explicit entry for the same principal fails with 409 ResourceInUseException (terraform-aws-eks#3293). Keeping the
# creator's entry is fine on its own (a dev stack's creator is its admin); what fails is declaring the creator again.
# The creator is whoever runs `pulumi up`: the resources name it only through the entry of the deploying role, tagged
# DEPLOYER_ENTRY_TAG (envstack's cluster component tags envstack:cluster.deployerRoleArn's entry so). Only the aws:eks
# Cluster child shows the flag (the component's inputs never do).
@stack_rule("eks-no-implicit-creator-admin",
            "A cluster that keeps EKS's implicit admin entry for its creator must not also declare an explicit entry "
            f"for the role that deploys it (an access entry tagged {DEPLOYER_ENTRY_TAG[0]}={DEPLOYER_ENTRY_TAG[1]}): "
            "the second entry for the same principal fails with 409 ResourceInUseException.", deployability=True,
            source="pulumi/pulumi-eks#2373, terraform-aws-eks#3293")
def no_implicit_creator_admin(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    entries = list(of_type(resources, ACCESS_ENTRY))
    for cluster in of_type(resources, CLUSTER):
        mode = known(cluster.props, "accessConfig", "authenticationMode", default="CONFIG_MAP")
        kept = known(cluster.props, "accessConfig", "bootstrapClusterCreatorAdminPermissions", default=True)
        if mode not in ("API", "API_AND_CONFIG_MAP") or kept is False:
            continue
        deployers = _deployer_principals(cluster, entries)
        if deployers:
            yield (f"cluster {cluster.name} keeps accessConfig.bootstrapClusterCreatorAdminPermissions (EKS's admin "
                   f"entry for whoever creates it) and declares an entry for the role that deploys it "
                   f"({', '.join(deployers)}): that entry fails with 409; set the flag to false", cluster.urn)


def _deployer_principals(cluster: PolicyResource, entries: list[PolicyResource]) -> list[str]:
    """The principals of the cluster's access entries tagged as the deploying role's: the aws:eks AccessEntry
    resources linked to it, and the entries its pulumi-eks component declares."""
    key, value = DEPLOYER_ENTRY_TAG
    declared = [e.props for e in entries if linked(e, cluster, "clusterName")]
    parent = cluster.parent
    if parent is not None and parent.resource_type == COMPONENT:
        declared += list(as_mapping(known(parent.props, "accessEntries", default={})).values())
    return sorted({str(known(e, "principalArn")) for e in declared
                   if known(e, "tags", key) == value and known(e, "principalArn")})


def _subnet_count(r: Resource) -> int | None:
    """The cluster's subnets (None while unknown, or when pulumi-eks is left to pick the default VPC's)."""
    if r.type == CLUSTER:
        return known_count(r.props, "vpcConfig", "subnetIds")
    given = [key for key in ("subnetIds", "privateSubnetIds", "publicSubnetIds") if r.present(key)]
    counts = [known_count(r.props, key) for key in given]
    return None if not given or None in counts else sum(c for c in counts if c is not None)


# EKS user guide, "View Amazon EKS networking requirements for VPC and subnets": the subnets given at cluster creation
# must be in at least two Availability Zones (CreateCluster: InvalidParameterException "Subnets specified must be in
# at least two different AZs"). envstack gives one private subnet per AZ, so two subnets means two AZs.
@resource_rule("eks-cluster-two-availability-zones",
               "An EKS cluster needs subnets in at least two Availability Zones (AWS refuses one).", CLUSTERS,
               deployability=True,
               source="EKS user guide, VPC and subnet requirements (CreateCluster)")
def cluster_two_availability_zones(r: Resource) -> Iterator[str]:
    subnets = _subnet_count(r)
    if subnets is not None and subnets < 2:
        yield f"{subnets} subnet(s): an EKS cluster needs subnets in at least two Availability Zones"


def _clusters(resources: list[PolicyResource]) -> list[PolicyResource]:
    return list(of_type(resources, *CLUSTERS))


def _with_parent(cluster: PolicyResource) -> list[PolicyResource]:
    """The aws:eks Cluster a pulumi-eks component creates, and that component: the program links to the latter."""
    parent = cluster.parent
    return [cluster, parent] if parent is not None and parent.resource_type == COMPONENT else [cluster]


def _public(cluster: PolicyResource) -> bool | None:
    prefix = () if cluster.resource_type == COMPONENT else ("vpcConfig",)
    value = known(cluster.props, *prefix, "endpointPublicAccess", default=True)
    return None if value is None else truthy(value)


def _admits_443(rule: Rule) -> bool:
    return rule.ingress and rule.ports[0] <= 443 <= rule.ports[1] and rule.protocol in ("-1", "tcp")


@dataclass
class ApiGroups:
    """The security groups EKS puts on the control plane's interfaces: the cluster security group EKS creates
    (vpcConfig.clusterSecurityGroupId) and the additional groups given (vpcConfig.securityGroupIds; pulumi-eks's
    clusterSecurityGroup), by id when known, by the property dependencies of the cluster on them, and the cluster
    resources (its aws:eks Cluster and component) a rule on `cluster_security_group_id` depends on."""

    ids: set[str]
    resources: set[str]  # urns of the groups the cluster depends on
    clusters: list[PolicyResource]

    @classmethod
    def of(cls, cluster: PolicyResource) -> "ApiGroups":
        ids, urns, targets = set(), set(), _with_parent(cluster)
        for target in targets:
            prefix = ("vpcConfig",) if target.resource_type == CLUSTER else ()
            for key in ("clusterSecurityGroupId", "securityGroupIds", "clusterSecurityGroup"):
                ids |= {v for v in as_list(known(target.props, *prefix, key)) if isinstance(v, str)}
            for prop in ("vpcConfig", "clusterSecurityGroup"):
                urns |= {r.urn for r in target.property_dependencies.get(prop, [])}
        return cls(ids, urns, targets)

    def holds(self, group: Group) -> bool:
        if group.resource is not None:
            return group.resource.urn in self.resources or bool(self.ids & identifiers(group.resource))
        return group.key in self.ids or any(
            t in source.property_dependencies.get("securityGroupId", []) for _, source in group.rules
            for t in self.clusters)


# EKS user guide, "Cluster API server endpoint": with public access off, the API is reached only from the VPC or a
# connected network, through what the security groups of the control plane's interfaces admit on 443: the cluster
# security group (EKS creates it, admitting its own members) and any additional groups. pulumi-eks only logs its
# health wait (cluster.ts), so `pulumi up` then times out on every Kubernetes object it applies.
@stack_rule("eks-private-endpoint-reachable",
            "A cluster without a public endpoint needs an ingress rule on 443 on its cluster security group or an "
            "additional security group of the cluster, so the runner that deploys reaches the private endpoint.",
            deployability=True, source="EKS user guide, Cluster API server endpoint")
def private_endpoint_reachable(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    groups = security_groups(resources)
    for cluster in _clusters(resources):
        if _public(cluster) is not False:
            continue
        api = ApiGroups.of(cluster)
        if not any(_admits_443(rule) for group in groups if api.holds(group) for rule, _ in group.rules):
            yield (f"cluster {cluster.name} has no public endpoint and no ingress rule on 443 on its cluster security "
                   "group or an additional group: nothing outside the cluster reaches the API (list apiAccessCidrs)",
                   cluster.urn)


def _principals(cluster: PolicyResource, entries: list[PolicyResource]) -> list[str]:
    if cluster.resource_type == COMPONENT:
        declared = as_mapping(known(cluster.props, "accessEntries", default={}))
        return [str(known(e, "principalArn")) for e in declared.values() if known(e, "principalArn")]
    return [str(known(e.props, "principalArn")) for e in entries
            if linked(e, cluster, "clusterName") and isinstance(known(e.props, "principalArn"), str)]


# EKS API reference, CreateAccessEntry: one access entry per IAM principal per cluster; a second one fails with
# ResourceInUseException (409).
@stack_rule("eks-access-entries-unique",
            "An IAM principal may have only one access entry per cluster (EKS refuses a second with 409).",
            deployability=True,
            source="EKS API reference, CreateAccessEntry")
def access_entries_unique(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    entries = list(of_type(resources, ACCESS_ENTRY))
    for cluster in _clusters(resources):
        twice = sorted(arn for arn, count in Counter(a.casefold() for a in _principals(cluster, entries)).items()
                       if count > 1)
        if twice:
            yield f"cluster {cluster.name} has more than one access entry for {', '.join(twice)}", cluster.urn


def _node_group_cluster(group: PolicyResource, clusters: list[PolicyResource]) -> PolicyResource | None:
    prop = "cluster" if group.resource_type == MANAGED_NODE_GROUP else "clusterName"
    return next((c for c in clusters if linked(group, c, prop)), None)


# pulumi-eks leaves `version` unset when a launch template is given (nodejs/eks/nodes/nodegroup.ts,
# createManagedNodeGroup), and EKS keeps such a group on the version it was created with: a control-plane upgrade
# leaves the nodes behind until the version skew limit stops the next one. EKS refuses a node group newer than its
# control plane (UpdateNodegroupVersion / CreateNodegroup). A template that names its own AMI cannot take a version:
# envstack's templates never do (the rule would refuse one).
@stack_rule("eks-node-group-version",
            "Every managed node group must name its cluster's Kubernetes version.", deployability=True,
            source="pulumi-eks `nodegroup.ts`; EKS user guide, Update a managed node group")
def node_group_version(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    clusters = _clusters(resources)
    for group in of_type(resources, MANAGED_NODE_GROUP, NODE_GROUP):
        version, cluster = known(group.props, "version"), _node_group_cluster(group, clusters)
        cluster_version = known(cluster.props, "version") if cluster else None
        unset = "version" not in set(iter(group.props))  # an unknown value (an output) is set
        # Without a launch template the pulumi-eks component fills in the cluster's version itself.
        defaulted = group.resource_type == MANAGED_NODE_GROUP and known(group.props, "launchTemplate") is None
        if unset and not defaulted:
            yield (f"node group {group.name} names no Kubernetes version: with a launch template it stays on its "
                   "creation version when the cluster is upgraded", group.urn)
        elif version is not None and cluster_version is not None and str(version) != str(cluster_version):
            yield (f"node group {group.name} runs Kubernetes {version}, its cluster {cluster_version}", group.urn)
