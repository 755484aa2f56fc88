"""No stack file a user can write produces a traceback: whatever YAML holds, `validate` and `config` answer with
exit 0 or with problem lines and exit 2 (and `synth` validates the same way before it runs anything)."""

import argparse
import contextlib
import copy
import importlib.util
import io
import random
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from envstack import cli
from envstack.program.config import ConfigError, Problem, load_profile, namespaces
from envstack.program.config.errors import MISSING
from envstack.tools import policy_gate, validate
from envstack.tools.synth import synthesize

REPO = Path(__file__).resolve().parent.parent
# A dev stack file of its own (not the checkout's, which users edit): lines added below it start at line 9.
DEV = """config:
  aws:region: us-west-2
  envstack:environment: dev
  envstack:owner: platform-team@acme-corp.io
  envstack:team: platform
  envstack:repository: github.com/acme-corp/infra
  envstack:cluster:
    publicAccessCidrs: [52.94.0.0/22]
"""
CLUSTER = "  envstack:cluster:\n"


def added(text: str) -> str:
    return DEV + text


def in_cluster(text: str) -> str:
    return DEV.replace(CLUSTER, CLUSTER + text)


# (name, stack file text, what the last line says; "" when the stack is valid)
CORPUS = [
    ("date", added("  envstack:network: {flowLogTraffic: 2024-01-01}\n"),
     "envstack:network.flowLogTraffic = '2024-01-01': expected 'ALL', 'ACCEPT' or 'REJECT'"),
    ("binary", added("  envstack:network: {flowLogTraffic: !!binary aGVsbG8=}\n"),
     "Pulumi.dev.yaml:9: not a configuration value: tag:yaml.org,2002:binary"),
    ("set", added("  envstack:network: {flowLogTraffic: !!set {a, b}}\n"),
     "Pulumi.dev.yaml:9: not a configuration value: tag:yaml.org,2002:set"),
    ("custom tag", added("  envstack:network: {flowLogTraffic: !custom x}\n"),
     "Pulumi.dev.yaml:9: not a configuration value: could not determine a constructor for the tag '!custom'"),
    ("empty value", DEV.replace("envstack:owner: platform-team@acme-corp.io", "envstack:owner:"),
     "envstack:owner = None: expected a valid string"),
    ("number as a key", added("  envstack:network: {1: x}\n"), "envstack:network.1 = 'x': unknown key; expected one "),
    ("nan", added("  envstack:network: {azCount: .nan}\n"), "envstack:network.azCount = nan: expected a finite number"),
    ("inf", added("  envstack:monitoring: {monthlyBudgetUsd: .inf}\n"),
     "envstack:monitoring.monthlyBudgetUsd = inf: expected a finite number"),
    ("huge number", added("  envstack:allowedAccountIds: [123456789012345678901234567890]\n"),
     "envstack:allowedAccountIds[0] = 123456789012345678901234567890: expected a 12-digit AWS account id"),
    ("list in a list", added("  envstack:allowedAccountIds: [[1]]\n"),
     "envstack:allowedAccountIds[0] = [1]: expected a valid string"),
    ("environment list", DEV.replace("envstack:environment: dev", "envstack:environment: [dev]"),
     "envstack:environment = ['dev']: expected one of dev, staging, prod"),
    ("environment mapping", DEV.replace("envstack:environment: dev", "envstack:environment: {a: 1}"),
     "envstack:environment = {'a': 1}: expected one of dev, staging, prod"),
    ("version list", in_cluster("    version: [1]\n"), "envstack:cluster.version = [1]: expected a valid string"),
    ("add-ons list", in_cluster("    addonVersions: [1]\n"), "envstack:cluster.addonVersions = [1]: expected a mapping "
                                                            "of `key: value` lines (vpcCni, coredns, "),
    ("node group null", in_cluster("    nodeGroups: {gpu: null}\n"),
     "envstack:cluster.nodeGroups.gpu = None: expected a mapping of `key: value` lines (capacityType, amiType, "),
    # null over a mapping the profile sets removes it: a stack without the profile's node group
    ("node group removed", in_cluster("    nodeGroups:\n      main: null\n      general: {instanceTypes: [t3.large], "
                                      "minSize: 1, maxSize: 2, desiredSize: 1}\n"), ""),
    ("region mapping", DEV.replace("aws:region: us-west-2", "aws:region: {a: 1}"),
     "aws:region = '{\"a\": 1}': expected an AWS region"),
    ("region secret", DEV.replace("aws:region: us-west-2", "aws:region: {secure: AAAA}"),
     "aws:region = '[secret]': expected an AWS region"),
    ("transitions text", added("  envstack:loadBalancer: {accessLogs: {transitions: x}}\n"),
     "envstack:loadBalancer.accessLogs.transitions = 'x': expected a list: [a, b], or one `- item` line each"),
    ("windows as numbers", added("  envstack:database: {maintenanceWindow: 5}\n"),
     "envstack:database.maintenanceWindow = 5: expected a string, and YAML read this unquoted value as a number"),
    ("deep nesting", added("  envstack:network: " + "[" * 50 + "]" * 50 + "\n"), "envstack:network = [[[["),
    ("an anchor that contains itself", added("  envstack:network: &n [*n]\n"),
     "Pulumi.dev.yaml: not a configuration value: an alias inside its own anchor"),
    ("nesting deeper than a reader goes", added("  envstack:network: " + "[" * 2000 + "]" * 2000 + "\n"),
     "Pulumi.dev.yaml: not a configuration value: an alias inside its own anchor (`&a [*a]`), or values nested"),
    ("latin-1", None, "Pulumi.dev.yaml: cannot be read: 'utf-8' codec can't decode"),
    ("aliases", added("  envstack:network: &n {azCount: 2}\n  envstack:monitoring: *n\n"),
     "envstack:monitoring.azCount = 2: unknown key"),
    ("merge key", added("  envstack:network: {<<: {azCount: 3}, natGateways: single}\n"), ""),
    ("byte order mark", "\ufeff" + DEV, ""),
    ("CRLF", DEV.replace("\n", "\r\n"), ""),
    ("pulumi settings", added("  pulumi:tags: {a: b}\n"), ""),
    # What the Pulumi CLI's YAML reader (go-yaml) does where PyYAML differs.
    ("tab before a comment", DEV.replace("envstack:team: platform", "envstack:team: platform\t# the owning team")
     .replace("publicAccessCidrs: [52.94.0.0/22]", "publicAccessCidrs: [52.94.0.0/22] \t\t# the office"), ""),
    ("tab after a value", DEV.replace("envstack:team: platform", "envstack:team: platform\t"), ""),
    ("tab in the indentation", DEV.replace("  envstack:team: platform", "\tenvstack:team: platform"),
     "Pulumi.dev.yaml:5: not valid YAML: a tab character: YAML indents with spaces only"),
    ("tab inside a value", DEV.replace("envstack:team: platform", "envstack:team: plat\tform"),
     "Pulumi.dev.yaml:5: not valid YAML: a tab character inside a value: write a space, or quote the value"),
    ("account id with a leading zero", added("  envstack:allowedAccountIds: [012345678901]\n"),
     "envstack:allowedAccountIds[0] = 12345678901: expected a 12-digit AWS account id: unquoted, YAML reads it as the "
     "number 12345678901"),
    ("account id quoted", added("  envstack:allowedAccountIds: ['012345678901']\n"), ""),
    # Values `pulumi config set --secret [--path]` writes: opaque offline, accepted where text is expected.
    ("secret text", DEV.replace("envstack:team: platform", "envstack:team: {secure: v1:AAAA}"), ""),
    ("secret nested text", in_cluster("    nodeGroups: {main: {labels: {team: {secure: v1:AAAA}}}}\n"), ""),
    ("secret in a list", added("  envstack:monitoring: {notificationEmails: [{secure: v1:AAAA}]}\n"),
     "envstack:monitoring.notificationEmails[0] = '[secret]': expected an email address such as oncall@example.com; "
     "it is a secret (`pulumi config set --secret`): its plaintext needs the stack's secrets provider, so only "
     "`pulumi preview` can check it; set this key in plain text (it is no secret) (Pulumi.dev.yaml:9)"),
    ("misspelt namespace", added("  envstak:database: {instanceClass: db.r7g.large}\n"),
     "envstak:database = {'instanceClass': 'db.r7g.large'}: unknown namespace 'envstak'; did you mean "
     "envstack:database? (a stack file sets envstack: keys, aws:region and the engine's pulumi: settings) "
     "(Pulumi.dev.yaml:9)"),
    ("misspelt aws key", added("  aws:regoin: eu-west-1\n"),
     "aws:regoin = 'eu-west-1': unknown key; did you mean aws:region? (Pulumi.dev.yaml:9)"),
    ("aws setting envstack ignores", added("  aws:profile: prod-admin\n"),
     "aws:profile = 'prod-admin': a setting of Pulumi's default AWS provider, which envstack does not use: its own "
     "provider reads only aws:region from the stack (pulumi/pulumi-aws#1307), so this would be ignored; use the "
     "AWS_PROFILE environment variable (Pulumi.dev.yaml:9)"),
    ("secret in an unknown namespace", added("  envstak:token: {secure: AAAA}\n"), "envstak:token = '[secret]'"),
    ("a policy entry of neither shape", added("  envstack:policy: {rds-multi-az: strict}\n"),
     "envstack:policy.rds-multi-az = 'strict': expected 'advisory', 'mandatory', 'remediate' or 'disabled', or a "
     "mapping of `key: value` lines (Pulumi.dev.yaml:9)"),
    ("a namespace like no other", added("  random:seed: 1\n"),
     "random:seed = 1: unknown namespace 'random' (a stack file sets envstack: keys, aws:region and the engine's "
     "pulumi: settings) (Pulumi.dev.yaml:9)"),
    ("kubernetes settings", added("  kubernetes:context: x\n"),
     "kubernetes:context = 'x': envstack's Kubernetes provider is built from the cluster's kubeconfig"),
    # The CLI ignores a stack file's other keys, and everything under a misspelt `config:` with them.
    ("misspelt config", DEV.replace("config:", "confg:", 1),
     "Pulumi.dev.yaml:1: unknown key 'confg': did you mean config? a stack file holds config, secretsprovider, "),
    ("misspelt secrets provider", DEV + "secretprovider: awskms://alias/envstack-dev\n",
     "Pulumi.dev.yaml:9: unknown key 'secretprovider': did you mean secretsprovider?"),
    ("stack file settings", DEV + "secretsprovider: passphrase\nencryptionsalt: v1:abc\n", ""),
    ("a word that is no typo", added("  envstack:usage: {bogus: 1}\n"),
     "envstack:usage.bogus = 1: unknown key; expected one of: "),
    ("unknown pulumi key", added("  pulumi:tag: {a: b}\n"), "pulumi:tag = {'a': 'b'}: unknown key; did you mean "
                                                          "pulumi:tags?"),
]


@pytest.mark.parametrize(("text", "last_line"), [row[1:] for row in CORPUS], ids=[row[0] for row in CORPUS])
def test_every_stack_file_gets_an_answer_never_a_traceback(tmp_path, monkeypatch, text, last_line):
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    path = tmp_path / "Pulumi.dev.yaml"
    if text is None:
        path.write_bytes(DEV.replace("platform-team", "pl\xe4tform-team").encode("latin-1"))
    else:
        path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(cli, "ROOT", tmp_path)
    for command in ("validate", "config"):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([command, "dev"])
        if last_line:
            assert code == 2
            assert err.getvalue().splitlines()[-1].startswith(f"stack dev: {last_line}"), err.getvalue()
        else:
            assert code == 0, err.getvalue()


def test_problems_are_listed_in_the_files_order(tmp_path, monkeypatch, capsys):
    """The model's order (database before network) is not the reader's: validate lists problems by line, those of
    keys the file leaves out last."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_text(added(
        "  envstack:network: {azcount: 3}\n  envstack:database: {multiAz: perhaps}\n  envstack:monitoring: "
        "{notificationEmails: [ops@acme]}\n  envstack:loadBalancer: {tls: true}\n"))
    monkeypatch.setattr(cli, "ROOT", tmp_path)
    assert cli.main(["validate", "dev"]) == 2
    lines = capsys.readouterr().err.splitlines()[1:]
    assert [re.search(r"= .*?\(Pulumi\.dev\.yaml:(\d+)\)$", line)[1] if line.endswith(")") and "yaml:" in line
            else None for line in lines] == ["9", "10", "11", None]
    assert lines[-1].startswith("stack dev: envstack:loadBalancer.certificateArn = None")


# ---- every problem of a file, whatever their mix, reported together --------------------------------------------

# A valid stack file per environment, written here (not read from the checkout's stack files): mutations of it make
# the broken files below.
BASES: dict[str, dict[str, Any]] = {
    "dev": {"aws:region": "us-west-2", "envstack:environment": "dev", "envstack:owner": "platform",
            "envstack:team": "platform", "envstack:repository": "github.com/acme/infra",
            "envstack:cluster": {"deployerRoleArn": "arn:aws:iam::210987654321:role/deployer",
                                 "publicAccessCidrs": ["52.94.0.0/22"]}},
    "staging": {"aws:region": "us-west-2", "envstack:environment": "staging", "envstack:owner": "platform",
                "envstack:team": "platform", "envstack:repository": "github.com/acme/infra",
                "envstack:allowedAccountIds": ["210987654321"],
                "envstack:loadBalancer": {"certificateArn": "arn:aws:acm:us-west-2:210987654321:certificate/"
                                                            "6f1c9e57-1a2b-4c3d-8e9f-0a1b2c3d4e5f"},
                "envstack:monitoring": {"notificationEmails": ["oncall@acme-corp.io"]},
                "envstack:cluster": {"deployerRoleArn": "arn:aws:iam::210987654321:role/deployer",
                                     "publicAccessCidrs": ["52.94.0.0/22"]}},
    "prod": {"aws:region": "us-west-2", "envstack:environment": "prod", "envstack:owner": "platform",
             "envstack:team": "platform", "envstack:repository": "github.com/acme/infra",
             "envstack:allowedAccountIds": ["210987654321"],
             "envstack:loadBalancer": {"certificateArn": "arn:aws:acm:us-west-2:210987654321:certificate/"
                                                         "6f1c9e57-1a2b-4c3d-8e9f-0a1b2c3d4e5f"},
             "envstack:monitoring": {"notificationEmails": ["oncall@acme-corp.io"]},
             "envstack:network": {"transitGateway": {"id": "tgw-0123456789abcdef0", "cidrs": ["10.250.0.0/24"]}},
             "envstack:cluster": {"deployerRoleArn": "arn:aws:iam::210987654321:role/deployer",
                                  "apiAccessCidrs": ["10.250.0.0/24"]}},
}
# Wrong for most keys: every YAML kind, numbers where text is expected and text where numbers are.
WRONG: tuple[Any, ...] = (16, 1.5, -1, "x", "", True, None, [1], {"a": 1}, [[]])


def _paths(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of a profile's settings, mappings included (a whole area can be replaced too)."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*path, str(key)))


def _leaf(path: tuple[str, ...], settings: dict[str, Any]) -> bool:
    value = settings
    for key in path:
        value = value[key]
    return not isinstance(value, dict) or not value


def _mutated(environment: str, mutations: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """The environment's base stack file with `envstack:<path>` set to each value, in order (a later mutation of an
    enclosing key replaces the earlier ones inside it)."""
    config = copy.deepcopy(BASES[environment])
    for (area, *inner), value in mutations:
        if not inner:
            config[f"envstack:{area}"] = copy.deepcopy(value)
            continue
        node = config.get(f"envstack:{area}")
        if not isinstance(node, dict):
            node = config[f"envstack:{area}"] = {}
        for key in inner[:-1]:
            if not isinstance(node.setdefault(key, {}), dict):
                node[key] = {}
            node = node[key]
        node[inner[-1]] = copy.deepcopy(value)
    return config


def _problems(root: Path, environment: str, config: dict[str, Any]) -> list[Any]:
    """What validate reports for the stack file (ConfigError's problems; [] when valid). Any other exception is the
    traceback this file exists to rule out, and fails the test."""
    (root / f"Pulumi.{environment}.yaml").write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    try:
        validate.load(environment, root)
    except ConfigError as error:
        return error.problems
    return []


def _sets(config: dict[str, Any], key: str) -> bool:
    """Does the stack file's `config` set `key` (envstack:cluster.nodeGroups.main.minSize, ...adminRoleArns[0])?"""
    first, *rest = re.findall(r"[^.\[\]]+", key.split(":", 1)[1])
    node: Any = config.get(f"{key.split(':')[0]}:{first}", MISSING)
    for part in rest:
        if isinstance(node, dict):
            node = node.get(part, MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return node is not MISSING


def _named(key: str, reported: Iterable[str]) -> bool:
    """Is `key` reported, itself, through a key inside it (an element) or through the key that holds it?"""
    return any(k == key or k.startswith((f"{key}.", f"{key}[")) or key.startswith((f"{k}.", f"{k}["))
               for k in reported)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


@pytest.mark.parametrize("environment", sorted(BASES))
def test_the_bases_are_valid(scratch, environment):
    assert _problems(scratch, environment, BASES[environment]) == []


@pytest.mark.parametrize("environment", sorted(BASES))
def test_any_mix_of_wrong_values_is_reported_line_by_line_never_as_a_traceback(scratch, environment):
    """Seeded mixes of 2-12 wrong values anywhere (areas, keys, list elements): each problem names its key, the
    value and what was expected, and the stack file's line wherever the file sets the key."""
    settings = load_profile(environment).settings
    paths = sorted(_paths(settings))
    rng = random.Random(environment)
    file = f"Pulumi.{environment}.yaml"
    for _ in range(60):
        mutations = [(path, rng.choice(WRONG)) for path in rng.sample(paths, rng.randint(2, 12))]
        config = _mutated(environment, mutations)
        problems = _problems(scratch, environment, config)
        assert problems, mutations
        for problem in problems:
            line = problem.line(environment)
            assert isinstance(problem, Problem), line
            assert problem.key.startswith(("envstack:", "aws:")) and problem.expected, line
            if _sets(config, problem.key):
                assert problem.where.startswith(f"{file}:"), line


@pytest.mark.parametrize("environment", sorted(BASES))
def test_every_wrong_value_of_a_file_is_reported_in_the_same_run(scratch, environment):
    """A mapping where a key expects a value of its own (text, number, list, flag) is wrong for every key: however
    many there are, one run names each (pydantic's first error does not hide the others)."""
    settings = load_profile(environment).settings
    leaves = [path for path in _paths(settings) if _leaf(path, settings)]
    rng = random.Random(f"{environment}-all")
    for _ in range(30):
        chosen = rng.sample(leaves, rng.randint(2, 20))
        problems = _problems(scratch, environment, _mutated(environment, [(path, {"wrong": [1]})
                                                                          for path in chosen]))
        reported = [problem.key for problem in problems]
        missing = [path for path in chosen if not _named("envstack:" + ".".join(path), reported)]
        assert not missing, (missing, reported)


def test_an_unquoted_engine_version_among_other_type_errors_is_one_report(scratch):
    """The issue's file: `engineVersion: 16` (read as "16") beside wrong types in four areas."""
    config = _mutated("dev", [(("database", "engineVersion"), 16), (("database", "allocatedStorageGb"), "abc"),
                              (("cache", "nodes"), "two"), (("network", "azCount"), "x"),
                              (("cluster", "version"), 1.30), (("cluster", "nodeGroups", "main", "minSize"), "a")])
    (scratch / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = validate.validate(argparse.Namespace(stacks=["dev"], root=scratch, quiet=False))
    assert code == 2
    lines = err.getvalue().splitlines()
    assert lines[0].endswith("(5 problem(s)):"), lines
    for key in ("database.allocatedStorageGb = 'abc'", "cache.nodes = 'two'", "network.azCount = 'x'",
                "cluster.version = 1.3: expected a string", "cluster.nodeGroups.main.minSize = 'a'"):
        assert any(f"stack dev: envstack:{key}" in line and "(Pulumi.dev.yaml:" in line for line in lines), key
    assert not any("engineVersion" in line for line in lines)  # 16 is PostgreSQL 16: valid


# ---- keys outside envstack: ------------------------------------------------------------------------------------


def test_an_unknown_namespace_is_reported_with_the_files_other_problems(scratch):
    config = {**_mutated("dev", [(("database", "allocatedStorageGb"), "abc")]),
              "envstak:database": {"instanceClass": "db.r7g.large"}, "aws:regoin": "eu-west-1"}
    keys = [problem.key for problem in _problems(scratch, "dev", config)]
    assert sorted(keys) == ["aws:regoin", "envstack:database.allocatedStorageGb", "envstak:database"]


def test_the_aws_keys_are_the_installed_providers():
    """Read as text from pulumi_aws/config/vars.py: one key per setting (property) the config module defines, so a
    provider upgrade that adds settings is followed (importing the module needs all of pulumi_aws: seconds)."""
    source = (Path(importlib.util.find_spec("pulumi_aws").submodule_search_locations[0]) / "config" /
              "vars.py").read_text()
    settings = re.findall(r"@_builtins\.property\n    def (\w+)\(self\)", source)
    assert len(settings) >= 30 and len(namespaces.aws_keys()) == len(settings)
    # snake_case setting -> camelCase key, compared without case and underscores (s3_us_east1_regional_endpoint)
    assert {name.replace("_", "") for name in settings} == {key.lower() for key in namespaces.aws_keys()}
    assert {"region", "profile", "assumeRoles", "allowedAccountIds", "defaultTags"} <= namespaces.aws_keys()


def test_the_program_refuses_them_too():
    """`pulumi up` runs the same check on every key the CLI hands over (without file lines)."""
    config = {f"envstack:{k}" if ":" not in k else k: v for k, v in {
        **{key.split(":", 1)[1] if key.startswith("envstack:") else key: value
           for key, value in BASES["dev"].items()}, "aws:regoin": "eu-west-1"}.items()}
    with pytest.raises(ConfigError) as refused:
        synthesize("dev", config)
    assert [problem.line("dev") for problem in refused.value.problems] == [
        "stack dev: aws:regoin = 'eu-west-1': unknown key; did you mean aws:region?"]


# ---- a new user's first dev stack -------------------------------------------------------------------------------


def test_a_minimal_dev_stack_file_needs_no_role_and_synthesizes():
    """Region, environment, owner, team, repository, its own VPC range and the API's allowed CIDRs: nothing else
    (no role ARN: its creator administers the cluster through EKS's implicit entry)."""
    config = {"aws:region": "eu-west-1", "envstack:environment": "dev", "envstack:owner": "jane@acme-corp.io",
              "envstack:team": "payments", "envstack:repository": "github.com/acme-corp/payments-infra",
              "envstack:network": {"cidr": "10.42.0.0/16"},
              "envstack:cluster": {"publicAccessCidrs": ["52.94.0.0/22"]}}
    synthesis = synthesize("sandbox", config)
    cluster = synthesis.one("eks:index:Cluster")
    assert not cluster.inputs.get("accessEntries")  # no explicit entry can duplicate the creator's
    assert cluster.inputs["authenticationMode"] == "API"
    mandatory = [v for v in policy_gate.check(synthesis).violations if v["level"] == "mandatory"]
    assert mandatory == []
