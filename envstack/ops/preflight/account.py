"""Checks of the account itself: who the caller is, whether the region is enabled and has the AZs the stack needs,
and what the stack file names in it (the certificate, the roles, the cost-allocation tag)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from envstack.program.config.placeholders import placeholders
from envstack.program.zones import EKS_UNSUPPORTED_ZONE_IDS

from .core import Context, Result, SkipCheck, check, error_code, pages, unless_absent

CERTIFICATE_MIN_DAYS = 30  # an ACM certificate expiring sooner is worth a warning before a deploy
# Cost Explorer has one endpoint, in us-east-1 (Cost Explorer API reference, "Endpoints").
COST_EXPLORER_REGION = "us-east-1"
# A region of each partition that no account can disable (AWS Account Management reference guide: Regions introduced
# before March 20, 2019 are enabled by default and cannot be disabled): where the opt-in status of a region that is
# not enabled can still be asked.
ALWAYS_ENABLED = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


@check("account")
def account(ctx: Context) -> Iterator[Result]:
    ctx.caller()
    allowed = ctx.cfg.allowed_account_ids
    if not allowed:
        yield Result("account", "warn", f"{ctx.account}: envstack:allowedAccountIds is empty, so any account will do")
    elif ctx.account in allowed:
        yield Result("account", "ok", f"{ctx.account} is in envstack:allowedAccountIds")
    else:
        yield Result("account", "fail", f"the credentials are for account {ctx.account}, but stack "
                     f"{ctx.cfg.stack} may only deploy to {', '.join(allowed)} (envstack:allowedAccountIds)")


@check("placeholders")
def example_values(ctx: Context) -> Iterator[Result]:
    """Example values left in the configuration (a reserved domain, an account id of AWS's documentation): valid
    configuration that synth only warns about, refused before they reach the account (placeholders.py)."""
    found = placeholders(ctx.cfg)
    for placeholder in found:
        yield Result("placeholders", "fail", placeholder.line())
    if not found:
        yield Result("placeholders", "ok", "no example e-mail domain or documentation account id in the configuration")


@check("region")
def region(ctx: Context) -> Iterator[Result]:
    """The stack's region is enabled for the account (EC2 DescribeRegions with AllRegions: its opt-in status). Asked
    in the region itself; if it does not answer there, in a region of its partition that is always enabled."""
    name = ctx.cfg.region
    try:
        status = _opt_in_status(ctx, name)
    except (ClientError, BotoCoreError) as error:
        elsewhere = ALWAYS_ENABLED.get(botocore.session.get_session().get_partition_for_region(name) or "")
        if not elsewhere or elsewhere == name:
            raise
        try:
            status = _opt_in_status(ctx, elsewhere)
        except (ClientError, BotoCoreError):
            raise error from None
    if status in ("opt-in-not-required", "opted-in"):
        yield Result("region", "ok", f"{name} is enabled ({status})")
    else:
        yield Result("region", "fail", f"{name} is {status or 'not listed'} for this account: enable it (AWS "
                     "console: Account > AWS Regions) before deploying (envstack:region)")


def _opt_in_status(ctx: Context, asked_in: str) -> str | None:
    regions = ctx.client("ec2", asked_in).describe_regions(AllRegions=True, RegionNames=[ctx.cfg.region])["Regions"]
    return next((r.get("OptInStatus") for r in regions if r["RegionName"] == ctx.cfg.region), None)


@check("availability-zones")
def availability_zones(ctx: Context) -> Iterator[Result]:
    """Enough AZs for `network.azCount`, leaving out the zone IDs EKS does not support (as the network does)."""
    zones, needed = ctx.zones(), ctx.cfg.network.az_count
    ids = {z.name: z.zone_id for z in ctx.candidate_zones()}
    left_out = [f"{z.name} ({z.zone_id})" for z in ctx.candidate_zones() if z.zone_id in EKS_UNSUPPORTED_ZONE_IDS]
    note = f"; left out, EKS does not support it: {', '.join(left_out)}" if left_out else ""
    listed = ", ".join(f"{z} ({ids[z]})" if ids[z] else z for z in zones) or "none"
    if len(zones) < needed:
        yield Result("availability-zones", "fail", f"{ctx.cfg.region} has {len(zones)} usable AZs ({listed}){note}; "
                     f"envstack:network.azCount needs {needed}")
    else:
        yield Result("availability-zones", "ok", f"{ctx.cfg.region}: {listed}{note}")


@check("certificate")
def certificate(ctx: Context) -> Iterator[Result]:
    """The load balancer's ACM certificate exists in the caller's account, is ISSUED and not about to expire (its
    region is checked with the configuration)."""
    arn = ctx.cfg.load_balancer.certificate_arn
    if not arn:
        raise SkipCheck("no certificate: envstack:loadBalancer.tls is false")
    try:
        cert = ctx.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    except ClientError as error:
        if error_code(error) not in ("ResourceNotFoundException", "ValidationException"):
            raise
        yield Result("certificate", "fail", f"{arn} does not exist in account {ctx.account or '?'} "
                     f"({ctx.cfg.region}): envstack:loadBalancer.certificateArn")
        return
    yield certificate_state(arn, cert)


def certificate_state(arn: str, cert: dict[str, Any], now: datetime | None = None) -> Result:
    status, expires = cert.get("Status"), cert.get("NotAfter")
    if status != "ISSUED":
        return Result("certificate", "fail", f"{arn} is {status}, not ISSUED: the HTTPS listener cannot use it")
    left = expires - (now or datetime.now(UTC)) if expires else None
    if left is not None and left < timedelta(days=CERTIFICATE_MIN_DAYS):
        return Result("certificate", "warn", f"{arn} expires {expires:%Y-%m-%d} ({left.days} days)")
    until = f", valid until {expires:%Y-%m-%d}" if expires else ""
    return Result("certificate", "ok", f"{cert.get('DomainName', arn)} ISSUED{until}")


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
            found = unless_absent(partial(ctx.client("iam").get_role, RoleName=name), "NoSuchEntity")
            if found is None:
                yield Result("roles", "fail", f"envstack:cluster.{key}: {arn} does not exist")
                continue
            if (actual := found["Role"]["Arn"]) != arn:
                # GetRole finds a role by its name alone; EKS takes an access entry's principal by its full ARN,
                # path included, and refuses any other spelling ("The specified principalArn is invalid: invalid
                # principal", terraform-aws-eks#2969: an IAM Identity Center role without its
                # aws-reserved/sso.amazonaws.com/ path; aws/containers-roadmap#185: do not strip the path).
                yield Result("roles", "fail", f"envstack:cluster.{key}: {arn} is not the role's ARN {actual} "
                             "(EKS refuses an access entry whose principal ARN leaves out or changes the path)")
                continue
            yield Result("roles", "ok", f"envstack:cluster.{key}: {arn}")


def assumed_role(arn: str) -> tuple[str, str] | None:
    """(account, role name in lower case) of an assumed-role session ARN
    (arn:aws:sts::<account>:assumed-role/<name>/<session>: STS leaves the role's path out); None for any other
    caller (an IAM user, the root user, a federated user)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sts" or not parts[5].startswith("assumed-role/"):
        return None
    return parts[4], parts[5].split("/")[1].casefold()


@check("deployer")
def deployer(ctx: Context) -> Iterator[Result]:
    """The caller, who runs `pulumi up`, reaches the Kubernetes API once the cluster exists.

    With deployerRoleArn, envstack turns off the admin access EKS gives a cluster's creator (components/cluster.py,
    no_creator_admin_transform), so only the roles with an access entry of AmazonEKSClusterAdminPolicy reach the API:
    deployerRoleArn and adminRoleArns. Any other caller gets the cluster made, then every Kubernetes object of the
    baseline refused (Unauthorized), with the kubeconfig pulumi-eks writes (its token is the caller's).
    Without it (a dev stack), the creator keeps EKS's implicit admin entry: the caller must then have no explicit
    entry, or CreateAccessEntry fails with 409 ResourceInUseException (terraform-aws-eks#3293). Once the cluster
    exists, its admin is whoever created it: another caller (CI's role after a developer made the stack by hand)
    needs an access entry of its own, which EKS ListAccessEntries shows."""
    caller = ctx.caller()
    session = assumed_role(caller)
    roles = ctx.cfg.cluster.access_entry_roles

    def caller_is(keys: tuple[str, ...]) -> tuple[str, str] | None:
        return next(((key, arn) for key in keys for arn in roles[key]
                     if session and (arn.split(":")[4], arn.rsplit("/", 1)[-1].casefold()) == session), None)

    if not roles["deployerRoleArn"]:
        listed = caller_is(("adminRoleArns", "ciDeployerRoleArns", "viewerRoleArns"))
        entries = _access_entries(ctx)
        if entries is None:
            yield from _creator_keeps_admin(caller, listed)
        else:
            yield _existing_cluster_access(ctx, caller, listed, entries)
        return
    match = caller_is(("deployerRoleArn", "adminRoleArns"))
    if match:
        yield Result("deployer", "ok", f"the caller {caller} is envstack:cluster.{match[0]} {match[1]}: cluster admin")
        return
    yield Result("deployer", "fail", f"the caller {caller} is not envstack:cluster.deployerRoleArn nor one of "
                 "adminRoleArns: the cluster gives its creator no access of its own, so `pulumi up` with these "
                 "credentials would make the cluster and then be refused its Kubernetes objects (Unauthorized); run "
                 "it as the deployer role, or list this role in adminRoleArns")


def _access_entries(ctx: Context) -> list[str] | None:
    """The principal ARNs of the existing cluster's access entries (EKS ListAccessEntries: the creator's implicit
    entry is one of them), or None while there is no cluster."""
    eks = ctx.client("eks")
    if unless_absent(partial(eks.describe_cluster, name=ctx.cfg.name_prefix), "ResourceNotFoundException") is None:
        return None
    return list(pages(eks, "list_access_entries", "accessEntries", clusterName=ctx.cfg.name_prefix))


def _is(caller: str, principal: str) -> bool:
    """Whether an access entry's principal is the caller: an assumed role's session by account and role name (STS
    leaves the path out, the entry keeps it), anyone else by ARN."""
    session = assumed_role(caller)
    if session is None:
        return caller == principal
    return ":role/" in principal and (principal.split(":")[4], principal.rsplit("/", 1)[-1].casefold()) == session


def _existing_cluster_access(ctx: Context, caller: str, listed: tuple[str, str] | None, entries: list[str]) -> Result:
    """No deployerRoleArn and the cluster exists: its admin is whoever created it (EKS's implicit entry). Another
    caller, CI's role for one, reaches the Kubernetes API only through an entry of its own: without one `pulumi up`
    is refused the baseline's objects (Unauthorized) after changing the rest."""
    name = ctx.cfg.name_prefix
    if any(_is(caller, principal) for principal in entries):
        if listed and listed[0] != "adminRoleArns":
            return Result("deployer", "warn", f"the caller {caller} is envstack:cluster.{listed[0]} {listed[1]}: its "
                          f"entry on the existing cluster {name} gives it no cluster admin, so `pulumi up` with these "
                          "credentials would be refused the baseline's cluster-wide objects; run it as the cluster's "
                          "creator or one of adminRoleArns")
        return Result("deployer", "ok", f"the caller {caller} has an access entry on the existing cluster {name}")
    if listed and listed[0] == "adminRoleArns":
        return Result("deployer", "ok", f"the caller {caller} is envstack:cluster.adminRoleArns {listed[1]}: its "
                      f"entry on the existing cluster {name} is made by this deploy")
    return Result("deployer", "warn", f"the cluster {name} exists and has no access entry for the caller {caller}: "
                  "without envstack:cluster.deployerRoleArn only the cluster's creator is its admin, so `pulumi up` "
                  "with these credentials would be refused its Kubernetes objects (Unauthorized); have the creator "
                  "list this role in envstack:cluster.adminRoleArns and deploy once, or set deployerRoleArn")


def _creator_keeps_admin(caller: str, listed: tuple[str, str] | None) -> Iterator[Result]:
    """No deployerRoleArn: the caller creates the cluster and EKS gives it an implicit admin entry."""
    if listed:
        yield Result("deployer", "fail", f"the caller {caller} is envstack:cluster.{listed[0]} {listed[1]}: without "
                     "deployerRoleArn EKS gives the cluster's creator an admin entry of its own, and the explicit "
                     "entry for the same role then fails with 409 ResourceInUseException; name this role as "
                     "deployerRoleArn instead (its explicit entry then replaces the implicit one)")
        return
    yield Result("deployer", "ok", f"envstack:cluster.deployerRoleArn is not set: the caller {caller} creates the "
                 "cluster and is its admin through EKS's implicit creator entry (once it exists, its admin is "
                 "whoever created it)")


def stack_tag_status(ctx: Context) -> str | None:
    """The `Stack` cost-allocation tag's status in the payer account (Cost Explorer ListCostAllocationTags): Active,
    Inactive, or None while Billing has not seen it. A member account cannot tell (SkipCheck)."""
    try:
        answer = ctx.client("ce", COST_EXPLORER_REGION).list_cost_allocation_tags(TagKeys=["Stack"],
                                                                                 Type="UserDefined")
    except ClientError as error:
        # A member account of an organization cannot read them whatever its permissions (AccessDeniedException
        # "Linked account doesn't have access to cost allocation tags": aws/aws-parallelcluster-ui#242,
        # hashicorp/terraform-provider-aws#37636): the payer account is where to look.
        if "Linked account" not in str(error.response.get("Error", {}).get("Message")):
            raise
        raise SkipCheck(f"account {ctx.account or '?'} is a member account, which cannot read cost-allocation "
                        "tags: check that Stack is active in the payer account (Billing > Cost allocation tags)"
                        ) from None
    states = {t["TagKey"]: t.get("Status") for t in answer.get("CostAllocationTags", [])}
    return states.get("Stack")


@check("cost-allocation-tag")
def cost_allocation_tag(ctx: Context) -> Iterator[Result]:
    """The budget and the anomaly monitor filter on the `Stack` tag, which sees nothing until the payer account
    activates it as a cost-allocation tag."""
    status = stack_tag_status(ctx)
    if status == "Active":
        yield Result("cost-allocation-tag", "ok", "the Stack tag is an active cost-allocation tag")
    else:
        yield Result("cost-allocation-tag", "warn", f"the Stack tag is {status or 'not listed'}: the "
                     "budget and anomaly monitor see nothing until it is activated in the payer account (Billing > "
                     "Cost allocation tags)")
