"""The price book: envstack/tools/prices.yaml read per region, each figure with where it came from.

A price is a leaf `{usd: 0.0416, sku: ..., effective: ...}` written by scripts/update_prices.py from AWS's Price
List offer files; `{usd: 0.0416, source: <name>}` (with the `sku` where the table gives one) for a figure read from
a published table of AWS's prices that the file's `sources:` names (a public repository's file at a commit, with its
date); or `{usd: 0.0416, typed: <the pricing page>}` for a figure typed by hand. The last two are to be regenerated.
Tiered prices (data transfer out) give `tiers: [[from_gb, usd], ...]` instead of `usd`. A region's table never
borrows another region's figures: a figure it lacks is missing, and the estimate lists its line as unpriced.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PRICES_FILE = Path(__file__).with_name("prices.yaml")
PRICES_NAME = "envstack/tools/prices.yaml"
REGENERATE = "scripts/update_prices.py"


class MissingPriceError(LookupError):
    """The table has no figure for an item; the message names the file, region, item and type."""


@dataclass(frozen=True)
class Price:
    usd: float
    tiers: tuple[tuple[float, float], ...] = ()  # (from GB, USD per GB) for tiered prices; usd is the first tier's
    sku: str | None = None
    effective: str | None = None  # the offer term's effectiveDate
    typed: str | None = None  # the page a hand-typed figure was read from (None: from an offer file)
    source: str | None = None  # the published table (a name in prices.yaml's `sources:`) it was read from
    dated: str | None = None  # that table's date
    derived: str | None = None  # how a figure that is not in the table was obtained

    @property
    def date(self) -> str | None:
        """How old the figure is: the offer term's effective date, or its published table's date."""
        return self.effective or self.dated

    def for_gb(self, gb: float, free_gb: float = 0) -> float:
        """USD for `gb` at tiered prices, after `free_gb`."""
        if not self.tiers:
            return max(gb - free_gb, 0) * self.usd
        bounds = [*(start for start, _ in self.tiers[1:]), float("inf")]
        return sum(max(min(gb, end) - max(start, free_gb), 0) * usd
                   for (start, usd), end in zip(self.tiers, bounds, strict=True))


def _price(leaf: Mapping[str, Any], sources: Mapping[str, Mapping[str, Any]]) -> Price:
    tiers = tuple((float(start), float(usd)) for start, usd in leaf.get("tiers", ()))
    usd = float(leaf["usd"]) if "usd" in leaf else tiers[0][1]
    effective, source = leaf.get("effective"), leaf.get("source")
    if source is not None and source not in sources:
        raise ValueError(f"{PRICES_NAME}: source {source!r} is not one of sources: {sorted(sources)}")
    return Price(usd, tiers, leaf.get("sku"), str(effective) if effective else None, leaf.get("typed"), source,
                 str(sources[source]["dated"]) if source else None)


def _is_leaf(value: Any) -> bool:
    return isinstance(value, Mapping) and ("usd" in value or "tiers" in value)


def _leaves(value: Any, sources: Mapping[str, Mapping[str, Any]], path: tuple[str, ...] = ()
            ) -> dict[tuple[str, ...], Price]:
    if _is_leaf(value):
        return {path: _price(value, sources)}
    if isinstance(value, Mapping):
        return {p: v for k, sub in value.items() for p, v in _leaves(sub, sources, (*path, str(k))).items()}
    raise ValueError(f"{PRICES_NAME}: {'/'.join(path)}: expected a price {{usd, sku, effective}}, {{usd, source}} or "
                     "{usd, typed}")


@dataclass(frozen=True)
class Prices:
    """One region's table: figures by item (and type), and the provenance of each figure used."""
    region: str
    as_of: str  # when the typed figures were read, or the table generated
    hours_per_month: float
    items: Mapping[str, Mapping[str, Any]]
    table: Mapping[str, Mapping[tuple[str, ...], Price]]
    used: dict[str, Price] = field(default_factory=dict, compare=False)  # "item[ type]" -> the price, as used
    # Instance sizes the region's published tables list in other regions but not in this one (`not_offered:`).
    not_offered: Mapping[str, frozenset[tuple[str, ...]]] = field(default_factory=dict)

    def price(self, key: str, *path: str) -> Price:
        """The figure for `key` (for tables: of the type at `path`); MissingPriceError names what is missing."""
        price = self._lookup(key, *path)
        self.used[" ".join((key, *path))] = price
        return price

    def _lookup(self, key: str, *path: str) -> Price:
        table = self.table.get(key, {})
        if path not in table:  # never another size's figure scaled: a size the table lacks may not be offered here
            raise MissingPriceError(f"{PRICES_NAME} {self.region} {key}: {self.why_missing(key, *path)}")
        return table[path]

    def why_missing(self, key: str, *path: str) -> str:
        """Why the table has no figure at `path`: the region is not offered it, or the table lacks it."""
        if path in self.not_offered.get(key, ()):
            return f"{path[-1]} is not offered in {self.region} (its price tables list it in other regions only)"
        what = f"no price for {'/'.join(path)}" if path else "no price"
        return f"{what} (regenerate it: {REGENERATE})"

    def multi_az(self, klass: str) -> Price:
        """An RDS instance-hour in Multi-AZ with one standby: the table's figure, which is not always twice the
        single-AZ one (eu-west-1 db.t4g.micro: 0.035 and 0.017); twice single-AZ, listed as derived, only where the
        table has no Multi-AZ figure."""
        try:
            return self.price("rds_instance_multi_az", klass)
        except MissingPriceError:
            single = self._lookup("rds_instance", klass)
        price = replace(single, usd=2 * single.usd, derived="2 x single-AZ (the table has no Multi-AZ figure)")
        self.used[f"rds_instance_multi_az {klass}"] = price
        return price

    def usd(self, key: str, *path: str) -> float:
        return self.price(key, *path).usd

    def monthly(self, key: str, *path: str) -> float:
        """An hourly price, for a month."""
        return self.usd(key, *path) * self.hours_per_month

    @property
    def spot_factor(self) -> float:
        """Spot as a fraction of the on-demand price (an assumption, the same in every region)."""
        return float(self.items["ec2_instance"]["spot_factor"])

    def free_gb(self, key: str) -> float:
        return float(self.items[key].get("free_gb_per_month", 0))

    @property
    def derived(self) -> tuple[str, ...]:
        return tuple(sorted(f"{name}: {p.derived}" for name, p in self.used.items() if p.derived))

    @property
    def typed(self) -> tuple[str, ...]:
        """The figures used that were typed by hand, not read from an offer file."""
        return tuple(sorted(name for name, p in self.used.items() if p.typed))

    @property
    def sourced(self) -> tuple[str, ...]:
        """The figures used that were read from a published table (`sources:`), not an offer file: "item: source"."""
        return tuple(sorted(f"{name}: {p.source}" for name, p in self.used.items() if p.source))

    @property
    def oldest(self) -> str:
        """The oldest date among the figures used: an offer term's effective date, a published table's date, or when
        typed figures were read."""
        dates = [(p.date or self.as_of)[:10] for p in self.used.values()]
        return min(dates, default=self.as_of[:10])


@dataclass(frozen=True)
class PriceBook:
    """Every region's table in envstack/tools/prices.yaml."""
    hours_per_month: float
    items: Mapping[str, Mapping[str, Any]]
    regions: Mapping[str, Any]
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_region(self, region: str | None) -> Prices | None:
        """`region`'s table, or None when the file has none for it (never another region's figures)."""
        if region is None or region not in self.regions:
            return None
        regional = self.regions[region]
        table = {key: _leaves(regional["prices"][key], self.sources) for key in self.items
                 if key in regional["prices"]}
        not_offered = {key: frozenset(_sizes(value)) for key, value in (regional.get("not_offered") or {}).items()}
        return Prices(region, str(regional["as_of"]), self.hours_per_month, self.items, table, not_offered=not_offered)

    def size_note(self, region: str, key: str, *path: str) -> str | None:
        """What the tables say of an instance size `region`'s table does not price: the region is not offered it,
        or no region is (the tables list other sizes of its family, never this one); None when it is priced or
        the tables are silent (a family newer than they are)."""
        prices = self.for_region(region)
        if prices is None or path in prices.table.get(key, {}):
            return None
        if path in prices.not_offered.get(key, ()):
            return f"{region} does not offer {path[-1]}: {self._tables(prices, key)} list it in other regions only"
        family = path[-1].rpartition(".")[0]
        listed = {size for other in map(self.for_region, self.regions) if other is not None
                  for size in (*other.table.get(key, {}), *other.not_offered.get(key, ())) if size[:-1] == path[:-1]}
        if path in listed or not any(size[-1].rpartition(".")[0] == family for size in listed):
            return None
        return f"AWS offers no {path[-1]}: {self._tables(prices, key)} list {family} sizes, never this one"

    @staticmethod
    def _tables(prices: Prices, key: str) -> str:
        used = sorted({f"{p.source} ({p.dated})" for p in prices.table.get(key, {}).values() if p.source})
        return "the price tables " + ", ".join(used) if used else "the price tables"


def _sizes(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """`not_offered:` lists as paths: [db.r5b.large] -> ("db.r5b.large",); {redis: [...]} -> ("redis", ...)."""
    if isinstance(value, Mapping):
        return [size for key, sub in value.items() for size in _sizes(sub, (*path, str(key)))]
    return [(*path, str(size)) for size in value]


def read_yaml(text: str) -> Any:
    """YAML read by libyaml where PyYAML has it (the instance tables make prices.yaml ~0.6 MB: several seconds for
    the pure-Python reader)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


class _Regions(Mapping[str, Any]):
    """The `regions:` block, each region's table read on first use: an estimate reads one region of five."""

    def __init__(self, chunks: Mapping[str, str]) -> None:
        self._chunks = chunks
        self._read: dict[str, Any] = {}

    def __getitem__(self, region: str) -> Any:
        if region not in self._read:
            self._read[region] = read_yaml(self._chunks[region])[region]
        return self._read[region]

    def __iter__(self) -> Iterator[str]:
        return iter(self._chunks)

    def __len__(self) -> int:
        return len(self._chunks)


_REGION_LINE = re.compile(r"^  (?P<region>[a-z0-9-]+):$", re.MULTILINE)


def _regions(text: str) -> Mapping[str, Any] | None:
    """The regions after `regions:`, unread, when they end the file as scripts/update_prices.py writes them."""
    _, found, block = text.partition("\nregions:\n")
    starts = list(_REGION_LINE.finditer(block))
    if not found or re.search(r"^[^\s#]", block, re.MULTILINE) or not starts or starts[0].start() != 0:
        return None
    ends = [m.start() for m in starts[1:]] + [len(block)]
    return _Regions({m["region"]: block[m.start():end] for m, end in zip(starts, ends, strict=True)})


@cache
def load_book(path: Path = PRICES_FILE) -> PriceBook:
    text = path.read_text()
    regions = _regions(text)
    data = read_yaml(text.partition("\nregions:\n")[0] if regions is not None else text)
    return PriceBook(float(data["hours_per_month"]), data["items"], regions if regions is not None else data["regions"],
                     data.get("sources") or {})


def load_prices(region: str = "us-west-2", path: Path = PRICES_FILE) -> Prices:
    """`region`'s table; KeyError when the file has none."""
    prices = load_book(path).for_region(region)
    if prices is None:
        raise KeyError(f"{PRICES_NAME}: no table for {region}")
    return prices
