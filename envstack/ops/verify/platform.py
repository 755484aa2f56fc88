"""The account the outputs belong to, and the EKS control plane, its add-ons and node groups."""

from collections.abc import Iterator
from typing import Any

from envstack.ops.preflight.core import unless_absent

from .core import Result, VerifyContext, check, pages


def health(described: dict[str, Any]) -> list[str]:
    """An EKS cluster's, add-on's or node group's health issues, one string each."""
    return [f"{i.get('code')}: {i.get('message')}" for i in described.get("health", {}).get("issues", [])]


@check("account")
def account(ctx: VerifyContext) -> Iterator[Result]:
    """The caller is in the stack's account: the outputs' ARNs name it (every other answer would be another
    account's), and the configuration allows it."""
    ctx.caller()
    stack_account = str(ctx.output("targetGroupArn")).split(":")[4]
    allowed = ctx.cfg.allowed_account_ids
    if ctx.account != stack_account:
        yield Result("account", "fail", f"the credentials are for account {ctx.account}, but stack {ctx.cfg.stack} "
                     f"runs in {stack_account} (its outputs' ARNs): verify it with that account's credentials")
    elif allowed and ctx.account not in allowed:
        yield Result("account", "fail", f"stack {ctx.cfg.stack} runs in account {ctx.account}, which "
                     f"envstack:allowedAccountIds ({', '.join(allowed)}) does not list")
    else:
        yield Result("account", "ok", f"{ctx.account}, where the stack's resources are")


@check("cluster")
def cluster(ctx: VerifyContext) -> Iterator[Result]:
    """EKS DescribeCluster: ACTIVE, on the configured Kubernetes version, without health issues."""
    eks = unless_absent(ctx.eks_cluster, "ResourceNotFoundException")
    if eks is None:
        yield Result("cluster", "fail", f"cluster {ctx.output('clusterName')} does not exist")
        return
    name, status, version = eks["name"], eks.get("status"), eks.get("version")
    issues = health(eks)
    if status != "ACTIVE":
        yield Result("cluster", "fail", f"{name} is {status}, not ACTIVE")
    elif version != ctx.cfg.cluster.version:
        yield Result("cluster", "fail", f"{name} runs Kubernetes {version}, envstack:cluster.version says "
                     f"{ctx.cfg.cluster.version} (an upgrade that did not finish?)")
    elif issues:
        yield Result("cluster", "fail", f"{name}: health issues: {'; '.join(issues)}")
    else:
        yield Result("cluster", "ok", f"{name} ACTIVE, Kubernetes {version}")


@check("addons")
def addons(ctx: VerifyContext) -> Iterator[Result]:
    """Every EKS add-on of the cluster ACTIVE (EKS ListAddons, DescribeAddon), each pinned one present at its pin."""
    name = ctx.output("clusterName")
    eks = ctx.client("eks")
    pins = ctx.cfg.cluster.addon_versions.by_addon_name()
    installed = list(pages(eks, "list_addons", "addons", clusterName=name))
    for addon in sorted(set(pins) - set(installed)):
        yield Result("addons", "fail", f"{addon} is not installed (pinned at {pins[addon]})")
    for addon in installed:
        found = eks.describe_addon(clusterName=name, addonName=addon)["addon"]
        status, version = found.get("status"), found.get("addonVersion")
        issues = health(found)
        if status != "ACTIVE":
            yield Result("addons", "fail", f"{addon} {version} is {status}{': ' + '; '.join(issues) if issues else ''}")
        elif addon in pins and version != pins[addon]:
            yield Result("addons", "fail", f"{addon} runs {version}, pinned at {pins[addon]} (addon_versions.yaml)")
        else:
            yield Result("addons", "ok", f"{addon} {version} ACTIVE")


@check("node-groups")
def node_groups(ctx: VerifyContext) -> Iterator[Result]:
    """Every managed node group ACTIVE and on the cluster's version (EKS ListNodegroups, DescribeNodegroup), as many
    as envstack:cluster.nodeGroups lists."""
    name = ctx.output("clusterName")
    eks = ctx.client("eks")
    version = ctx.eks_cluster().get("version")
    groups = list(pages(eks, "list_nodegroups", "nodegroups", clusterName=name))
    configured = len(ctx.cfg.cluster.node_groups)
    if len(groups) != configured:
        yield Result("node-groups", "fail", f"{name} has {len(groups)} node groups, envstack:cluster.nodeGroups lists "
                     f"{configured}")
    for group in groups:
        found = eks.describe_nodegroup(clusterName=name, nodegroupName=group)["nodegroup"]
        status, at = found.get("status"), found.get("version")
        issues = health(found)
        scaling = found.get("scalingConfig", {})
        size = f"{scaling.get('desiredSize')} of {scaling.get('minSize')}-{scaling.get('maxSize')} nodes"
        if status != "ACTIVE":
            yield Result("node-groups", "fail", f"{group} is {status}{': ' + '; '.join(issues) if issues else ''}")
        elif at != version:
            yield Result("node-groups", "fail", f"{group} runs Kubernetes {at}, the cluster {version}: its nodes were "
                         "not rolled to the cluster's version")
        elif issues:
            yield Result("node-groups", "fail", f"{group}: health issues: {'; '.join(issues)}")
        else:
            yield Result("node-groups", "ok", f"{group} ACTIVE, Kubernetes {at}, {size}")
