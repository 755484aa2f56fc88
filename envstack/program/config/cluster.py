"""envstack:cluster — the EKS control plane, its managed node groups and add-ons, and the cluster baseline."""

import re
from functools import cache
from ipaddress import IPv4Network
from typing import Annotated, Any, Literal, Self, get_args

import yaml
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from ..paths import ADDON_VERSIONS_FILE
from .base import Cidr, Model, deep_merge, matches
from .sizes import ec2_instance_type

LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
LOG_TYPES: tuple[LogType, ...] = get_args(LogType)  # every control-plane log type EKS has
PodSecurityLevel = Literal["privileged", "baseline", "restricted"]

_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_VERSION = re.compile(r"^1\.\d{2}$")
_ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^(\d+(\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
# Documentation ranges (RFC 5737): placeholders that reach no one, so never a real access list.
DOCUMENTATION_RANGES = tuple(IPv4Network(c) for c in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
# Where a runner or VPN inside (or peered with) the VPC can come from: RFC 1918 and shared (RFC 6598) space.
PRIVATE_RANGES = tuple(IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
# Graviton families have a "g" right after the generation ("m7g", "c7gn", "t4g", "im4gn"); "a1" is the first.
_GRAVITON_FAMILY = re.compile(r"^([a-z]+\d+g[a-z]*|a1)$")
ARM_AMI = "AL2023_ARM_64_STANDARD"
_SCALE = {None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


def quantity(text: str) -> float:
    """A Kubernetes resource quantity ("500m", "2", "512Mi") as a number, for comparisons."""
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"expected a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi, got {text!r}")
    return float(match.group(1)) * _SCALE[match.group(3)]


def graviton(instance_type: str) -> bool:
    """'m7g.large' -> True, 'm7i.large' -> False."""
    return bool(_GRAVITON_FAMILY.match(instance_type.split(".")[0]))


def _within(cidrs: tuple[IPv4Network, ...], ranges: tuple[IPv4Network, ...], inside: bool = True) -> list[str]:
    """The CIDRs that lie inside one of `ranges` (or, with inside=False, those that do not)."""
    return [str(c) for c in cidrs if any(c.subnet_of(r) for r in ranges) == inside]


def _not_service_linked(arn: str) -> str:
    """EKS refuses an access entry for a service-linked role (CreateAccessEntry: "The caller is not allowed to modify
    access entries with a principalArn value of a Service Linked Role", hashicorp/terraform-provider-aws#36447)."""
    if ":role/aws-service-role/" in arn:
        raise ValueError("a service-linked role (role/aws-service-role/...): EKS gives those no access entry; "
                         "name a role of your own")
    return arn


# IAM Identity Center makes its roles (AWSReservedSSO_<permission set>_<id>) under the path
# aws-reserved/sso.amazonaws.com/ (with a region after it for some). EKS takes an access entry's principal by its full
# ARN and refuses one without that path ("The specified principalArn is invalid: invalid principal",
# terraform-aws-eks#2969; aws/containers-roadmap#185: unlike the aws-auth ConfigMap, keep the path).
IDENTITY_CENTER_ROLE, IDENTITY_CENTER_PATH = "AWSReservedSSO_", "aws-reserved/sso.amazonaws.com/"


def _identity_center_path(arn: str) -> str:
    path, _, name = arn.split(":role/", 1)[1].rpartition("/")
    if name.startswith(IDENTITY_CENTER_ROLE) and not f"{path}/".startswith(IDENTITY_CENTER_PATH):
        raise ValueError(f"expected the role's full ARN, path included: an IAM Identity Center role lives under "
                         f"role/{IDENTITY_CENTER_PATH}[<region>/]{name} (copy its ARN from the IAM console), and EKS "
                         "refuses an access entry without the path")
    return arn


# Checked one by one, so a problem names the element: envstack:cluster.adminRoleArns[1].
RoleArn = Annotated[str, AfterValidator(matches(_ROLE_ARN, "an IAM role ARN such as "
                                                           "arn:aws:iam::123456789012:role/platform-admin")),
                    AfterValidator(_not_service_linked), AfterValidator(_identity_center_path)]
InstanceType = Annotated[str, AfterValidator(matches(_INSTANCE_TYPE, "an EC2 instance type such as m7i.large")),
                         AfterValidator(ec2_instance_type)]
LabelKey = Annotated[str, AfterValidator(matches(_LABEL_KEY, "a Kubernetes label key such as workload or "
                                                             "example.com/tier"))]
Namespace = Annotated[str, AfterValidator(matches(_DNS_LABEL, "a lowercase DNS label such as app"))]
NodeGroupName = Annotated[str, AfterValidator(matches(r"^[a-z][a-z0-9-]{0,19}$", "a short lowercase node group "
                                                                                 "name (at most 20 characters)"))]


class NodeGroupDefaults(Model):
    """What every node group takes unless it sets it itself (`cluster.nodeGroupDefaults`, as terraform-aws-eks's
    eks_managed_node_group_defaults): also what a group a stack file adds gets."""

    capacity_type: Literal["ON_DEMAND", "SPOT"]
    """On-demand or spot instances (SPOT needs at least 2 instance types)."""
    ami_type: Literal["AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD"]
    """Amazon Linux 2023 for x86 or for Graviton (arm64): the instance types must match it."""
    disk_size_gib: int = Field(ge=20, le=1000)
    """The encrypted gp3 root volume of each node (GiB)."""
    max_unavailable: int = Field(ge=1, le=100)
    """Nodes replaced at once during an update."""
    labels: dict[LabelKey, str]
    """Kubernetes labels on the group's nodes."""


class NodeGroupConfig(NodeGroupDefaults):
    """One managed node group, laid over `nodeGroupDefaults`. SPOT groups should list several instance types of the
    same size."""

    instance_types: tuple[InstanceType, ...] = Field(min_length=1)
    """EC2 instance types, e.g. `m7i.large`; a SPOT group several of the same size."""
    min_size: int = Field(ge=0, le=100)
    """The autoscaling minimum."""
    max_size: int = Field(ge=1, le=100)
    """The autoscaling maximum."""
    desired_size: int = Field(ge=0, le=100)
    """Nodes at creation (`minSize` ≤ it ≤ `maxSize`); afterwards the cluster autoscaler owns it."""

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, types: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.data.get("capacity_type") == "SPOT" and len(types) < 2:
            raise ValueError("a SPOT group needs at least 2 instance types, so one reclaimed type does not "
                             "empty the group")
        ami_type = info.data.get("ami_type")
        wrong = [t for t in types if ami_type and graviton(t) != (ami_type == ARM_AMI)]
        if wrong:
            raise ValueError(f"instance types of amiType {ami_type}'s architecture ({ARM_AMI} runs Graviton "
                             f"families only: m7g, c7gn, t4g...; AL2023_x86_64_STANDARD the others): {wrong} do not "
                             "match; change amiType or the instance types")
        return types

    @field_validator("desired_size")
    @classmethod
    def _between_min_and_max(cls, desired: int, info: ValidationInfo) -> int:
        low, high = info.data.get("min_size"), info.data.get("max_size")
        if low is not None and high is not None and not low <= desired <= high:
            raise ValueError(f"expected minSize <= desiredSize <= maxSize, got {low} <= {desired} <= {high}")
        return desired




AddonVersion = Annotated[str, AfterValidator(matches(_ADDON_VERSION, "an EKS add-on version such as "
                                                                     "v1.13.2-eksbuild.1"))]


class AddonVersions(Model):
    """Managed add-on versions for the cluster's Kubernetes version: the pins of envstack/program/addon_versions.yaml
    under the stack file's overrides. One left unset means the version has no pins (StackConfig.problems)."""

    vpc_cni: AddonVersion | None = None
    """vpc-cni's version (`vX.Y.Z-eksbuild.N`); default: the pin for `version` in
    `envstack/program/addon_versions.yaml`."""
    coredns: AddonVersion | None = None
    """coredns's version; default: the pin for `version`."""
    kube_proxy: AddonVersion | None = None
    """kube-proxy's version, of the cluster's Kubernetes minor; default: the pin for `version`."""
    pod_identity_agent: AddonVersion | None = None
    """eks-pod-identity-agent's version; default: the pin for `version`."""
    ebs_csi_driver: AddonVersion | None = None
    """aws-ebs-csi-driver's version; default: the pin for `version`."""

    def by_addon_name(self) -> dict[str, str]:
        versions = {"vpc-cni": self.vpc_cni, "coredns": self.coredns, "kube-proxy": self.kube_proxy,
                    "eks-pod-identity-agent": self.pod_identity_agent, "aws-ebs-csi-driver": self.ebs_csi_driver}
        return {name: version for name, version in versions.items() if version is not None}

    @property
    def unset(self) -> list[str]:
        """The configuration keys (camelCase) of the add-ons with no version."""
        return [field.alias or name for name, field in type(self).model_fields.items() if getattr(self, name) is None]


@cache
def pinned_addon_versions() -> dict[str, dict[str, str]]:
    """envstack/program/addon_versions.yaml: Kubernetes minor version -> add-on (configuration key) -> version."""
    return yaml.safe_load(ADDON_VERSIONS_FILE.read_text(encoding="utf-8")) or {}


AUTOSCALER_PIN = "clusterAutoscaler"  # in addon_versions.yaml beside the EKS add-ons: not one of them


def version_pins(version: str) -> dict[str, Any]:
    """What addon_versions.yaml pins for a Kubernetes minor version, as `envstack:cluster` keys: the EKS add-ons
    under `addonVersions`, the Cluster Autoscaler's release under `autoscaler.version`."""
    pins = dict(pinned_addon_versions().get(version, {}))
    autoscaler = pins.pop(AUTOSCALER_PIN, None)
    return {"addonVersions": pins, **({"autoscaler": {"version": autoscaler}} if autoscaler else {})}


_AUTOSCALER_VERSION = re.compile(r"^v1\.(\d+)\.(\d+)$")


class AutoscalerConfig(Model):
    """The Kubernetes Cluster Autoscaler: nodes for pods that cannot be scheduled, fewer nodes when they idle, each
    node group kept within its `minSize` and `maxSize`."""

    enabled: bool
    """Install it. Without it `desiredSize` is the node count `pulumi up` keeps; with it, the initial count."""
    version: Annotated[str, AfterValidator(matches(_AUTOSCALER_VERSION, "a Cluster Autoscaler release such as "
                                                                        "v1.35.2"))] | None
    """Its release (`v1.35.2`), of the cluster's Kubernetes minor: the `clusterAutoscaler` pin of `version` in
    envstack/program/addon_versions.yaml unless set here."""


class PodSecurityConfig(Model):
    """Pod Security Admission levels of the application namespaces."""

    enforce: PodSecurityLevel
    """The Pod Security Admission level enforced in the application namespaces."""
    warn: PodSecurityLevel
    """The level that warns."""
    audit: PodSecurityLevel
    """The level that audits."""


class QuotaConfig(Model):
    """The ResourceQuota of each application namespace."""

    requests_cpu: str
    """The namespace's total CPU requests (a Kubernetes quantity)."""
    requests_memory: str
    """The namespace's total memory requests."""
    limits_cpu: str
    """The namespace's total CPU limits."""
    limits_memory: str
    """The namespace's total memory limits."""
    pods: int = Field(ge=1)
    """Pods in the namespace (no LoadBalancer Services, one NodePort Service besides)."""

    @field_validator("requests_cpu", "requests_memory", "limits_cpu", "limits_memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        quantity(value)
        return value


class ContainerLimitsConfig(Model):
    """The LimitRange of each application namespace: per-container defaults and maximum."""

    default_request_cpu: str
    """A container's CPU request when it names none (≤ `defaultLimitCpu`)."""
    default_request_memory: str
    """A container's memory request when it names none (≤ `defaultLimitMemory`)."""
    default_limit_cpu: str
    """A container's CPU limit when it names none (≤ `maxCpu`)."""
    default_limit_memory: str
    """A container's memory limit when it names none (≤ `maxMemory`)."""
    max_cpu: str
    """The most CPU a container may ask."""
    max_memory: str
    """The most memory a container may ask."""

    @field_validator("*")
    @classmethod
    def _quantity(cls, value: str) -> str:
        quantity(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for resource in ("cpu", "memory"):
            request, limit, maximum = (getattr(self, f"{p}_{resource}") for p in
                                       ("default_request", "default_limit", "max"))
            if not quantity(request) <= quantity(limit) <= quantity(maximum):
                raise ValueError(f"expected defaultRequest <= defaultLimit <= max for {resource}, "
                                 f"got {request}, {limit}, {maximum}")
        return self


class BaselineConfig(Model):
    namespaces: tuple[Namespace, ...] = Field(min_length=1)
    """Application namespaces (not `default` or `kube-*`): each gets Pod Security labels, default-deny
    NetworkPolicies, an `app` ServiceAccount, RBAC, a quota and limits."""
    app_port: int = Field(ge=1024, le=65535)  # the container port the load balancer reaches
    """The container port the load balancer reaches through the NodePort."""
    pod_security: PodSecurityConfig
    """Pod Security Admission levels."""
    quota: QuotaConfig
    """Each application namespace's ResourceQuota."""
    container_limits: ContainerLimitsConfig
    """Each application namespace's LimitRange per container."""
    # Where pods may open HTTPS connections (STS, Secrets Manager, ECR...); () means no such egress.
    https_egress_cidrs: tuple[Cidr, ...]
    """IPv4 CIDRs pods may reach on TCP 443 (`allow-https-egress`), beyond the VPC CIDR that is allowed whenever
    `network.interfaceEndpoints` is not empty; `[]` with no endpoints drops the policy."""

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        reserved = [n for n in names if n in ("default", "kube-system", "kube-public", "kube-node-lease")
                    or n.startswith("kube-")]
        if reserved:
            raise ValueError(f"expected application namespaces, not the system namespaces {reserved}")
        return names


class ClusterConfig(Model):
    version: Annotated[str, AfterValidator(matches(_VERSION, 'a Kubernetes minor version as a string, such as "1.35"'))]
    """The Kubernetes minor version, as a string (`"1.35"`); the node groups follow it."""
    upgrade_policy: Literal["STANDARD", "EXTENDED"]
    """EKS standard or extended support (extended costs $0.50 per cluster-hour more once the version leaves standard
    support)."""
    endpoint_public_access: bool
    """A public API endpoint besides the private one."""
    public_access_cidrs: tuple[Cidr, ...]  # required when endpointPublicAccess (StackConfig.problems)
    """Who may reach the public endpoint (stack file): required while it is on; documentation ranges and 0.0.0.0/0
    are refused."""
    api_access_cidrs: tuple[Cidr, ...]  # private networks that reach the private endpoint on 443
    """Private CIDRs (self-hosted runners, a VPN) allowed to the private endpoint on 443; required when
    `endpointPublicAccess` is false."""
    deployer_role_arn: RoleArn | None
    """The IAM role `pulumi up` runs as (stack file): a cluster-admin access entry (it applies the baseline), and
    EKS's implicit admin entry for the cluster's creator turned off. Required where the profile's guardrails say so
    (`requireDeployerRoleArn`: staging, prod); without it the creator keeps EKS's implicit entry, and no other key
    may list the creator's role (EKS would refuse a second entry: preflight's `deployer` check)."""
    admin_role_arns: tuple[RoleArn, ...]
    """Platform administrators' roles: cluster-admin access entries."""
    ci_deployer_role_arns: tuple[RoleArn, ...]
    """Application pipelines' roles: the `envstack:ci-deployers` group, namespaced RBAC only. A role appears in one
    of these keys only; full ARNs, path included; never a service-linked role."""
    viewer_role_arns: tuple[RoleArn, ...]
    """Read-only roles (CI's preview and reader roles): `AmazonEKSAdminViewPolicy`, so preview and refresh read the
    baseline's Kubernetes objects."""
    log_types: tuple[LogType, ...]
    """Control-plane log types sent to CloudWatch."""
    deletion_protection: bool
    """EKS refuses to delete the cluster."""
    node_group_defaults: NodeGroupDefaults
    """What every node group takes unless it sets it itself, a group a stack file adds included."""
    node_groups: dict[NodeGroupName, NodeGroupConfig] = Field(min_length=1)
    """Managed node groups by name, each laid over `nodeGroupDefaults`."""
    addon_versions: AddonVersions  # addon_versions.yaml by version (_pinned_addons)
    """Per-add-on overrides of the pins for `version`."""
    baseline: BaselineConfig
    """What every application namespace gets."""
    autoscaler: AutoscalerConfig
    """Node autoscaling (Cluster Autoscaler)."""

    @model_validator(mode="before")
    @classmethod
    def _pinned_addons(cls, data: Any) -> Any:
        """The pins of the cluster's version (add-ons, the autoscaler's release), under the stack file's overrides."""
        if not isinstance(data, dict):
            return data
        pins = version_pins(str(data.get("version")))
        given = data.get("addonVersions", data.get("addon_versions")) or {}
        autoscaler = data.get("autoscaler") or {}
        merged = dict(data)
        if isinstance(given, dict):  # anything else is refused by the model, naming the key
            merged.pop("addon_versions", None)
            merged["addonVersions"] = {**pins["addonVersions"], **given}
        if isinstance(autoscaler, dict):  # no pin: None, which StackConfig refuses while it is enabled, saying why
            merged["autoscaler"] = {"version": None, **pins.get("autoscaler", {}), **autoscaler}
        return merged

    @model_validator(mode="before")
    @classmethod
    def _node_group_defaults(cls, data: Any) -> Any:
        """Each node group laid over nodeGroupDefaults (its keys only: a wrong one is reported there, once)."""
        if not isinstance(data, dict):
            return data
        defaults, groups = data.get("nodeGroupDefaults"), data.get("nodeGroups")
        if not isinstance(defaults, dict) or not isinstance(groups, dict):
            return data
        known = {field.alias or name for name, field in NodeGroupDefaults.model_fields.items()}
        shared = {k: v for k, v in defaults.items() if k in known}
        return {**data, "nodeGroups": {name: deep_merge(shared, group) if isinstance(group, dict) else group
                                       for name, group in groups.items()}}

    @property
    def access_entry_roles(self) -> dict[str, tuple[str, ...]]:
        """The role ARNs given an EKS access entry, by configuration key."""
        deployer = (self.deployer_role_arn,) if self.deployer_role_arn else ()
        return {"deployerRoleArn": deployer, "adminRoleArns": self.admin_role_arns,
                "ciDeployerRoleArns": self.ci_deployer_role_arns, "viewerRoleArns": self.viewer_role_arns}

    @field_validator("admin_role_arns", "ci_deployer_role_arns", "viewer_role_arns")
    @classmethod
    def _one_role_per_name(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        # components/cluster.py names each access entry by its role's name (what it is, never its position).
        names = [arn.rsplit("/", 1)[-1] for arn in {arn.casefold(): arn for arn in arns}.values()]
        repeated = sorted({name for name in names if names.count(name) > 1})  # the same role twice: StackConfig
        if repeated:
            raise ValueError(f"expected roles of distinct names: envstack names each access entry after its role, "
                             f"and {repeated} name more than one role (of other accounts or paths)")
        return arns

    @field_validator("public_access_cidrs")
    @classmethod
    def _no_documentation_ranges(cls, cidrs: tuple[IPv4Network, ...]) -> tuple[IPv4Network, ...]:
        placeholders = _within(cidrs, DOCUMENTATION_RANGES)
        if placeholders:
            raise ValueError(f"{placeholders} are documentation ranges (RFC 5737) that reach no one: list the real "
                             "office / VPN egress CIDRs")
        return cidrs

    @field_validator("api_access_cidrs")
    @classmethod
    def _private_networks_only(cls, cidrs: tuple[IPv4Network, ...]) -> tuple[IPv4Network, ...]:
        outside = _within(cidrs, PRIVATE_RANGES, inside=False)
        if outside:
            raise ValueError(f"private CIDRs (inside {', '.join(map(str, PRIVATE_RANGES))}; never 0.0.0.0/0) of "
                             f"runners or VPNs in or peered with the VPC; not private: {outside}")
        return cidrs

    @property
    def on_demand_min_nodes(self) -> int:
        return sum(g.min_size for g in self.node_groups.values() if g.capacity_type == "ON_DEMAND")
