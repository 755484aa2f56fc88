"""The pack's shape and the per-environment configuration files."""

import ast
import json
import re
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policies.evaluate import PolicyConfigError, evaluate, resolve
from policies.pack import all_policies
from policies.rules import CHECKOV, DEPLOYABILITY

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
NAMES = [p.name for p in all_policies()]


def config(env: str) -> dict:
    return json.loads((POLICIES_DIR / f"{env}.json").read_text())


def test_pack_has_at_least_30_uniquely_named_rules() -> None:
    assert len(NAMES) >= 30
    assert len(set(NAMES)) == len(NAMES)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in NAMES)
    assert all(isinstance(p, ResourceValidationPolicy | StackValidationPolicy) for p in all_policies())
    assert sum(isinstance(p, StackValidationPolicy) for p in all_policies()) >= 3


def test_all_policies_returns_the_same_objects_each_time() -> None:
    assert [id(p) for p in all_policies()] == [id(p) for p in all_policies()]


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_config_names_only_existing_rules_and_valid_options(env: str) -> None:
    cfg = config(env)
    assert set(cfg) - {"all"} <= set(NAMES)
    resolve(all_policies(), cfg)  # raises on unknown options or levels


def test_prod_makes_every_rule_mandatory() -> None:
    cfg = config("prod")
    assert cfg["all"] == "mandatory"
    for name in NAMES:
        entry = cfg[name]
        assert (entry if isinstance(entry, str) else entry["enforcementLevel"]) == "mandatory", name
    levels = resolve(all_policies(), cfg)
    assert {level for level, _ in levels.values()} == {EnforcementLevel.MANDATORY}
    assert levels["rds-backup-retention"][1]["minimumDays"] == 30


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_deployability_rules_are_mandatory_in_every_environment(env: str) -> None:
    """The CLI reads the JSON as written, so each file names every deployability rule mandatory itself."""
    assert DEPLOYABILITY, "the pack declares deployability rules"
    cfg, levels = config(env), resolve(all_policies(), config(env))
    for name in DEPLOYABILITY:
        assert cfg.get(name) == "mandatory" or cfg.get(name, {}).get("enforcementLevel") == "mandatory", name
        assert levels[name][0] == EnforcementLevel.MANDATORY, name


@pytest.mark.parametrize("level", ["advisory", "disabled"])
def test_a_deployability_rule_cannot_be_relaxed(level: str) -> None:
    name = sorted(DEPLOYABILITY)[0]
    with pytest.raises(PolicyConfigError, match=f"relaxes {name} \\({level}\\)"):
        resolve(all_policies(), {"all": "mandatory", name: level})
    with pytest.raises(PolicyConfigError, match=f"relaxes {name} \\({level}\\)"):
        resolve(all_policies(), {name: {"enforcementLevel": level}})


@pytest.mark.parametrize("level", ["advisory", "disabled"])
def test_all_cannot_relax_the_deployability_rules(level: str, tmp_path: Path) -> None:
    """`"all": "disabled"` (or advisory) in an environment's file is refused, naming each rule it would relax."""
    path = tmp_path / "relaxed.json"
    path.write_text(json.dumps({"all": level}))
    with pytest.raises(PolicyConfigError) as refused:
        evaluate([], path)
    for name in DEPLOYABILITY:
        assert f"{name} ({level} from all)" in str(refused.value)
    mandatory = {name: "mandatory" for name in DEPLOYABILITY}
    levels = resolve(all_policies(), {"all": level, **mandatory})  # naming them keeps them on: accepted
    assert {name for name, (lvl, _) in levels.items() if lvl == EnforcementLevel.MANDATORY} == DEPLOYABILITY


def test_deployability_rules_are_tagged() -> None:
    tagged = {p.name for p in all_policies() if "deployability" in (p.tags or [])}
    assert tagged == DEPLOYABILITY


def test_prod_options_equal_schema_defaults() -> None:
    """Defaults in code are prod's values, since the CLI fills options from the schema."""
    defaults = resolve(all_policies(), {})
    prod = resolve(all_policies(), config("prod"))
    assert {n: o for n, (_, o) in prod.items()} == {n: o for n, (_, o) in defaults.items()}


def test_staging_and_dev_levels_and_thresholds() -> None:
    staging, dev = resolve(all_policies(), config("staging")), resolve(all_policies(), config("dev"))
    assert staging["rds-backup-retention"][0] == EnforcementLevel.MANDATORY  # thresholds: tests/test_policy_config.py
    assert staging["protect-stateful-resources"][0] == EnforcementLevel.ADVISORY
    assert staging["alb-waf-association"][0] == EnforcementLevel.MANDATORY
    assert config("dev")["all"] == "advisory"
    assert {level for name, (level, _) in dev.items()
            if name != "protect-stateful-resources" and name not in DEPLOYABILITY} == {EnforcementLevel.ADVISORY}


def test_main_serves_the_pack_from_its_own_directory() -> None:
    """`__main__.py` loads its directory as a package and serves; no absolute import of this repository's names."""
    main = ast.parse((POLICIES_DIR / "__main__.py").read_text())
    imports = {alias.name for node in ast.walk(main) if isinstance(node, ast.Import) for alias in node.names}
    imports |= {node.module or "" for node in ast.walk(main) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] in ("policies", "envstack", "components") for name in imports), imports
    assert "serve" in (POLICIES_DIR / "__main__.py").read_text()


def test_rules_import_only_inside_the_pack() -> None:
    """Every import between the pack's modules is relative: the pack runs under whatever name it is loaded."""
    for path in POLICIES_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text())
        absolute = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0
                    and (node.module or "").split(".")[0] == "policies"]
        absolute += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
                     if alias.name.split(".")[0] == "policies"]
        assert absolute == [], path


def test_every_rule_documents_its_checkov_ids_or_none() -> None:
    assert set(CHECKOV) == set(NAMES)
    assert all(re.fullmatch(r"(CKV2?_AWS_\d+(, )?)*", ids) for ids in CHECKOV.values())
