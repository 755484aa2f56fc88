"""State compatibility: the committed snapshots of the checkout's stacks hold, and the check refuses a change that would
replace or drop a stateful resource (or that the snapshot does not know yet) until the snapshot is rewritten."""

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import checkout, synth, synth_with, synthesize_file  # noqa: F401 (checkout: a fixture)

from envstack.program.stack_names import present
from envstack.tools import state_snapshot
from envstack.tools.state_snapshot import STATEFUL, compare, snapshot
from envstack.tools.synth import ROOT, Synthesis

INSTANCE = "aws:rds/instance:Instance"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


# ---- the checkout's own stacks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", present(ROOT))
def test_the_committed_stacks_keep_their_stateful_resources(stack: str) -> None:
    """Whatever stack files the checkout has: each with a snapshot must match it; one without is reported (skipped,
    with the command that records it), never failed, so a user adding a stack is told, not blocked."""
    recorded = state_snapshot.read(stack)
    if recorded is None:
        pytest.skip(state_snapshot.MISSING_HINT.format(stack=stack, path=state_snapshot.snapshot_path(stack)))
    report = compare(recorded, synthesize_file(stack, ROOT))
    assert report.ok, "\n".join([*report.lines(), "(an alias, or an upgrade note and `make state-snapshot`)"])


def test_every_stateful_kind_is_watched_in_a_whole_stack() -> None:
    recorded = snapshot(synth("prod"))
    kinds = {entry["type"] for entry in recorded["resources"]}
    assert kinds == set(STATEFUL)
    database = next(e for e in recorded["resources"] if e["type"] == INSTANCE)
    assert set(database["replacedBy"]) == {"engine", "kmsKeyId", "dbName", "username", "storageEncrypted"}


# ---- what the check refuses -------------------------------------------------------------------------------------


def renamed(s: Synthesis, type_: str, name: str, new_name: str, alias: bool) -> Synthesis:
    """`s` as if the program named one resource differently (with or without an alias to its old URN)."""
    resources = []
    for r in s.resources:
        if r.type == type_ and r.name == name:
            old = r.urn
            r = replace(r, name=new_name, urn=old.rsplit("::", 1)[0] + f"::{new_name}",
                        aliases=[old] if alias else [])
        resources.append(r)
    return replace(s, resources=resources)


def test_a_database_renamed_without_an_alias_would_be_dropped_and_with_one_is_kept() -> None:
    s = synth("prod")
    recorded = snapshot(s)
    assert compare(recorded, s).ok
    dropped = compare(recorded, renamed(s, INSTANCE, "database", "postgres", alias=False))
    assert [u.rsplit("::", 1)[1] for u in dropped.dropped] == ["database"]
    assert [u.rsplit("::", 1)[1] for u in dropped.added] == ["postgres"]
    assert "would delete or replace" in dropped.lines()[0] and not dropped.ok
    assert compare(recorded, renamed(s, INSTANCE, "database", "postgres", alias=True)).ok


def test_a_replacing_input_changed_by_configuration_fails() -> None:
    before = snapshot(synth("prod"))
    after = compare(before, synth_with("prod", database={"databaseName": "orders"}))
    assert after.replaced == [next(f"{e['urn']}: dbName 'app' -> 'orders'" for e in before["resources"]
                                   if e["type"] == INSTANCE)]
    assert after.dropped == [] and after.added == []


def with_inputs(recorded: dict[str, Any], type_: str, key: str, value: Any, section: str = "replacedBy") \
        -> dict[str, Any]:
    changed = copy.deepcopy(recorded)
    next(e for e in changed["resources"] if e["type"] == type_)[section][key] = value
    return changed


def test_an_engine_upgrade_is_no_replacement_and_a_downgrade_is() -> None:
    s = synth("prod")
    recorded = snapshot(s)
    version = next(e for e in recorded["resources"] if e["type"] == GROUP)["replacedOnDowngrade"]["engineVersion"]
    older = with_inputs(recorded, GROUP, "engineVersion", "7.2", "replacedOnDowngrade")
    newer = with_inputs(recorded, GROUP, "engineVersion", "9.0", "replacedOnDowngrade")
    assert compare(older, s).ok  # the stack moves up from 7.2
    assert compare(newer, s).replaced[0].endswith(f"engineVersion '9.0' -> '{version}' (a downgrade)")
    redis = with_inputs(recorded, GROUP, "engine", "redis", "replacedOnDowngrade")
    assert compare(redis, s).ok  # Redis OSS to Valkey is in place


def test_a_new_stateful_resource_waits_for_the_snapshot() -> None:
    s = synth("prod")
    recorded = snapshot(s)
    recorded["resources"] = [e for e in recorded["resources"] if not e["urn"].endswith("::database-key")]
    report = compare(recorded, s)
    assert [u.rsplit("::", 1)[1] for u in report.added] == ["database-key"] and not report.ok


# ---- the command --------------------------------------------------------------------------------------------------


def test_the_command_reports_a_missing_snapshot_writes_it_and_then_guards_it(checkout: Path, capsys) -> None:  # noqa: F811
    assert state_snapshot.main(["prod", "--root", str(checkout)]) == 0
    assert "prod: no state snapshot (state-snapshots/prod.json)" in capsys.readouterr().out
    assert state_snapshot.main(["--update", "prod", "--root", str(checkout)]) == 0
    path = checkout / "state-snapshots" / "prod.json"
    assert json.loads(path.read_text())["stack"] == "prod"
    assert state_snapshot.main(["prod", "--root", str(checkout)]) == 0
    path.write_text(json.dumps(with_inputs(json.loads(path.read_text()), INSTANCE, "username", "old_admin")))
    capsys.readouterr()
    assert state_snapshot.main(["prod", "--root", str(checkout)]) == 1
    out, err = capsys.readouterr()
    assert "would replace" in out and "username 'old_admin' -> 'envstack_admin'" in out
    assert "make state-snapshot" in err
