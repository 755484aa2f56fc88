"""The envstack policy pack's identity and rules, importable without starting the policy gRPC server."""

from pulumi_policy import EnforcementLevel

from .rules import all_policies

NAME = "envstack"
DESCRIPTION = "Production gate for envstack: RDS, Redis, EKS, ALB, network, logging, KMS/IAM, tags and protect."
ENFORCEMENT_LEVEL = EnforcementLevel.ADVISORY  # default for rules that set none (all of ours set one)

__all__ = ["DESCRIPTION", "ENFORCEMENT_LEVEL", "NAME", "all_policies"]
