"""`envstack diff A B`: resources added, removed and changed (with the inputs), cost per component, policy delta."""

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import synth

from envstack import cli
from envstack.tools import cost, diff
from envstack.tools.diff import compare, document


@pytest.fixture
def cached(monkeypatch):
    """Stacks named by operands come from the session's cached syntheses."""
    monkeypatch.setattr(diff, "synthesize", synth)


@pytest.fixture(scope="module")
def dev_doc() -> dict[str, Any]:
    return document(synth("dev"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def resource(doc: dict[str, Any], name: str, type_: str) -> dict[str, Any]:
    return next(r for r in doc["resources"] if r["name"] == name and r["type"] == type_)


DB = "aws:rds/instance:Instance"


def test_staging_to_prod_markdown_has_the_cost_table_with_deltas(capsys, cached):
    code, out, _ = run(capsys, "diff", "staging", "prod", "--format", "markdown")
    assert code == 0
    staging, prod = cost.estimate(synth("staging")), cost.estimate(synth("prod"))
    assert "| component | staging | prod | delta |" in out
    db_a, db_b = staging.by_component["database"], prod.by_component["database"]
    assert f"| database | ${db_a:,.2f} | ${db_b:,.2f} | +${db_b - db_a:,.2f} |" in out
    total = prod.monthly_usd - staging.monthly_usd
    assert (f"| **total** | **${staging.monthly_usd:,.2f}** | **${prod.monthly_usd:,.2f}** | **+${total:,.2f}** |"
            in out)
    # prod's database is Multi-AZ: the resource row names the changed input, before and after
    assert "| `database` | `multiAz` | `false` | `true` |" in out
    assert "rds-multi-az" in out and "resolved" in out  # staging's advisory violation, gone in prod


def test_identical_stacks_have_no_changes(dev_doc):
    result = compare(dev_doc, copy.deepcopy(dev_doc))
    assert (result.added, result.removed, result.changed) == ([], [], [])
    assert result.unchanged == len(dev_doc["resources"]) and result.total_delta == 0
    assert (result.new_violations, result.resolved_violations) == ([], [])


def test_added_removed_and_changed_inputs_are_reported(dev_doc):
    after = copy.deepcopy(dev_doc)
    resource(after, "database", DB)["inputs"]["instanceClass"] = "db.m7g.large"
    gone = next(r for r in after["resources"] if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm")
    after["resources"].remove(gone)
    extra = copy.deepcopy(gone)
    extra["urn"], extra["name"] = extra["urn"] + "-new", extra["name"] + "-new"
    after["resources"].append(extra)
    result = compare(dev_doc, after)
    assert [r.name for r in result.added] == [extra["name"]]
    assert [r.name for r in result.removed] == [gone["name"]]
    assert [(c.resource.name, c.inputs) for c in result.changed] == [
        ("database", [("instanceClass", resource(dev_doc, "database", DB)["inputs"]["instanceClass"],
                       "db.m7g.large")])]


def test_inputs_in_json_strings_are_compared_leaf_by_leaf(dev_doc):
    after = copy.deepcopy(dev_doc)
    provider = next(r for r in after["resources"] if r["type"] == "pulumi:providers:aws")
    tags = json.loads(provider["inputs"]["defaultTags"])
    tags["tags"]["Team"] = "payments"
    provider["inputs"]["defaultTags"] = json.dumps(tags)
    [change] = compare(dev_doc, after).changed
    assert [path for path, _, _ in change.inputs] == ["defaultTags.tags.Team"]


def test_cost_and_policy_deltas(dev_doc):
    after = copy.deepcopy(dev_doc)
    after["cost"]["by_component"]["database"] += 100
    after["cost"]["monthly_usd"] += 100
    after["policy"]["violations"].append({"policy": "rds-multi-az", "level": "mandatory", "message": "multiAz is not "
                                          "true", "urn": resource(after, "database", DB)["urn"]})
    result = compare(dev_doc, after, "dev", "dev+")
    assert result.total_delta == pytest.approx(100)
    database = result.cost["database"]
    assert database[1] - database[0] == pytest.approx(100)
    assert [(v["policy"], v["resource"]) for v in result.new_violations] == [("rds-multi-az", "database")]
    text = diff.render_text(result)
    assert "+$100.00" in text and "+ [mandatory] rds-multi-az database: multiAz is not true" in text


def test_an_incomplete_or_missing_estimate_is_said_not_hidden(dev_doc):
    after = copy.deepcopy(dev_doc)
    after["cost"].update(complete=False, unpriced_types=["aws:rds/instance:Instance (no price for db.x2g.large)"])
    assert compare(dev_doc, after, "a", "b").cost_notes == [
        "b: incomplete estimate, not priced: aws:rds/instance:Instance (no price for db.x2g.large)"]
    after["cost"].update(monthly_usd=None, region="ap-south-1")
    assert "b: no price table for ap-south-1" in diff.render_markdown(compare(dev_doc, after, "a", "b"))


def test_two_synth_json_files(capsys, tmp_path, dev_doc):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(dev_doc))
    changed = copy.deepcopy(dev_doc)
    resource(changed, "database", DB)["inputs"]["allocatedStorage"] = 50
    b.write_text(json.dumps(changed))
    code, out, _ = run(capsys, "diff", str(a), str(b))
    assert code == 0
    assert f"envstack diff {a} -> {b}" in out and "1 changed" in out
    assert f"allocatedStorage: {resource(dev_doc, 'database', DB)['inputs']['allocatedStorage']} -> 50" in out


@pytest.mark.parametrize("argv", [["diff", "prod"], ["diff", "a", "b", "c"], ["diff", "prod", "dev", "--base", "main"],
                                  ["diff", "prod@main", "--base", "main"], ["diff", "missing.json", "prod"]])
def test_bad_operands_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("envstack diff")


STUB_CLI = '''import json, sys
from pathlib import Path
stack, out = sys.argv[2], Path(sys.argv[4])
out.parent.mkdir(parents=True, exist_ok=True)
marker = Path("marker.txt").read_text().strip()
out.write_text(json.dumps({"stack": stack, "environment": "dev", "outputs": {}, "resources": [{"urn":
    f"urn:pulumi:{stack}::envstack::aws:s3/bucket:Bucket::logs", "type": "aws:s3/bucket:Bucket", "name": "logs",
    "inputs": {"marker": marker}}]}))
'''


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


def test_a_stack_at_a_git_ref_is_synthesized_by_that_refs_own_program(tmp_path):
    """`STACK@REF` exports REF's tracked files and runs their `envstack synth` (here a stub that writes a marker
    file's content into an input): the older revision's marker shows, and a stack REF lacks is empty."""
    (tmp_path / "envstack").mkdir()
    (tmp_path / "envstack" / "__init__.py").write_text("")
    (tmp_path / "envstack" / "cli.py").write_text(STUB_CLI)
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "marker.txt").write_text("old\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "old")
    (tmp_path / "marker.txt").write_text("new\n")
    git(tmp_path, "commit", "-qam", "new")
    old = diff._synthesize_at("dev", "HEAD~1", root=tmp_path)
    new = diff._synthesize_at("dev", "HEAD", root=tmp_path)
    assert old["resources"][0]["inputs"] == {"marker": "old"}
    [change] = compare(old, new).changed
    assert change.inputs == [("marker", "old", "new")]
    assert diff._synthesize_at("prod", "HEAD", root=tmp_path)["resources"] == []
    with pytest.raises(diff.OperandError, match="git revision 'nope'"):
        diff._synthesize_at("dev", "nope", root=tmp_path)
