"""The policy pack over the real stacks: each passes its own gate; dev fails prod's for the expected reasons."""

from collections import Counter

import pytest
from conftest import synth

from envstack.tools.policy_gate import check
from envstack.tools.synth import synthesize

PROD_RULES_DEV_BREAKS = {
    "rds-multi-az", "rds-backup-retention", "rds-deletion-protection", "redis-multi-az", "redis-snapshot-retention",
    "log-group-retention", "protect-stateful-resources", "alb-deletion-protection", "alb-waf-association",
    "alb-https-listener", "alb-http-redirects-to-https", "eks-public-endpoint-disabled", "s3-versioning",
}


def mandatory(report) -> Counter:
    return Counter(v["policy"] for v in report.violations if v["level"] == "mandatory")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_stack_passes_its_own_gate(stack):
    report = check(synth(stack))
    assert report.rules_evaluated >= 30
    assert not mandatory(report), report.violations


def test_prod_passes_with_no_finding_at_all():
    assert check(synth("prod")).violations == []


def test_dev_against_its_own_gate_is_advisory_only():
    report = check(synth("dev"))
    assert report.violations and not mandatory(report)


def test_dev_against_prods_gate_breaks_the_production_rules():
    broken = mandatory(check(synth("dev"), "prod"))
    assert set(broken) == PROD_RULES_DEV_BREAKS
    # every dev log group (flow logs, control plane, database, cache) is below prod's 90 days
    assert broken["log-group-retention"] == len(synth("dev").of_type("aws:cloudwatch/logGroup:LogGroup"))


def test_staging_against_prods_gate_misses_only_the_prod_only_rules():
    broken = set(mandatory(check(synth("staging"), "prod")))
    assert broken == {"log-group-retention", "protect-stateful-resources", "rds-backup-retention", "rds-multi-az",
                      "eks-public-endpoint-disabled", "s3-versioning"}


# A dev stack written here (no committed stack file needed) with what prod's guardrails refuse first.
RELAXED_DEV = {
    "aws:region": "us-west-2", "envstack:environment": "dev", "envstack:owner": "platform@example.com",
    "envstack:team": "platform", "envstack:repository": "github.com/example/envstack",
    "envstack:cluster": {"publicAccessCidrs": ["52.94.0.0/22"],
                         "deployerRoleArn": "arn:aws:iam::111111111111:role/envstack-deployer"},
    "envstack:loadBalancer": {
        "tls": True, "sslPolicy": "ELBSecurityPolicy-TLS-1-2-2017-01", "waf": {"enabled": True, "logging": False},
        "certificateArn": "arn:aws:acm:us-west-2:111111111111:certificate/00000000-0000-4000-8000-000000000009"},
}


def test_prods_pack_refuses_what_its_guardrails_refuse_first():
    """Issue 21: a public endpoint, WAF without logs and the 2017 TLS policy pass dev's configuration; prod's
    guardrails refuse them (tests/test_config.py), and prod's pack refuses them too, should the guardrails be
    bypassed."""
    relaxed = synthesize("gate", RELAXED_DEV)
    assert relaxed.component("edge").settings["sslPolicy"] == "ELBSecurityPolicy-TLS-1-2-2017-01"
    prods = {"eks-public-endpoint-disabled", "waf-logging", "alb-tls-policy"}
    assert prods <= set(mandatory(check(relaxed, "prod")))
    assert not prods & set(mandatory(check(relaxed)))  # dev's own gate lets them through
