"""The instance sizes AWS offers, checked offline and without importing a provider SDK (`envstack validate` stays
light): EC2 instance types and RDS instance classes from the enums pulumi-aws ships (its `ec2/_enums.py` and
`rds/_enums.py`, read as text), completed by the families those enums predate; ElastiCache node types by family.

A value is accepted when the SDK's enum lists it, or when its family is known and its size is one AWS names sizes
by; anything else is refused with the closest known value ("did you mean db.r7g.large?"). Whether AWS offers that
exact size of the family is left to the price table: an accepted size the table lacks is listed unpriced.
"""

import difflib
import importlib.util
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

# The sizes AWS names instances by (EC2 user guide, "Instance type naming conventions").
SIZES = ("nano", "micro", "small", "medium", "large", "xlarge",
         *(f"{n}xlarge" for n in (2, 3, 4, 6, 8, 9, 10, 12, 16, 18, 24, 32, 48)), "metal")
# RDS for PostgreSQL families newer than pulumi-aws's InstanceType enum (RDS user guide, "Supported DB engines for
# DB instance classes").
RDS_FAMILIES = ("t3", "t4g", "m5", "m5d", "m6g", "m6gd", "m6i", "m6id", "m6idn", "m6in", "m7g", "m7gd", "m7i",
                "m8g", "r5", "r5b", "r5d", "r6g", "r6gd", "r6i", "r6id", "r6idn", "r6in", "r7g", "r7gd", "r7i", "r8g",
                "x2g", "x2idn", "x2iedn", "x2iezn")
# ElastiCache node families (ElastiCache user guide, "Supported node types"): no SDK enum lists them.
CACHE_FAMILIES = ("t2", "t3", "t4g", "m4", "m5", "m6g", "m7g", "r4", "r5", "r6g", "r6gd", "r7g", "c7gn")
_SDK_VALUE = re.compile(r'^\s+[A-Z0-9_]+ = "([a-z0-9.-]+)"$', re.MULTILINE)


def _sdk_enum(module: str, enum: str) -> frozenset[str]:
    """The values of pulumi_aws.<module>._enums.<enum>, read from the source text (empty without the SDK)."""
    spec = importlib.util.find_spec("pulumi_aws")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    path = Path(next(iter(spec.submodule_search_locations))) / module / "_enums.py"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    body = re.search(rf"^class {enum}\(.*?(?=^class |\Z)", text, re.MULTILINE | re.DOTALL)
    return frozenset(_SDK_VALUE.findall(body.group(0))) if body else frozenset()


@cache
def ec2_instance_types() -> frozenset[str]:
    return _sdk_enum("ec2", "InstanceType")


@cache
def rds_instance_classes() -> frozenset[str]:
    return _sdk_enum("rds", "InstanceType") | {f"db.{f}.{s}" for f in RDS_FAMILIES for s in SIZES}


@cache
def cache_node_types() -> frozenset[str]:
    return frozenset(f"cache.{f}.{s}" for f in CACHE_FAMILIES for s in SIZES)


def _families(known: Iterable[str]) -> frozenset[str]:
    return frozenset(value.rpartition(".")[0] for value in known)


def _check(value: str, known: frozenset[str], expected: str) -> str:
    family, _, size = value.rpartition(".")
    if value in known or (family in _families(known) and size in SIZES):
        return value
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ValueError(f"expected {expected}{hint}")


def ec2_instance_type(value: str) -> str:
    return _check(value, ec2_instance_types(), "an EC2 instance type such as m7i.large or t3.medium (pulumi-aws's "
                                                "ec2.InstanceType)")


def rds_instance_class(value: str) -> str:
    return _check(value, rds_instance_classes(), "an RDS DB instance class such as db.t4g.micro or db.m7g.large "
                                                 "(db.<family>.<size>)")


def cache_node_type(value: str) -> str:
    return _check(value, cache_node_types(), "an ElastiCache node type such as cache.t4g.micro or cache.m7g.large "
                                             f"(cache.<family>.<size>, family one of {', '.join(CACHE_FAMILIES)})")
