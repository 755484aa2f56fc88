"""The README's and docs/'s examples run as written: their envstack commands, the review stack file, the new stack
file, the error example, the synth JSON format, the connection code and the versions the configuration reference
names; the README stays short and every relative link leads to a file. (The generated references: test_docs.py.)"""

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import synth

from envstack import cli
from envstack.ops.review import write_review_stack_file
from envstack.ops.verify import CHECKS
from envstack.program.config.cache import ENGINE_MAJORS
from envstack.program.config.database import POSTGRES_MAJORS
from envstack.tools import diff, report

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = {path.relative_to(REPO).as_posix(): path.read_text()
             for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]}
README = DOCUMENTS["README.md"]
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def blocks(*documents: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block of the documents (every one without names), indentation removed."""
    return [(language, re.sub(rf"^{indent}", "", body, flags=re.MULTILINE))
            for name, text in DOCUMENTS.items() if name in documents or not documents
            for indent, language, body in FENCE.findall(text)]


BLOCKS = blocks()
# Commands that need only this checkout (the others need AWS, GitHub or another git revision: parsed only).
RUNNABLE = {"validate", "config", "synth"}


def envstack_commands() -> list[tuple[list[str], int]]:
    """Each `envstack ...` line of the documents' shell blocks: its arguments and the exit code it documents."""
    found = []
    for language, body in BLOCKS:
        for line in body.splitlines() if language == "sh" else ():
            if line.startswith(("envstack ", ".venv/bin/envstack ")):
                words = shlex.split(line, comments=True)
                documented = re.search(r"exits (\d)", line)
                found.append((words[1:], int(documented[1]) if documented else 0))
    return found


COMMANDS = envstack_commands()


def envstack_commands_in(document: str) -> list[list[str]]:
    return [shlex.split(line, comments=True)[1:] for language, body in blocks(document) if language == "sh"
            for line in body.splitlines() if line.startswith(("envstack ", ".venv/bin/envstack "))]


def test_the_readme_shows_envstack_commands():
    assert {argv[0] for argv in envstack_commands_in("README.md")} >= RUNNABLE | {"diff"}
    assert len(COMMANDS) >= 8, COMMANDS
    assert {argv[0] for argv, _ in COMMANDS} >= RUNNABLE | {"diff"}


@pytest.mark.parametrize(("argv", "code"), COMMANDS, ids=[" ".join(argv) for argv, _ in COMMANDS])
def test_each_readme_command_runs_as_written(argv, code, monkeypatch, tmp_path, capsys, checkout):
    args = cli.parser().parse_args(argv)  # every command and option the documents name exist
    two_stacks = args.command == "diff" and not args.base and not any("@" in o or "." in o for o in args.operands)
    if args.command not in RUNNABLE and not two_stacks:
        return
    monkeypatch.chdir(tmp_path)  # `--json out/prod.json` writes here
    monkeypatch.setattr(diff, "synthesize", lambda stack, root=None: synth(stack))
    assert cli.main(argv) == code, capsys.readouterr().err


def yaml_block(first_line: str) -> str:
    return next(body for language, body in BLOCKS if language == "yaml" and body.startswith(first_line))


def test_the_review_stack_file_is_what_review_stack_file_writes_and_it_is_valid(checkout, capsys):
    documented = yaml.safe_load(yaml_block("# Pulumi.pr-42.yaml"))
    written = write_review_stack_file(42, documented["secretsprovider"], root=checkout,
                                      deployer_role_arn=documented["config"]["envstack:cluster"]["deployerRoleArn"])
    assert yaml.safe_load(written.read_text()) == documented
    assert cli.main(["validate", "pr-42"]) == 0, capsys.readouterr().err


def test_the_readme_new_stack_file_is_valid(tmp_path, monkeypatch, capsys):
    """The README's Pulumi.prod-eu.yaml, beside nothing but Pulumi.yaml, validates as it is written."""
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.prod-eu.yaml").write_text(yaml_block("# Pulumi.prod-eu.yaml"))
    monkeypatch.setattr(cli, "ROOT", tmp_path)
    assert cli.main(["validate", "prod-eu"]) == 0, capsys.readouterr().err


def test_the_configuration_error_example_is_what_envstack_prints(checkout, capsys):
    prod = checkout / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text() + yaml_block("  envstack:database:"))
    assert cli.main(["validate", "prod"]) == 2
    printed = capsys.readouterr().err.splitlines()
    documented = next(body for language, body in BLOCKS if body.startswith("invalid configuration")).splitlines()
    assert len(printed) == len(documented), printed
    for said, shown in zip(printed, documented, strict=True):
        said = re.sub(r"\(Pulumi\.prod\.yaml:\d+\)$", "(Pulumi.prod.yaml:N)", said)  # the fixture file's length
        shown = re.sub(r"\(Pulumi\.prod\.yaml:\d+\)$", "(Pulumi.prod.yaml:N)", shown)
        assert said.startswith(shown.removesuffix("...")) if shown.endswith("...") else said == shown


# Keys vary by resource or stack below these.
OPEN_MAPPINGS = {"inputs", "outputs", "propertyDependencies", "by_component", "settings", "usage"}


def shape_differences(documented: Any, written: list[Any], path: str = "") -> list[str]:
    """Where the documented JSON example and written documents differ in their keys."""
    if isinstance(documented, dict) and path.rsplit(".", 1)[-1] not in OPEN_MAPPINGS:
        mappings = [w for w in written if isinstance(w, dict)]
        seen = set().union(*(m.keys() for m in mappings)) if mappings else set(documented)
        found = [f"{path}.{k}: written, not documented" for k in sorted(seen - documented.keys())]
        found += [f"{path}.{k}: documented, never written" for k in sorted(documented.keys() - seen)]
        for key in documented.keys() & seen:
            found += shape_differences(documented[key], [m[key] for m in mappings if key in m], f"{path}.{key}")
        return found
    if isinstance(documented, list) and documented and isinstance(documented[0], dict):
        return shape_differences(documented[0], [item for w in written for item in w], f"{path}[]")
    return []


def test_the_json_format_names_every_field_synth_writes(checkout, tmp_path, capsys):
    written = []
    for argv in (["synth", "prod"], ["synth", "dev", "--enforce", "prod"]):  # the second has violations
        path = tmp_path / f"{argv[1]}.json"
        cli.main([*argv, "--json", str(path), "--quiet"])
        written.append(json.loads(path.read_text()))
    documented = json.loads(next(body for language, body in blocks("docs/synth-json.md") if language == "json"))
    assert shape_differences(documented, written) == []


def test_the_configuration_reference_names_the_supported_versions():
    reference = DOCUMENTS["docs/configuration.md"]
    redis, valkey = (" or ".join(map(str, ENGINE_MAJORS[engine])) for engine in ("redis", "valkey"))
    assert f"`redis` {redis}, `valkey` {valkey};" in reference
    assert f"PostgreSQL major ({', '.join(f'`{m}`' for m in POSTGRES_MAJORS)}:" in reference


def test_the_connection_example_makes_the_tokens_the_guides_describe(monkeypatch):
    """docs/workload-identity.md's Python block, run with made-up credentials: both tokens are presigned requests,
    nothing leaves the machine."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    [code] = [body for language, body in blocks("docs/workload-identity.md") if language == "python"]
    example: dict[str, Any] = {}
    exec(compile(code, "docs/workload-identity.md", "exec"), example)
    cache = example["cache_token"]("envstack-prod-cache", "envstack-prod-app", "us-west-2")
    assert cache.startswith("envstack-prod-cache/?Action=connect&User=envstack-prod-app&X-Amz-Algorithm=AWS4-HMAC")
    assert "/us-west-2/elasticache/aws4_request" in cache.replace("%2F", "/") and "X-Amz-Expires=900" in cache
    database = example["database_token"]("envstack-prod-postgres.c0ffee.us-west-2.rds.amazonaws.com", 5432, "app",
                                         "us-west-2")
    assert database.startswith("envstack-prod-postgres.c0ffee.us-west-2.rds.amazonaws.com:5432/?Action=connect")
    assert "DBUser=app" in database and "/rds-db/aws4_request" in database.replace("%2F", "/")


def test_the_connection_example_is_a_line_synth_prints():
    """The README's `source -> target  port` example is one of the connections synth reports (as the names the
    program gives them, e.g. the node groups' security group `cluster-nodes`, not the component `cluster`)."""
    [example] = re.findall(r"who may reach whom\s+\(`([^`]+)`\)", README)
    shown = {" ".join(line.split()[:4]) for line in report.connections(synth("prod"))}
    assert " ".join(example.split()) in shown, sorted(shown)


def test_the_readme_table_of_verify_checks_names_each_check_once():
    """Issue 24's README table: every check `envstack verify` runs, each in one row, and no other."""
    table = README[README.index("| checks | what they prove | asked of |"):].split("\n\n", 1)[0]
    named = [name for row in table.splitlines()[2:] for name in re.findall(r"`([a-z-]+)`", row.split("|")[1])]
    assert sorted(named) == sorted(name for name, _ in CHECKS) and len(named) == len(set(named))


def test_the_readme_stays_short():
    """The guide's rule: what envstack is, the two commands, running it for real, the architecture, links."""
    assert len(README.splitlines()) < 300


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)")


@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_relative_links_point_at_files_that_exist(document):
    targets = [t for t in LINK.findall(DOCUMENTS[document]) if "://" not in t]
    missing = [t for t in targets if not (REPO / document).parent.joinpath(t).exists()]
    assert missing == []
