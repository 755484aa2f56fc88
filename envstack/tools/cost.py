"""The estimated monthly cost of a synthesized stack, priced with its region's table in envstack/tools/prices.yaml.

Each AWS resource type that costs money has one pricing function in PRICED; types that cost nothing by
themselves are listed in FREE. A type in neither list, or a size the table cannot price, is listed as unpriced and
marks the estimate incomplete (`make cost` fails), so a resource can never quietly make the estimate cheaper. A
region without a table gets no estimate. Usage-based charges (NAT data, log ingestion, LCUs, WAF requests, S3
storage) use the modest assumptions written next to their items. Pricing functions read figures through
`c.prices` (usd, monthly, assumed), which records every derived (not quoted) figure for the estimate.
"""

import argparse
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .report import top_components
from .synth import ResourceRecord, Synthesis

PRICES_FILE = Path(__file__).with_name("prices.yaml")
PRICES_NAME = "envstack/tools/prices.yaml"
BUDGET = "aws:budgets/budget:Budget"
# What a stack of each environment is designed to cost at most (USD/month). The seed budgets (100/500/2000) are
# the profiles' monthlyBudgetUsd; dev cannot meet 100 with an EKS control plane ($73) and a NAT gateway ($33).
DESIGN_TARGETS_USD = {"dev": 250.0, "staging": 600.0, "prod": 2000.0}
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
# AWS's normalization factors (EC2: "Instance size flexibility", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
# apply_ri.html; RDS: "Size-flexible reserved DB instances"): within a family, on-demand prices are proportional to
# them, so another size of a listed type is priced from it (and listed as derived).
SIZE_UNITS = {"nano": 0.25, "micro": 0.5, "small": 1, "medium": 2, "large": 4, "xlarge": 8, **{
    f"{n}xlarge": 8 * n for n in (2, 3, 4, 6, 8, 9, 10, 12, 16, 18, 24, 32, 48)}}


class MissingPriceError(LookupError):
    """The table has no figure for an item; the message names the file, region, item and type."""


@dataclass(frozen=True)
class Price:
    usd: float
    derived: str | None = None  # how a figure that is not a quote was obtained; None for a quote


def _leaves(value: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], float]:
    if isinstance(value, Mapping):
        return {p: v for k, sub in value.items() for p, v in _leaves(sub, (*path, str(k))).items()}
    return {path: float(value)}


def _resolve(regions: Mapping[str, Any], region: str, key: str) -> dict[tuple[str, ...], Price]:
    """Region `region`'s figures for item `key`: its quotes, then what `ratio` x `of`'s figures derives."""
    entry = regions[region]["prices"].get(key)
    if entry is None:
        return {}
    prices = {path: Price(usd) for path, usd in _leaves(entry.get("usd", {})).items()}
    if "ratio" in entry:
        ratio, base = float(entry["ratio"]), str(entry["of"])
        for path, price in _resolve(regions, base, key).items():
            prices.setdefault(path, Price(round(price.usd * ratio, 5), f"{base} x {ratio:g}"))
    return prices


def _same_family(path: tuple[str, ...], table: Mapping[tuple[str, ...], Price]) -> tuple[str, Price, float] | None:
    """A listed size of `path`'s instance family, its price and the size ratio (db.r7g.2xlarge: db.r7g.large, 4)."""
    family, _, size = path[-1].rpartition(".")
    if not family or size not in SIZE_UNITS:
        return None
    for other, price in table.items():
        other_family, _, other_size = other[-1].rpartition(".")
        if other[:-1] == path[:-1] and other_family == family and other_size in SIZE_UNITS:
            return other[-1], price, SIZE_UNITS[size] / SIZE_UNITS[other_size]
    return None


@dataclass(frozen=True)
class Prices:
    """One region's table: figures by item (and type), usage assumptions, the date the figures were read."""
    region: str
    as_of: str
    hours_per_month: float
    items: Mapping[str, Mapping[str, Any]]
    table: Mapping[str, Mapping[tuple[str, ...], Price]]
    derived_used: set[str] = field(default_factory=set, compare=False)  # "item type: how", for the estimate

    def price(self, key: str, *path: str) -> Price:
        """The figure for `key` (for tables: of the type at `path`); MissingPriceError names what is missing."""
        price = self._lookup(key, *path)
        if price.derived:
            self.derived_used.add(f"{key}{' ' + '/'.join(path) if path else ''}: {price.derived}")
        return price

    def _lookup(self, key: str, *path: str) -> Price:
        table = self.table.get(key, {})
        if path in table:
            return table[path]
        sibling = _same_family(path, table) if path else None
        if sibling is None:
            what = f"no price for {'/'.join(path)}" if path else "no price"
            raise MissingPriceError(f"{PRICES_NAME} {self.region} {key}: {what}")
        name, price, factor = sibling
        how = f"{factor:g} x {name}" + (f" ({price.derived})" if price.derived else "")
        return Price(round(price.usd * factor, 5), how)

    def usd(self, key: str, *path: str) -> float:
        return self.price(key, *path).usd

    def monthly(self, key: str, *path: str) -> float:
        """An hourly price, for a month."""
        return self.usd(key, *path) * self.hours_per_month

    @property
    def spot_factor(self) -> float:
        """Spot as a fraction of the on-demand price (an assumption, the same in every region)."""
        return float(self.items["ec2_instance"]["spot_factor"])

    def assumed(self, key: str) -> float:
        """The usage assumption written next to a usage-based item."""
        return float(next(v for k, v in self.items[key].items() if k.startswith("assumed_")))

    def flow_log_gb(self, environment: str, traffic: str, interval_seconds: int) -> float:
        """The GB a month a VPC flow log delivers: the environment's assumed volume of ALL traffic at 600 s
        (prices.yaml vpc_flow_logs), scaled for REJECT only and for 60 s aggregation."""
        item = self.items["vpc_flow_logs"]
        volumes = item["assumed_gb_per_month"]
        if environment not in volumes:
            raise MissingPriceError(f"{PRICES_NAME} items vpc_flow_logs: no assumed volume for {environment!r}")
        share = float(item["reject_share"]) if traffic == "REJECT" else 1.0
        factor = float(item["interval_60s_factor"]) if interval_seconds == 60 else 1.0
        return round(float(volumes[environment]) * share * factor, 2)

    @property
    def waf_log_kb_per_request(self) -> float:
        return float(self.items["waf_requests"]["log_kb_per_request"])


@dataclass(frozen=True)
class PriceBook:
    """Every region's table in envstack/tools/prices.yaml."""
    hours_per_month: float
    items: Mapping[str, Mapping[str, Any]]
    regions: Mapping[str, Any]

    def for_region(self, region: str | None) -> Prices | None:
        """`region`'s table, or None when the file has none for it (never another region's figures)."""
        if region is None or region not in self.regions:
            return None
        table = {key: _resolve(self.regions, region, key) for key in self.items}
        return Prices(region, str(self.regions[region]["as_of"]), self.hours_per_month, self.items, table)


@cache
def load_book(path: Path = PRICES_FILE) -> PriceBook:
    data = yaml.safe_load(path.read_text())
    return PriceBook(float(data["hours_per_month"]), data["items"], data["regions"])


def load_prices(region: str = "us-west-2", path: Path = PRICES_FILE) -> Prices:
    """`region`'s table; KeyError when the file has none."""
    prices = load_book(path).for_region(region)
    if prices is None:
        raise KeyError(f"{PRICES_NAME}: no table for {region}")
    return prices


@dataclass(frozen=True)
class LineItem:
    component: str
    resource: str
    type: str
    description: str
    monthly_usd: float


@dataclass(frozen=True)
class Unpriced:
    """A resource the estimate leaves out, and why."""
    component: str
    resource: str
    type: str
    reason: str


@dataclass(frozen=True)
class CostEstimate:
    stack: str
    region: str | None
    items: tuple[LineItem, ...]
    unpriced: tuple[Unpriced, ...]
    budget_usd: float | None
    prices: Prices | None  # None: envstack/tools/prices.yaml has no table for the region
    environment: str = ""
    derived: tuple[str, ...] = ()  # the figures used that are not quotes, and how each was derived
    contingent: tuple[LineItem, ...] = ()  # charges that start only under a condition named in each: not in the total

    @property
    def monthly_usd(self) -> float:
        """The priced resources' total: the whole estimate only when `complete`."""
        return round(sum(i.monthly_usd for i in self.items), 2)

    @property
    def complete(self) -> bool:
        return self.prices is not None and not self.unpriced

    @property
    def unpriced_types(self) -> tuple[str, ...]:
        """Resource types neither priced nor free, and priced types whose size the table lacks (with the reason)."""
        return tuple(sorted({u.type if u.reason == UNKNOWN_TYPE else f"{u.type} ({u.reason})"
                             for u in self.unpriced}))

    @property
    def by_component(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for item in self.items:
            totals[item.component] += item.monthly_usd
        return {name: round(total, 2) for name, total in sorted(totals.items(), key=lambda kv: -kv[1])}

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.monthly_usd > self.budget_usd

    @property
    def design_target_usd(self) -> float | None:
        return DESIGN_TARGETS_USD.get(self.environment)

    def problems(self) -> list[str]:
        """Why the estimate is not the stack's whole cost, one line each, pointing to the price file."""
        if self.prices is None:
            return [f"{PRICES_NAME} has no price table for {self.region}: no estimate for stack {self.stack} "
                    f"(tables: {', '.join(load_book().regions)}); add one with as_of and a source per item"]
        return [f"not priced: {u.component}/{u.resource} ({u.type}): {u.reason}" for u in self.unpriced]

    def to_json(self) -> dict[str, Any]:
        p = self.prices
        return {"monthly_usd": self.monthly_usd if p else None, "by_component": self.by_component,
                "budget_usd": self.budget_usd, "prices_as_of": p.as_of if p else None,
                "unpriced_types": list(self.unpriced_types), "line_items": [asdict(i) for i in self.items],
                "region": self.region, "prices_region": p.region if p else None, "complete": self.complete,
                "unpriced": [asdict(u) for u in self.unpriced], "derived_prices": list(self.derived),
                "contingent_line_items": [asdict(i) for i in self.contingent]}


@dataclass(frozen=True)
class Context:
    prices: Prices
    synthesis: Synthesis

    def dependency(self, record: ResourceRecord, type_: str) -> ResourceRecord | None:
        by_urn = self.synthesis.by_urn()
        return next((by_urn[u] for u in record.dependencies if u in by_urn and by_urn[u].type == type_), None)

    def fed_by(self, record: ResourceRecord, type_: str) -> bool:
        """Does a resource of `type_` depend on `record` (a flow log or WAF logging writing to a log group)?"""
        return any(record.urn in other.dependencies for other in self.synthesis.of_type(type_))


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


def _eks_extended_support(r: ResourceRecord, c: Context) -> list[Charge]:
    """upgradePolicy EXTENDED: once the version leaves standard support (14 months after its EKS release) the
    cluster stays on it at the extended-support rate instead of being upgraded (EKS user guide, "Cluster upgrade
    policy"). A condition, not today's cost: listed apart from the total."""
    if _get(r.inputs, "upgradePolicy", "supportType") != "EXTENDED":
        return []
    version = r.inputs.get("version", "its version")
    return [(f"EKS extended support, once Kubernetes {version} leaves standard support",
             c.prices.monthly("eks_extended_support"))]


def _node_group(r: ResourceRecord, c: Context) -> list[Charge]:
    """Desired size x the first instance type (spot at the documented discount), plus the nodes' root volumes."""
    nodes = int(_get(r.inputs, "scalingConfig", "desiredSize", default=0))
    instance_type = (_get(r.inputs, "instanceTypes") or ["t3.medium"])[0]
    spot = _get(r.inputs, "capacityType") == "SPOT"
    hourly = c.prices.monthly("ec2_instance", instance_type) * (c.prices.spot_factor if spot else 1)
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


def _transit_gateway_attachment(r: ResourceRecord, c: Context) -> list[Charge]:
    return [("transit gateway VPC attachment", c.prices.monthly("transit_gateway_attachment"))]


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


def _flow_log(r: ResourceRecord, c: Context) -> list[Charge]:
    """What the flow log delivers a month (the environment's assumed volume), to S3 at the vended-log price or to
    CloudWatch Logs at its ingestion price (the log group's line leaves it out)."""
    traffic, interval = str(r.inputs.get("trafficType", "ALL")), int(r.inputs.get("maxAggregationInterval", 600))
    gb = c.prices.flow_log_gb(c.synthesis.environment, traffic, interval)
    to_s3 = r.inputs.get("logDestinationType") == "s3"
    return [(f"flow logs, {traffic} at {interval} s, to {'S3' if to_s3 else 'CloudWatch Logs'} (assumed {gb:g} GB)",
             gb * c.prices.usd("vpc_flow_logs" if to_s3 else "cloudwatch_logs"))]


def _log_group(r: ResourceRecord, c: Context) -> list[Charge]:
    """Ingestion: a flow log's is priced on the flow log; WAF logs are the assumed requests x a record's size;
    any other group the modest assumption of cloudwatch_logs."""
    if c.fed_by(r, FLOW_LOG):
        return []
    if c.fed_by(r, WAF_LOGGING):
        millions, kb = c.prices.assumed("waf_requests"), c.prices.waf_log_kb_per_request
        gb = millions * kb  # a million records of 1 KB: 1 GB
        return [(f"WAF request logs (assumed {millions:g} M requests x {kb:g} KB = {gb:g} GB)",
                 gb * c.prices.usd("cloudwatch_logs"))]
    return _assumed_usage("log ingestion, GB", "cloudwatch_logs")(r, c)


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
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": _transit_gateway_attachment,
    "aws:ec2/eip:Eip": _flat("public IPv4 address", "public_ipv4", hourly=True),
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:kms/key:Key": _flat("KMS key", "kms_key"),
    "aws:secretsmanager/secret:Secret": _flat("secret", "secretsmanager_secret"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _flat("alarm", "cloudwatch_alarm"),
    "aws:cloudwatch/dashboard:Dashboard": _flat("dashboard", "cloudwatch_dashboard"),
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:ec2/flowLog:FlowLog": _flow_log,
    "aws:s3/bucket:Bucket": _assumed_usage("S3 storage, GB", "s3_standard"),
    "aws:s3/bucketV2:BucketV2": _assumed_usage("S3 storage, GB", "s3_standard"),
    "aws:wafv2/webAcl:WebAcl": _web_acl,
}

# Charges a resource incurs only once a condition (named in the charge) holds: shown, never in the total.
CONTINGENT: dict[str, Pricer] = {
    "eks:index:Cluster": _eks_extended_support,
    "aws:eks/cluster:Cluster": _eks_extended_support,
}

# Types that cost nothing by themselves (their cost, if any, is in a priced resource: a launch template's volumes
# in its node group, WAF logging's volume in its log group's ingestion, SNS within the free tier).
FREE: frozenset[str] = frozenset({
    "aws:budgets/budget:Budget",  # budgets without actions are free
    "aws:costexplorer/anomalyMonitor:AnomalyMonitor", "aws:costexplorer/anomalySubscription:AnomalySubscription",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
    "aws:ec2/internetGateway:InternetGateway", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/networkAcl:NetworkAcl", "aws:ec2/route:Route", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/subnet:Subnet", "aws:ec2/vpc:Vpc",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:eks/addon:Addon", "aws:eks/accessEntry:AccessEntry",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "aws:elasticache/parameterGroup:ParameterGroup", "aws:elasticache/subnetGroup:SubnetGroup",
    "aws:elasticache/user:User", "aws:elasticache/userGroup:UserGroup",  # RBAC: ElastiCache charges per node
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
    "random:index/randomId:RandomId",
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


UNKNOWN_TYPE = "resource type neither priced nor known free (add it to envstack/tools/cost.py PRICED or FREE)"


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
    """Every resource priced with its region's table; what cannot be priced is listed, never counted as free."""
    region = prices.region if prices else synthesis.region
    prices = replace(prices, derived_used=set()) if prices else load_book().for_region(region)
    budget = budget_of(synthesis)
    if prices is None:
        return CostEstimate(synthesis.stack, region, (), (), budget, None, synthesis.environment)
    context = Context(prices, synthesis)
    owner = top_components(synthesis)
    items: list[LineItem] = []
    contingent: list[LineItem] = []
    missing: list[Unpriced] = []
    for r in synthesis.resources:
        try:
            charges = PRICED[r.type](r, context) if r.type in PRICED else []
            later = CONTINGENT[r.type](r, context) if r.type in CONTINGENT else []
        except MissingPriceError as error:  # a class or node type the table lacks: never $0
            missing.append(Unpriced(owner[r.urn], r.name, r.type, str(error)))
            continue
        if unpriced(r):
            missing.append(Unpriced(owner[r.urn], r.name, r.type, UNKNOWN_TYPE))
        items += [LineItem(owner[r.urn], r.name, r.type, what, round(usd, 2)) for what, usd in charges if usd]
        contingent += [LineItem(owner[r.urn], r.name, r.type, what, round(usd, 2)) for what, usd in later if usd]
    return CostEstimate(synthesis.stack, region, tuple(items), tuple(missing), budget, prices,
                        synthesis.environment, tuple(sorted(prices.derived_used)), tuple(contingent))


def render(cost: CostEstimate) -> str:
    p = cost.prices
    if p is None:
        return "estimated monthly cost: none\nINCOMPLETE: " + cost.problems()[0]
    lines = [f"estimated monthly cost ({p.region} on-demand prices as of {p.as_of}, {p.hours_per_month:g} h/month)"]
    lines += [f"    {name:<24} ${usd:>10,.2f}" for name, usd in cost.by_component.items()]
    budget = f"   budget ${cost.budget_usd:,.2f}" if cost.budget_usd is not None else "   no budget"
    total = "total" if cost.complete else "total (incomplete)"
    lines.append(f"    {total:<24} ${cost.monthly_usd:>10,.2f}{budget}")
    if cost.over_budget:
        lines.append(f"WARNING: the estimate (${cost.monthly_usd:,.2f}) exceeds the stack's monthly budget "
                     f"(${cost.budget_usd:,.2f}, envstack:monitoring.monthlyBudgetUsd)")
    if cost.unpriced:
        lines.append(f"INCOMPLETE: the total leaves out {len(cost.unpriced)} resource(s) it cannot price; "
                     f"add their prices to {PRICES_NAME} ({p.region}) or their type to envstack/tools/cost.py:")
        lines += [f"    {problem}" for problem in cost.problems()]
    lines += [f"not in the total: {i.component} +${i.monthly_usd:,.2f}/month, {i.description}"
              for i in cost.contingent]
    if cost.derived:
        lines.append(f"derived figures (not quotes; see the sources in {PRICES_NAME}): " + "; ".join(cost.derived))
    return "\n".join(lines)


def section(synthesis: Synthesis, args: argparse.Namespace) -> tuple[str, object, int]:
    """The `envstack synth` cost section: informational, never changes the exit code."""
    cost = estimate(synthesis)
    print("\n" + render(cost))
    return "cost", cost.to_json(), 0
