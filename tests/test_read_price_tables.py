"""scripts/read_price_tables.py: the instance items of prices.yaml read from the published tables its `sources:` pins,
tested on small cuts of the real tables (tests/fixtures/price_tables/<owner>/<name>/<path>: a few rows of
aws-price-watcher's processed/{ec2,rds-postgresql-ondemand,elasticache}.json with five of their locations, and two
families of Karpenter's us-east-1 table)."""

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from envstack.tools.prices import PRICES_FILE, load_book, read_yaml
from envstack.tools.synth import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
_spec = importlib.util.spec_from_file_location("read_price_tables", ROOT / "scripts" / "read_price_tables.py")
assert _spec and _spec.loader
tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tables)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "price_tables"
EC2, RDS, CACHE = tables.EC2, tables.RDS, tables.CACHE


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict[str, dict[str, int]]]:
    """prices.yaml's header and two regions (without their instance items), rewritten from the fixtures."""
    text = PRICES_FILE.read_text()
    regions = {region: {"prices": {k: v for k, v in load_book().regions[region]["prices"].items()
                                   if k not in tables.INSTANCE_ITEMS}}
               for region in ("us-east-1", "eu-west-1")}
    small = tables.render(text[:text.index("\nregions:")], {r: v["prices"] for r, v in regions.items()}, "2025-06-01")
    path = tmp_path_factory.mktemp("tables") / "prices.yaml"
    rewritten, counts = tables.rewrite(small, tables.from_directory(FIXTURES))
    path.write_text(rewritten)
    return path, counts


def prices(written: tuple[Path, Any], region: str) -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(written[0].read_text())["regions"][region]["prices"]
    return data


def test_every_size_a_table_offers_in_the_region_is_priced_with_its_source(written):
    ireland = prices(written, "eu-west-1")
    assert ireland["ec2_instance"] == {"m7i-flex.large": {"usd": 0.10673, "source": EC2},
                                       "m7i.large": {"usd": 0.11235, "source": EC2},
                                       "t3.medium": {"usd": 0.0456, "source": EC2}}
    assert ireland["rds_instance"]["db.t4g.micro"] == {"usd": 0.017, "source": RDS}
    assert ireland["elasticache_node"]["valkey"]["cache.m7g.large"] == {"usd": 0.1392, "source": CACHE}
    assert written[1]["eu-west-1"] == {"ec2_instance": 3, "rds_instance": 3, "rds_instance_multi_az": 2,
                                       "elasticache_node": 4}


def test_multi_az_is_the_tables_own_figure_never_the_readable_standby_cluster(written):
    ireland = prices(written, "eu-west-1")
    assert ireland["rds_instance_multi_az"] == {"db.r7g.large": {"usd": 0.536, "source": RDS},
                                                "db.t4g.micro": {"usd": 0.035, "source": RDS}}
    assert list(ireland).index("rds_instance_multi_az") == list(ireland).index("rds_instance") + 1
    assert "db.m6gd.large" not in ireland["rds_instance_multi_az"]  # its fixture row: a DB cluster's readable standbys


def test_only_sizes_validate_accepts_and_engines_envstack_runs(written):
    """db.t1.micro and cache.t1.micro are in the tables (previous generation) but refused by validate; Memcached
    and the hashed, unlabelled rows are not read."""
    east = prices(written, "us-east-1")
    assert "db.t1.micro" not in east["rds_instance"] and "db.t1.micro" not in east["rds_instance_multi_az"]
    assert set(east["elasticache_node"]) == {"redis", "valkey"}
    assert all(not size.startswith("cache.t1.") for engine in east["elasticache_node"].values() for size in engine)


def test_a_size_the_tables_list_elsewhere_but_not_in_the_region_is_recorded_not_offered(written):
    """The fixture's db.x2idn.16xlarge row lists Ireland and Frankfurt, not N. Virginia."""
    regions = read_yaml(written[0].read_text())["regions"]
    assert regions["us-east-1"]["not_offered"] == {"rds_instance": ["db.x2idn.16xlarge"]}
    assert "db.x2idn.16xlarge" in regions["eu-west-1"]["prices"]["rds_instance"]
    assert "not_offered" not in regions["eu-west-1"]
    missing = load_book(written[0]).for_region("us-east-1")
    assert missing is not None
    with pytest.raises(LookupError, match=r"db\.x2idn\.16xlarge is not offered in us-east-1"):
        missing.price("rds_instance", "db.x2idn.16xlarge")


def test_us_east_1_takes_karpenters_newer_table_first_and_the_older_one_for_the_rest(written):
    ec2 = prices(written, "us-east-1")["ec2_instance"]
    assert ec2["m7i.metal-24xl"] == {"usd": 5.32224, "source": "karpenter"}  # 4.8384 in the 2025 table
    assert ec2["m8i.large"] == {"usd": 0.10584, "source": "karpenter"}  # newer than the 2025 table
    assert ec2["t3.medium"] == {"usd": 0.0416, "source": EC2}  # not in the fixture's cut of Karpenter's table


def test_the_rest_of_the_file_is_kept(written):
    before = load_book().regions["eu-west-1"]["prices"]
    after = prices(written, "eu-west-1")
    assert {k: v for k, v in after.items() if k not in tables.INSTANCE_ITEMS} == \
        {k: v for k, v in before.items() if k not in tables.INSTANCE_ITEMS}
    assert written[0].read_text().split("\nregions:")[0] == PRICES_FILE.read_text().split("\nregions:")[0]


def test_the_committed_instance_tables_are_what_the_script_reads():
    """Every instance figure in prices.yaml names one of the four tables the script reads (none typed)."""
    book = load_book()
    for region in book.regions:
        for item in tables.INSTANCE_ITEMS:
            table = book.regions[region]["prices"][item]
            leaves = [leaf for sub in table.values() for leaf in sub.values()] if item == "elasticache_node" \
                else list(table.values())
            assert leaves and {leaf["source"] for leaf in leaves} <= {EC2, RDS, CACHE, "karpenter"}, (region, item)
