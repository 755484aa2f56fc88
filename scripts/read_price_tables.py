"""Prices every instance size the published tables offer in every region envstack/tools/prices.yaml prices:
`python scripts/read_price_tables.py [--tables DIR]`.

Until the Price List offer files are reachable (scripts/update_prices.py), the instance items of prices.yaml are
read from the public tables its `sources:` block pins (`repository@commit:path`): EC2 Linux on-demand, shared
tenancy (aws-price-watcher's processed/ec2.json; in us-east-1 Karpenter's newer table first), RDS for PostgreSQL
single-AZ and Multi-AZ with one standby (processed/rds-postgresql-ondemand.json; not the Multi-AZ DB cluster's
"readable standbys" rows) and ElastiCache per engine envstack runs (processed/elasticache.json). Only the sizes
`envstack validate` accepts are kept (every size it accepts that a table offers is priced). Each figure records its
`source:`; the rest of the file is kept as written.

It fetches each table from raw.githubusercontent.com at the pinned commit (it needs the network: maintainers run it,
CI never does), or reads it from DIR/<owner>/<name>/<path> with `--tables DIR` (tests/test_read_price_tables.py
runs it on small cuts of the real tables in tests/fixtures/price_tables/).
"""

import argparse
import json
import re
import sys
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from update_prices import render  # scripts/ is on sys.path when run as a script

from envstack.program.config import sizes
from envstack.program.config.cache import ENGINE_MAJORS
from envstack.tools.prices import PRICES_FILE, read_yaml

# The tables name regions by the pricing pages' location names.
LOCATIONS = {"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-2": "US West (Oregon)",
             "us-west-1": "US West (N. California)", "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)",
             "eu-central-1": "EU (Frankfurt)", "eu-north-1": "EU (Stockholm)"}
EC2 = "aws-price-watcher:processed/ec2.json"
RDS = "aws-price-watcher:processed/rds-postgresql-ondemand.json"
CACHE = "aws-price-watcher:processed/elasticache.json"
KARPENTER = "karpenter"
# Per size, per location: "OnDemand Linux-instancetype-m7i.large" -> {"US West (Oregon)": "0.1008000000", ...}
_EC2_KEY = re.compile(r"^OnDemand Linux-instancetype-(?P<size>[a-z0-9.-]+)$")
# "Database Instance PostgreSQL No license required db r7g.large Memory optimized Single-AZ Current Generation";
# locations carry the size's specification: "EU (Ireland) (Instance Type: db.r7g.large, ...)".
_RDS_KEY = re.compile(r"^Database Instance PostgreSQL No license required db (?P<size>\S+) .+? "
                      r"(?P<deployment>Single-AZ|Multi-AZ|Multi-AZ readable standbys) (Current|Previous) Generation$")
# "[OnDemand Cache Instance ...] OnDemand Cache Instance Standard cache m7g.large Valkey Current Generation"
_CACHE_KEY = re.compile(r"\] OnDemand Cache Instance .+? cache (?P<size>\S+) (?P<engine>[A-Za-z]+) "
                        r"(?:datatiering )?(Current|Previous) Generation$")
# Karpenter's Go table: `"m7i.large": 0.100800,` under `"us-east-1": {`.
_KARPENTER_REGION = re.compile(r'^\t"(?P<region>[a-z0-9-]+)": \{$(?P<body>.*?)^\t\},?$', re.MULTILINE | re.DOTALL)
_KARPENTER_PRICE = re.compile(r'"(?P<size>[a-z0-9.-]+)": (?P<usd>[0-9.]+)')
INSTANCE_ITEMS = ("ec2_instance", "rds_instance", "rds_instance_multi_az", "elasticache_node")

Table = dict[str, dict[str, float]]  # location (or region) -> size -> USD an hour
Read = Callable[[str], str]  # "owner/name@commit:path" -> the file's text


def _location(name: str) -> str:
    """"EU (Ireland) (Instance Type: db.r7g.large, ...)" -> "EU (Ireland)"."""
    return name.split(" (Instance Type:")[0]


def _add(table: Table, location: str, size: str, usd: str | float) -> None:
    price = float(usd)
    if price > 0:  # a zero is a placeholder row, never a price
        table.setdefault(_location(location), {})[size] = round(price, 6)


def ec2_table(text: str) -> Table:
    table: Table = {}
    for key, by_location in json.loads(text).items():
        if match := _EC2_KEY.match(key):
            for location, usd in by_location.items():
                _add(table, location, match["size"], usd)
    return table


def rds_tables(text: str) -> dict[str, Table]:
    """Single-AZ and Multi-AZ (a primary and one standby) instance-hours by location."""
    tables: dict[str, Table] = {"Single-AZ": {}, "Multi-AZ": {}}
    for key, by_location in json.loads(text).items():
        match = _RDS_KEY.match(key)
        if match and match["deployment"] in tables:
            for location, usd in by_location.items():
                _add(tables[match["deployment"]], location, f"db.{match['size']}", usd)
    return tables


def cache_tables(text: str) -> dict[str, Table]:
    """Node-hours by engine (lowercase, as envstack names it) and location."""
    tables: dict[str, Table] = {}
    for key, by_location in json.loads(text).items():
        if match := _CACHE_KEY.search(key):
            for location, usd in by_location.items():
                _add(tables.setdefault(match["engine"].lower(), {}), location, f"cache.{match['size']}", usd)
    return tables


def karpenter_table(text: str) -> Table:
    """Karpenter's table, keyed by region code (not location)."""
    return {m["region"]: {p["size"]: round(float(p["usd"]), 6) for p in _KARPENTER_PRICE.finditer(m["body"])}
            for m in _KARPENTER_REGION.finditer(text)}


def _accepted(check: Callable[[str], str], size: str) -> bool:
    try:
        check(size)
    except ValueError:
        return False
    return True


def _priced(rows: Iterable[tuple[str, float, str]], check: Callable[[str], str]) -> dict[str, Any]:
    """`size: {usd, source}` for every size `envstack validate` accepts, sorted; the first source listed wins."""
    found: dict[str, dict[str, Any]] = {}
    for size, usd, source in rows:
        if size not in found and _accepted(check, size):
            found[size] = {"usd": usd, "source": source}
    return dict(sorted(found.items()))


def region_prices(region: str, tables: Mapping[str, Any]) -> dict[str, Any]:
    """The instance items of `region`: each an empty mapping when no table prices the region."""
    where = LOCATIONS.get(region, region)
    karpenter = tables[KARPENTER].get(region, {})
    ec2 = [*((s, u, KARPENTER) for s, u in karpenter.items()),
           *((s, u, EC2) for s, u in tables[EC2].get(where, {}).items())]
    rds = tables[RDS]
    return {
        "ec2_instance": _priced(ec2, sizes.ec2_instance_type),
        "rds_instance": _priced(((s, u, RDS) for s, u in rds["Single-AZ"].get(where, {}).items()),
                                sizes.rds_instance_class),
        "rds_instance_multi_az": _priced(((s, u, RDS) for s, u in rds["Multi-AZ"].get(where, {}).items()),
                                         sizes.rds_instance_class),
        "elasticache_node": {engine: _priced(((s, u, CACHE) for s, u in tables[CACHE].get(engine, {})
                                              .get(where, {}).items()), sizes.cache_node_type)
                             for engine in ENGINE_MAJORS},
    }


def _listed(table: Table) -> set[str]:
    """Every size a table lists at any location."""
    return {size for sizes_there in table.values() for size in sizes_there}


def region_not_offered(region: str, tables: Mapping[str, Any], priced: Mapping[str, Any]) -> dict[str, Any]:
    """Per instance item, the accepted sizes the region's tables list at other locations but not at the region's:
    the tables' evidence that the region does not offer them (empty where a table has no row for the region)."""
    where = LOCATIONS.get(region, region)
    rds, cache = tables[RDS], tables[CACHE]

    def missing(table: Table, item_prices: Mapping[str, Any], check: Callable[[str], str]) -> list[str]:
        if where not in table and not item_prices:
            return []
        return sorted(s for s in _listed(table) - set(item_prices) if _accepted(check, s))

    return {  # Karpenter's table covers us-east-1 only: it says nothing of the other regions
        "ec2_instance": missing(tables[EC2], priced["ec2_instance"], sizes.ec2_instance_type),
        "rds_instance": missing(rds["Single-AZ"], priced["rds_instance"], sizes.rds_instance_class),
        "rds_instance_multi_az": missing(rds["Multi-AZ"], priced["rds_instance_multi_az"], sizes.rds_instance_class),
        "elasticache_node": {engine: missing(cache.get(engine, {}), priced["elasticache_node"][engine],
                                             sizes.cache_node_type) for engine in ENGINE_MAJORS},
    }


def read_tables(sources: Mapping[str, Mapping[str, Any]], read: Read) -> dict[str, Any]:
    """The four tables, each read from the file its `sources:` entry pins."""
    text = {name: read(sources[name]["table"]) for name in (EC2, RDS, CACHE, KARPENTER)}
    return {EC2: ec2_table(text[EC2]), RDS: rds_tables(text[RDS]), CACHE: cache_tables(text[CACHE]),
            KARPENTER: karpenter_table(text[KARPENTER])}


def _split(pinned: str) -> tuple[str, str, str]:
    """"owner/name@commit:path" -> (owner/name, commit, path)."""
    repo, _, rest = pinned.partition("@")
    commit, _, path = rest.partition(":")
    return repo, commit, path


def from_github(pinned: str) -> str:
    repo, commit, path = _split(pinned)
    with urllib.request.urlopen(f"https://raw.githubusercontent.com/{repo}/{commit}/{path}", timeout=300) as response:
        return str(response.read().decode())


def from_directory(root: Path) -> Read:
    def read(pinned: str) -> str:
        repo, _, path = _split(pinned)
        return (root / repo / path).read_text()
    return read


def _with_multi_az(mapping: Mapping[str, Any], value: Any) -> dict[str, Any]:
    """`mapping` with rds_instance_multi_az set to `value`, placed right after rds_instance."""
    out: dict[str, Any] = {}
    for key, sub in mapping.items():
        if key != "rds_instance_multi_az":
            out[key] = sub
        if key == "rds_instance":
            out["rds_instance_multi_az"] = value
    return out


def rewrite(text: str, read: Read) -> tuple[str, dict[str, dict[str, int]]]:
    """prices.yaml's text with every region's instance items read from the tables; the sizes priced per region."""
    data = read_yaml(text)
    tables = read_tables(data["sources"], read)
    as_of = {str(regional["as_of"]) for regional in data["regions"].values()}
    if len(as_of) != 1:
        raise ValueError(f"expected one as_of for every region, found {sorted(as_of)}")
    regions, counts, not_offered = {}, {}, {}
    for region, regional in data["regions"].items():
        prices = dict(regional["prices"])
        found = region_prices(region, tables)
        for item in INSTANCE_ITEMS:
            if found[item] and any(found[item].values()):
                prices[item] = found[item]
            else:
                prices.pop(item, None)
        regions[region] = _with_multi_az(prices, prices["rds_instance_multi_az"]) \
            if "rds_instance_multi_az" in prices else prices
        not_offered[region] = _non_empty(region_not_offered(region, tables, found))
        counts[region] = {item: sum(len(v) for v in prices[item].values()) if item == "elasticache_node"
                          else len(prices.get(item, {})) for item in INSTANCE_ITEMS}
    return render(text[:text.index("\nregions:")], regions, as_of.pop(), not_offered), counts


def _non_empty(value: Mapping[str, Any]) -> dict[str, Any]:
    """`value` without its empty lists and mappings."""
    out = {k: _non_empty(v) if isinstance(v, Mapping) else v for k, v in value.items()}
    return {k: v for k, v in out.items() if v}


def main(argv: list[str] | None = None, prices_file: Path = PRICES_FILE) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=Path, metavar="DIR", help="read the tables from DIR/<owner>/<name>/<path>")
    args = parser.parse_args(argv)
    read = from_directory(args.tables) if args.tables else from_github
    text, counts = rewrite(prices_file.read_text(), read)
    prices_file.write_text(text)
    print(f"wrote {prices_file}")
    for region, by_item in counts.items():
        print(f"{region}: " + ", ".join(f"{n} {item}" for item, n in by_item.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
