"""A new stack is one file: a clone of this repository with one more committed stack file, Pulumi.prod-eu.yaml (prod
in eu-west-1, its own CIDR and certificate), is synthesized, priced and checked, gets matrix entries, variables and
a promotion path, and passes the workflow tests unchanged. Runs in a clone, in subprocesses (`python -m` puts the
clone first on sys.path, before this checkout's editable install)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROD_EU = """\
# prod-eu: a second production stack, in Ireland.
config:
  aws:region: eu-west-1
  envstack:environment: prod
  envstack:owner: platform-team@example.com
  envstack:team: platform
  envstack:repository: github.com/example/envstack
  envstack:allowedAccountIds:
    - "111111111111"
  envstack:network:
    cidr: 10.3.0.0/16
    transitGateway: {id: tgw-0123456789abcdef0, cidrs: [10.250.0.0/24]}
  envstack:loadBalancer:
    certificateArn: arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-4000-8000-000000000003
"""


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's committed tree plus the working tree's changes to tracked files, and Pulumi.prod-eu.yaml
    built from the committed prod stack file (cluster roles and API access included) with the keys above."""
    root = tmp_path_factory.mktemp("clone") / "envstack"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(root)], check=True)
    for path in git(REPO, "diff", "--name-only", "HEAD").split():  # uncommitted edits of tracked files
        if (REPO / path).exists():
            (root / path).write_bytes((REPO / path).read_bytes())
    prod = (REPO / "Pulumi.prod.yaml").read_text().split("config:\n", 1)[1]
    cluster = prod[prod.index("  envstack:cluster:"):]
    (root / "Pulumi.prod-eu.yaml").write_text(PROD_EU + cluster.replace("us-west-2", "eu-west-1"))
    git(root, "add", "-A")
    git(root, "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-q", "--allow-empty", "-m", "prod-eu")
    return root


def run(clone: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    return subprocess.run([sys.executable, *argv], cwd=clone, capture_output=True, text=True, env=environment,
                          timeout=240, check=False)


def test_the_clone_is_what_the_suite_sees(clone):
    result = run(clone, "-c", "import envstack.ops.stacks as s; print(s.ROOT, s.committed())")
    assert result.stdout.strip() == f"{clone} ['dev', 'prod', 'prod-eu', 'staging']", result.stderr


def test_prod_eu_synthesizes_with_the_prod_policy_configuration_and_a_price(clone):
    result = run(clone, "-m", "envstack.cli", "synth", "prod-eu", "--json", "out/prod-eu.json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    document = json.loads((clone / "out" / "prod-eu.json").read_text())
    assert document["environment"] == "prod" and document["outputs"]["vpcCidr"] == "10.3.0.0/16"
    assert document["policy"]["environment"] == "prod"
    provider = next(r for r in document["resources"] if r["type"] == "pulumi:providers:aws")
    assert provider["inputs"]["region"] == "eu-west-1"


def test_prod_eu_gets_matrix_entries_variables_and_a_promotion_path(clone, tmp_path):
    output = tmp_path / "github_output"
    result = run(clone, "-m", "envstack.cli", "stacks", "--github-output", env={"GITHUB_OUTPUT": str(output)})
    assert result.returncode == 0, result.stderr
    prod = json.loads(dict(line.split("=", 1) for line in output.read_text().splitlines())["prod"])
    assert [e["stack"] for e in prod] == ["prod", "prod-eu"]
    assert prod[1] == {"stack": "prod-eu", "environment": "prod", "region": "eu-west-1", "stackKey": "PROD_EU",
                       "environmentKey": "PROD", "promotedFrom": "staging"}
    result = run(clone, "-m", "envstack.cli", "promote", "staging", "prod-eu", "--describe", "--github-output",
                 env={"GITHUB_OUTPUT": str(tmp_path / "promote")})
    assert result.returncode == 0, result.stderr
    assert "kind=promotion" in (tmp_path / "promote").read_text()


def test_the_workflow_and_program_tests_pass_unchanged(clone):
    """Every test that runs per stack runs for prod-eu (one synthesis, not four); the workflow tests read every
    stack file."""
    result = run(clone, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "tests", "--ignore=tests/test_new_stack.py",
                 "-k", "test_workflows or test_stacks or prod-eu")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "PASSED tests/test_program.py::test_stack_outputs[prod-eu]" in result.stdout
