"""The estimated monthly cost of a synthesized stack: its resources priced with its region's table
(envstack/tools/prices.py), their usage from the stack's usage model (envstack:usage).

Each AWS resource type that costs money has one pricing function in PRICED, which returns the resource's lines;
types that cost nothing by themselves are listed in FREE. A type in neither list, or a line whose figure the table
lacks, is listed as unpriced and marks the estimate incomplete (`make cost` fails), so nothing can quietly make the
estimate cheaper. A region without a table gets no estimate. Every usage-priced line derives from the same usage
figures (docs/cost.md), so a stack that changes its request rate sees LCUs, WAF requests and data out move together.
"""

import argparse
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any

from envstack.program.config import load_profile
from envstack.program.config.usage import UsageConfig

from .nested import at
from .prices import PRICES_FILE, PRICES_NAME, REGENERATE, MissingPriceError, Price, Prices, load_book, load_prices
from .report import top_components
from .synth import ResourceRecord, Synthesis

__all__ = ["PRICES_FILE", "PRICES_NAME", "MissingPriceError", "Price", "Prices", "estimate", "load_book", "load_prices",
           "render"]

BUDGET = "aws:budgets/budget:Budget"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
RDS_INSTANCE = "aws:rds/instance:Instance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
CLUSTERS = ("eks:index:Cluster", "aws:eks/cluster:Cluster")
NODE_GROUPS = ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup")
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
DAYS_PER_MONTH = 730 / 24
# ALB capacity units: an LCU is the largest of these dimensions, per hour (Elastic Load Balancing pricing, "LCU
# details" for Application Load Balancers: 25 new connections a second, 3,000 active connections, 1 GB an hour
# processed for EC2 targets; rule evaluations are left out: envstack's listeners stay within the 10 free rules).
LCU_NEW_CONNECTIONS, LCU_ACTIVE_CONNECTIONS, LCU_GB_PER_HOUR = 25, 3000, 1
# KMS bills a key's first two rotations (one more key-month each); automatic rotation is yearly unless the key sets
# rotationPeriodInDays (KMS pricing page; AWS KMS developer guide, "Rotating AWS KMS keys").
KMS_BILLED_ROTATIONS, KMS_DEFAULT_ROTATION_DAYS = 2, 365


class MissingUsageError(LookupError):
    """The stack's usage model has no figure for what a resource holds; the message says which."""


@dataclass(frozen=True)
class LineItem:
    component: str
    resource: str
    type: str
    item: str  # what the line prices, stable across changes of quantity: the diff matches lines by it
    description: str
    monthly_usd: float


@dataclass(frozen=True)
class Unpriced:
    """A resource, or one line of it, the estimate leaves out, and why."""
    component: str
    resource: str
    type: str
    reason: str


@dataclass(frozen=True)
class Charge:
    """One line of a resource: priced (`usd`), or not (`missing` says why)."""
    item: str
    description: str
    usd: float = 0.0
    missing: str = ""


@dataclass(frozen=True)
class CostEstimate:
    stack: str
    region: str | None
    items: tuple[LineItem, ...]
    unpriced: tuple[Unpriced, ...]
    budget_usd: float | None
    prices: Prices | None  # None: envstack/tools/prices.yaml has no table for the region
    environment: str = ""
    contingent: tuple[LineItem, ...] = ()  # charges that start only under a condition named in each: not in the total
    usage: UsageConfig | None = None

    @property
    def monthly_usd(self) -> float:
        """The priced resources' total: the whole estimate only when `complete`."""
        return round(sum(i.monthly_usd for i in self.items), 2)

    @property
    def complete(self) -> bool:
        return self.prices is not None and not self.unpriced

    @property
    def unpriced_types(self) -> tuple[str, ...]:
        """Resource types neither priced nor free, and priced types with a line the table lacks (with the reason)."""
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
    def derived(self) -> tuple[str, ...]:
        return self.prices.derived if self.prices else ()

    @property
    def typed(self) -> tuple[str, ...]:
        return self.prices.typed if self.prices else ()

    @property
    def sourced(self) -> tuple[str, ...]:
        return self.prices.sourced if self.prices else ()

    def age_days(self, today: date | None = None) -> int | None:
        """How old the oldest price used is, in days."""
        if self.prices is None:
            return None
        return ((today or date.today()) - date.fromisoformat(self.prices.oldest)).days

    def problems(self) -> list[str]:
        """Why the estimate is not the stack's whole cost, one line each, pointing to the price file."""
        if self.prices is None:
            return [f"{PRICES_NAME} has no price table for {self.region}: no estimate for stack {self.stack} "
                    f"(tables: {', '.join(load_book().regions)}); generate one with {REGENERATE} --region "
                    f"{self.region}"]
        return [f"not priced: {u.component}/{u.resource} ({u.type}): {u.reason}" for u in self.unpriced]

    def to_json(self) -> dict[str, Any]:
        p = self.prices
        return {"monthly_usd": self.monthly_usd if p else None, "by_component": self.by_component,
                "budget_usd": self.budget_usd, "prices_as_of": p.oldest if p else None,
                "unpriced_types": list(self.unpriced_types), "line_items": [asdict(i) for i in self.items],
                "region": self.region, "prices_region": p.region if p else None, "complete": self.complete,
                "unpriced": [asdict(u) for u in self.unpriced], "derived_prices": list(self.derived),
                "typed_prices": list(self.typed), "sourced_prices": list(self.sourced),
                "contingent_line_items": [asdict(i) for i in self.contingent],
                "usage": self.usage.model_dump(by_alias=True) if self.usage else None}


@dataclass(frozen=True)
class Context:
    prices: Prices
    synthesis: Synthesis
    usage: UsageConfig

    def dependency(self, record: ResourceRecord, type_: str) -> ResourceRecord | None:
        by_urn = self.synthesis.by_urn()
        return next((by_urn[u] for u in record.dependencies if u in by_urn and by_urn[u].type == type_), None)

    def fed_by(self, record: ResourceRecord, *types: str) -> ResourceRecord | None:
        """The resource of one of `types` that depends on `record` (a flow log writing to a log group, say)."""
        return next((other for type_ in types for other in self.synthesis.of_type(type_)
                     if record.urn in other.dependencies), None)

    def line(self, item: str, description: str, quantity: float, *path: str, hourly: bool = False,
             price: str | None = None) -> Charge:
        """`quantity` x the price of `price` (default `item`) at `path`, for a month when `hourly`."""
        try:
            usd = self.prices.monthly(price or item, *path) if hourly else self.prices.usd(price or item, *path)
        except MissingPriceError as error:
            return Charge(item, description, missing=str(error))
        return Charge(item, description, quantity * usd)

    def per_gb(self, item: str, description: str, gb: float) -> Charge:
        """`gb` at `item`'s (tiered) price, after its free allowance."""
        try:
            price = self.prices.price(item)
        except MissingPriceError as error:
            return Charge(item, description, missing=str(error))
        return Charge(item, description, price.for_gb(gb, self.prices.free_gb(item)))

    @property
    def nodes(self) -> int:
        """The nodes the node groups run (their desired sizes)."""
        return sum(_desired(g) for t in NODE_GROUPS for g in self.synthesis.of_type(t))

    def months_kept(self, days: float | None) -> float:
        """How many months of a monthly volume are held, by the month priced, with `days` of retention."""
        months = self.usage.age_months
        return min(days / DAYS_PER_MONTH, months) if days else months


Pricer = Callable[[ResourceRecord, Context], list[Charge]]


def _gb(value: float) -> str:
    return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


def _desired(group: ResourceRecord) -> int:
    return int(at(group.inputs, "scalingConfig", "desiredSize", default=0))


# ---- compute -------------------------------------------------------------------------------------------------------


def _eks_control_plane(r: ResourceRecord, c: Context) -> list[Charge]:
    return [c.line("eks_cluster", "EKS control plane", 1, hourly=True)]


def _eks_extended_support(r: ResourceRecord, c: Context) -> list[Charge]:
    """upgradePolicy EXTENDED: once the version leaves standard support (14 months after its EKS release) the
    cluster stays on it at the extended-support rate instead of being upgraded (EKS user guide, "Cluster upgrade
    policy"). A condition, not today's cost: listed apart from the total."""
    if at(r.inputs, "upgradePolicy", "supportType") != "EXTENDED":
        return []
    version = r.inputs.get("version", "its version")
    return [c.line("eks_extended_support", f"EKS extended support, once Kubernetes {version} leaves standard "
                   "support", 1, hourly=True)]


def _node_group(r: ResourceRecord, c: Context) -> list[Charge]:
    """Desired size x the first instance type (spot at the documented discount), plus the nodes' root volumes."""
    nodes = _desired(r)
    instance_type = (at(r.inputs, "instanceTypes") or ["t3.medium"])[0]
    spot = at(r.inputs, "capacityType") == "SPOT"
    disk = sum(float(at(m, "ebs", "volumeSize", default=0)) for m in _launch_template_volumes(r, c)) \
        or float(at(r.inputs, "diskSize", default=20))
    return [c.line("ec2_instance", f"{nodes} x {instance_type}{' spot' if spot else ''}",
                   nodes * (c.prices.spot_factor if spot else 1), instance_type, hourly=True),
            c.line("ebs_gp3", f"{nodes} x {disk:g} GB gp3 root volume", nodes * disk)]


def _launch_template_volumes(r: ResourceRecord, c: Context) -> list[Mapping[str, Any]]:
    template = c.dependency(r, LAUNCH_TEMPLATE)
    return list(at(template.inputs, "blockDeviceMappings", default=[])) if template else []


# ---- data stores ---------------------------------------------------------------------------------------------------


def _cross_az(c: Context, what: str, kb_per_request: float) -> Charge:
    """The pods' traffic to a store's primary that crosses AZs, billed on each side of the crossing."""
    gb = c.usage.gb_per_month(kb_per_request) * c.usage.cross_az_share
    return c.line("cross_az", f"cross-AZ traffic to the {what} ({_gb(gb)} GB, billed both ways)", 2 * gb)


def _rds_instance(r: ResourceRecord, c: Context) -> list[Charge]:
    copies = 2 if r.inputs.get("multiAz") else 1
    klass, storage = r.inputs["instanceClass"], float(r.inputs.get("allocatedStorage", 20))
    charges = [_rds_hours(c, klass, copies == 2),
               c.line("rds_gp3", f"{storage:g} GB gp3 x {copies}", copies * storage),
               _rds_backups(r, c, storage), _cross_az(c, "database primary", c.usage.database_kb_per_request)]
    if r.inputs.get("manageMasterUserPassword"):
        charges.append(c.line("secretsmanager_secret", "RDS-managed master user secret", 1))
    return charges


def _rds_hours(c: Context, klass: str, multi_az: bool) -> Charge:
    """Multi-AZ at the table's own Multi-AZ figure (the primary and its standby), not twice single-AZ."""
    if not multi_az:
        return c.line("rds_instance", klass, 1, klass, hourly=True)
    try:
        hourly = c.prices.multi_az(klass).usd
    except MissingPriceError as error:
        return Charge("rds_instance", f"{klass} Multi-AZ", missing=str(error))
    return Charge("rds_instance", f"{klass} Multi-AZ", hourly * c.prices.hours_per_month)


def _rds_backups(r: ResourceRecord, c: Context, allocated_gb: float) -> Charge:
    """Automated backups: a full copy of the data, then each day's changes for the retention period; RDS keeps as
    much as the allocated storage free (RDS pricing, "Backup storage")."""
    days, data = float(r.inputs.get("backupRetentionPeriod", 1)), c.usage.database_data_gb
    kept = data + data * c.usage.database_daily_change_share * days
    return c.line("rds_backup", f"backups: {_gb(kept)} GB for {days:g} days, {allocated_gb:g} GB free",
                  max(kept - allocated_gb, 0))


def _replication_group(r: ResourceRecord, c: Context) -> list[Charge]:
    node_type, engine = r.inputs["nodeType"], r.inputs.get("engine", "redis")
    nodes = int(r.inputs.get("numCacheClusters") or
                int(r.inputs.get("numNodeGroups", 1)) * (int(r.inputs.get("replicasPerNodeGroup", 0)) + 1))
    # A snapshot a day, each the whole dataset, kept snapshotRetentionLimit days; one per cluster is free
    # (ElastiCache pricing, "Backup storage").
    kept = max(int(r.inputs.get("snapshotRetentionLimit", 0)) - 1, 0)
    gb = kept * c.usage.cache_data_gb
    return [c.line("elasticache_node", f"{nodes} x {node_type} ({engine})", nodes, engine, node_type, hourly=True),
            c.line("elasticache_snapshot", f"snapshots: {kept} beyond the free one x {_gb(c.usage.cache_data_gb)} GB",
                   gb),
            _cross_az(c, "cache primary", c.usage.cache_kb_per_request)]


# ---- network -------------------------------------------------------------------------------------------------------


def _nat_gateway(r: ResourceRecord, c: Context) -> list[Charge]:
    """The stack's NAT traffic (the nodes' own, the pods' calls out) spread over its gateways; with one gateway for
    several AZs, the traffic from the other AZs crosses to it."""
    gateways = c.synthesis.of_type(NAT_GATEWAY)
    total = c.usage.nat_gb_per_node * c.nodes + c.usage.gb_per_month(c.usage.upstream_kb_per_request)
    gb = total / len(gateways)
    charges = [c.line("nat_gateway", "NAT gateway", 1, hourly=True),
               c.line("nat_data", f"NAT data processing ({_gb(gb)} GB)", gb)]
    if len(gateways) == 1 and c.usage.cross_az_share:
        crossing = gb * c.usage.cross_az_share
        charges.append(c.line("cross_az", f"cross-AZ traffic to the NAT gateway ({_gb(crossing)} GB, billed both "
                              "ways)", 2 * crossing))
    return charges


def _transit_gateway_attachment(r: ResourceRecord, c: Context) -> list[Charge]:
    return [c.line("transit_gateway_attachment", "transit gateway VPC attachment", 1, hourly=True)]


def _vpc_endpoint(r: ResourceRecord, c: Context) -> list[Charge]:
    kind = r.inputs.get("vpcEndpointType", "Gateway")
    if kind == "Gateway":
        return []  # S3 and DynamoDB gateway endpoints are free
    if kind != "Interface":  # GatewayLoadBalancer, Resource, ServiceNetwork: other prices, not in the table
        return [Charge("vpc_interface_endpoint", f"{kind} endpoint",
                       missing=f"{PRICES_NAME} prices Interface endpoints, not {kind} ones")]
    azs = len(r.inputs.get("subnetIds") or [])
    interface = [e for e in c.synthesis.of_type(VPC_ENDPOINT) if e.inputs.get("vpcEndpointType") == "Interface"]
    gb = c.usage.interface_endpoint_gb / len(interface)
    return [c.line("vpc_interface_endpoint", f"interface endpoint in {azs} AZs", azs, hourly=True),
            c.line("vpc_endpoint_data", f"endpoint data processing ({_gb(gb)} GB)", gb)]


def lcus(usage: UsageConfig) -> tuple[float, str]:
    """The ALB's LCUs and the dimension that sets them."""
    new = usage.requests_per_second / usage.requests_per_connection
    gb_per_hour = usage.requests_per_second * (usage.request_kb + usage.response_kb) * 3600 / 1024 ** 2
    dimensions = {"new connections": new / LCU_NEW_CONNECTIONS,
                  "active connections": new * usage.connection_seconds / LCU_ACTIVE_CONNECTIONS,
                  "processed bytes": gb_per_hour / LCU_GB_PER_HOUR}
    name = max(dimensions, key=lambda k: dimensions[k])
    return dimensions[name], name


def _load_balancer(r: ResourceRecord, c: Context) -> list[Charge]:
    units, by = lcus(c.usage)
    out = c.usage.gb_per_month(c.usage.response_kb)
    charges = [c.line("alb", "ALB", 1, hourly=True),
               c.line("alb_lcu", f"ALB LCUs ({units:.2f}, by {by}; {c.usage.requests_per_second:g} requests/s)",
                      units, hourly=True)]
    if not r.inputs.get("internal"):
        addresses = len(r.inputs.get("subnets") or r.inputs.get("subnetMappings") or [])
        charges += [c.line("public_ipv4", f"{addresses} public IPv4 addresses", addresses, hourly=True),
                    c.per_gb("data_out_internet", f"internet data out ({_gb(out)} GB, "
                             f"{c.prices.free_gb('data_out_internet'):g} GB free)", out)]
    return charges


def _web_acl(r: ResourceRecord, c: Context) -> list[Charge]:
    rules, millions = len(r.inputs.get("rules") or []), c.usage.requests_per_month / 1e6
    return [c.line("waf_web_acl", "WAF web ACL", 1), c.line("waf_rule", f"{rules} WAF rules", rules),
            c.line("waf_requests", f"WAF requests ({millions:,.1f} M)", millions)]


# ---- logs and storage ----------------------------------------------------------------------------------------------


def _flow_log_gb(r: ResourceRecord, c: Context) -> float:
    """The GB a month a VPC flow log delivers: ALL traffic at 600 s, scaled for REJECT only and for 60 s."""
    logs = c.usage.logs
    share = logs.flow_log_reject_share if r.inputs.get("trafficType", "ALL") == "REJECT" else 1.0
    factor = logs.flow_log_every_minute_factor if int(r.inputs.get("maxAggregationInterval", 600)) == 60 else 1.0
    return logs.flow_log_gb * share * factor


def _flow_log(r: ResourceRecord, c: Context) -> list[Charge]:
    """What the flow log delivers, to S3 at the vended-log price or to CloudWatch Logs at its ingestion price (its
    log group prices the storage only)."""
    traffic, interval = r.inputs.get("trafficType", "ALL"), int(r.inputs.get("maxAggregationInterval", 600))
    gb, to_s3 = _flow_log_gb(r, c), r.inputs.get("logDestinationType") == "s3"
    where = "S3" if to_s3 else "CloudWatch Logs"
    return [c.line("vpc_flow_logs" if to_s3 else "cloudwatch_logs",
                   f"flow logs, {traffic} at {interval} s, to {where} ({_gb(gb)} GB)", gb)]


def _control_plane_gb(cluster: ResourceRecord, c: Context) -> tuple[str, float]:
    logs, types = c.usage.logs, set(cluster.inputs.get("enabledClusterLogTypes") or [])
    audit = logs.eks_audit_gb + logs.eks_audit_gb_per_node * c.nodes if "audit" in types else 0.0
    others = logs.eks_other_gb * len(types - {"audit"}) / 4
    return f"EKS control-plane logs ({'audit for ' + str(c.nodes) + ' nodes, ' if audit else ''}" \
           f"{len(types - {'audit'})} other types)", audit + others


def _log_source(r: ResourceRecord, c: Context) -> tuple[str, float, bool]:
    """What writes to a log group: a description, its GB a month, and whether the group's line prices ingestion."""
    logs = c.usage.logs
    if flow := c.fed_by(r, FLOW_LOG):
        return "flow logs (ingestion priced on the flow log)", _flow_log_gb(flow, c), False
    if c.fed_by(r, WAF_LOGGING):
        millions = c.usage.requests_per_month / 1e6
        return f"WAF request logs, {millions:,.1f} M requests x {logs.waf_kb_per_request:g} KB", \
            c.usage.gb_per_month(logs.waf_kb_per_request), True
    if cluster := c.fed_by(r, *CLUSTERS):
        what, gb = _control_plane_gb(cluster, c)
        return what, gb, True
    if c.fed_by(r, RDS_INSTANCE) and str(r.inputs.get("name", "")).endswith("/postgresql"):
        return "PostgreSQL log", logs.postgresql_gb, True
    if c.fed_by(r, REPLICATION_GROUP):
        return "cache slow log", logs.cache_slow_log_gb, True
    return "log ingestion", logs.other_gb, True


def _log_group(r: ResourceRecord, c: Context) -> list[Charge]:
    """Ingestion of what writes to the group, and storage: compressed, kept for its retention (at most the months
    the estimate has run)."""
    what, gb, ingested = _log_source(r, c)
    months = c.months_kept(r.inputs.get("retentionInDays"))
    stored = gb * c.usage.logs.compressed_share * months
    ingestion = [c.line("cloudwatch_logs", f"{what} ({_gb(gb)} GB)", gb)] if ingested else []
    return [*ingestion, c.line("cloudwatch_logs_storage", f"log storage ({_gb(stored)} GB compressed, "
                               f"{months:.3g} months kept)", stored)]


def _bucket_contents(r: ResourceRecord, c: Context) -> tuple[str, float]:
    """What a bucket holds, and how many GB of it arrive a month."""
    if flow := c.fed_by(r, FLOW_LOG):
        return "flow logs", _flow_log_gb(flow, c) * c.usage.logs.compressed_share
    if c.fed_by(r, *LOAD_BALANCERS):
        return "ALB access logs", c.usage.gb_per_month(c.usage.logs.access_log_kb_per_request)
    raise MissingUsageError(f"no usage figure for what bucket {r.name} holds (envstack:usage prices the ALB's access "
                            "logs and the flow logs; add the bucket's to envstack/tools/cost.py _bucket_contents)")


def _storage_classes(r: ResourceRecord, c: Context) -> list[tuple[str, float, float]]:
    """(storage class, from day, to day) of an object's life in the bucket, from its lifecycle rules."""
    lifecycle = c.fed_by(r, LIFECYCLE)
    rule = (at(lifecycle.inputs, "rules") or [{}])[0] if lifecycle else {}
    end = float(at(rule, "expiration", "days", default=0)) or math.inf
    steps = sorted((float(t["days"]), str(t["storageClass"])) for t in rule.get("transitions") or [])
    starts = [(0.0, "STANDARD"), *steps]
    bounds = [*(day for day, _ in steps), end]
    return [(cls, start, stop) for (start, cls), stop in zip(starts, bounds, strict=True) if start < stop]


def _bucket(r: ResourceRecord, c: Context) -> list[Charge]:
    """A month's volume kept until its lifecycle expires it, each day of it in the class it is in by then, as held
    in the month priced."""
    try:
        what, monthly = _bucket_contents(r, c)
    except MissingUsageError as error:
        return [Charge("s3_storage", "S3 storage", missing=str(error))]
    held = c.usage.age_months * DAYS_PER_MONTH
    charges = []
    for cls, start, stop in _storage_classes(r, c):
        gb = monthly * max(min(stop, held) - start, 0) / DAYS_PER_MONTH
        if gb:
            charges.append(c.line(f"s3_storage {cls}", f"{what} in S3 {cls} ({_gb(gb)} GB)", gb, cls,
                                  price="s3_storage"))
    return charges


def _kms_key(r: ResourceRecord, c: Context) -> list[Charge]:
    charges = [c.line("kms_key", "KMS key", 1)]
    if r.inputs.get("enableKeyRotation"):
        period = float(r.inputs.get("rotationPeriodInDays") or KMS_DEFAULT_ROTATION_DAYS)
        rotations = min(int((c.usage.age_months - 1) * 730 // (24 * period)), KMS_BILLED_ROTATIONS)  # days / period
        if rotations:
            charges.append(c.line("kms_rotations", f"KMS key rotations ({rotations} by month {c.usage.age_months})",
                                  rotations, price="kms_key"))
    return charges


def _flat(item: str, description: str, hourly: bool = False) -> Pricer:
    return lambda r, c: [c.line(item, description, 1, hourly=hourly)]


PRICED: dict[str, Pricer] = {
    **dict.fromkeys(CLUSTERS, _eks_control_plane),
    **dict.fromkeys(NODE_GROUPS, _node_group),
    RDS_INSTANCE: _rds_instance,
    REPLICATION_GROUP: _replication_group,
    NAT_GATEWAY: _nat_gateway,
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": _transit_gateway_attachment,
    "aws:ec2/eip:Eip": _flat("public_ipv4", "public IPv4 address", hourly=True),
    **dict.fromkeys(LOAD_BALANCERS, _load_balancer),
    VPC_ENDPOINT: _vpc_endpoint,
    "aws:kms/key:Key": _kms_key,
    "aws:secretsmanager/secret:Secret": _flat("secretsmanager_secret", "secret"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _flat("cloudwatch_alarm", "alarm"),
    "aws:cloudwatch/dashboard:Dashboard": _flat("cloudwatch_dashboard", "dashboard"),
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    FLOW_LOG: _flow_log,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
}

# Charges a resource incurs only once a condition (named in the charge) holds: shown, never in the total.
CONTINGENT: dict[str, Pricer] = dict.fromkeys(CLUSTERS, _eks_extended_support)

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
    LIFECYCLE,  # its rules shape the bucket's storage line
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:secretsmanager/secretVersion:SecretVersion",  # the secret is priced; versions are not
    "aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy", "aws:sns/topicSubscription:TopicSubscription",
    "aws:ssm/parameter:Parameter",  # standard tier
    "aws:wafv2/webAclAssociation:WebAclAssociation",
    WAF_LOGGING,  # its volume is priced in the log group
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
    "kubernetes:apps/v1:Deployment",  # the Cluster Autoscaler's: its pod runs on the nodes priced above
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


def usage_of(synthesis: Synthesis) -> UsageConfig:
    """The stack's usage model as the program read it, else its environment's profile (a hand-made synthesis)."""
    figures = synthesis.usage or load_profile(synthesis.environment).settings["usage"]
    return UsageConfig.model_validate(figures)


def estimate(synthesis: Synthesis, prices: Prices | None = None) -> CostEstimate:
    """Every resource priced with its region's table; what cannot be priced is listed, never counted as free."""
    region = prices.region if prices else synthesis.region
    prices = replace(prices, used={}) if prices else load_book().for_region(region)
    budget, usage = budget_of(synthesis), usage_of(synthesis)
    if prices is None:
        return CostEstimate(synthesis.stack, region, (), (), budget, None, synthesis.environment, usage=usage)
    context, owner = Context(prices, synthesis, usage), top_components(synthesis)
    items: list[LineItem] = []
    contingent: list[LineItem] = []
    missing: list[Unpriced] = []
    for r in synthesis.resources:
        if unpriced(r):
            missing.append(Unpriced(owner[r.urn], r.name, r.type, UNKNOWN_TYPE))
        for pricers, found in ((PRICED, items), (CONTINGENT, contingent)):
            for charge in pricers[r.type](r, context) if r.type in pricers else []:
                if charge.missing:
                    missing.append(Unpriced(owner[r.urn], r.name, r.type, f"{charge.description}: {charge.missing}"))
                elif round(charge.usd, 2):
                    found.append(LineItem(owner[r.urn], r.name, r.type, charge.item, charge.description,
                                          round(charge.usd, 2)))
    return CostEstimate(synthesis.stack, region, tuple(items), tuple(missing), budget, prices,
                        synthesis.environment, tuple(contingent), usage)


def _age(cost: CostEstimate) -> str:
    p = cost.prices
    assert p is not None
    kinds = [f"{len(cost.typed)} of them typed by hand" if cost.typed else "",
             f"{len(cost.sourced)} read from published tables, not AWS's offer files" if cost.sourced else ""]
    typed = f"; {' and '.join(k for k in kinds if k)}, to be regenerated with {REGENERATE}" if any(kinds) else ""
    return f"{p.region} on-demand prices as of {p.oldest}, {cost.age_days()} days old{typed}; " \
           f"{p.hours_per_month:g} h/month; usage for month {cost.usage.age_months if cost.usage else '?'}"


def render(cost: CostEstimate) -> str:
    p = cost.prices
    if p is None:
        return "estimated monthly cost: none\nINCOMPLETE: " + cost.problems()[0]
    lines = [f"estimated monthly cost ({_age(cost)})"]
    lines += [f"    {name:<24} ${usd:>10,.2f}" for name, usd in cost.by_component.items()]
    budget = f"   budget ${cost.budget_usd:,.2f}" if cost.budget_usd is not None else "   no budget"
    total = "total" if cost.complete else "total (incomplete)"
    lines.append(f"    {total:<24} ${cost.monthly_usd:>10,.2f}{budget}")
    if cost.over_budget:
        lines.append(f"WARNING: the estimate (${cost.monthly_usd:,.2f}) exceeds the stack's monthly budget "
                     f"(${cost.budget_usd:,.2f}, envstack:monitoring.monthlyBudgetUsd)")
    if cost.unpriced:
        lines.append(f"INCOMPLETE: the total leaves out {len(cost.unpriced)} line(s) it cannot price; "
                     f"generate their prices with {REGENERATE} ({p.region}) or add their type to "
                     "envstack/tools/cost.py:")
        lines += [f"    {problem}" for problem in cost.problems()]
    lines += [f"not in the total: {i.component} +${i.monthly_usd:,.2f}/month, {i.description}"
              for i in cost.contingent]
    if cost.derived:
        lines.append(f"derived figures (not in {PRICES_NAME}): " + "; ".join(cost.derived))
    return "\n".join(lines)


def section(synthesis: Synthesis, args: argparse.Namespace) -> tuple[str, object, int]:
    """The `envstack synth` cost section: informational, never changes the exit code."""
    cost = estimate(synthesis)
    print("\n" + render(cost))
    return "cost", cost.to_json(), 0
