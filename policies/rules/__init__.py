"""envstack's rules, grouped by area. Importing this package declares every rule once, in a fixed order."""

from pulumi_policy import Policy

from . import alb, eks, kms_iam, monitoring, network, rds, redis, stack, storage, tags  # noqa: F401  (declare the rules)
from .base import CHECKOV, DEPLOYABILITY, REGISTRY, SOURCES

__all__ = ["CHECKOV", "DEPLOYABILITY", "SOURCES", "all_policies"]


def all_policies() -> list[Policy]:
    """Every rule of the pack (a new list; the policy objects are shared)."""
    return list(REGISTRY)
