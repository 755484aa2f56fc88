"""How a synthesis treats the interpreter it runs in (envstack/tools/synth.py)."""
import gc

import pytest

from envstack.tools.synth import rarer_collections


@pytest.fixture
def default_thresholds():
    kept = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*kept)


def test_collections_are_rarer_during_a_synthesis_and_as_before_after_it(default_thresholds):
    with rarer_collections():
        assert gc.get_threshold() == (50_000, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_the_thresholds_come_back_when_the_program_fails(default_thresholds):
    with pytest.raises(RuntimeError), rarer_collections():
        raise RuntimeError("the program failed")
    assert gc.get_threshold() == (700, 10, 10)
