"""The AWS regions botocore knows (its endpoints.json, shipped offline), read without importing botocore."""

import difflib
import importlib.util
import json
from functools import cache
from pathlib import Path


@cache
def known_regions() -> frozenset[str]:
    """Every region of every partition (aws, aws-cn, aws-us-gov, ...) in the installed botocore."""
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("botocore is not installed: it ships the AWS region list envstack validates against")
    endpoints = Path(next(iter(spec.submodule_search_locations))) / "data" / "endpoints.json"
    partitions = json.loads(endpoints.read_text(encoding="utf-8"))["partitions"]
    return frozenset(region for partition in partitions for region in partition["regions"])


def check_region(region: str) -> str:
    """`region` when AWS has it; else a ValueError naming the closest regions."""
    if region not in known_regions():
        close = difflib.get_close_matches(region, sorted(known_regions()), n=3, cutoff=0.8)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"expected an AWS region such as us-west-2 (botocore's region list){hint}")
    return region
