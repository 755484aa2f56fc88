"""envstack:usage: the usage model the cost estimate prices, per environment in the profiles, per stack in its file."""

import pytest
from test_config import load, problems

from envstack.program.config import load_profile
from envstack.program.config.usage import SECONDS_PER_MONTH


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_profile_sets_a_whole_usage_model(environment):
    """The environment's figures laid over the common ones validate as a whole model (no figure left unset)."""
    usage = load(environment).usage
    assert usage.requests_per_second > 0 and usage.logs.flow_log_gb > 0
    assert usage.requests_per_month == pytest.approx(usage.requests_per_second * SECONDS_PER_MONTH)


def test_production_is_used_more_than_staging_and_staging_more_than_dev():
    rates = [load(env).usage.requests_per_second for env in ("dev", "staging", "prod")]
    assert rates == sorted(rates) and len(set(rates)) == 3


def test_a_stack_overrides_one_figure_and_keeps_the_others():
    usage = load("prod", usage={"requestsPerSecond": 200, "logs": {"postgresqlGb": 9}}).usage
    profile = load_profile("prod").settings["usage"]
    assert (usage.requests_per_second, usage.logs.postgresql_gb) == (200, 9)
    assert usage.database_data_gb == profile["databaseDataGb"]
    assert usage.logs.flow_log_gb == profile["logs"]["flowLogGb"]


@pytest.mark.parametrize(("raw", "line"), [
    ({"crossAzShare": 1.5}, "envstack:usage.crossAzShare = 1.5: expected less than or equal to 1"),
    ({"requestsPerSecond": -1}, "envstack:usage.requestsPerSecond = -1: expected greater than or equal to 0"),
    ({"requestsPerConnection": 0}, "envstack:usage.requestsPerConnection = 0: expected greater than or equal to 1"),
    ({"logs": {"compressedShare": 0}}, "envstack:usage.logs.compressedShare = 0: expected greater than 0"),
    ({"requestPerSecond": 5}, "envstack:usage.requestPerSecond = 5: unknown key; did you mean requestsPerSecond?"),
])
def test_a_figure_out_of_range_is_refused_naming_its_key(raw, line):
    assert any(p.startswith(f"stack broken: {line}") for p in problems("prod", usage=raw)), problems("prod", usage=raw)
