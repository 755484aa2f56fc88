"""`make partitions`: envstack/program/aws_partitions.json from the installed botocore's endpoints.json: each
partition's DNS suffix, regions and which of the services envstack creates it has no endpoint for."""

import json
import sys
from pathlib import Path
from typing import Any

import botocore

from envstack.program.config.regions import SERVICES
from envstack.program.paths import PARTITIONS_FILE

ENDPOINTS = Path(botocore.__file__).parent / "data" / "endpoints.json"


def document() -> dict[str, Any]:
    endpoints = json.loads(ENDPOINTS.read_text(encoding="utf-8"))
    return {"source": f"botocore {botocore.__version__} data/endpoints.json (make partitions)", "partitions": {
        p["partition"]: {"dnsSuffix": p["dnsSuffix"], "regions": sorted(p["regions"]),
                         "missing": [s for s in SERVICES if s not in p["services"]]}
        for p in endpoints["partitions"]}}


def render() -> str:
    return json.dumps(document(), indent=1) + "\n"


def stale() -> bool:
    return not PARTITIONS_FILE.exists() or PARTITIONS_FILE.read_text(encoding="utf-8") != render()


if __name__ == "__main__":
    if stale():
        PARTITIONS_FILE.write_text(render(), encoding="utf-8")
        print(f"wrote {PARTITIONS_FILE.relative_to(PARTITIONS_FILE.parents[2])}")
    sys.exit(0)
