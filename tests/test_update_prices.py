"""scripts/update_prices.py: prices.yaml generated from AWS's Price List offer files (small fixtures in the real
format under tests/fixtures/offers/: products by SKU, terms.OnDemand with priceDimensions and effectiveDate)."""

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import synth

from envstack.tools import cost
from envstack.tools.prices import PRICES_FILE, load_book, read_yaml
from envstack.tools.synth import ROOT

_spec = importlib.util.spec_from_file_location("update_prices", ROOT / "scripts" / "update_prices.py")
assert _spec and _spec.loader
update_prices = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(update_prices)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "offers"
FAMILIES = {"t3", "m7i", "m7a", "m6i", "m6a", "db.t4g", "db.m7g", "db.m6g", "db.r7g", "cache.t4g", "cache.m7g",
            "cache.m6g", "cache.r7g"}


def from_fixtures(path: str) -> dict[str, Any]:
    """What the Price List host answers for `path`, read from the fixtures."""
    loaded: dict[str, Any] = json.loads((FIXTURES / path.lstrip("/")).read_text())
    return loaded


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prices") / "prices.yaml"
    path.write_text(PRICES_FILE.read_text())
    text, missing = update_prices.generate(from_fixtures, ["us-west-2"], FAMILIES, path)
    assert missing == {"us-west-2": []}
    path.write_text(text)
    return path


def leaves(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and ({"usd", "tiers"} & set(value)):
        return [value]
    return [leaf for sub in value.values() for leaf in leaves(sub)] if isinstance(value, dict) else []


def test_every_generated_price_has_its_sku_and_effective_date(generated):
    table = read_yaml(generated.read_text())["regions"]["us-west-2"]["prices"]
    assert set(table) == set(update_prices.SPECS)
    assert all(set(leaf) - {"usd", "tiers"} == {"sku", "effective"} for leaf in leaves(table))
    assert table["eks_cluster"]["effective"] == "2025-06-01T00:00:00Z" and len(table["eks_cluster"]["sku"]) == 16


def test_the_generated_table_prices_the_stacks_as_the_typed_one_did(generated, stack):
    """The fixtures quote today's us-west-2 figures: the generated table must give every line the same price, with
    nothing typed and nothing unpriced."""
    prices = load_book(generated).for_region("us-west-2")
    assert prices is not None
    fresh, typed = cost.estimate(stack, prices), cost.estimate(stack, cost.load_prices("us-west-2"))
    assert fresh.complete and fresh.typed == () and fresh.prices is not None and fresh.prices.oldest == "2025-06-01"
    assert [(i.resource, i.item, i.monthly_usd) for i in fresh.items] == \
           [(i.resource, i.item, i.monthly_usd) for i in typed.items]


def test_instance_tables_hold_every_size_of_the_families_in_use_and_nothing_else(generated):
    table = read_yaml(generated.read_text())["regions"]["us-west-2"]["prices"]
    assert "t3.xlarge" in table["ec2_instance"]  # a size the typed table lacked, of a family in use
    assert "c7g.large" not in table["ec2_instance"] and "db.x2g.large" not in table["rds_instance"]
    assert table["ec2_instance"]["t3.medium"]["usd"] == 0.0416  # Linux; the Windows product is another SKU
    assert table["rds_instance"]["db.m7g.large"]["usd"] == 0.168  # Single-AZ, not Multi-AZ
    assert set(table["elasticache_node"]) == {"redis", "valkey"}


def test_tiered_prices_keep_their_ranges(generated):
    table = read_yaml(generated.read_text())["regions"]["us-west-2"]["prices"]
    assert table["data_out_internet"]["tiers"] == [[0.0, 0.09], [10240.0, 0.085], [51200.0, 0.07], [153600.0, 0.05]]
    assert table["waf_requests"]["usd"] == 0.6  # per request in the file, per million in the table


def test_the_header_is_kept_as_written(generated):
    header = PRICES_FILE.read_text().split("\nregions:")[0]
    assert generated.read_text().startswith(header + "\nregions:\n")


def test_a_region_the_offers_lack_is_left_out_and_named(tmp_path, capsys, monkeypatch):
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES_FILE.read_text())
    monkeypatch.setattr(update_prices, "families_in_use", lambda prices_file: FAMILIES)
    assert update_prices.main(["--region", "us-west-2", "--region", "ap-south-1"], from_fixtures, path) == 0
    out = capsys.readouterr().out
    assert "ap-south-1: no price for eks_cluster, eks_extended_support" in out
    assert set(read_yaml(path.read_text())["regions"]) == {"us-west-2"}


def test_two_products_where_one_was_expected_stop_the_script(tmp_path, capsys, monkeypatch):
    def doubled(path: str) -> dict[str, Any]:
        document = copy.deepcopy(from_fixtures(path))
        for sku, product in list(document.get("products", {}).items()):
            if product["attributes"].get("usagetype", "").endswith("NatGateway-Hours"):
                document["products"][sku + "X"] = {**product, "sku": sku + "X"}
        return document
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES_FILE.read_text())
    monkeypatch.setattr(update_prices, "families_in_use", lambda prices_file: FAMILIES)
    assert update_prices.main(["--region", "us-west-2"], doubled, path) == 1
    assert "nat_gateway in us-west-2: several products" in capsys.readouterr().err
    assert path.read_text() == PRICES_FILE.read_text()  # nothing written


def test_offer_files_are_read_from_a_local_copy_with_offers(tmp_path, capsys, monkeypatch):
    """`--offers DIR`: the same paths as the Price List host, read from disk (no network); a path the copy lacks is
    named and nothing is written."""
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES_FILE.read_text())
    monkeypatch.setattr(update_prices, "families_in_use", lambda prices_file: FAMILIES)
    assert update_prices.main(["--region", "us-west-2", "--offers", str(FIXTURES)], prices_file=path) == 0
    table = read_yaml(path.read_text())["regions"]
    assert set(table) == {"us-west-2"} and table["us-west-2"]["prices"]["nat_gateway"]["effective"]
    empty = tmp_path / "empty"
    empty.mkdir()
    path.write_text(PRICES_FILE.read_text())
    assert update_prices.main(["--region", "us-west-2", "--offers", str(empty)], prices_file=path) == 1
    assert "region_index.json: not in the offer-file copy" in capsys.readouterr().err
    assert path.read_text() == PRICES_FILE.read_text()


@pytest.mark.parametrize(("usagetype", "matches"), [
    ("USW2-NatGateway-Hours", True), ("NatGateway-Hours", True), ("EUC1-NatGateway-Hours", True),
    ("USW2-RegionalNatGateway-Hours", False), ("USW2-NatGateway-Bytes", False)])
def test_usage_types_match_with_or_without_a_region_prefix(usagetype, matches):
    """us-east-1's usage types carry no region prefix."""
    assert update_prices.usage_type_matches(usagetype, "NatGateway-Hours") is matches


def test_the_families_in_use_include_what_the_stacks_configure():
    found = update_prices.families_in_use()
    assert {"t3", "m7i", "db.m7g", "cache.m7g", "cache.t4g"} <= found
    assert all(update_prices.family(t) in found for t in
               (synth("prod").one("aws:rds/instance:Instance").inputs["instanceClass"], "db.t4g.micro"))


def test_a_size_priced_in_another_generated_region_only_is_written_not_offered(tmp_path):
    """Without `not_offered:`, a regenerated file would make every size one region lacks a missing figure (the strict
    sizes test) instead of a size the region does not offer (the note validate prints)."""
    tables = {
        "us-west-2": {"ec2_instance": {"t3.large": {"usd": 0.08}, "hpc7g.4xlarge": {"usd": 1.7}},
                      "elasticache_node": {"valkey": {"cache.t4g.micro": {"usd": 0.01}}}},
        "eu-west-1": {"ec2_instance": {"t3.large": {"usd": 0.09}},
                      "elasticache_node": {"valkey": {"cache.t4g.micro": {"usd": 0.02},
                                                      "cache.c7gn.large": {"usd": 0.3}}}}}
    assert update_prices.not_offered(tables) == {"eu-west-1": {"ec2_instance": ["hpc7g.4xlarge"]},
                                                 "us-west-2": {"elasticache_node": {"valkey": ["cache.c7gn.large"]}}}
    path = tmp_path / "prices.yaml"
    header = PRICES_FILE.read_text().split("\nregions:")[0]
    path.write_text(update_prices.render(header, tables, "2026-12-05", update_prices.not_offered(tables)))
    book = load_book(path)
    assert ("hpc7g.4xlarge",) in book.for_region("eu-west-1").not_offered["ec2_instance"]
    assert ("valkey", "cache.c7gn.large") in book.for_region("us-west-2").not_offered["elasticache_node"]
