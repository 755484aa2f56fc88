"""EKS: both the pulumi-eks component inputs (`eks:index:*`, what mocks show) and the AWS children a real preview
shows (`aws:eks/cluster:Cluster`, `aws:eks/nodeGroup:NodeGroup`, `aws:ec2/launchTemplate:LaunchTemplate`)."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Resource, as_list, resource_rule, truthy

COMPONENT = "eks:index:Cluster"
CLUSTER = "aws:eks/cluster:Cluster"
CLUSTERS = (COMPONENT, CLUSTER)
MANAGED_NODE_GROUP = "eks:index:ManagedNodeGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
OPEN = ("0.0.0.0/0", "::/0")
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def _endpoint(r: Resource, prop: str, default: bool) -> bool:
    """endpointPublicAccess / endpointPrivateAccess with the AWS defaults (public on, private off)."""
    value = r.get(prop) if r.type == COMPONENT else r.get("vpcConfig", prop)
    return default if value is None else truthy(value)


@resource_rule("eks-private-endpoint", "The EKS API server must have its private endpoint enabled.", CLUSTERS,
               checkov="CKV_AWS_39")
def private_endpoint(r: Resource) -> Iterator[str]:
    if not _endpoint(r, "endpointPrivateAccess", False):
        yield "endpointPrivateAccess is not true: nodes reach the API server over the internet"


@resource_rule("eks-public-endpoint-restricted",
               "The EKS public endpoint must be off, or limited to listed CIDRs other than 0.0.0.0/0.", CLUSTERS,
               severity=Severity.CRITICAL, checkov="CKV_AWS_38",
               options={"allowPublicEndpoint": {"type": "boolean", "default": True}})
def public_endpoint(r: Resource) -> Iterator[str]:
    if not _endpoint(r, "endpointPublicAccess", True):
        return
    if not r.cfg["allowPublicEndpoint"]:
        yield "endpointPublicAccess is true; this environment requires a private-only API server"
        return
    cidrs = as_list(r.get("publicAccessCidrs") if r.type == COMPONENT else r.get("vpcConfig", "publicAccessCidrs"))
    if not cidrs or any(c in OPEN for c in cidrs):
        yield "endpointPublicAccess is true and publicAccessCidrs is empty or includes 0.0.0.0/0"


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


@resource_rule("launch-template-ebs-encrypted", "Node volumes must be encrypted.",
               [LAUNCH_TEMPLATE, MANAGED_NODE_GROUP, NODE_GROUP, COMPONENT], checkov="CKV_AWS_8")
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
