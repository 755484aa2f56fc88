"""The whole typed configuration of one stack: its environment's profile plus the stack file's overrides."""

import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from .base import Model, matches
from .cache import CacheConfig
from .cluster import ClusterConfig, pinned_addon_versions
from .database import DatabaseConfig
from .errors import MISSING, Problem
from .load_balancer import LoadBalancerConfig
from .monitoring import MonitoringConfig
from .network import NetworkConfig
from .profiles import environments, expected_environment
from .regions import check_region, partition_of
from .usage import UsageConfig

PolicyLevel = Literal["advisory", "mandatory", "remediate", "disabled"]

_ACCOUNT_ID = re.compile(r"^\d{12}$")


def _account_id_number(value: Any) -> Any:
    """`pulumi config set --path 'envstack:allowedAccountIds[0]' 123456789012` writes a number: take it when it has
    12 digits. YAML drops leading zeros from an unquoted number (and reads 0-7 digits after a 0 as octal), so any
    other number cannot be meant as written."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if len(str(value)) == 12:
            return str(value)
        raise ValueError(f"expected a 12-digit AWS account id: unquoted, YAML reads it as the number {value} (leading "
                         "zeros dropped, a leading 0 read as octal); quote it, e.g. '012345678901'")
    return value


AccountId = Annotated[str, BeforeValidator(_account_id_number),
                      AfterValidator(matches(_ACCOUNT_ID, "a 12-digit AWS account id such as '123456789012'"))]
PolicyArn = Annotated[str, AfterValidator(matches(
    r"^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,512}$",
    "an IAM managed policy ARN such as arn:aws:iam::123456789012:policy/envstack-bootstrap/envstack-deploy-boundary"))]
# Physical names derive from the stack name: `envstack-<stack>-valkey` must fit ElastiCache's 40-character
# replication group ids and `envstack-<stack>-postgres` RDS's rules (no "--", no trailing hyphen).
_STACK_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}$")
StackName = Annotated[str, AfterValidator(matches(
    _STACK_NAME, "a Pulumi stack name of lowercase letters, digits and single hyphens, starting with a letter, at most "
    "20 characters (RDS and ElastiCache names are built from it)"))]


class StackConfig(Model):
    """Everything under `envstack:` (plus `aws:region`), after the profile's defaults are applied."""

    stack: StackName
    project: str = "envstack"
    region: str
    """The stack's AWS region (`aws:region`, in the stack file or `Pulumi.yaml`): a region botocore knows, in a
    partition with every service a stack creates (aws, aws-cn: AWS GovCloud (US) has no AWS Budgets or Cost
    Explorer). Its partition's ARNs and service principals are used throughout (`arn:aws-cn:`, `ec2.amazonaws.com.cn`),
    and every ARN the stack file names must be of that partition."""
    environment: str
    """The environment whose profile (`envstack/program/profiles/<environment>.yaml`) gives the defaults and
    guardrails."""
    owner: str = Field(min_length=1)
    """Who owns the stack (a team address): the `Owner` tag."""
    team: str = Field(min_length=1)
    """The team that runs it: the `Team` tag."""
    repository: str = Field(min_length=1)
    """Where its code lives: the `Repository` tag."""
    allowed_account_ids: tuple[AccountId, ...]
    """The only AWS accounts the provider may touch (quote each id); empty: any. Staging and prod require it."""
    protect_stateful_resources: bool  # `protect` on data stores, KMS keys and log buckets
    """`protect` on the data stores, KMS keys and log buckets: Pulumi refuses to delete them."""
    permissions_boundary_arn: PolicyArn | None
    """The IAM managed policy every IAM role the stack makes carries as its permissions boundary: the account's
    `envstack-deploy-boundary` when CI's deploy role comes from bootstrap (its `stackSettings` output), whose
    CreateRole is allowed only with that boundary."""
    network: NetworkConfig
    monitoring: MonitoringConfig
    database: DatabaseConfig
    cache: CacheConfig
    load_balancer: LoadBalancerConfig
    cluster: ClusterConfig
    usage: UsageConfig  # what the cost estimate prices usage by (envstack/program/config/usage.py)
    policy: dict[str, PolicyLevel | dict[str, Any]]
    """This stack's tightening of its environment's policy configuration (`policies/<environment>.json`), in the
    same format: a rule's stricter level or options, `all` as a floor for every rule; anything that would relax the
    environment's is refused (docs/policies.md, "Per-stack tightening")."""

    @field_validator("environment")
    @classmethod
    def _environment_has_a_profile(cls, environment: str) -> str:
        if environment not in environments():
            raise ValueError(expected_environment())
        return environment

    @field_validator("region")
    @classmethod
    def _region_exists(cls, region: str) -> str:
        return check_region(region)

    def rules(self) -> list[Callable[[], Iterable[Problem]]]:
        """Rules across keys that a field error cannot phrase: a value required by another, a cross-area need.
        Each runs on its own, so the loader can skip one that reads an area with errors of its own."""
        return [self._public_endpoint_needs_cidrs, self._private_endpoint_needs_cidrs, self._api_cidrs_routed,
                self._one_access_entry_per_role, self._addons_pinned, self._autoscaler_release, self._nodes_need_nat,
                self._arns_in_the_stacks_partition]

    def _arns_in_the_stacks_partition(self) -> Iterable[Problem]:
        # IAM, EKS and ELB take a principal, boundary or certificate of the caller's partition only
        # (arn:aws-cn:... in the China regions): one of another partition is refused when it is used.
        partition = partition_of(self.region).name
        arns: dict[str, str | None] = {f"cluster.{key}" + (f"[{i}]" if key != "deployerRoleArn" else ""): arn
                for key, values in self.cluster.access_entry_roles.items() for i, arn in enumerate(values)}
        arns |= {"permissionsBoundaryArn": self.permissions_boundary_arn,
                 "loadBalancer.certificateArn": self.load_balancer.certificate_arn}
        for key, arn in arns.items():
            if arn and arn.split(":")[1] != partition:
                yield Problem(f"envstack:{key}", arn, f"an ARN of the stack's partition, arn:{partition}:... (the "
                                                      f"partition of {self.region})")

    def problems(self) -> list[Problem]:
        return [problem for rule in self.rules() for problem in rule()]

    def _public_endpoint_needs_cidrs(self) -> Iterable[Problem]:
        # EKS reads an empty list as 0.0.0.0/0, so a public endpoint names its CIDRs in the stack file.
        if self.cluster.endpoint_public_access and not self.cluster.public_access_cidrs:
            yield Problem("envstack:cluster.publicAccessCidrs", MISSING,
                          "required when endpointPublicAccess is true (the office / VPN egress CIDRs; EKS would "
                          "otherwise open the API to the whole internet), or set endpointPublicAccess: false")

    def _private_endpoint_needs_cidrs(self) -> Iterable[Problem]:
        # The private endpoint answers only what the cluster security group admits on 443; with no public endpoint
        # and no such rule, `pulumi up` cannot reach the API and every baseline object times out.
        if not self.cluster.endpoint_public_access and not self.cluster.api_access_cidrs:
            yield Problem("envstack:cluster.apiAccessCidrs", MISSING,
                          "required when endpointPublicAccess is false: the private CIDRs of the runner or VPN that "
                          "runs `pulumi up` (in or routed to the VPC), or set endpointPublicAccess: true")

    def _api_cidrs_routed(self) -> Iterable[Problem]:
        # The private endpoint's network interfaces sit in the VPC: a runner elsewhere reaches them only through a
        # route the VPC knows back to it. envstack makes the VPC in the same `up`, so the only routes there are the
        # VPC's own range and network.transitGateway's; without them every AWS resource is created and then every
        # Kubernetes object times out.
        if self.cluster.endpoint_public_access:
            return
        unreached = [str(c) for c in self.cluster.api_access_cidrs if not self.network.reaches(c)]
        if unreached:
            routed = ", ".join(str(c) for c in self.network.transit_gateway.cidrs) if self.network.transit_gateway \
                else "none: network.transitGateway is not set"
            yield Problem("envstack:cluster.apiAccessCidrs", unreached,
                          f"CIDRs the private endpoint can answer: inside the VPC ({self.network.cidr}) or routed "
                          f"through envstack:network.transitGateway.cidrs ({routed}); set network.transitGateway "
                          "{id, cidrs} to the transit gateway of the runner / VPN network (docs/delivery.md, "
                          "\"Prod's first deploy\")")

    def _one_access_entry_per_role(self) -> Iterable[Problem]:
        # EKS allows one access entry per principal: a second one fails with 409 ResourceInUseException.
        seen: dict[str, str] = {}
        for key, arns in self.cluster.access_entry_roles.items():
            for arn in arns:
                if arn.casefold() in seen:
                    yield Problem(f"envstack:cluster.{key}", arn,
                                  f"a role listed once: it is already in {seen[arn.casefold()]}, and EKS gives a role "
                                  "one access entry (a second fails with 409 ResourceInUseException)")
                seen.setdefault(arn.casefold(), key)

    def _addons_pinned(self) -> Iterable[Problem]:
        # An unpinned add-on would get whatever EKS defaults to, and could not be checked by a preflight.
        unset = self.cluster.addon_versions.unset
        if unset:
            pinned = ", ".join(pinned_addon_versions()) or "none"
            yield Problem("envstack:cluster.version", self.cluster.version,
                          "a Kubernetes version with pinned add-on versions: "
                          f"envstack/program/addon_versions.yaml pins "
                          f"{pinned}, and envstack:cluster.addonVersions does not set {', '.join(unset)}; add the "
                          "version's pins to the file (docs/running.md, 'Add-on versions')")
        # kube-proxy is built per Kubernetes minor: EKS offers only vX.Y.* for a cluster on X.Y.
        kube_proxy = self.cluster.addon_versions.kube_proxy
        if kube_proxy and not kube_proxy.startswith(f"v{self.cluster.version}."):
            yield Problem("envstack:cluster.addonVersions.kubeProxy", kube_proxy,
                          "a kube-proxy version of the cluster's Kubernetes minor "
                          f"(v{self.cluster.version}.x-eksbuild.N)")

    def _autoscaler_release(self) -> Iterable[Problem]:
        # Cluster Autoscaler is released per Kubernetes minor: "We recommend using Cluster Autoscaler with the
        # Kubernetes control plane version for which it was meant" (kubernetes/autoscaler cluster-autoscaler/README.md,
        # Releases); images registry.k8s.io/autoscaling/cluster-autoscaler:v1.<minor>.<patch>.
        autoscaler, version = self.cluster.autoscaler, self.cluster.version
        if not autoscaler.enabled:
            return
        if autoscaler.version is None:
            yield Problem("envstack:cluster.autoscaler.version", MISSING,
                          f"the Cluster Autoscaler release for Kubernetes {version} (v{version}.<patch>): "
                          "envstack/program/addon_versions.yaml pins none for it (clusterAutoscaler); add it there")
        elif not autoscaler.version.startswith(f"v{version}."):
            yield Problem("envstack:cluster.autoscaler.version", autoscaler.version,
                          f"a release of the cluster's Kubernetes minor (v{version}.<patch>): each Cluster "
                          "Autoscaler minor is built for that Kubernetes minor")

    def _nodes_need_nat(self) -> Iterable[Problem]:
        # Nodes in the private subnets reach EC2, EKS and the image registries through NAT: the interface endpoints
        # cover only what the workloads call.
        if self.network.nat_gateways == "none" and self.cluster.node_groups:
            yield Problem("envstack:network.natGateways", self.network.nat_gateways,
                          "'single' or 'perAz' while cluster.nodeGroups is not empty: EKS nodes in the private "
                          "subnets cannot pull images or join the cluster without NAT")

    @property
    def name_prefix(self) -> str:
        """Prefix for physical names: unique per project and stack."""
        return f"{self.project}-{self.stack}"

    @property
    def tags(self) -> dict[str, str]:
        """Default tags for every taggable resource. Nothing here changes from one deploy to the next."""
        return {
            "Project": self.project,
            "Environment": self.environment,
            "Stack": self.stack,
            "ManagedBy": "pulumi",
            "Owner": self.owner,
            "Team": self.team,
            "Repository": self.repository,
        }
