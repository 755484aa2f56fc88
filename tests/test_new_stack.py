"""A new stack is one file. The repository's own stack files are valid, whatever they are; a stack of each environment
with the longest name a stack may have, added to a scratch checkout, passes every stack-wide check (validate, synth
with its environment's policy configuration and a complete price, CI matrices, promotion path); so does the README's
Pulumi.prod-eu.yaml. In process: the suite's other tests run on the fixture stacks, so a stack added to the working
tree changes nothing they check."""

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli as run
from conftest import synthesize_config

from envstack.ops.stacks import committed
from envstack.program.config.files import read_stack_config
from envstack.program.config.profiles import environments
from envstack.tools import synth as synth_module
from envstack.tools.synth import ROOT

README = (ROOT / "README.md").read_text()
# One per environment, each 20 characters: the most a stack name may have (StackConfig's stack-name rule).
LONGEST = {"dev": "dev-longest-name-for", "staging": "staging-longest-name", "prod": "prod-longest-name-is"}


def synthesized(capsys: pytest.CaptureFixture[str], tmp_path: Path, stack: str) -> dict[str, Any]:
    """`envstack synth STACK --json` with the stack's own policy configuration: exit 0, the document."""
    path = tmp_path / f"{stack}.json"
    code, out, err = run(capsys, "synth", stack, "--json", str(path))
    assert code == 0, out[-3000:] + err
    return json.loads(path.read_text())


def github_outputs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                   *argv: str) -> dict[str, str]:
    output = tmp_path / "github_output"
    output.unlink(missing_ok=True)
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    code, _, err = run(capsys, *argv, "--github-output")
    assert code == 0, err
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_repositorys_own_stack_files_are_valid_and_pass_their_gates(capsys, monkeypatch, tmp_path):
    """Whatever stack files the working tree holds (the committed ones, and any a user adds): each validates and
    synthesizes with its environment's policy configuration, with no mandatory violation."""
    monkeypatch.setattr(synth_module, "synthesize", lambda stack, config=None, root=ROOT: synthesize_config(
        stack, read_stack_config(stack, root) if config is None else config, checkout=root))
    code, _, err = run(capsys, "validate")
    assert code == 0, err
    for stack in committed():
        synthesized(capsys, tmp_path, stack)


def add_longest_stacks(checkout: Path) -> None:
    for environment, name in LONGEST.items():
        text = (checkout / f"Pulumi.{environment}.yaml").read_text()
        (checkout / f"Pulumi.{name}.yaml").write_text(f"# {name}: a second {environment} stack\n{text}")


def test_a_stack_of_each_environment_with_the_longest_name_passes_every_stack_wide_check(
        checkout, capsys, monkeypatch, tmp_path):
    assert {len(name) for name in LONGEST.values()} == {20}
    add_longest_stacks(checkout)
    code, out, err = run(capsys, "validate")
    assert code == 0, err
    assert {line.split(":")[0].removeprefix("stack ") for line in out.splitlines()} >= set(LONGEST.values())
    for environment, name in LONGEST.items():
        document = synthesized(capsys, tmp_path, name)
        assert document["environment"] == environment and document["policy"]["environment"] == environment
        assert document["cost"]["complete"], document["cost"]["unpriced"]
        # S3 takes a bucket name prefix of at most 37 characters (it adds 26); the stack name is cut to fit.
        prefixes = [r["inputs"]["bucketPrefix"] for r in document["resources"] if r["type"] == "aws:s3/bucket:Bucket"]
        assert prefixes and all(len(p) <= 37 and p.startswith(f"envstack-{name[:8]}") for p in prefixes), prefixes
    matrices = github_outputs(capsys, monkeypatch, tmp_path, "stacks")
    for environment, name in LONGEST.items():
        [entry] = [e for e in json.loads(matrices[environment]) if e["stack"] == name]
        assert entry["stackKey"] == name.upper().replace("-", "_") and entry["environmentKey"] == environment.upper()
    for source, target in itertools.pairwise(environments()):
        moved = github_outputs(capsys, monkeypatch, tmp_path, "promote", LONGEST[source], LONGEST[target],
                               "--describe")
        assert moved["kind"] == "promotion" and json.loads(moved["target"])["promotedFrom"] == LONGEST[source]


def readme_stack_file(name: str) -> str:
    [body] = re.findall(rf"```yaml\n# Pulumi\.{name}\.yaml\n(.*?)```", README, re.DOTALL)
    return body


def test_the_readmes_new_prod_stack_is_synthesized_priced_gated_and_deployed_with_prod(
        checkout, capsys, monkeypatch, tmp_path):
    (checkout / "Pulumi.prod-eu.yaml").write_text(readme_stack_file("prod-eu"))
    document = synthesized(capsys, tmp_path, "prod-eu")
    assert document["environment"] == "prod" and document["policy"]["environment"] == "prod"
    assert document["region"] == "eu-west-1" and document["outputs"]["vpcCidr"] == "10.3.0.0/16"
    # Priced with Ireland's table (what it lacks is listed, never priced at $0: test_cost.py).
    assert document["cost"]["prices_region"] == "eu-west-1" and document["cost"]["monthly_usd"] > 0
    prod = json.loads(github_outputs(capsys, monkeypatch, tmp_path, "stacks")["prod"])
    assert [e["stack"] for e in prod] == ["prod", "prod-eu"]
    assert prod[1] == {"stack": "prod-eu", "environment": "prod", "region": "eu-west-1", "stackKey": "PROD_EU",
                       "environmentKey": "PROD", "promotedFrom": "staging"}
    moved = github_outputs(capsys, monkeypatch, tmp_path, "promote", "staging", "prod-eu", "--describe")
    assert moved["kind"] == "promotion"
