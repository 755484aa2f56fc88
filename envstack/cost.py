"""The estimated monthly cost of a synthesized stack, priced from envstack/prices.yaml.

Each AWS resource type that costs money has one pricing function in PRICED; types that cost nothing by
themselves are listed in FREE. A type in neither list is reported as unpriced (and fails tests/test_cost.py), so
a new resource can never quietly drop out of the estimate. Usage-based charges (NAT data, log ingestion, LCUs,
WAF requests, S3 storage) use the modest assumptions written next to their prices.
"""

import argparse
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .report import top_components
from .synth import ResourceRecord, Synthesis

PRICES_FILE = Path(__file__).with_name("prices.yaml")
BUDGET = "aws:budgets/budget:Budget"
# What each committed stack is designed to cost at most (USD/month). The seed budgets (100/500/2000) are the
# profiles' monthlyBudgetUsd; dev cannot meet 100 with an EKS control plane ($73) and a NAT gateway ($33).
DESIGN_TARGETS_USD = {"dev": 250.0, "staging": 600.0, "prod": 2000.0}
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


@dataclass(frozen=True)
class Prices:
    region: str
    as_of: str
    hours_per_month: float
    entries: Mapping[str, Mapping[str, Any]]

    def usd(self, key: str, *path: str) -> float:
        """The price of `key` (for tables: of the item at `path`); KeyError names what is missing."""
        value: Any = self.entries[key]["usd"]
        for part in path:
            if part not in value:
                raise KeyError(f"prices.yaml {key}: no price for {'/'.join(path)}")
            value = value[part]
        return float(value)

    def monthly(self, key: str, *path: str) -> float:
        """An hourly price, for a month."""
        return self.usd(key, *path) * self.hours_per_month

    def assumed(self, key: str) -> float:
        """The usage assumption written next to a usage-based price."""
        return float(next(v for k, v in self.entries[key].items() if k.startswith("assumed_")))


@cache
def load_prices(path: Path = PRICES_FILE) -> Prices:
    data = yaml.safe_load(path.read_text())
    return Prices(data["region"], str(data["as_of"]), float(data["hours_per_month"]), data["prices"])


@dataclass(frozen=True)
class LineItem:
    component: str
    resource: str
    type: str
    description: str
    monthly_usd: float


@dataclass(frozen=True)
class CostEstimate:
    stack: str
    items: tuple[LineItem, ...]
    unpriced_types: tuple[str, ...]
    budget_usd: float | None
    prices: Prices

    @property
    def monthly_usd(self) -> float:
        return round(sum(i.monthly_usd for i in self.items), 2)

    @property
    def by_component(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for item in self.items:
            totals[item.component] += item.monthly_usd
        return {name: round(total, 2) for name, total in sorted(totals.items(), key=lambda kv: -kv[1])}

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.monthly_usd > self.budget_usd

    def to_json(self) -> dict[str, Any]:
        return {"monthly_usd": self.monthly_usd, "by_component": self.by_component, "budget_usd": self.budget_usd,
                "prices_as_of": self.prices.as_of, "unpriced_types": list(self.unpriced_types),
                "line_items": [asdict(i) for i in self.items]}


@dataclass(frozen=True)
class Context:
    prices: Prices
    synthesis: Synthesis

    def dependency(self, record: ResourceRecord, type_: str) -> ResourceRecord | None:
        by_urn = self.synthesis.by_urn()
        return next((by_urn[u] for u in record.dependencies if u in by_urn and by_urn[u].type == type_), None)


Charge = tuple[str, float]  # (what, USD per month)
Pricer = Callable[[ResourceRecord, Context], list[Charge]]


def _get(inputs: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    value: Any = inputs
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def _eks_control_plane(r: ResourceRecord, c: Context) -> list[Charge]:
    return [("EKS control plane", c.prices.monthly("eks_cluster"))]


def _node_group(r: ResourceRecord, c: Context) -> list[Charge]:
    """Desired size x the first instance type (spot at the documented discount), plus the nodes' root volumes."""
    nodes = int(_get(r.inputs, "scalingConfig", "desiredSize", default=0))
    instance_type = (_get(r.inputs, "instanceTypes") or ["t3.medium"])[0]
    spot = _get(r.inputs, "capacityType") == "SPOT"
    hourly = c.prices.monthly("ec2_instance", instance_type) * (c.prices.usd("spot_factor") if spot else 1)
    disk = sum(float(_get(m, "ebs", "volumeSize", default=0)) for m in _launch_template_volumes(r, c)) \
        or float(_get(r.inputs, "diskSize", default=20))
    return [(f"{nodes} x {instance_type}{' spot' if spot else ''}", nodes * hourly),
            (f"{nodes} x {disk:g} GB gp3 root volume", nodes * disk * c.prices.usd("ebs_gp3"))]


def _launch_template_volumes(r: ResourceRecord, c: Context) -> list[Mapping[str, Any]]:
    template = c.dependency(r, LAUNCH_TEMPLATE)
    return list(_get(template.inputs, "blockDeviceMappings", default=[])) if template else []


def _rds_instance(r: ResourceRecord, c: Context) -> list[Charge]:
    copies = 2 if r.inputs.get("multiAz") else 1
    klass, storage = r.inputs["instanceClass"], float(r.inputs.get("allocatedStorage", 20))
    charges = [(f"{klass}{' Multi-AZ' if copies == 2 else ''}", copies * c.prices.monthly("rds_instance", klass)),
               (f"{storage:g} GB gp3 x {copies}", copies * storage * c.prices.usd("rds_gp3"))]
    if r.inputs.get("manageMasterUserPassword"):
        charges.append(("RDS-managed master user secret", c.prices.usd("secretsmanager_secret")))
    return charges


def _replication_group(r: ResourceRecord, c: Context) -> list[Charge]:
    node_type, engine = r.inputs["nodeType"], r.inputs.get("engine", "redis")
    nodes = int(r.inputs.get("numCacheClusters") or
                int(r.inputs.get("numNodeGroups", 1)) * (int(r.inputs.get("replicasPerNodeGroup", 0)) + 1))
    return [(f"{nodes} x {node_type} ({engine})", nodes * c.prices.monthly("elasticache_node", engine, node_type))]


def _nat_gateway(r: ResourceRecord, c: Context) -> list[Charge]:
    gb = c.prices.assumed("nat_data")
    return [("NAT gateway", c.prices.monthly("nat_gateway")),
            (f"NAT data processing (assumed {gb:g} GB)", gb * c.prices.usd("nat_data"))]


def _load_balancer(r: ResourceRecord, c: Context) -> list[Charge]:
    lcus = c.prices.assumed("alb_lcu")
    charges = [("ALB", c.prices.monthly("alb")), (f"ALB LCUs (assumed {lcus:g})", lcus * c.prices.monthly("alb_lcu"))]
    if not r.inputs.get("internal"):
        addresses = len(r.inputs.get("subnets") or r.inputs.get("subnetMappings") or [])
        charges.append((f"{addresses} public IPv4 addresses", addresses * c.prices.monthly("public_ipv4")))
    return charges


def _vpc_endpoint(r: ResourceRecord, c: Context) -> list[Charge]:
    if r.inputs.get("vpcEndpointType", "Gateway") == "Gateway":
        return []  # S3 and DynamoDB gateway endpoints are free
    azs = len(r.inputs.get("subnetIds") or [])
    return [(f"interface endpoint in {azs} AZs", azs * c.prices.monthly("vpc_interface_endpoint"))]


def _web_acl(r: ResourceRecord, c: Context) -> list[Charge]:
    rules, millions = len(r.inputs.get("rules") or []), c.prices.assumed("waf_requests")
    return [("WAF web ACL", c.prices.usd("waf_web_acl")), (f"{rules} WAF rules", rules * c.prices.usd("waf_rule")),
            (f"WAF requests (assumed {millions:g} M)", millions * c.prices.usd("waf_requests"))]


def _flat(description: str, key: str, hourly: bool = False) -> Pricer:
    return lambda r, c: [(description, c.prices.monthly(key) if hourly else c.prices.usd(key))]


def _assumed_usage(description: str, key: str) -> Pricer:
    return lambda r, c: [(f"{description} (assumed {c.prices.assumed(key):g})",
                          c.prices.assumed(key) * c.prices.usd(key))]


PRICED: dict[str, Pricer] = {
    "eks:index:Cluster": _eks_control_plane,
    "aws:eks/cluster:Cluster": _eks_control_plane,
    "eks:index:ManagedNodeGroup": _node_group,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2/eip:Eip": _flat("public IPv4 address", "public_ipv4", hourly=True),
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:kms/key:Key": _flat("KMS key", "kms_key"),
    "aws:secretsmanager/secret:Secret": _flat("secret", "secretsmanager_secret"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _flat("alarm", "cloudwatch_alarm"),
    "aws:cloudwatch/dashboard:Dashboard": _flat("dashboard", "cloudwatch_dashboard"),
    "aws:cloudwatch/logGroup:LogGroup": _assumed_usage("log ingestion, GB", "cloudwatch_logs"),
    "aws:s3/bucket:Bucket": _assumed_usage("S3 storage, GB", "s3_standard"),
    "aws:s3/bucketV2:BucketV2": _assumed_usage("S3 storage, GB", "s3_standard"),
    "aws:wafv2/webAcl:WebAcl": _web_acl,
}

# Types that cost nothing by themselves (their cost, if any, is in a priced resource: a launch template's volumes
# in its node group, a flow log's delivery in its log group's ingestion, SNS within the free tier).
FREE: frozenset[str] = frozenset({
    "aws:budgets/budget:Budget",  # budgets without actions are free
    "aws:costexplorer/anomalyMonitor:AnomalyMonitor", "aws:costexplorer/anomalySubscription:AnomalySubscription",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
    "aws:ec2/flowLog:FlowLog", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/networkAcl:NetworkAcl", "aws:ec2/route:Route", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/subnet:Subnet", "aws:ec2/vpc:Vpc",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:eks/addon:Addon", "aws:eks/accessEntry:AccessEntry",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "aws:elasticache/parameterGroup:ParameterGroup", "aws:elasticache/subnetGroup:SubnetGroup",
    "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policy:Policy", "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:kms/alias:Alias",
    "aws:lb/listener:Listener", "aws:lb/targetGroup:TargetGroup", "aws:lb/listenerRule:ListenerRule",
    "aws:autoscaling/attachment:Attachment",  # registers node-group instances in the target group
    "aws:rds/eventSubscription:EventSubscription",  # RDS charges nothing for event notifications (SNS: free tier)
    "aws:rds/parameterGroup:ParameterGroup", "aws:rds/subnetGroup:SubnetGroup",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:secretsmanager/secretVersion:SecretVersion",  # the secret is priced; versions are not
    "aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy", "aws:sns/topicSubscription:TopicSubscription",
    "aws:ssm/parameter:Parameter",  # standard tier
    "aws:wafv2/webAclAssociation:WebAclAssociation",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",  # its volume is priced in the log group
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy",
    "random:index/randomPassword:RandomPassword",  # computed by the engine, nothing in AWS
    # Kubernetes objects run on the priced nodes. (A Service of type LoadBalancer would create a billed NLB:
    # it is deliberately absent, so adding one shows up as unpriced.)
    "kubernetes:core/v1:Namespace", "kubernetes:core/v1:LimitRange", "kubernetes:core/v1:ResourceQuota",
    "kubernetes:core/v1:ServiceAccount", "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
    "kubernetes:storage.k8s.io/v1:StorageClass",  # the class is free; the EBS volumes claimed through it are usage
})
FREE_PREFIXES = ("pulumi:providers:",)  # provider configurations are not cloud resources


def _component(record: ResourceRecord) -> bool:
    """envstack's own component resources: groupings, priced through their children."""
    return not record.custom and record.type.startswith("envstack:")


def unpriced(record: ResourceRecord) -> bool:
    return not (_component(record) or record.type in PRICED or record.type in FREE
                or record.type.startswith(FREE_PREFIXES))


def budget_of(synthesis: Synthesis) -> float | None:
    budgets = [float(b.inputs["limitAmount"]) for b in synthesis.of_type(BUDGET) if "limitAmount" in b.inputs]
    return sum(budgets) if budgets else None


def estimate(synthesis: Synthesis, prices: Prices | None = None) -> CostEstimate:
    context = Context(prices or load_prices(), synthesis)
    owner = top_components(synthesis)
    items: list[LineItem] = []
    missing = {r.type for r in synthesis.resources if unpriced(r)}
    for r in synthesis.resources:
        try:
            charges = PRICED[r.type](r, context) if r.type in PRICED else []
        except KeyError as error:  # a class or node type the table lacks
            missing.add(f"{r.type} ({error.args[0]})")
            continue
        items += [LineItem(owner[r.urn], r.name, r.type, what, round(usd, 2)) for what, usd in charges if usd]
    return CostEstimate(synthesis.stack, tuple(items), tuple(sorted(missing)), budget_of(synthesis), context.prices)


def render(cost: CostEstimate) -> str:
    p = cost.prices
    lines = [f"estimated monthly cost ({p.region} on-demand prices as of {p.as_of}, {p.hours_per_month:g} h/month)"]
    lines += [f"    {name:<24} ${usd:>10,.2f}" for name, usd in cost.by_component.items()]
    budget = f"   budget ${cost.budget_usd:,.2f}" if cost.budget_usd is not None else "   no budget"
    lines.append(f"    {'total':<24} ${cost.monthly_usd:>10,.2f}{budget}")
    if cost.over_budget:
        lines.append(f"WARNING: the estimate (${cost.monthly_usd:,.2f}) exceeds the stack's monthly budget "
                     f"(${cost.budget_usd:,.2f}, envstack:monitoring.monthlyBudgetUsd)")
    if cost.unpriced_types:
        lines.append("WARNING: not in the price table and not known to be free (add them to envstack/cost.py): "
                     + ", ".join(cost.unpriced_types))
    return "\n".join(lines)


def section(synthesis: Synthesis, args: argparse.Namespace) -> tuple[str, object, int]:
    """The `envstack synth` cost section: informational, never changes the exit code."""
    cost = estimate(synthesis)
    print("\n" + render(cost))
    return "cost", cost.to_json(), 0
