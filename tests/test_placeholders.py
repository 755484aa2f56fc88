"""Example values never reach an account: synth and `pulumi preview` warn, `envstack preflight` refuses, and the
profiles hold none a user would have to remember to replace."""

import pytest
from test_stack_files import BASES

from envstack.program.config import load_profile, load_stack_config
from envstack.program.config.loader import COMMON, profile_settings
from envstack.program.config.placeholders import placeholder_problem, placeholders
from envstack.program.paths import PROFILES
from envstack.tools.synth import synthesize


@pytest.mark.parametrize("value", [
    "oncall@example.com", "a@EXAMPLE.org", "alerts@example.net", "ops@team.example.com", "x@corp.example",
    "x@mail.test", "x@nowhere.invalid", "x@localhost",
    "123456789012", "111122223333", "444455556666", "777788889999", "012345678901", "111111111111", "000000000000",
    "arn:aws:iam::123456789012:role/deployer", "arn:aws:acm:eu-west-1:111111111111:certificate/1",
    "arn:aws-us-gov:iam::444455556666:role/admin",
])
def test_example_values_are_recognised(value):
    assert placeholder_problem(value)


@pytest.mark.parametrize("value", [
    "oncall@acme-corp.io", "ops@example.company.com", "x@examples.com", "x@myexample.com", "210987654321",
    "arn:aws:iam::210987654321:role/deployer", "12345678901", "1234567890123", "example.com", "platform",
    "github.com/example/envstack", "arn:aws:iam::aws:policy/ReadOnlyAccess",
])
def test_real_looking_values_are_not(value):
    assert placeholder_problem(value) is None


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_string_of_the_configuration_is_looked_at(environment):
    raw = {k.removeprefix("envstack:"): v for k, v in BASES[environment].items() if k.startswith("envstack:")}
    cfg = load_stack_config(environment, raw, BASES[environment]["aws:region"])
    assert placeholders(cfg) == []
    raw = {**raw, "owner": "jane@example.com", "monitoring": {"notificationEmails": ["ok@acme-corp.io",
                                                                                 "oncall@example.com"]},
           "cluster": {**raw["cluster"], "adminRoleArns": ["arn:aws:iam::123456789012:role/admin"]}}
    found = placeholders(load_stack_config(environment, raw, BASES[environment]["aws:region"]))
    assert [(p.key, p.value) for p in found] == [
        ("envstack:owner", "jane@example.com"),
        ("envstack:monitoring.notificationEmails[1]", "oncall@example.com"),
        ("envstack:cluster.adminRoleArns[0]", "arn:aws:iam::123456789012:role/admin")]
    assert found[1].line() == (
        "envstack:monitoring.notificationEmails[1] = 'oncall@example.com' is an example value: example.com is a "
        "domain reserved for documentation (RFC 2606/6761): no mail is delivered there (an alert subscription to it "
        "is never confirmed); replace it before deploying")


def test_the_profiles_carry_no_example_value():
    """What a user must replace is in the stack file, where they see it; a profile's values apply unseen."""
    names = sorted(p.stem for p in PROFILES.glob("*.yaml"))
    assert COMMON in names and len(names) >= 4

    def strings(value):
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    found = {name: [s for s in strings(profile_settings(name)) if placeholder_problem(s)] for name in names}
    assert found == {name: [] for name in names}
    assert all(load_profile(name).settings for name in names if name != COMMON)


def test_synth_warns_about_each_in_its_summary_and_json():
    config = {**BASES["staging"], "envstack:monitoring": {"notificationEmails": ["platform-alerts@example.com"]}}
    synthesis = synthesize("staging", config)
    warning = ("configuration: envstack:monitoring.notificationEmails[0] = 'platform-alerts@example.com' is an example "
               "value: example.com is a domain reserved")
    assert [w for w in synthesis.warnings() if w.startswith("configuration:")] == [
        w for w in synthesis.to_json()["warnings"] if w.startswith("configuration:")]
    assert [w[:len(warning)] for w in synthesis.warnings() if w.startswith("configuration:")] == [warning]
