"""The price book: envstack/tools/prices.yaml read per region, each figure with where it came from.

A price is a leaf `{usd: 0.0416, sku: ..., effective: ...}` written by scripts/update_prices.py from AWS's Price
List offer files; `{usd: 0.0416, source: <name>}` (with the `sku` where the table gives one) for a figure read from
a published table of AWS's prices that the file's `sources:` names (a public repository's file at a commit, with its
date); or `{usd: 0.0416, typed: <the pricing page>}` for a figure typed by hand. The last two are to be regenerated.
Tiered prices (data transfer out) give `tiers: [[from_gb, usd], ...]` instead of `usd`. A region's table never
borrows another region's figures: a figure it lacks is missing, and the estimate lists its line as unpriced.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PRICES_FILE = Path(__file__).with_name("prices.yaml")
PRICES_NAME = "envstack/tools/prices.yaml"
# AWS's normalization factors (EC2: "Instance size flexibility", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
# apply_ri.html; RDS: "Size-flexible reserved DB instances"): within a family, on-demand prices are proportional to
# them, so another size of a listed type is priced from it (and listed as derived). Regenerated tables list every
# size of the families the stacks use, so this serves only sizes the table lacks.
SIZE_UNITS = {"nano": 0.25, "micro": 0.5, "small": 1, "medium": 2, "large": 4, "xlarge": 8, **{
    f"{n}xlarge": 8 * n for n in (2, 3, 4, 6, 8, 9, 10, 12, 16, 18, 24, 32, 48)}}
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


def _same_family(path: tuple[str, ...], table: Mapping[tuple[str, ...], Price]) -> tuple[str, Price, float] | None:
    """A listed size of `path`'s instance family, its price and the size ratio (db.r7g.2xlarge: db.r7g.large, 4)."""
    family, _, size = path[-1].rpartition(".")
    if not family or size not in SIZE_UNITS:
        return None
    for other, price in table.items():
        other_family, _, other_size = other[-1].rpartition(".")
        if other[:-1] == path[:-1] and other_family == family and other_size in SIZE_UNITS:
            return other[-1], price, SIZE_UNITS[size] / SIZE_UNITS[other_size]
    return None


@dataclass(frozen=True)
class Prices:
    """One region's table: figures by item (and type), and the provenance of each figure used."""
    region: str
    as_of: str  # when the typed figures were read, or the table generated
    hours_per_month: float
    items: Mapping[str, Mapping[str, Any]]
    table: Mapping[str, Mapping[tuple[str, ...], Price]]
    used: dict[str, Price] = field(default_factory=dict, compare=False)  # "item[ type]" -> the price, as used

    def price(self, key: str, *path: str) -> Price:
        """The figure for `key` (for tables: of the type at `path`); MissingPriceError names what is missing."""
        price = self._lookup(key, *path)
        self.used[" ".join((key, *path))] = price
        return price

    def _lookup(self, key: str, *path: str) -> Price:
        table = self.table.get(key, {})
        if path in table:
            return table[path]
        sibling = _same_family(path, table) if path else None
        if sibling is None:
            what = f"no price for {'/'.join(path)}" if path else "no price"
            raise MissingPriceError(f"{PRICES_NAME} {self.region} {key}: {what} (regenerate it: {REGENERATE})")
        name, price, factor = sibling
        return Price(round(price.usd * factor, 6), sku=price.sku, effective=price.effective, typed=price.typed,
                     source=price.source, dated=price.dated, derived=f"{factor:g} x {name}")

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
        return Prices(region, str(regional["as_of"]), self.hours_per_month, self.items, table)


@cache
def load_book(path: Path = PRICES_FILE) -> PriceBook:
    data = yaml.safe_load(path.read_text())
    return PriceBook(float(data["hours_per_month"]), data["items"], data["regions"], data.get("sources") or {})


def load_prices(region: str = "us-west-2", path: Path = PRICES_FILE) -> Prices:
    """`region`'s table; KeyError when the file has none."""
    prices = load_book(path).for_region(region)
    if prices is None:
        raise KeyError(f"{PRICES_NAME}: no table for {region}")
    return prices
