"""Regenerates envstack/tools/prices.yaml from AWS's public Price List offer files:
`python scripts/update_prices.py [--region REGION ...] [--offers DIR]`.

`--offers DIR` reads them from a local copy laid out as the Price List host serves them
(`DIR/offers/v1.0/aws/<offer>/current/region_index.json` and the files it points to) instead of the network: a
mirror, or the same paths downloaded on a machine that has the network.

It needs the network, so maintainers run it (CI never does: tests/test_update_prices.py runs it on the small offer
files in tests/fixtures/offers/). For each service envstack prices it reads the service's region index
(`/offers/v1.0/aws/<offer>/current/region_index.json`) and each region's offer file, keeps the on-demand products
SPECS describes, and writes every price with the product's SKU and its term's effective date. The file's header
(everything before `regions:`, with the items' units and assumptions) is kept as written. Instance tables list
every size of the families the table already has or a profile or stack file configures. A product SPECS expects
but a region lacks is left out (the estimate then lists its line as unpriced); two products where one was expected
stop the script: SPECS must be made precise.

Offer files (Billing user guide, "Reading the service price list file"): `products` keyed by SKU with `attributes`
(`usagetype`, `instanceType`, ...); `terms.OnDemand[sku][offerTermCode]` with `effectiveDate` and
`priceDimensions[rateCode]` (`beginRange`, `endRange`, `unit`, `pricePerUnit.USD`).
"""

import argparse
import json
import sys
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envstack.tools.prices import PRICES_FILE, read_yaml

BASE_URL = "https://pricing.us-east-1.amazonaws.com"
REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1")
Fetch = Callable[[str], Mapping[str, Any]]
LINUX = {"productFamily": "Compute Instance", "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
         "capacitystatus": "Used", "licenseModel": "No License required"}


@dataclass(frozen=True)
class Spec:
    """Which products of an offer file give an item's price."""
    offer: str
    usagetype: str = ""  # the usage type without its region prefix (us-east-1's have none: USW2-NatGateway-Hours)
    attributes: Mapping[str, str] = field(default_factory=dict)  # attributes that must equal these
    by: tuple[str, ...] = ()  # attributes that key a table of prices (instanceType), lowercased where named so
    scale: float = 1.0  # from the file's unit to the table's (per request -> per million requests: 1e6)
    tiered: bool = False  # keep every price dimension as a tier
    sizes: bool = False  # a table of instance sizes: only the families in use


SPECS: dict[str, Spec | Mapping[str, Spec]] = {
    "eks_cluster": Spec("AmazonEKS", "AmazonEKS-Hours:perCluster"),
    "eks_extended_support": Spec("AmazonEKS", "AmazonEKS-Hours:extendedSupport"),
    "ec2_instance": Spec("AmazonEC2", attributes=LINUX, by=("instanceType",), sizes=True),
    "ebs_gp3": Spec("AmazonEC2", "EBS:VolumeUsage.gp3"),
    "rds_instance": Spec("AmazonRDS", attributes={"productFamily": "Database Instance", "databaseEngine": "PostgreSQL",
                                                   "deploymentOption": "Single-AZ"}, by=("instanceType",), sizes=True),
    "rds_instance_multi_az": Spec("AmazonRDS", attributes={"productFamily": "Database Instance", "databaseEngine":
                                                            "PostgreSQL", "deploymentOption": "Multi-AZ"},
                                  by=("instanceType",), sizes=True),
    "rds_gp3": Spec("AmazonRDS", "RDS:GP3-Storage"),
    "rds_backup": Spec("AmazonRDS", "RDS:ChargedBackupUsage"),
    "elasticache_node": Spec("AmazonElastiCache", attributes={"productFamily": "Cache Instance"},
                             by=("cacheEngine", "instanceType"), sizes=True),
    "elasticache_snapshot": Spec("AmazonElastiCache", "BackupUsage"),
    "nat_gateway": Spec("AmazonEC2", "NatGateway-Hours"),
    "nat_data": Spec("AmazonEC2", "NatGateway-Bytes"),
    "vpc_interface_endpoint": Spec("AmazonVPC", "VpcEndpoint-Hours"),
    "vpc_endpoint_data": Spec("AmazonVPC", "VpcEndpoint-Bytes", tiered=True),
    "public_ipv4": Spec("AmazonVPC", "PublicIPv4:InUseAddress"),
    "transit_gateway_attachment": Spec("AmazonVPC", "TransitGateway-Hours"),
    "alb": Spec("AWSELB", "LoadBalancerUsage", {"productFamily": "Load Balancer-Application"}),
    "alb_lcu": Spec("AWSELB", "LCUUsage", {"productFamily": "Load Balancer-Application"}),
    "data_out_internet": Spec("AWSDataTransfer", "DataTransfer-Out-Bytes", {"transferType": "AWS Outbound"},
                              tiered=True),
    "cross_az": Spec("AWSDataTransfer", "DataTransfer-Regional-Bytes", {"transferType": "IntraRegion"}),
    "kms_key": Spec("awskms", "KMS-Keys"),
    "secretsmanager_secret": Spec("AWSSecretsManager", "AWSSecretsManager-Secrets"),
    "cloudwatch_alarm": Spec("AmazonCloudWatch", "CW:AlarmMonitorUsage"),
    "cloudwatch_dashboard": Spec("AmazonCloudWatch", "DashboardsUsageHour-Basic"),
    "cloudwatch_logs": Spec("AmazonCloudWatch", "DataProcessing-Bytes"),
    "cloudwatch_logs_storage": Spec("AmazonCloudWatch", "TimedStorage-ByteHrs"),
    "vpc_flow_logs": Spec("AmazonCloudWatch", "VendedLog-Bytes", {"destinationType": "S3"}, tiered=True),
    "s3_storage": {"STANDARD": Spec("AmazonS3", "TimedStorage-ByteHrs", tiered=True),
                   "STANDARD_IA": Spec("AmazonS3", "TimedStorage-SIA-ByteHrs"),
                   "GLACIER": Spec("AmazonS3", "TimedStorage-GlacierByteHrs")},
    "waf_web_acl": Spec("awswaf", "WebACL"),
    "waf_rule": Spec("awswaf", "Rule"),
    "waf_requests": Spec("awswaf", "Request", scale=1e6),
}


class SpecError(ValueError):
    """SPECS matched more than one product where it expected one: the message names item, region and SKUs."""


def fetch_url(path: str) -> Mapping[str, Any]:
    with urllib.request.urlopen(BASE_URL + path, timeout=300) as response:
        loaded: Mapping[str, Any] = json.load(response)
        return loaded


def from_directory(root: Path) -> Fetch:
    """Offer files from a local copy of the Price List host's paths."""
    def fetch(path: str) -> Mapping[str, Any]:
        file = root / path.lstrip("/")
        if not file.is_file():
            raise FileNotFoundError(f"{file}: not in the offer-file copy {root} (expected the host's paths under it)")
        loaded: Mapping[str, Any] = json.loads(file.read_text())
        return loaded
    return fetch


def usage_type_matches(usagetype: str, wanted: str) -> bool:
    """`USW2-NatGateway-Hours` and us-east-1's `NatGateway-Hours` are both `NatGateway-Hours`."""
    return usagetype == wanted or usagetype.endswith("-" + wanted)


def family(instance_type: str) -> str:
    """'db.r7g.2xlarge' -> 'db.r7g', 'm7i.large' -> 'm7i'."""
    return instance_type.rpartition(".")[0]


@dataclass
class Offers:
    """Offer files, fetched once per service and region."""
    fetch: Fetch
    files: dict[tuple[str, str], Mapping[str, Any] | None] = field(default_factory=dict)

    def get(self, offer: str, region: str) -> Mapping[str, Any] | None:
        if (offer, region) not in self.files:
            regions = self.fetch(f"/offers/v1.0/aws/{offer}/current/region_index.json")["regions"]
            url = regions.get(region, {}).get("currentVersionUrl")
            self.files[offer, region] = self.fetch(url) if url else None
        return self.files[offer, region]


def _matching(offer: Mapping[str, Any], spec: Spec, region: str) -> Iterable[Mapping[str, Any]]:
    for product in offer["products"].values():
        attributes = product.get("attributes", {})
        if attributes.get("regionCode", region) != region:
            continue
        if "productFamily" in spec.attributes and product.get("productFamily") != spec.attributes["productFamily"]:
            continue
        if any(attributes.get(k) != v for k, v in spec.attributes.items() if k != "productFamily"):
            continue
        if spec.usagetype and not usage_type_matches(attributes.get("usagetype", ""), spec.usagetype):
            continue
        yield product


def _leaf(offer: Mapping[str, Any], sku: str, spec: Spec) -> dict[str, Any]:
    """The product's on-demand price: `usd` (or `tiers`), `sku` and `effective`."""
    (term,) = offer["terms"]["OnDemand"][sku].values()
    dimensions = sorted(term["priceDimensions"].values(), key=lambda d: float(d.get("beginRange", 0)))
    prices = [(float(d.get("beginRange", 0)), round(float(d["pricePerUnit"]["USD"]) * spec.scale, 10))
              for d in dimensions]
    leaf: dict[str, Any] = {"tiers": [[b, p] for b, p in prices]} if spec.tiered else {"usd": prices[0][1]}
    if not spec.tiered and len(prices) > 1:
        raise SpecError(f"{sku}: {len(prices)} price dimensions where one was expected (mark the item tiered)")
    return {**leaf, "sku": sku, "effective": term["effectiveDate"]}


def _key(product: Mapping[str, Any], spec: Spec) -> tuple[str, ...]:
    attributes = product["attributes"]
    return tuple(str(attributes.get(name, "")).lower() if name == "cacheEngine" else str(attributes.get(name, ""))
                 for name in spec.by)


def price_item(offers: Offers, name: str, spec: Spec, region: str, families: set[str]) -> Any:
    """One item's price (a leaf), or its table of prices by `spec.by`; None when the region has none."""
    offer = offers.get(spec.offer, region)
    found: dict[tuple[str, ...], list[str]] = {}
    for product in _matching(offer or {"products": {}}, spec, region):
        key = _key(product, spec)
        if spec.sizes and family(key[-1]) not in families:
            continue
        found.setdefault(key, []).append(product["sku"])
    twice = {key: skus for key, skus in found.items() if len(skus) > 1}
    if twice:
        raise SpecError(f"{name} in {region}: several products for {sorted(twice.items())[:3]}; make SPECS precise")
    if not found:
        return None
    assert offer is not None
    if not spec.by:
        return _leaf(offer, found[()][0], spec)
    table: dict[str, Any] = {}
    for key, (sku,) in sorted(found.items()):
        level = table
        for part in key[:-1]:
            level = level.setdefault(part, {})
        level[key[-1]] = _leaf(offer, sku, spec)
    return table


def region_table(offers: Offers, region: str, families: set[str]) -> tuple[dict[str, Any], list[str]]:
    """A region's prices and the items it has none of."""
    prices: dict[str, Any] = {}
    missing: list[str] = []
    for name, spec in SPECS.items():
        if isinstance(spec, Spec):
            value = price_item(offers, name, spec, region, families)
        else:
            value = {k: v for k, sub in spec.items() if (v := price_item(offers, name, sub, region, families))}
        if value:
            prices[name] = value
        else:
            missing.append(name)
    return prices, missing


def families_in_use(prices_file: Path = PRICES_FILE) -> set[str]:
    """The instance families the table prices today and the ones the profiles and committed stacks configure."""
    from envstack.ops.stacks import committed
    from envstack.tools.validate import load

    found: set[str] = set()
    for regional in read_yaml(prices_file.read_text())["regions"].values():
        for name in ("ec2_instance", "rds_instance"):
            found |= {family(t) for t in regional["prices"].get(name, {})}
        found |= {family(t) for engine in regional["prices"].get("elasticache_node", {}).values() for t in engine}
    for stack in committed():
        cfg = load(stack).config
        found |= {family(cfg.database.instance_class), family(cfg.cache.node_type)}
        found |= {family(t) for group in cfg.cluster.node_groups.values() for t in group.instance_types}
    return found


def render(header: str, tables: Mapping[str, Mapping[str, Any]], generated: str,
           not_offered: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The header as written, then one table per region in flow style (a price a line), with the sizes its tables
    say it does not offer (scripts/read_price_tables.py)."""
    lines = [header.rstrip("\n") + "\n", "regions:"]
    for region, prices in tables.items():
        lines += [f"  {region}:", f"    as_of: \"{generated}\"", "    prices:"]
        lines += _yaml_lines(prices, 6)
        if (not_offered or {}).get(region):
            lines += ["    not_offered:", *_yaml_lines((not_offered or {})[region], 6)]
    return "\n".join(lines) + "\n"


def _yaml_lines(value: Mapping[str, Any], indent: int) -> list[str]:
    lines = []
    for key, sub in value.items():
        if isinstance(sub, Mapping) and not ({"usd", "tiers"} & set(sub)):
            lines += [f"{' ' * indent}{key}:", *_yaml_lines(sub, indent + 2)]
        else:
            flow = yaml.safe_dump(sub, default_flow_style=True, width=10_000, sort_keys=False).strip()
            lines.append(f"{' ' * indent}{key}: {flow}")
    return lines


def generate(fetch: Fetch, regions: Iterable[str], families: set[str], prices_file: Path = PRICES_FILE,
             today: date | None = None) -> tuple[str, dict[str, list[str]]]:
    """The new prices.yaml text and, per region, the items it has no price for (a region without any is left out)."""
    text = prices_file.read_text()
    header = text[:text.index("\nregions:")]
    items = set(read_yaml(text)["items"])
    if items != set(SPECS):
        raise SpecError(f"{prices_file.name} items and SPECS differ: {sorted(items ^ set(SPECS))}")
    offers = Offers(fetch)
    tables, missing = {}, {}
    for region in regions:
        prices, missing[region] = region_table(offers, region, families)
        if prices:
            tables[region] = prices
    return render(header, tables, (today or date.today()).isoformat(), not_offered(tables)), missing


SIZED = ("ec2_instance", "rds_instance", "rds_instance_multi_az")


def not_offered(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per region, the sizes the offers price in another region generated but not in this one: the offers' evidence
    that the region does not offer them, which the estimate and `envstack validate` report (envstack/tools/prices.py),
    and without which the sizes test would count them as missing figures."""
    def elsewhere(sizes_of: Callable[[Mapping[str, Any]], set[str]], region: str) -> list[str]:
        others = set().union(*(sizes_of(t) for r, t in tables.items() if r != region))
        return sorted(others - sizes_of(tables[region]))

    out: dict[str, dict[str, Any]] = {}
    for region in tables:
        found: dict[str, Any] = {item: sizes for item in SIZED
                                 if (sizes := elsewhere(lambda t, i=item: set(t.get(i, {})), region))}
        engines = {engine for t in tables.values() for engine in t.get("elasticache_node", {})}
        cache = {engine: sizes for engine in sorted(engines) if (sizes := elsewhere(
            lambda t, e=engine: set(t.get("elasticache_node", {}).get(e, {})), region))}
        if cache:
            found["elasticache_node"] = cache
        if found:
            out[region] = found
    return out


def main(argv: list[str] | None = None, fetch: Fetch = fetch_url, prices_file: Path = PRICES_FILE) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", action="append", dest="regions", help=f"default: {', '.join(REGIONS)}")
    parser.add_argument("--offers", type=Path, metavar="DIR",
                        help="read the offer files from this local copy of the Price List host's paths")
    args = parser.parse_args(argv)
    if args.offers is not None:
        fetch = from_directory(args.offers)
    try:
        text, missing = generate(fetch, args.regions or REGIONS, families_in_use(prices_file), prices_file)
    except (SpecError, FileNotFoundError) as error:
        print(f"update_prices: {error}", file=sys.stderr)
        return 1
    prices_file.write_text(text)
    print(f"wrote {prices_file}")
    for region, names in missing.items():
        if names:
            print(f"{region}: no price for {', '.join(names)} (the estimate lists those lines as unpriced)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
