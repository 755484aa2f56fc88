"""Which `namespace:key` a stack may set, outside `envstack:` (whose keys the models check).

Pulumi hands every key of a stack file to the program, and the program reads only the ones it knows: a misspelt
namespace (`envstak:database`) or provider key (`aws:regoin`) would otherwise be ignored and a default used instead.

- `aws:` keys: envstack deploys through its own AWS provider (envstack/program/provider.py; Pulumi.yaml disables the
  default one), and an explicit provider reads none of the `aws:` stack settings (pulumi/pulumi-aws#1307, "by
  design"). So `aws:region` is the only one envstack reads; any other setting pulumi-aws defines would be ignored,
  and is refused saying so; a key pulumi-aws does not define is refused as unknown. The keys pulumi-aws defines are
  read from the installed package's config module as text (importing pulumi_aws takes seconds; `envstack validate`
  must not).
- `pulumi:` keys: the engine's own settings (stack tags, default providers, autonaming).
- `kubernetes:` keys: envstack's Kubernetes provider is built from the cluster's kubeconfig (components/cluster.py),
  an explicit provider too: its settings would be ignored.
- Any other namespace is unknown (pulumi-eks and pulumi-random have no configuration of their own).
"""

import difflib
import importlib.util
import re
from functools import cache
from pathlib import Path

NAMESPACE = "envstack"
REGION_KEY = "aws:region"
PULUMI_KEYS = ("tags", "disable-default-providers", "autonaming")  # the engine's documented project/stack settings
# What to set instead of an `aws:` setting envstack's provider does not read.
AWS_INSTEAD = {
    "allowedAccountIds": "envstack:allowedAccountIds",
    "defaultTags": "envstack:owner, envstack:team and envstack:repository (every resource's tags)",
    "profile": "the AWS_PROFILE environment variable",
    "accessKey": "the environment's credentials (AWS_PROFILE, or a role assumed by CI)",
    "secretKey": "the environment's credentials (AWS_PROFILE, or a role assumed by CI)",
    "token": "the environment's credentials (AWS_PROFILE, or a role assumed by CI)",
    "assumeRoles": "the environment's credentials (AWS_PROFILE with role_arn, or a role assumed by CI)",
}
_CONFIG_KEY = re.compile(r"__config__\.get(?:_[a-z]+)?\('([A-Za-z0-9]+)'\)")


@cache
def aws_keys() -> frozenset[str]:
    """The `aws:` keys the installed pulumi-aws defines (its config/vars.py, read as text)."""
    spec = importlib.util.find_spec("pulumi_aws")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pulumi_aws is not installed: its configuration keys are what aws: settings are checked "
                           "against")
    source = Path(next(iter(spec.submodule_search_locations))) / "config" / "vars.py"
    return frozenset(_CONFIG_KEY.findall(source.read_text(encoding="utf-8")))


def key_problem(key: str) -> str | None:
    """Why a stack may not set `key` (`namespace:name`), or None when it may (or when envstack's models judge it)."""
    namespace, _, name = key.partition(":")
    if namespace == NAMESPACE or key == REGION_KEY:
        return None
    if namespace == "aws":
        return _aws(name)
    if namespace == "pulumi":
        return None if name in PULUMI_KEYS else _unknown("pulumi", name, PULUMI_KEYS)
    if namespace == "kubernetes":
        return ("envstack's Kubernetes provider is built from the cluster's kubeconfig (components/cluster.py), so "
                "kubernetes: settings would be ignored; remove it")
    close = difflib.get_close_matches(namespace, [NAMESPACE, "aws", "pulumi"], n=1)
    hint = f"; did you mean {close[0]}:{name}?" if close else ""
    return (f"unknown namespace {namespace!r}{hint} (a stack file sets {NAMESPACE}: keys, aws:region and the "
            "engine's pulumi: settings)")


def _aws(name: str) -> str:
    if name not in aws_keys():
        return _unknown("aws", name, sorted(aws_keys()))
    instead = AWS_INSTEAD.get(name, "the provider's environment variables (AWS_*)")
    return (f"a setting of Pulumi's default AWS provider, which envstack does not use: its own provider reads "
            f"only aws:region from the stack (pulumi/pulumi-aws#1307), so this would be ignored; use {instead}")


def _unknown(namespace: str, name: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"unknown key; did you mean {namespace}:{close[0]}?"
    return f"unknown key; {namespace}: keys are {', '.join(known)}"
