"""Room under the service quotas a new stack consumes: a VPC, an Elastic IP and a NAT gateway per NAT gateway of
`network.natGateways` (at most one more in each AZ). A stack whose VPC exists already needs none of them."""

from collections import Counter
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .core import Context, Result, SkipCheck, check, error_code, pages

# Service Quotas codes (Amazon VPC guide, "Amazon VPC quotas"; Service Quotas console): (service, code, name). The
# vpc ones are in moto's copy of the Service Quotas list (moto/servicequotas/resources/default_quotas/vpc.py,
# checked by tests/test_preflight.py); ec2 L-0263D0A3 as brennerm/aws-quota-checker (aws_quota/check/ec2.py) asks it.
VPCS_PER_REGION = ("vpc", "L-F678F1CE", "VPCs per Region")
ELASTIC_IPS = ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs")
NAT_GATEWAYS_PER_AZ = ("vpc", "L-FE5A380F", "NAT gateways per Availability Zone")


def _quota(ctx: Context, quota: tuple[str, str, str]) -> float:
    service, code, _ = quota
    sq = ctx.client("service-quotas")
    try:
        return float(sq.get_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]["Value"])
    except ClientError as error:
        if error_code(error) != "NoSuchResourceException":
            raise
        # An account that never changed the quota has only the default.
        return float(sq.get_aws_default_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]["Value"])


def _elastic_ip_quota(ctx: Context) -> float:
    """Service Quotas' answer, else EC2's own (DescribeAccountAttributes vpc-max-elastic-ips) when Service Quotas
    does not answer (no permission, an emulator)."""
    try:
        return _quota(ctx, ELASTIC_IPS)
    except (ClientError, BotoCoreError) as error:
        attributes = ctx.client("ec2").describe_account_attributes(AttributeNames=["vpc-max-elastic-ips"])
        values = [v["AttributeValue"] for a in attributes["AccountAttributes"]
                  if a["AttributeName"] == "vpc-max-elastic-ips" for v in a["AttributeValues"]]
        if not values:
            raise error from None
        return float(values[0])


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
    used = sum(1 for _ in pages(ctx.client("ec2"), "describe_vpcs", "Vpcs"))
    yield _room("quota-vpcs", VPCS_PER_REGION[2], used, 0 if _stack_exists(ctx) else 1, _quota(ctx, VPCS_PER_REGION))


@check("quota-elastic-ips")
def quota_elastic_ips(ctx: Context) -> Iterator[Result]:
    """One Elastic IP per NAT gateway (envstack:network.natGateways)."""
    used = len(ctx.client("ec2").describe_addresses()["Addresses"])
    needed = 0 if _stack_exists(ctx) else ctx.cfg.network.nat_gateway_count
    yield _room("quota-elastic-ips", ELASTIC_IPS[2], used, needed, _elastic_ip_quota(ctx))


@check("quota-nat-gateways")
def quota_nat_gateways(ctx: Context) -> Iterator[Result]:
    """At most one new NAT gateway per AZ; the busiest of the stack's AZs decides."""
    if not ctx.cfg.network.nat_gateway_count:
        raise SkipCheck("envstack:network.natGateways is none")
    if _stack_exists(ctx):
        raise SkipCheck("no new NAT gateway: the stack's VPC exists")
    per_zone = _nat_gateways_per_zone(ctx.client("ec2"))
    busiest = max(ctx.zones(), key=lambda z: per_zone[z])
    yield _room("quota-nat-gateways", f"{NAT_GATEWAYS_PER_AZ[2]} (busiest: {busiest})", per_zone[busiest], 1,
                _quota(ctx, NAT_GATEWAYS_PER_AZ))


def _nat_gateways_per_zone(ec2: Any) -> Counter[str]:
    """NAT gateways counting toward the quota (pending, available, deleting), per AZ of their subnet."""
    counted = [{"Name": "state", "Values": ["pending", "available", "deleting"]}]
    subnets = [g["SubnetId"] for g in pages(ec2, "describe_nat_gateways", "NatGateways", Filters=counted)]
    if not subnets:
        return Counter()
    zone_of = {s["SubnetId"]: s["AvailabilityZone"]
               for s in ec2.describe_subnets(SubnetIds=sorted(set(subnets)))["Subnets"]}
    return Counter(zone_of.get(subnet, "?") for subnet in subnets)
