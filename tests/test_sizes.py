"""Instance sizes checked at validate (envstack/program/config/sizes.py): database classes, cache node types and
node-group instance types, offline and without the SDKs; a typo is refused naming the key, with a did-you-mean."""

import shutil

import pytest
from conftest import synth_with
from test_cli import REPO, fresh_interpreter
from test_config import load, problems

from envstack.program.config import sizes
from envstack.tools import cost


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


def test_an_accepted_size_is_priced_or_listed_unpriced_never_free():
    """db.r7g.4xlarge: accepted, priced from db.r7g.large by AWS's size factor; db.r8g.large: accepted, a family
    the table lacks, so listed unpriced."""
    bigger = cost.estimate(synth_with("staging", database={"instanceClass": "db.r7g.4xlarge"}))
    assert any(i.item == "rds_instance" and i.description.startswith("db.r7g.4xlarge") for i in bigger.items)
    newer = cost.estimate(synth_with("staging", database={"instanceClass": "db.r8g.large"}))
    assert any("no price for db.r8g.large" in u.reason for u in newer.unpriced) and not newer.complete
