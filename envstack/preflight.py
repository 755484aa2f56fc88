"""`envstack preflight STACK`: read-only checks against the account a stack deploys to, before `pulumi up`.

Some facts only the account knows, and `pulumi up` finds them ten or forty minutes in, then stops halfway: a pinned
add-on version EKS no longer offers, a certificate that is not issued, an instance type the region lacks, a quota
with no room. Each check makes read-only calls with the caller's credentials and answers one line: ok, warn, fail,
or skipped with the reason (a call the account, the caller's permissions or an emulator does not support). Exit 0
when nothing would fail the update (warnings allowed), 1 when something would, 2 without credentials or with a bad
configuration. The IAM permissions it needs are listed in the README ("Running it for real").
"""

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from botocore.parsers import ResponseParserError

from .config import ConfigError, StackConfig
from .exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from .terminal import paint
from .validate import load, report_error

Status = Literal["ok", "warn", "fail", "skipped"]
STYLE = {"ok": "ok", "warn": "warning", "fail": "error", "skipped": "dim"}
CERTIFICATE_MIN_DAYS = 30  # an ACM certificate expiring sooner is worth a warning before a deploy
# Cost Explorer has one endpoint, in us-east-1 (Cost Explorer API reference, "Endpoints").
COST_EXPLORER_REGION = "us-east-1"
# Service Quotas codes (Amazon VPC guide, "Amazon VPC quotas"; Service Quotas console): (service, code, name).
VPCS_PER_REGION = ("vpc", "L-F678F1CE", "VPCs per Region")
ELASTIC_IPS = ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs")
NAT_GATEWAYS_PER_AZ = ("vpc", "L-FE5A380F", "NAT gateways per Availability Zone")
# Bounded waits: a preflight answers in seconds or says what it could not reach.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"})
# Error codes meaning "this call is not available here" rather than "the answer is no".
UNSUPPORTED = {"NotImplemented", "UnknownOperationException", "InvalidAction", "UnsupportedOperation",
               "UnrecognizedClientException", "404"}


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    detail: str

    def line(self, stream: Any = None) -> str:
        label = paint(f"{self.status:<7}", STYLE[self.status], stream or sys.stdout)
        return f"{label} {self.check:<22} {self.detail}"


class SkipCheck(Exception):  # noqa: N818 (not an error: a check that does not apply here)
    """A check that cannot be answered here (not the account's fault): reported as skipped."""


@dataclass
class Context:
    """The stack's configuration, and AWS clients in its region (made once each, or given by tests)."""

    cfg: StackConfig
    session: Any = None
    clients: dict[str, Any] = field(default_factory=dict)
    account: str | None = None

    def client(self, service: str, region: str | None = None) -> Any:
        key = f"{service}@{region or self.cfg.region}"
        if key not in self.clients:
            self.clients[key] = self.session.client(service, region_name=region or self.cfg.region,
                                                    config=CLIENT_CONFIG)
        return self.clients[key]

    def zones(self) -> list[str]:
        """The AZs the network uses: the first `azCount` available, non-opt-in zones, by name (as pulumi-aws's
        getAvailabilityZones returns them, sorted)."""
        if "zones" not in self.clients:
            answer = self.client("ec2").describe_availability_zones(Filters=[
                {"Name": "state", "Values": ["available"]},
                {"Name": "opt-in-status", "Values": ["opt-in-not-required"]}])
            self.clients["zones"] = sorted(z["ZoneName"] for z in answer["AvailabilityZones"]
                                           if z.get("ZoneType", "availability-zone") == "availability-zone")
        return list(self.clients["zones"][:self.cfg.network.az_count])


Check = Callable[[Context], Iterable[Result]]
CHECKS: list[tuple[str, Check]] = []


def check(name: str) -> Callable[[Check], Check]:
    """Register a check; it yields its results and may raise ClientError or SkipCheck (turned into `skipped`)."""
    def register(function: Check) -> Check:
        CHECKS.append((name, function))
        return function
    return register


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or error.response.get("ResponseMetadata", {}).get(
        "HTTPStatusCode", ""))


def run_check(name: str, function: Check, ctx: Context) -> list[Result]:
    """The check's results; an unsupported or unreachable call ends it with one `skipped` line saying why (the
    results it gave before that stand)."""
    results: list[Result] = []
    try:
        results.extend(function(ctx))
    except NoCredentialsError:
        raise
    except SkipCheck as reason:
        results.append(Result(name, "skipped", str(reason)))
    except ClientError as error:
        code = _error_code(error)
        why = "not supported here" if code in UNSUPPORTED else "no answer"
        message = error.response.get("Error", {}).get("Message") or ""
        results.append(Result(name, "skipped", f"{why}: {code} {_one_line(message)}".rstrip()))
    except (BotoCoreError, ResponseParserError) as error:
        results.append(Result(name, "skipped", f"{type(error).__name__}: {_one_line(str(error))}"))
    return results


def _one_line(text: str, limit: int = 160) -> str:
    """An error message on one line, without the HTML an emulator or a proxy may answer with."""
    plain = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return plain if len(plain) <= limit else plain[:limit - 1] + "…"


# ---- the checks -----------------------------------------------------------------------------------------------


@check("account")
def account(ctx: Context) -> Iterator[Result]:
    ctx.account = ctx.client("sts").get_caller_identity()["Account"]
    allowed = ctx.cfg.allowed_account_ids
    if not allowed:
        yield Result("account", "warn", f"{ctx.account}: envstack:allowedAccountIds is empty, so any account will do")
    elif ctx.account in allowed:
        yield Result("account", "ok", f"{ctx.account} is in envstack:allowedAccountIds")
    else:
        yield Result("account", "fail", f"the credentials are for account {ctx.account}, but stack "
                     f"{ctx.cfg.stack} may only deploy to {', '.join(allowed)} (envstack:allowedAccountIds)")


@check("availability-zones")
def availability_zones(ctx: Context) -> Iterator[Result]:
    zones, needed = ctx.zones(), ctx.cfg.network.az_count
    if len(zones) < needed:
        yield Result("availability-zones", "fail", f"{ctx.cfg.region} has {len(zones)} available AZs "
                     f"({', '.join(zones) or 'none'}); envstack:network.azCount needs {needed}")
    else:
        yield Result("availability-zones", "ok", f"{ctx.cfg.region}: {', '.join(zones)}")


@check("instance-types")
def instance_types(ctx: Context) -> Iterator[Result]:
    """Every node group's instance types offered in the AZs the node groups span (EC2
    DescribeInstanceTypeOfferings, location type availability-zone)."""
    zones = ctx.zones()
    wanted = sorted({t for group in ctx.cfg.cluster.node_groups.values() for t in group.instance_types})
    offered: dict[str, set[str]] = {t: set() for t in wanted}
    pages = ctx.client("ec2").get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": wanted},
                                                   {"Name": "location", "Values": zones}])
    for page in pages:
        for offer in page["InstanceTypeOfferings"]:
            offered.setdefault(offer["InstanceType"], set()).add(offer["Location"])
    for name, group in ctx.cfg.cluster.node_groups.items():
        for itype in group.instance_types:
            missing = [z for z in zones if z not in offered[itype]]
            where = f"envstack:cluster.nodeGroups.{name}.instanceTypes: {itype}"
            if len(missing) == len(zones):
                yield Result("instance-types", "fail", f"{where} is not offered in {', '.join(zones)}")
            elif missing:
                yield Result("instance-types", "warn", f"{where} is not offered in {', '.join(missing)}: the "
                             "group launches it in the other AZs only")
            else:
                yield Result("instance-types", "ok", f"{where} in {len(zones)} AZs")


@check("addon-versions")
def addon_versions(ctx: Context) -> Iterator[Result]:
    """Each pinned EKS add-on version exists for the cluster's Kubernetes version (EKS DescribeAddonVersions);
    a pin older than the current default is shown with it (refresh envstack/addon_versions.yaml)."""
    eks, version = ctx.client("eks"), ctx.cfg.cluster.version
    for addon, pinned in ctx.cfg.cluster.addon_versions.by_addon_name().items():
        answer = eks.describe_addon_versions(addonName=addon, kubernetesVersion=version)
        offered = [v for a in answer.get("addons", []) for v in a.get("addonVersions", [])]
        names = {v["addonVersion"] for v in offered}
        default = next((v["addonVersion"] for v in offered
                        if any(c.get("defaultVersion") for c in v.get("compatibilities", []))), None)
        label = f"{addon} {pinned}"
        if pinned not in names:
            yield Result("addon-versions", "fail", f"{label} is not offered for Kubernetes {version} (default: "
                         f"{default or 'none'}); update envstack/addon_versions.yaml")
        elif default and pinned != default:
            yield Result("addon-versions", "warn", f"{label} is offered; the current default is {default}")
        else:
            yield Result("addon-versions", "ok", f"{label} (the default for Kubernetes {version})")


@check("certificate")
def certificate(ctx: Context) -> Iterator[Result]:
    """The load balancer's ACM certificate: in the stack's region, ISSUED, not about to expire."""
    arn = ctx.cfg.load_balancer.certificate_arn
    if not arn:
        raise SkipCheck("no certificate: envstack:loadBalancer.tls is false")
    region = arn.split(":")[3] if arn.count(":") >= 5 else ""
    if region != ctx.cfg.region:
        yield Result("certificate", "fail", f"{arn} is in {region or 'no region'}; an ALB uses a certificate of "
                     f"its own region, {ctx.cfg.region} (envstack:loadBalancer.certificateArn)")
        return
    try:
        cert = ctx.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    except ClientError as error:
        if _error_code(error) not in ("ResourceNotFoundException", "ValidationException"):
            raise
        yield Result("certificate", "fail", f"{arn} does not exist in account {ctx.account or '?'} "
                     f"({ctx.cfg.region}): envstack:loadBalancer.certificateArn")
        return
    yield _certificate_state(arn, cert)


def _certificate_state(arn: str, cert: dict[str, Any], now: datetime | None = None) -> Result:
    status, expires = cert.get("Status"), cert.get("NotAfter")
    if status != "ISSUED":
        return Result("certificate", "fail", f"{arn} is {status}, not ISSUED: the HTTPS listener cannot use it")
    left = expires - (now or datetime.now(UTC)) if expires else None
    if left is not None and left < timedelta(days=CERTIFICATE_MIN_DAYS):
        return Result("certificate", "warn", f"{arn} expires {expires:%Y-%m-%d} ({left.days} days)")
    until = f", valid until {expires:%Y-%m-%d}" if expires else ""
    return Result("certificate", "ok", f"{cert.get('DomainName', arn)} ISSUED{until}")


@check("database-class")
def database_class(ctx: Context) -> Iterator[Result]:
    """The instance class is orderable for PostgreSQL of the pinned major, with gp3 (and Multi-AZ when asked):
    RDS DescribeOrderableDBInstanceOptions."""
    db = ctx.cfg.database
    pages = ctx.client("rds").get_paginator("describe_orderable_db_instance_options").paginate(
        Engine="postgres", DBInstanceClass=db.instance_class)
    major = db.engine_version.split(".")[0]
    options = [o for page in pages for o in page["OrderableDBInstanceOptions"]
               if o.get("EngineVersion", "").split(".")[0] == major]
    where = f"envstack:database.instanceClass: {db.instance_class} (PostgreSQL {major})"
    if not options:
        yield Result("database-class", "fail", f"{where} is not orderable in {ctx.cfg.region}")
        return
    gp3 = [o for o in options if o.get("StorageType") == "gp3"]
    if not gp3:
        yield Result("database-class", "fail", f"{where} is not offered with gp3 storage")
    elif db.multi_az and not any(o.get("MultiAZCapable") for o in gp3):
        yield Result("database-class", "fail", f"{where} is not offered Multi-AZ (envstack:database.multiAz)")
    else:
        yield Result("database-class", "ok", f"{where} with gp3{', Multi-AZ' if db.multi_az else ''}")


@check("cache-node-type")
def cache_node_type(ctx: Context) -> Iterator[Result]:
    """ElastiCache has no 'orderable options' call; every node type a region offers has reserved-node offerings,
    so none at all means the region lacks it (ElastiCache DescribeReservedCacheNodesOfferings, read-only)."""
    node_type = ctx.cfg.cache.node_type
    answer = ctx.client("elasticache").describe_reserved_cache_nodes_offerings(CacheNodeType=node_type,
                                                                               MaxRecords=20)
    where = f"envstack:cache.nodeType: {node_type}"
    if answer.get("ReservedCacheNodesOfferings"):
        yield Result("cache-node-type", "ok", f"{where} is offered in {ctx.cfg.region}")
    else:
        yield Result("cache-node-type", "fail", f"{where} has no offering in {ctx.cfg.region}")


@check("cost-allocation-tag")
def cost_allocation_tag(ctx: Context) -> Iterator[Result]:
    """The budget and the anomaly monitor filter on the `Stack` tag, which sees nothing until the payer account
    activates it as a cost-allocation tag (Cost Explorer ListCostAllocationTags)."""
    answer = ctx.client("ce", COST_EXPLORER_REGION).list_cost_allocation_tags(TagKeys=["Stack"],
                                                                             Type="UserDefined")
    states = {t["TagKey"]: t.get("Status") for t in answer.get("CostAllocationTags", [])}
    if states.get("Stack") == "Active":
        yield Result("cost-allocation-tag", "ok", "the Stack tag is an active cost-allocation tag")
    else:
        yield Result("cost-allocation-tag", "warn", f"the Stack tag is {states.get('Stack', 'not listed')}: the "
                     "budget and anomaly monitor see nothing until it is activated in the payer account (Billing > "
                     "Cost allocation tags)")


@check("roles")
def roles(ctx: Context) -> Iterator[Result]:
    """The roles the stack file maps into the cluster exist (IAM GetRole); EKS refuses an access entry for a
    principal that does not exist."""
    for key, arns in ctx.cfg.cluster.access_entry_roles.items():
        for arn in arns:
            owner, name = arn.split(":")[4], arn.rsplit("/", 1)[-1]
            if ctx.account and owner != ctx.account:
                yield Result("roles", "skipped", f"envstack:cluster.{key}: {arn} is in account {owner}, not the "
                             f"caller's {ctx.account}")
                continue
            try:
                ctx.client("iam").get_role(RoleName=name)
            except ClientError as error:
                if _error_code(error) != "NoSuchEntity":
                    raise
                yield Result("roles", "fail", f"envstack:cluster.{key}: {arn} does not exist")
                continue
            yield Result("roles", "ok", f"envstack:cluster.{key}: {arn}")


def _quota(ctx: Context, quota: tuple[str, str, str]) -> float:
    service, code, _ = quota
    sq = ctx.client("service-quotas")
    try:
        return float(sq.get_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]["Value"])
    except ClientError as error:
        if _error_code(error) != "NoSuchResourceException":
            raise
        # An account that never changed the quota has only the default.
        return float(sq.get_aws_default_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]["Value"])


def _room(check: str, name: str, used: int, needed: int, limit: float) -> Result:
    if used + needed > limit:
        return Result(check, "fail", f"{name}: {used} used + {needed} needed > quota {limit:g}: request an "
                      "increase (Service Quotas)")
    return Result(check, "ok", f"{name}: {used} used + {needed} needed <= quota {limit:g}")


def _stack_exists(ctx: Context) -> bool:
    """A stack that exists already (its VPC carries its Stack tag) needs no new VPC, Elastic IP or NAT gateway."""
    return bool(ctx.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [ctx.cfg.stack]}])["Vpcs"])


@check("quota-vpcs")
def quota_vpcs(ctx: Context) -> Iterator[Result]:
    used = len(ctx.client("ec2").describe_vpcs()["Vpcs"])
    yield _room("quota-vpcs", VPCS_PER_REGION[2], used, 0 if _stack_exists(ctx) else 1, _quota(ctx, VPCS_PER_REGION))


@check("quota-elastic-ips")
def quota_elastic_ips(ctx: Context) -> Iterator[Result]:
    """One Elastic IP per NAT gateway (envstack:network.natGateways)."""
    used = len(ctx.client("ec2").describe_addresses()["Addresses"])
    needed = 0 if _stack_exists(ctx) else ctx.cfg.network.nat_gateway_count
    yield _room("quota-elastic-ips", ELASTIC_IPS[2], used, needed, _quota(ctx, ELASTIC_IPS))


@check("quota-nat-gateways")
def quota_nat_gateways(ctx: Context) -> Iterator[Result]:
    """At most one new NAT gateway per AZ; the busiest of the stack's AZs decides."""
    if not ctx.cfg.network.nat_gateway_count or _stack_exists(ctx):
        raise SkipCheck("no new NAT gateway" if ctx.cfg.network.nat_gateway_count else "envstack:network.natGateways "
                   "is none")
    per_zone = _nat_gateways_per_zone(ctx.client("ec2"))
    zones = ctx.zones()
    busiest = max(zones, key=lambda z: per_zone.get(z, 0))
    yield _room("quota-nat-gateways", f"{NAT_GATEWAYS_PER_AZ[2]} (busiest: {busiest})", per_zone.get(busiest, 0),
                1, _quota(ctx, NAT_GATEWAYS_PER_AZ))


def _nat_gateways_per_zone(ec2: Any) -> dict[str, int]:
    """NAT gateways counting toward the quota (pending, available, deleting), per AZ of their subnet."""
    gateways = ec2.describe_nat_gateways(Filters=[{"Name": "state", "Values": ["pending", "available", "deleting"]}])
    subnets = [g["SubnetId"] for g in gateways["NatGateways"]]
    if not subnets:
        return {}
    zone_of = {s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}
    counts: dict[str, int] = {}
    for subnet in subnets:
        counts[zone_of.get(subnet, "?")] = counts.get(zone_of.get(subnet, "?"), 0) + 1
    return counts


# ---- the command ----------------------------------------------------------------------------------------------


def preflight(ctx: Context, only: Sequence[str] = ()) -> list[Result]:
    """Every check (or those named), in order; the account check first so later messages can name it."""
    results: list[Result] = []
    for name, function in CHECKS:
        if not only or name in only:
            results += run_check(name, function, ctx)
    return results


def exit_code(results: Sequence[Result]) -> int:
    return EXIT_REFUSED if any(r.status == "fail" for r in results) else EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load(args.stack, args.root).config
    except (ConfigError, FileNotFoundError) as error:
        return report_error(error, args.stack)
    ctx = Context(cfg, session=boto3.Session(region_name=cfg.region))
    print(f"envstack preflight {cfg.stack}  (environment {cfg.environment}, region {cfg.region})")
    try:
        results = preflight(ctx, args.check or ())
    except (NoCredentialsError, NoRegionError) as error:
        print(paint(f"stack {cfg.stack}: no AWS credentials: {error} (set AWS_PROFILE, or run where a role is "
                    "assumed)", "error", sys.stderr), file=sys.stderr)
        return EXIT_BAD_INPUT
    for result in results:
        print(result.line())
    if any(r.check == "account" and r.status == "skipped" for r in results):
        print(paint(f"stack {cfg.stack}: could not identify the caller (STS GetCallerIdentity): the other answers "
                    "may be about another account", "error", sys.stderr), file=sys.stderr)
        return EXIT_BAD_INPUT
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "warn", "fail", "skipped")}
    print(f"\n{len(results)} checks: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return exit_code(results)
