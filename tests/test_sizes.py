"""Instance sizes checked at validate (envstack/program/config/sizes.py): database classes, cache node types and
node-group instance types, offline and without the SDKs; a typo is refused naming the key, with a did-you-mean."""

import copy
import shutil

import pytest
import yaml
from conftest import run_cli, synth_with
from test_cli import REPO, fresh_interpreter
from test_config import load, problems

from envstack import cli
from envstack.program.config import sizes
from envstack.tools import cost, prices
from envstack.tools.validate import size_notes


@pytest.mark.parametrize(("raw", "line"), [
    ({"database": {"instanceClass": "db.r7g.larg"}},
     "envstack:database.instanceClass = 'db.r7g.larg': expected an RDS DB instance class such as db.t4g.micro or "
     "db.m7g.large (db.<family>.<size>); did you mean db.r7g.large?"),
    ({"cache": {"nodeType": "cache.m7g.larg"}},
     "envstack:cache.nodeType = 'cache.m7g.larg': expected an ElastiCache node type such as cache.t4g.micro or "
     "cache.m7g.large"),
    ({"cluster": {"nodeGroups": {"main": {"instanceTypes": ["t3.mediun"], "minSize": 1, "maxSize": 2,
                                           "desiredSize": 1}}}},
     "envstack:cluster.nodeGroups.main.instanceTypes[0] = 't3.mediun': expected an EC2 instance type such as "
     "m7i.large or t3.medium (pulumi-aws's ec2.InstanceType); did you mean t3.medium?"),
    ({"database": {"instanceClass": "db.q9.large"}}, "envstack:database.instanceClass = 'db.q9.large': expected"),
])
def test_a_mistyped_size_is_refused_naming_the_key_and_the_closest_size(raw, line):
    found = problems("dev", **raw)
    assert any(p.startswith(f"stack broken: {line}") for p in found), found


def test_a_cache_typo_gets_its_closest_node_type():
    assert any("did you mean cache.m7g.large?" in p for p in problems("dev", cache={"nodeType": "cache.m7g.larg"}))


@pytest.mark.parametrize("klass", ["db.m7g.large", "db.r7g.2xlarge", "db.t4g.micro", "db.m5.large", "db.r8g.xlarge"])
def test_current_rds_classes_are_accepted_even_those_the_sdk_enum_predates(klass):
    assert load("dev", database={"instanceClass": klass}).database.instance_class == klass


def test_the_sdk_enums_are_read_without_importing_the_sdk():
    assert {"m7i.large", "t3.medium", "m6a.large"} <= sizes.ec2_instance_types()
    assert "db.t4g.micro" in sizes.rds_instance_classes() and "db.r7g.large" in sizes.rds_instance_classes()
    assert len(sizes.ec2_instance_types()) > 500


def test_validate_refuses_a_mistyped_class_in_a_stack_file_without_loading_the_sdks(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("envstack:environment: prod", "envstack:environment: prod\n"
                                             "  envstack:database:\n    instanceClass: db.r7g.larg"))
    result = fresh_interpreter("code = cli.main(['validate', 'prod'])\n"
                               "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'pulumi', "
                               "'pulumi_aws'}), 'EXIT', code)", tmp_path)
    assert "LOADED [] EXIT 2" in result.stdout, result.stdout + result.stderr
    assert "stack prod: envstack:database.instanceClass = 'db.r7g.larg'" in result.stderr
    assert "did you mean db.r7g.large?" in result.stderr


CHECKS = {"ec2_instance": sizes.ec2_instance_type, "rds_instance": sizes.rds_instance_class,
          "rds_instance_multi_az": sizes.rds_instance_class, "elasticache_node": sizes.cache_node_type}


def accepted(item: str, size: str) -> bool:
    try:
        CHECKS[item](size)
    except ValueError:
        return False
    return True


def listed(book: prices.PriceBook, region: str, item: str) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """The sizes the region prices, and the sizes its price tables list anywhere (priced from the same tables in a
    region, or listed in a region's not_offered: read from those tables' other locations)."""
    own = book.for_region(region)
    assert own is not None
    sources = {p.source for p in own.table[item].values()}
    anywhere: set[tuple[str, ...]] = set()
    for other in map(book.for_region, book.regions):
        assert other is not None
        anywhere |= {size for size, p in other.table[item].items() if p.source in sources}
        anywhere |= set(other.not_offered.get(item, ()))
    return set(own.table[item]), anywhere


@pytest.mark.parametrize("region", sorted(prices.load_book().regions))
@pytest.mark.parametrize("item", sorted(CHECKS))
def test_every_accepted_size_is_priced_in_each_priced_region_that_offers_it(region, item):
    """A size validate accepts that the region's tables list anywhere is priced in the region unless those tables
    list it in other regions only (not_offered): so a figure missing from prices.yaml fails here. Nothing priced is
    a size validate refuses; nothing is both priced and not offered."""
    book = prices.load_book()
    own = book.for_region(region)
    assert own is not None
    priced, anywhere = listed(book, region, item)
    not_offered = set(own.not_offered.get(item, ()))
    missing = sorted(s for s in anywhere - priced - not_offered if accepted(item, s[-1]))
    assert missing == [], f"{region} {item}: not priced: {missing[:10]}"
    assert [s for s in priced if not accepted(item, s[-1])] == [] and not priced & not_offered
    floor = {"ec2_instance": 700, "rds_instance": 180, "rds_instance_multi_az": 180, "elasticache_node": 130}
    assert len(priced) >= floor[item]  # every size of every family the tables offer, not the few in use


def test_a_figure_missing_from_a_region_fails_the_strict_check(tmp_path):
    book = copy.deepcopy(dict(prices.read_yaml(prices.PRICES_FILE.read_text())))
    del book["regions"]["eu-west-1"]["prices"]["rds_instance"]["db.t4g.micro"]
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.dump(book, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
    priced, anywhere = listed(prices.load_book(path), "eu-west-1", "rds_instance")
    assert ("db.t4g.micro",) in anywhere - priced


@pytest.mark.parametrize(("region", "raw", "note"), [
    ("eu-central-1", {"database": {"instanceClass": "db.m6idn.large"}},
     "envstack:database.instanceClass = 'db.m6idn.large': eu-central-1 does not offer db.m6idn.large: the price "
     "tables aws-price-watcher:processed/rds-postgresql-ondemand.json (2025-06-05) list it in other regions only"),
    ("us-west-2", {"database": {"instanceClass": "db.t4g.48xlarge"}},
     "envstack:database.instanceClass = 'db.t4g.48xlarge': AWS offers no db.t4g.48xlarge: the price tables "
     "aws-price-watcher:processed/rds-postgresql-ondemand.json (2025-06-05) list db.t4g sizes, never this one"),
    ("eu-central-1", {"cache": {"nodeType": "cache.c7gn.large"}},
     "envstack:cache.nodeType = 'cache.c7gn.large': eu-central-1 does not offer cache.c7gn.large"),
    ("us-west-2", {"cluster": {"nodeGroups": {"main": {"instanceTypes": ["t3.metal"], "minSize": 1, "maxSize": 2,
                                                       "desiredSize": 1}}}},
     "envstack:cluster.nodeGroups.main.instanceTypes[0] = 't3.metal': AWS offers no t3.metal"),
])
def test_validate_notes_a_size_the_tables_say_the_region_is_not_offered_naming_the_key(region, raw, note):
    notes = size_notes(load("dev", **raw).model_copy(update={"region": region}))  # the rest stays us-west-2's
    assert any(n.startswith(note) and n.endswith("; the estimate lists it unpriced (`envstack preflight` asks AWS)")
               for n in notes), notes


def test_validate_prints_the_note_and_still_passes(tmp_path, monkeypatch, capsys):
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(path.read_text().replace("envstack:environment: dev", "envstack:environment: dev\n"
                                             "  envstack:database:\n    instanceClass: db.t4g.48xlarge"))
    monkeypatch.setattr(cli, "ROOT", tmp_path)
    code, out, _ = run_cli(capsys, "validate", "dev")
    assert code == 0 and "note: envstack:database.instanceClass = 'db.t4g.48xlarge': AWS offers no db.t4g.48xlarge" \
        in out, out


def test_a_size_newer_than_the_tables_gets_no_note_and_is_listed_unpriced():
    """db.r8g.large: accepted, in no table (they predate it): no claim about the region, the estimate lists it
    unpriced, never free."""
    assert size_notes(load("dev", database={"instanceClass": "db.r8g.large"})) == []
    newer = cost.estimate(synth_with("staging", database={"instanceClass": "db.r8g.large"}))
    assert any("no price for db.r8g.large" in u.reason for u in newer.unpriced) and not newer.complete


def test_the_estimate_says_a_size_is_not_offered_in_the_region():
    estimate = cost.estimate(synth_with("dev", **{"aws:region": "eu-central-1"},
                                        database={"instanceClass": "db.m6idn.large"}))
    assert any("db.m6idn.large is not offered in eu-central-1" in u.reason for u in estimate.unpriced)
