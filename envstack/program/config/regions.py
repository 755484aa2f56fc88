"""The AWS regions and partitions a stack may deploy to: envstack/program/aws_partitions.json, written from botocore's
endpoints.json by `make partitions` (tests/test_regions.py fails when it is stale). A file in the repository, because
`pulumi up` runs without botocore (the runtime holds what the program imports, and it imports no AWS SDK)."""

import difflib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..paths import PARTITIONS_FILE

# What envstack creates, by botocore's service name: a partition without one of them cannot run a stack.
SERVICES = {
    "ec2": "EC2 (VPC)", "eks": "EKS", "eks-auth": "EKS Pod Identity", "rds": "RDS", "elasticache": "ElastiCache",
    "elasticloadbalancing": "Elastic Load Balancing", "wafv2": "WAF", "kms": "KMS", "logs": "CloudWatch Logs",
    "monitoring": "CloudWatch", "sns": "SNS", "s3": "S3", "ssm": "Systems Manager", "iam": "IAM",
    "budgets": "AWS Budgets", "ce": "Cost Explorer (cost anomaly detection)",
}


@dataclass(frozen=True)
class Partition:
    name: str  # aws, aws-cn, aws-us-gov, ...
    dns_suffix: str  # amazonaws.com, amazonaws.com.cn, ...
    regions: tuple[str, ...]
    missing: tuple[str, ...]  # SERVICES it has no endpoint for


@cache
def _data() -> dict[str, Any]:
    return json.loads(PARTITIONS_FILE.read_text(encoding="utf-8"))


@cache
def partitions() -> tuple[Partition, ...]:
    return tuple(Partition(name, p["dnsSuffix"], tuple(p["regions"]), tuple(p["missing"]))
                 for name, p in _data()["partitions"].items())


def known_regions() -> frozenset[str]:
    """Every region of every partition (aws, aws-cn, aws-us-gov, ...)."""
    return frozenset(region for partition in partitions() for region in partition.regions)


def partition_of(region: str) -> Partition:
    return next(p for p in partitions() if region in p.regions)


def supported_partitions() -> list[str]:
    return [p.name for p in partitions() if not p.missing]


def check_region(region: str) -> str:
    """`region` when AWS has it and its partition has every service envstack creates; else a ValueError."""
    if region not in known_regions():
        close = difflib.get_close_matches(region, sorted(known_regions()), n=3, cutoff=0.8)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"expected an AWS region such as us-west-2 (botocore's region list){hint}")
    partition = partition_of(region)
    if partition.missing:
        lacking = ", ".join(f"{SERVICES[s]} ({s})" for s in partition.missing)
        raise ValueError(f"a region of a partition with every service a stack creates "
                         f"({', '.join(supported_partitions())}): {region} is in {partition.name}, which has no "
                         f"{lacking} endpoint")
    return region
