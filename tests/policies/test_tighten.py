"""A stack's tightening of its environment's policy configuration (policies.evaluate.tighten): stricter levels and
options are taken, anything that would relax the environment's is refused naming the rule and option."""

import json
from pathlib import Path
from typing import Any

import pytest

from policies.evaluate import SCHEMA_KEYWORDS, PolicyConfigError, resolve, tighten, tightening
from policies.pack import all_policies
from policies.rules import DEPLOYABILITY

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


def env(name: str) -> dict[str, Any]:
    return json.loads((POLICIES_DIR / f"{name}.json").read_text())


def levels(config: dict[str, Any]) -> dict[str, str]:
    return {name: level.value for name, (level, _) in resolve(all_policies(), config).items()}


def options(config: dict[str, Any], rule: str) -> dict[str, Any]:
    return resolve(all_policies(), config)[rule][1]


def test_no_overlay_changes_nothing() -> None:
    staging = env("staging")
    assert resolve(all_policies(), tighten(staging, {})) == resolve(all_policies(), staging)


def test_a_stack_raises_levels_and_options() -> None:
    staging = env("staging")
    tight = tighten(staging, {"rds-multi-az": "mandatory", "eks-public-endpoint-disabled": "mandatory",
                              "rds-backup-retention": {"minimumDays": 21},
                              "required-tags": {"requiredTags": [*options(staging, "required-tags")["requiredTags"],
                                                                 "CostCenter"]},
                              "security-group-no-public-ingress": {"allowedPublicPorts": [443]},
                              "alb-tls-policy": {"requireTls13": True}})
    assert levels(tight)["rds-multi-az"] == levels(tight)["eks-public-endpoint-disabled"] == "mandatory"
    assert options(tight, "rds-backup-retention")["minimumDays"] == 21
    assert "CostCenter" in options(tight, "required-tags")["requiredTags"]
    assert options(tight, "security-group-no-public-ingress")["allowedPublicPorts"] == [443]
    assert options(tight, "alb-tls-policy")["requireTls13"] is True
    untouched = set(levels(tight)) - {"rds-multi-az", "eks-public-endpoint-disabled"}
    assert {n: lv for n, lv in levels(tight).items() if n in untouched} == \
        {n: lv for n, lv in levels(staging).items() if n in untouched}


def test_all_is_a_floor_never_a_relaxation() -> None:
    dev = env("dev")
    raised = levels(tighten(dev, {"all": "mandatory"}))
    assert set(raised.values()) == {"mandatory"}  # protect-stateful-resources (disabled in dev) too
    lowered = levels(tighten(env("prod"), {"all": "advisory"}))
    assert set(lowered.values()) == {"mandatory"}  # a floor below prod's levels changes nothing


@pytest.mark.parametrize(("overlay", "named"), [
    ({"rds-multi-az": "advisory"}, "rds-multi-az (mandatory -> advisory)"),
    ({"protect-stateful-resources": "disabled"}, "protect-stateful-resources (mandatory -> disabled)"),
    ({"log-group-retention": {"minimumDays": 7}}, "log-group-retention.minimumDays (90 -> 7: must be no lower)"),
    ({"launch-template-imdsv2": {"maximumHopLimit": 2}}, "launch-template-imdsv2.maximumHopLimit (1 -> 2"),
    ({"required-tags": {"requiredTags": ["Project"]}}, "required-tags.requiredTags"),
    ({"security-group-no-public-ingress": {"allowedPublicPorts": [80, 443, 8080]}},
     "security-group-no-public-ingress.allowedPublicPorts"),
    ({"alb-tls-policy": {"requireTls13": False}}, "alb-tls-policy.requireTls13 (True -> False: must be true"),
    ({"s3-versioning": {"allowRecordedExceptions": True}}, "s3-versioning.allowRecordedExceptions"),
    ({"security-group-no-public-egress": {"publicShare": 0.5}}, "security-group-no-public-egress.publicShare"),
])
def test_relaxing_prod_is_refused_naming_the_rule(overlay: dict[str, Any], named: str) -> None:
    with pytest.raises(PolicyConfigError) as refused:
        tighten(env("prod"), overlay, where="envstack:policy")
    assert str(refused.value).startswith("envstack:policy may only tighten its environment's")
    assert named in str(refused.value)


def test_a_deployability_rule_cannot_be_relaxed_from_a_stack_either() -> None:
    name = sorted(DEPLOYABILITY)[0]
    with pytest.raises(PolicyConfigError, match=f"relaxes {name}"):
        tighten(env("dev"), {name: "advisory"})


@pytest.mark.parametrize("overlay", [{"no-such-rule": "mandatory"}, {"rds-multi-az": "strict"},
                                     {"rds-backup-retention": {"minimumDayz": 40}}, {"all": "sometimes"},
                                     {"all": []}, {"rds-multi-az": {"enforcementLevel": ["mandatory"]}}])
def test_a_broken_overlay_is_refused(overlay: dict[str, Any]) -> None:
    with pytest.raises(PolicyConfigError):
        tighten(env("staging"), overlay)


def test_every_option_of_the_pack_knows_which_way_is_tighter() -> None:
    for policy in all_policies():
        for option in (policy.config_schema.properties if policy.config_schema else {}):
            tightening(option)  # raises for an option nobody said how to tighten


@pytest.mark.parametrize(("overlay", "message"), [
    ({"rds-backup-retention": {"minimumDays": "40"}}, r"minimumDays = '40': expected an integer"),
    ({"rds-backup-retention": {"minimumDays": 400}}, "minimumDays = 400: expected at most 35"),
    ({"launch-template-imdsv2": {"maximumHopLimit": 0}}, "maximumHopLimit = 0: expected at least 1"),
    ({"security-group-no-public-ingress": {"publicShare": 0}}, "publicShare = 0: expected more than 0"),
    ({"security-group-no-public-ingress": {"allowedPublicPorts": ["443"]}}, "item 0: expected an integer"),
    ({"alb-tls-policy": {"requireTls13": "true"}}, "requireTls13 = 'true': expected a boolean"),
    ({"required-tags": {"requiredTags": "Owner"}}, "requiredTags = 'Owner': expected an array"),
])
def test_an_option_its_schema_refuses_is_refused_as_the_engine_would(overlay: dict[str, Any], message: str) -> None:
    """The engine validates options against each rule's schema before a preview runs: a value that would fail there
    is refused offline too, by name (and a wrong type never reaches a comparison: no traceback)."""
    with pytest.raises(PolicyConfigError, match=message):
        tighten(env("staging"), overlay)
    with pytest.raises(PolicyConfigError, match=message):
        resolve(all_policies(), {**env("staging"), **overlay})


def test_every_schema_keyword_of_the_pack_is_checked_offline() -> None:
    for policy in all_policies():
        for option, schema in (policy.config_schema.properties if policy.config_schema else {}).items():
            assert set(schema) | set(schema.get("items", {})) <= SCHEMA_KEYWORDS, (policy.name, option)
