"""`envstack synth`: summary, JSON format and exit codes."""

import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import kubernetes_version
from conftest import run_cli as run

from envstack import cli
from envstack.tools import synth as synth_module
from envstack.tools.synth import synthesize
from envstack.tools.terminal import paint

REPO = Path(__file__).resolve().parent.parent
# Every command here reads the fixture stacks in a scratch checkout (conftest.checkout), never the repository's.
pytestmark = pytest.mark.usefixtures("checkout")


def test_synth_prod_writes_the_documented_json(capsys, tmp_path):
    out = tmp_path / "prod.json"
    code, stdout, _ = run(capsys, "synth", "prod", "--json", str(out))
    assert code == 0
    assert "network  [envstack:network:Network]" in stdout and "9  aws:ec2/subnet:Subnet" in stdout
    document = json.loads(out.read_text())
    assert {"stack", "environment", "resources", "outputs", "warnings"} <= set(document)
    assert document["stack"] == "prod" and document["environment"] == "prod"
    for resource in document["resources"]:
        assert {"urn", "type", "name", "parent", "dependencies", "protect", "inputs"} <= set(resource)
    nats = [r for r in document["resources"] if r["type"] == "aws:ec2/natGateway:NatGateway"]
    assert len(nats) == 3
    subnet = next(r for r in document["resources"] if r["type"] == "aws:ec2/subnet:Subnet")
    assert subnet["parent"].endswith("envstack:network:Network::network")
    assert any(dep.endswith("aws:ec2/vpc:Vpc::network-vpc") for dep in subnet["dependencies"])


@pytest.fixture
def scratch_repo(checkout):
    """The scratch checkout, where a test may write a broken stack file."""
    return checkout


@pytest.mark.parametrize(("edit", "key"), [
    (("  envstack:network:\n", "  envstack:network:\n    cidr: 10.2.0.0/8\n"),
     "envstack:network.cidr"),
    (("envstack:environment: prod", "envstack:environment: prod\n  envstack:netwerk:\n    azCount: 3"),
     "envstack:netwerk"),
    (("  envstack:network:\n", "  envstack:network:\n    azCount: 2\n"),
     "envstack:network.azCount"),
    # A private-only API nobody can reach, and a role given two access entries (EKS answers 409).
    (("apiAccessCidrs: [10.250.0.0/24]", "apiAccessCidrs: []"), "envstack:cluster.apiAccessCidrs"),
    (("ciDeployerRoleArns: [arn:aws:iam::111111111111:role/github-actions-deployer]",
      "ciDeployerRoleArns: [arn:aws:iam::111111111111:role/platform-admin]"), "envstack:cluster.ciDeployerRoleArns"),
    (("  envstack:network:\n", "  envstack:network:\n    azCount: 1\n"),
     "envstack:network.azCount"),
    # A storage ceiling 5% above the allocation: RDS wants at least 10%.
    (("envstack:environment: prod", "envstack:environment: prod\n  envstack:database:\n    maxAllocatedStorageGb: 105"),
     "envstack:database.maxAllocatedStorageGb"),
])
def test_bad_stack_file_exits_2_naming_the_key_without_traceback(capsys, scratch_repo, edit, key):
    path = scratch_repo / "Pulumi.prod.yaml"
    original = path.read_text()
    assert edit[0] in original
    path.write_text(original.replace(*edit))
    code, stdout, stderr = run(capsys, "synth", "prod")
    assert code == 2
    assert f"stack prod: {key} = " in stderr
    assert "Traceback" not in stderr + stdout


def test_unknown_stack_exits_2(capsys):
    code, _, stderr = run(capsys, "synth", "nope")
    assert code == 2 and "Pulumi.nope.yaml" in stderr


def test_the_installed_command_runs():
    """The console script reaches the CLI (what each command does is tested in process)."""
    envstack = shutil.which("envstack") or str(REPO / ".venv/bin/envstack")
    result = subprocess.run([envstack, "--version"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == f"envstack {version('envstack')}", result.stderr


def test_each_warning_is_told_once_in_the_summary(capsys, caplog):
    """The program logs its warnings (pulumi.log.warn) for `pulumi preview`; under synth they are the summary's
    WARNING lines, not also raw lines on standard error that name no stack."""
    code, stdout, stderr = run(capsys, "synth", "dev")
    assert code == 0
    placeholder = "envstack:owner = 'platform-team@example.com' is an example value"
    assert f"WARNING: configuration: {placeholder}" in stdout
    assert (stdout + stderr).count(placeholder) == 1, stderr
    assert placeholder not in caplog.text  # nothing reaches the root logger, which prints to standard error


def test_a_reader_that_stops_early_or_ctrl_c_get_no_traceback(monkeypatch, capsys):
    """`envstack stacks --json | head -1` closes the pipe early: the command stops quietly. Ctrl-C exits 130."""
    envstack = shutil.which("envstack") or str(REPO / ".venv/bin/envstack")
    result = subprocess.run(f"'{envstack}' stacks --json | head -1", shell=True, capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.stdout.strip() == "[" and "Traceback" not in result.stderr, result.stderr

    def interrupted(args):
        raise KeyboardInterrupt
    parsed = cli.parser().parse_args(["stacks"])
    monkeypatch.setattr(cli, "parser", lambda: type("P", (), {"parse_args": lambda self, argv: parsed})())
    monkeypatch.setattr(parsed, "run", interrupted)
    assert cli.main(["stacks"]) == 130
    assert capsys.readouterr().err == "envstack: interrupted\n"


def test_synth_reports_policy_results_in_json(capsys, tmp_path):
    out = tmp_path / "prod.json"
    code, stdout, _ = run(capsys, "synth", "prod", "--json", str(out))
    policy = json.loads(out.read_text())["policy"]
    assert policy["environment"] == "prod" and policy["rules_evaluated"] >= 30
    assert not [v for v in policy["violations"] if v["level"] == "mandatory"]
    assert code == 0 and "policy (prod configuration)" in stdout


def test_dev_checked_against_prod_gate_exits_1_and_names_the_rules(capsys, tmp_path):
    out = tmp_path / "dev.json"
    code, stdout, _ = run(capsys, "synth", "dev", "--enforce", "prod", "--json", str(out))
    assert code == 1
    violations = json.loads(out.read_text())["policy"]["violations"]
    broken = {v["policy"] for v in violations if v["level"] == "mandatory"}
    assert "log-group-retention" in broken
    assert all(v["urn"] is None or v["urn"].startswith("urn:pulumi:dev::") for v in violations)
    assert "[mandatory] log-group-retention" in stdout


def test_dev_against_its_own_advisory_gate_exits_0(capsys):
    code, _, _ = run(capsys, "synth", "dev")
    assert code == 0


def test_a_broken_policy_configuration_exits_2(capsys, monkeypatch, tmp_path):
    from envstack.tools import policy_config

    (tmp_path / "prod.json").write_text('{"no-such-rule": "mandatory"}')
    monkeypatch.setattr(policy_config, "POLICY_DIR", tmp_path)
    code, _, stderr = run(capsys, "synth", "prod")
    assert code == 2 and "no-such-rule" in stderr


def test_the_json_is_deterministic(capsys, tmp_path, monkeypatch):
    """Registrations arrive from several threads; the JSON must not depend on their order: a run of its own gives
    the session's earlier run's document, byte for byte."""
    earlier = tmp_path / "earlier.json"
    assert run(capsys, "synth", "staging", "--json", str(earlier))[0] == 0  # the session's cached synthesis
    monkeypatch.setattr(synth_module, "synthesize", synthesize)
    again = tmp_path / "again.json"
    assert run(capsys, "synth", "staging", "--json", str(again))[0] == 0
    assert again.read_text() == earlier.read_text()


SDKS = ("pulumi", "pulumi_aws", "pulumi_eks", "pulumi_kubernetes", "pulumi_policy", "boto3", "grpc")


def fresh_interpreter(code: str, root: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run `code` in a new Python (the command as a user runs it), the envstack checkout at `root`."""
    prelude = f"import sys\nfrom pathlib import Path\nfrom envstack import cli\ncli.ROOT = Path({str(root)!r})\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


@pytest.mark.parametrize("argv", [["validate", "prod"], ["validate"], ["config", "dev"], ["stacks"], ["synth", "prod"]])
def test_validation_never_imports_pulumi_or_the_provider_sdks(argv, checkout):
    """`validate`, and `synth` on a stack file with a typo, answer before any SDK is imported."""
    root = checkout
    if argv[0] == "synth":
        typo = checkout / "Pulumi.prod.yaml"
        typo.write_text(typo.read_text() + "  envstack:netwerk: {azCount: 3}\n")
    result = fresh_interpreter(f"code = cli.main({argv!r})\n"
                               f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({SDKS!r}))\n"
                               "print('LOADED', loaded, 'EXIT', code)", root)
    assert result.returncode == 0, result.stderr
    assert "LOADED [] EXIT " + ("2" if argv[0] == "synth" else "0") in result.stdout, result.stdout + result.stderr
    if argv[0] == "synth":
        assert "stack prod: envstack:netwerk = " in result.stderr


def test_validate_checks_every_stack_file_by_default(capsys):
    code, stdout, stderr = run(capsys, "validate")
    assert code == 0, stderr
    assert [line.split(":")[0] for line in stdout.splitlines()] == ["stack dev", "stack prod", "stack staging"]


def test_validate_reports_every_stack_with_a_problem_and_exits_2(capsys, scratch_repo):
    path = scratch_repo / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("us-west-2", "us-west-9", 1))
    code, stdout, stderr = run(capsys, "validate", "prod", "nope")
    assert code == 2
    assert "stack prod: aws:region = 'us-west-9'" in stderr and "no stack file Pulumi.nope.yaml" in stderr
    assert "Traceback" not in stderr and stdout == ""


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"envstack {version('envstack')}"


def test_json_dash_writes_the_document_to_standard_output_and_quiet_prints_nothing_else(capsys):
    code, stdout, stderr = run(capsys, "synth", "dev", "--json", "-", "--quiet")
    assert code == 0, stderr
    assert json.loads(stdout)["stack"] == "dev"  # standard output is the JSON document and nothing else
    assert stderr == ""


def test_json_dash_moves_the_summary_to_standard_error(capsys):
    code, stdout, stderr = run(capsys, "synth", "staging", "--json", "-")
    assert code == 0
    assert json.loads(stdout)["environment"] == "staging"
    assert "network  [envstack:network:Network]" in stderr and "policy (staging configuration)" in stderr


def test_quiet_names_the_broken_rules_when_it_exits_1(capsys):
    code, stdout, stderr = run(capsys, "synth", "dev", "--enforce", "prod", "-q")
    assert code == 1 and stdout == ""
    assert stderr.startswith("stack dev: mandatory policy violations: ") and "log-group-retention" in stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert paint("invalid", "error", Terminal()) == "\033[1;31minvalid\033[0m"
    assert paint("invalid", "error", io.StringIO()) == "invalid"
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint("invalid", "error", Terminal()) == "invalid"


def test_problems_on_a_terminal_are_coloured(capsys, monkeypatch, scratch_repo):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    path = scratch_repo / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("us-west-2", "us-west-9", 1))
    assert cli.main(["validate", "prod"]) == 2
    assert sys.stderr.getvalue().startswith("\033[1;31minvalid configuration (1 problem(s)):\033[0m\n")


def test_setup_compiles_the_sdks_to_bytecode():
    """PYTHONDONTWRITEBYTECODE is set on these machines: only the install can leave .pyc files behind."""
    dry_run = subprocess.run(["make", "-n", "-B", ".venv/.synced"], capture_output=True, text=True, cwd=REPO,
                             check=True).stdout
    sync = [line for line in dry_run.splitlines() if " sync " in line]
    assert sync and all("--compile-bytecode" in line for line in sync), dry_run
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["compile-bytecode"] is True


HEADER = "config:\n  aws:region: us-west-2\n"


@pytest.mark.parametrize(("text", "expected"), [
    (HEADER + "\tenvstack:environment: prod\n", "Pulumi.prod.yaml:3: not valid YAML: a tab character: YAML indents "
                                                "with spaces only"),
    (HEADER + "  envstack:environment: [prod\n", "Pulumi.prod.yaml:4: not valid YAML: "),
    (HEADER + "  envstack:environment: prod\n envstack:team: x\n", "Pulumi.prod.yaml:4: not valid YAML: "),
    ("config:\n  - envstack:environment: prod\n", "Pulumi.prod.yaml:1: `config:` must be a mapping of "
                                                  "`namespace:key: value` lines, got a list"),
    ("- config:\n    envstack:environment: prod\n", "Pulumi.prod.yaml:1: expected a mapping with a `config:` section, "
                                                   "got a list"),
    ("just text\n", "Pulumi.prod.yaml:1: expected a mapping with a `config:` section, got a string"),
    (HEADER + "  envstack:environment: prod\n  envstack:environment: dev\n",
     "Pulumi.prod.yaml:4: key 'envstack:environment' is set twice (first at line 3); the Pulumi CLI refuses"),
    (HEADER + "  envstack:network:\n    cidr: 10.9.0.0/16\n    azCount: 3\n    cidr: 10.8.0.0/16\n",
     "Pulumi.prod.yaml:6: key 'cidr' is set twice (first at line 4)"),
    (HEADER + "  environment: prod\n", "Pulumi.prod.yaml:3: config key 'environment' has no namespace: stack files "
                                       "name `namespace:key`, e.g. envstack:environment"),
    (HEADER + "  3: x\n", "Pulumi.prod.yaml:3: config key 3 is a number"),
    (HEADER + "  envstack:environment: prod\n  envstack:allowedAccountIds: [012345670123]\n",
     "envstack:allowedAccountIds[0] = 1402433619: expected a 12-digit AWS account id: unquoted, YAML reads it as the "
     "number 1402433619 (leading zeros dropped, a leading 0 read as octal); quote it"),
    ("", "envstack:environment = (not set): expected one of dev, staging, prod"),
    ("# nothing configured yet\n", "envstack:environment = (not set): expected one of dev, staging, prod"),
    ("config:\n", "envstack:environment = (not set): expected one of dev, staging, prod"),
])
def test_a_stack_file_that_is_not_configuration_is_one_line_per_problem(capsys, scratch_repo, text, expected):
    (scratch_repo / "Pulumi.prod.yaml").write_text(text)
    for command in ("validate", "synth"):
        code, stdout, stderr = run(capsys, command, "prod")
        assert code == 2, stderr
        assert f"stack prod: {expected}" in stderr, stderr
        assert "Traceback" not in stdout + stderr


def add_stack(root: Path, stack: str, environment: str, cidr: str | None) -> None:
    text = (root / "Pulumi.dev.yaml").read_text().replace("envstack:environment: dev",
                                                         f"envstack:environment: {environment}")
    if cidr:
        text += f"  envstack:network:\n    cidr: {cidr}\n"
    (root / f"Pulumi.{stack}.yaml").write_text(text)


def test_a_stack_inside_another_environments_range_is_refused_naming_both_files(capsys, checkout):
    add_stack(checkout, "dev-eu", "dev", "10.1.128.0/17")  # inside staging's 10.1.0.0/16
    code, _, stderr = run(capsys, "validate", "dev-eu")
    assert code == 2
    [line] = stderr.splitlines()[1:]
    assert line.startswith("stack dev-eu: envstack:network.cidr = '10.1.128.0/17': a range apart from stack "
                           "staging's 10.1.0.0/16 (Pulumi.staging.yaml, environment staging): Pulumi.dev-eu.yaml "
                           "(environment dev) overlaps it"), line
    cidr_line = len((checkout / "Pulumi.dev-eu.yaml").read_text().splitlines())  # the file's last line
    assert line.endswith(f"e.g. 10.3.0.0/16 is free (Pulumi.dev-eu.yaml:{cidr_line})"), line
    # The other side sees it too: staging now overlaps a dev stack.
    code, _, stderr = run(capsys, "validate", "staging")
    assert code == 2 and "stack dev-eu's 10.1.128.0/17 (Pulumi.dev-eu.yaml, environment dev)" in stderr


def test_a_review_stack_may_share_devs_range_with_a_note(capsys, checkout):
    add_stack(checkout, "pr-42", "dev", None)
    code, stdout, stderr = run(capsys, "validate", "pr-42")
    assert code == 0, stderr
    assert ("note: stack pr-42: VPC 10.0.0.0/16 overlaps stack dev's 10.0.0.0/16 (Pulumi.dev.yaml, also dev): fine "
            "for a review stack, as long as the two are never connected") in stdout


def test_stacks_with_ranges_apart_are_valid_without_notes(capsys, checkout):
    prod = (checkout / "Pulumi.prod.yaml").read_text()
    network = "  envstack:network:\n"  # prod's own network settings (its transit gateway) stay
    (checkout / "Pulumi.prod-eu.yaml").write_text(prod.replace(network, network + "    cidr: 10.20.0.0/16\n", 1)
                                                  if network in prod else prod + network + "    cidr: 10.20.0.0/16\n")
    code, stdout, stderr = run(capsys, "validate")
    assert code == 0, stderr
    assert "note:" not in stdout and len(stdout.splitlines()) == 4


def test_config_shows_each_effective_value_with_where_it_comes_from(capsys, checkout):
    path = checkout / "Pulumi.dev.yaml"
    path.write_text(path.read_text() + "  envstack:network:\n    azCount: 3\n")
    code, stdout, stderr = run(capsys, "config", "dev", "--json")
    assert code == 0, stderr
    found = {s["key"]: (s["value"], s["source"]) for s in json.loads(stdout)}
    assert found["envstack:network.azCount"] == (3, "Pulumi.dev.yaml")  # the stack file wins...
    profiles = "envstack/program/profiles"
    assert found["envstack:network.cidr"] == ("10.0.0.0/16", f"{profiles}/dev.yaml")  # ...merged key by key
    assert found["envstack:cluster.baseline.httpsEgressCidrs"] == (["0.0.0.0/0"], f"{profiles}/common.yaml")
    pins = f"envstack/program/addon_versions.yaml ({kubernetes_version('dev')})"
    assert found["envstack:cluster.addonVersions.coredns"][1] == pins
    assert found["envstack:monitoring.anomalyThresholdUsd"][1] == f"{profiles}/common.yaml"
    assert found["aws:region"] == ("us-west-2", "Pulumi.dev.yaml")
    assert found["envstack:allowedAccountIds"] == ([], f"{profiles}/common.yaml")
    assert found["envstack:cluster.nodeGroups.main.amiType"][1] == \
        f"{profiles}/common.yaml (cluster.nodeGroupDefaults)"
    assert {source for _, source in found.values()} <= {"Pulumi.dev.yaml", "Pulumi.yaml", f"{profiles}/dev.yaml",
                                                        f"{profiles}/common.yaml",
                                                        f"{profiles}/common.yaml (cluster.nodeGroupDefaults)",
                                                        pins}
    assert not [key for key in found if key.startswith(("envstack:stack", "envstack:project", "envstack:region"))]

    code, stdout, _ = run(capsys, "config", "dev")
    assert code == 0 and stdout.startswith("envstack config dev  (environment dev, region us-west-2)\n")
    assert re.search(r"^envstack:network\.azCount +3 +Pulumi\.dev\.yaml$", stdout, re.MULTILINE), stdout
    assert re.search(r"^envstack:cluster\.publicAccessCidrs +\[52\.94\.0\.0/22\] +Pulumi\.dev\.yaml$", stdout,
                     re.MULTILINE), stdout
    assert re.search(r"^envstack:monitoring\.monthlyBudgetUsd +325 +envstack/program/profiles/dev\.yaml$", stdout,
                     re.MULTILINE), stdout  # a whole number reads as one, not 100.0


def test_config_of_an_invalid_stack_shows_the_problems_and_exits_2(capsys, checkout):
    path = checkout / "Pulumi.dev.yaml"
    path.write_text(path.read_text() + "  envstack:network:\n    azCount: 9\n")
    code, stdout, stderr = run(capsys, "config", "dev")
    assert code == 2 and stdout == ""
    assert "stack dev: envstack:network.azCount = 9: expected less than or equal to 4" in stderr


def test_a_problem_points_at_the_stack_file_line_that_sets_the_key(capsys, scratch_repo):
    path = scratch_repo / "Pulumi.prod.yaml"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("  envstack:monitoring")
             and "notificationEmails" not in line]
    lines += ["  envstack:monitoring:", "    notificationEmails:", "    - a@example.com", "    - b@example"]
    path.write_text("\n".join(lines) + "\n")
    code, _, stderr = run(capsys, "validate", "prod")
    assert code == 2
    assert (f"stack prod: envstack:monitoring.notificationEmails[1] = 'b@example': expected an email address such as "
            f"oncall@example.com (Pulumi.prod.yaml:{len(lines)})") in stderr.splitlines()
    path.write_text(path.read_text().replace("    - b@example\n", "").replace(
        "  envstack:monitoring:\n", "  envstack:monitoring:\n    anomalyDetection: false\n"))
    code, _, stderr = run(capsys, "validate", "prod")
    # A guardrail on a value the stack file sets names its line; one on a profile's value names none.
    assert f"envstack:monitoring.anomalyDetection = False: environment prod requires true (cost anomaly " \
           f"detection) (Pulumi.prod.yaml:{len(lines) - 2})" in stderr


def test_validate_without_any_stack_file_says_so(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "ROOT", tmp_path)
    code, _, stderr = run(capsys, "validate")
    assert code == 2 and "no stack file (Pulumi.<stack>.yaml)" in stderr


def test_validate_without_names_says_which_review_stacks_it_skipped(capsys, tmp_path, monkeypatch):
    """Review stacks are generated from the dev stack file: validate names them instead of passing over them."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    dev = "config:\n  aws:region: us-west-2\n  envstack:environment: dev\n  envstack:owner: o\n  envstack:team: t\n" \
          "  envstack:repository: r\n  envstack:cluster: {publicAccessCidrs: [52.94.0.0/22]}\n"
    for stack in ("dev", "pr-12", "pr-7"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(dev)
    monkeypatch.setattr(cli, "ROOT", tmp_path)
    code, out, _ = run(capsys, "validate")
    assert code == 0
    assert out.splitlines()[0] == ("note: skipped the review stack(s) pr-7, pr-12: generated from the dev stack file "
                                   "(`envstack validate pr-7` checks one)")
    assert "stack dev: valid" in out and "stack pr-7" not in out
    code, out, _ = run(capsys, "validate", "pr-7")
    assert code == 0 and "skipped" not in out and "stack pr-7: valid" in out
