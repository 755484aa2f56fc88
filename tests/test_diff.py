"""`envstack diff A B`: resources added, removed and changed (with the inputs), cost per component, policy delta."""

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli as run
from conftest import synth, synth_with

from envstack.tools import cost, diff
from envstack.tools.diff import compare, document


@pytest.fixture
def cached(monkeypatch):
    """Stacks named by operands come from the session's cached syntheses."""
    monkeypatch.setattr(diff, "synthesize", synth)


@pytest.fixture(scope="module")
def dev_doc() -> dict[str, Any]:
    return document(synth("dev"))


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
    assert f"| `{DB}` | `database` | `multiAz` | <code>false</code> | <code>true</code> |  |" in out
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
    assert f"allocatedStorage: {int(resource(dev_doc, 'database', DB)['inputs']['allocatedStorage'])} -> 50" in out


def test_long_operands_keep_the_cost_columns_apart(dev_doc):
    before, after = "out/envstack-staging-2026-12-05.json", "prod@origin/release-2026-12"
    text = diff.render_text(compare(dev_doc, dev_doc, before, after))
    header = next(line for line in text.splitlines() if line.startswith("cost (USD/month)"))
    assert re.search(rf"component +{re.escape(before)} +{re.escape(after)} +delta$", header), header
    widths = {len(line) for line in text.splitlines() if line.startswith(" " * 18) and "$" in line}
    assert widths == {len(header)}  # every row's figures right-aligned under their operand


@pytest.mark.parametrize(("document", "problem"), [
    ([], "a JSON list, not an object"), ({}, "no `stack` name and `resources` list"),
    ({"stack": "dev", "resources": [{}]}, "resources[0] has no `urn`, `type` and `name`"),
    ({"stack": "dev", "resources": [], "cost": "broken"}, "cost: input should be a valid dictionary"),
    ({"stack": "dev", "resources": [], "cost": {"line_items": [{"component": "db"}]}},
     "cost.line_items[0].resource: field required"),
    ({"stack": "dev", "resources": [], "policy": {"violations": [{"policy": "p", "level": 1, "message": "m"}]}},
     "policy.violations[0].level: input should be a valid string")])
def test_a_json_file_that_is_no_synthesis_is_bad_input(capsys, tmp_path, dev_doc, document, problem):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(dev_doc))
    b.write_text(json.dumps(document))
    code, _, err = run(capsys, "diff", str(a), str(b))
    assert code == 2 and f"{b}: not a synthesis JSON file ({problem}" in err


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


# ---- what a reviewer reads ------------------------------------------------------------------------------------------

LISTENER = "aws:lb/listener:Listener"
CERTIFICATE = "arn:aws:acm:eu-west-1:210987654321:certificate/6f1c9e57-1a2b-4c3d-8e9f-0a1b2c3d{}"


def doc(stack: str, *resources: tuple[str, str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A synthesis document holding `resources` as (type, name, inputs)."""
    return {"stack": stack, "environment": "dev", "outputs": {}, **extra, "resources": [
        {"urn": f"urn:pulumi:{stack}::envstack::{type_}::{name}", "type": type_, "name": name, "inputs": inputs}
        for type_, name, inputs in resources]}


def test_a_long_values_changed_tail_is_shown_and_the_whole_value_folded_in_markdown():
    """A certificate rotation: the ARNs differ in their last characters, past any fixed width."""
    old, new = CERTIFICATE.format("4e5f"), CERTIFICATE.format("9a8b")
    result = compare(doc("prod", (LISTENER, "edge-https", {"certificateArn": old})),
                     doc("prod", (LISTENER, "edge-https", {"certificateArn": new})))
    text = diff.render_text(result)
    assert "…3d-8e9f-0a1b2c3d4e5f -> …3d-8e9f-0a1b2c3d9a8b" in text
    markdown = diff.render_markdown(result)
    row = next(line for line in markdown.splitlines() if "certificateArn" in line)
    assert row.startswith(f"| `{LISTENER}` | `edge-https` | `certificateArn` |")
    assert f"<summary><code>…3d-8e9f-0a1b2c3d4e5f</code></summary><code>{old}</code></details>" in row
    assert f"<summary><code>…3d-8e9f-0a1b2c3d9a8b</code></summary><code>{new}</code></details>" in row


def test_a_differing_part_is_shown_whole_however_long_and_short_values_whole():
    before, after = "x" * 100 + "A" * 90 + "y" * 100, "x" * 100 + "B" * 90 + "y" * 100
    shown_a, shown_b = diff.excerpts(before, after)
    assert shown_a == "…" + "x" * diff.CONTEXT + "A" * 90 + "y" * diff.CONTEXT + "…"
    assert shown_b == "…" + "x" * diff.CONTEXT + "B" * 90 + "y" * diff.CONTEXT + "…"
    assert diff.excerpts("db.t4g.micro", "db.m7g.large") == ("db.t4g.micro", "db.m7g.large")
    assert diff.excerpts("a" * 70, "a" * 71) == ("…" + "a" * diff.CONTEXT, "…" + "a" * (diff.CONTEXT + 1))


@pytest.mark.parametrize(("type_", "path", "before", "after", "effect"), [
    (DB, "kmsKeyId", "arn:aws:kms:us-west-2:1:key/a", "arn:aws:kms:us-west-2:1:key/b", "replace"),
    (DB, "dbName", "app", "shop", "replace"),
    (DB, "username", "envstack_admin", "admin", "replace"),
    # renamed in place since terraform-provider-aws v5 (ModifyDBInstance NewDBInstanceIdentifier, #32687)
    (DB, "identifier", "envstack-dev-postgres", "envstack-dev-pg", None),
    (DB, "instanceClass", "db.t4g.micro", "db.m7g.large", None),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "replicationGroupId", "a", "b", "replace"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "engineVersion", "8.0", "7.2", "replace"),  # downgrade
    ("aws:elasticache/replicationGroup:ReplicationGroup", "engineVersion", "7.2", "8.0", None),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "engine", "valkey", "redis", "replace"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "engine", "redis", "valkey", None),
    ("eks:index:ManagedNodeGroup", "launchTemplate.id", "lt-1", "lt-2", "replace"),
    ("aws:kms/key:Key", "description", "a", "b", None),
    ("eks:index:Cluster", "name", "envstack-dev", "envstack-dev2", "replace"),
    ("aws:s3/bucket:Bucket", "bucketPrefix", "envstack-dev-alb-logs-", "envstack-dev-logs-", "replace"),
    ("aws:ec2/securityGroup:SecurityGroup", "name", "a", "b", None),  # not stateful: not marked
])
def test_changes_that_replace_a_stateful_resource_are_marked(type_, path, before, after, effect):
    result = compare(doc("dev", (type_, "thing", {path: before})), doc("dev", (type_, "thing", {path: after})))
    [change] = result.changed
    assert change.effect(path, before, after) == effect
    assert change.replaced == (effect == "replace")
    text = diff.render_text(result)
    assert (f"[{effect}]" in text) == (effect is not None)
    assert ("(replaced)" in text) == (effect == "replace")
    markdown = diff.render_markdown(result)
    assert (f"| **{effect}** |" in markdown) == (effect is not None)
    assert ("1 changed, 1 replaced" in markdown) == (effect == "replace")


def test_numbers_show_as_written():
    """Pulumi carries every number as a double: 30.0 in the synthesis is the 30 of the stack file."""
    result = compare(doc("dev", (DB, "database", {"backupRetentionPeriod": 7.0, "port": 5432.0})),
                     doc("dev", (DB, "database", {"backupRetentionPeriod": 30.0, "port": 5432})))
    assert result.changed[0].inputs == [("backupRetentionPeriod", 7, 30)]
    assert "backupRetentionPeriod: 7 -> 30" in diff.render_text(result)


def test_two_stacks_compare_without_their_names(dev_doc):
    """The same stack under another name: every name-bearing value differs, unless the stack name is ignored; a
    word merely containing the name is left alone."""
    renamed = json.loads(re.sub(r"(?<![A-Za-z0-9])dev(?![A-Za-z0-9])", "qa", json.dumps(dev_doc)))
    assert len(compare(dev_doc, renamed).changed) > 20
    result = compare(dev_doc, renamed, ignore_stack=True)
    assert (result.added, result.removed, result.changed) == ([], [], [])
    devices = compare(doc("dev", (DB, "database", {"tags": {"Note": "devices"}})),
                      doc("qa", (DB, "database", {"tags": {"Note": "devices2"}})), ignore_stack=True)
    assert devices.changed[0].inputs == [("tags.Note", "devices", "devices2")]


def test_the_option_reaches_the_command(capsys, tmp_path, dev_doc):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(dev_doc))
    b.write_text(re.sub(r"(?<![A-Za-z0-9])dev(?![A-Za-z0-9])", "qa", json.dumps(dev_doc)))
    code, out, _ = run(capsys, "diff", str(a), str(b), "--ignore-stack-name")
    assert code == 0 and ", 0 changed," in out


def test_a_components_settings_are_compared(dev_doc):
    """Component resources hold no inputs in state: their settings (synth's `components`) are what changes."""
    after = copy.deepcopy(dev_doc)
    cluster = next(c for c in after["components"] if c["type"] == "envstack:kubernetes:Cluster")
    before = cluster["settings"]["version"]
    cluster["settings"]["version"] = "1.99"
    [change] = compare(dev_doc, after).changed
    assert (change.resource.type, change.inputs) == ("envstack:kubernetes:Cluster", [("version", before, "1.99")])


@pytest.fixture(scope="module")
def busier_dev_doc() -> dict[str, Any]:
    return document(synth_with("dev", usage={"requestsPerSecond": 5}))


def test_the_cost_delta_is_shown_per_line_item(dev_doc, busier_dev_doc):
    """A higher request rate changes the same resources' usage lines, matched by resource and item while their
    descriptions (the quantities) change; lines that did not change are not listed."""
    result = compare(dev_doc, busier_dev_doc, "dev", "busier")
    lines = {(c.resource, c.item): c for c in result.cost_lines}
    assert {("edge", "alb_lcu"), ("edge", "data_out_internet")} <= set(lines)
    assert not [c for c in result.cost_lines if c.item in ("eks_cluster", "rds_instance", "ec2_instance")]
    lcu = lines["edge", "alb_lcu"]
    before, after = lcu.usd
    assert before is not None and after is not None and after > before
    assert lcu.description.startswith("ALB LCUs (") and " -> ALB LCUs (" in lcu.description
    assert sum((c.usd[1] or 0) - (c.usd[0] or 0) for c in result.cost_lines) == pytest.approx(result.total_delta,
                                                                                              abs=0.05)
    text = diff.render_text(result)
    assert "cost by line item (" in text and re.search(r"edge/edge alb_lcu +\$\d+\.\d\d +\$\d+\.\d\d +\+\$", text)
    markdown = diff.render_markdown(result)
    assert "<summary>cost by line item: " in markdown and "| edge | `edge` | ALB LCUs (" in markdown


def test_lines_written_before_items_existed_are_matched_by_description(dev_doc):
    older = copy.deepcopy(dev_doc)
    for line in older["cost"]["line_items"]:
        line.pop("item")
    assert compare(older, copy.deepcopy(older)).cost_lines == []
    added = copy.deepcopy(older)
    added["cost"]["line_items"].append({"component": "edge", "resource": "edge", "type": "t",
                                        "description": "something new", "monthly_usd": 1.0})
    (line,) = compare(older, added).cost_lines
    assert (line.item, line.usd) == ("something new", (None, 1.0))
