"""A new environment is one profile file: `qa`, added to a scratch copy of the profiles, is validated, synthesized
and gated (its policy configuration from its profile's base), deployed by CI in its place in the promotion order
and promoted along the paths its profile declares; no code names it."""

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli as run

from envstack import cli
from envstack.ops import promote, stacks
from envstack.program import paths
from envstack.program.config import load_profile
from envstack.program.config import profiles as environments
from envstack.tools import policy_config

QA_STACK = """config:
  aws:region: us-west-2
  envstack:environment: qa
  envstack:owner: qa@acme-corp.io
  envstack:team: platform
  envstack:repository: github.com/acme-corp/infra
  envstack:cluster: {publicAccessCidrs: [52.94.0.0/22]}
"""


def qa_profile(**extra: Any) -> str:
    """dev's profile as qa's, with its own VPC range and a week of database backups that its guardrails require."""
    profile = yaml.safe_load((paths.PROFILES / "dev.yaml").read_text())
    profile["settings"]["network"]["cidr"] = "10.3.0.0/16"
    profile["settings"]["database"]["backupRetentionDays"] = 7
    profile["guardrails"]["minBackupRetentionDays"] = 7
    return "# qa: acceptance tests, dev-sized\n" + yaml.safe_dump({**profile, **extra})


@pytest.fixture
def with_qa(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The checkout's profiles, plus qa.yaml written by the test (`write(**extra)`); the checkout holds Pulumi.qa.yaml
    beside the suite's dev, staging and prod stacks."""
    profiles = checkout / "profiles"
    shutil.copytree(paths.PROFILES, profiles)
    monkeypatch.setattr(paths, "PROFILES", profiles)
    (checkout / "Pulumi.qa.yaml").write_text(QA_STACK)

    def write(**extra: Any) -> None:
        (profiles / "qa.yaml").write_text(qa_profile(**extra))
        environments.clear()
        load_profile.cache_clear()

    yield write
    environments.clear()
    load_profile.cache_clear()


def test_qa_is_validated_synthesized_and_gated_with_its_bases_policy_levels(with_qa, capsys, tmp_path):
    with_qa(promotion={"from": "dev"}, policy={"base": "dev"})
    assert environments.environments() == ("dev", "qa", "staging", "prod")
    code, out, err = run(capsys, "validate", "qa")
    assert code == 0 and "stack qa: valid (environment qa, region us-west-2)" in out, err
    document = tmp_path / "qa.json"
    code, out, err = run(capsys, "synth", "qa", "--json", str(document))
    assert code == 0, out[-2000:] + err
    synthesis = json.loads(document.read_text())
    assert synthesis["environment"] == "qa" and synthesis["policy"]["environment"] == "qa"
    # dev's levels, qa's thresholds (a week of backups where dev asks one day)
    code, out, _ = run(capsys, "policy-config", "qa")
    dev = json.loads((paths.POLICY_DIR / "dev.json").read_text())
    assert code == 0 and json.loads(out) == policy_config.with_thresholds(dev, load_profile("qa").guardrails)
    assert json.loads(out)["rds-backup-retention"]["minimumDays"] == 7
    assert dev["rds-backup-retention"]["minimumDays"] != 7


def test_ci_deploys_qa_after_dev_and_promotes_it_along_its_profiles_paths(with_qa, checkout):
    with_qa(promotion={"from": "dev", "rollbackFrom": ["staging"]}, policy={"base": "dev"})
    infos = [stacks.describe(stack, checkout) for stack in ("dev", "staging", "prod", "qa")]
    jobs = stacks.by_stage(infos)
    # qa is promoted from dev: the second wave, beside staging, taking dev's commit
    assert [(e["stack"], e["environment"], e["promotedFrom"]) for e in jobs["staging"]] == [
        ("qa", "qa", "dev"), ("staging", "staging", "dev")]
    assert [e["stack"] for e in jobs["dev"]] == ["dev"] and [e["stack"] for e in jobs["prod"]] == ["prod"]
    dev, staging, qa = (stacks.describe(s, checkout) for s in ("dev", "staging", "qa"))
    assert promote.check_path(dev, qa) == "promotion"
    assert promote.check_path(staging, qa) == "rollback"
    allowed = ("allowed paths between environments: dev->qa, dev->staging, staging->prod, staging->qa (rollback), "
               "prod->staging (rollback)")
    with pytest.raises(promote.RefusedError, match=re.escape(allowed)):
        promote.check_path(qa, staging)


def test_without_a_policy_configuration_qa_says_what_to_add(with_qa, capsys, tmp_path):
    with_qa(promotion={"from": "dev"})
    code, _, err = run(capsys, "policy-config", "qa")
    assert code == 2
    assert err.strip() == (
        "stack qa: environment qa has no policy configuration: add policies/qa.json, or name the environment whose "
        "configuration it starts from in envstack/program/profiles/qa.yaml (policy: {base: staging}: that file's "
        "levels, qa's guardrail thresholds)")


def test_a_policy_base_leading_back_to_itself_is_refused_naming_the_chain(with_qa, capsys):
    with_qa(promotion={"from": "dev"}, policy={"base": "qa"})
    code, _, err = run(capsys, "policy-config", "qa")
    assert code == 2
    assert err.strip() == ("stack qa: environment qa's policy.base leads back to itself (qa -> qa): the chain must end "
                           "at an environment with a policies/<environment>.json")


@pytest.mark.parametrize(("extra", "message"), [
    ({"promotion": {"from": "stagng"}}, "promotion.from = 'stagng': expected another environment (a profile: dev, "
                                        "prod, staging)"),
    ({"promotion": {"from": "qa"}}, "promotion.from = 'qa': expected another environment"),
    ({"promotion": {"rollbackFrom": ["nope"]}}, "promotion.rollbackFrom = 'nope'"),
    ({"promotion": {"form": "dev"}}, "promotion.form = 'dev': Extra inputs are not permitted"),
    ({"policy": {"base": "nope"}}, "policy.base = 'nope': expected an environment"),
])
def test_a_profile_naming_what_does_not_exist_is_refused_naming_it(with_qa, extra, message):
    with_qa(**extra)
    with pytest.raises(cli.ConfigError) as refused:
        environments.waves()
        environments.policy_base("qa")
    line = refused.value.render().splitlines()[-1]
    assert line.startswith("stack profiles: ") and "profiles/qa.yaml: " in line and message in line, line


def test_a_cycle_of_promotions_is_refused(with_qa, checkout):
    with_qa(promotion={"from": "prod"})  # qa after prod
    (checkout / "profiles" / "dev.yaml").write_text(
        (checkout / "profiles" / "dev.yaml").read_text().replace("settings:", "promotion: {from: qa}\nsettings:", 1))
    environments.clear()
    with pytest.raises(cli.ConfigError, match=re.escape("promotion.from makes a cycle through dev, prod, qa, staging")):
        environments.waves()


def test_a_fourth_wave_has_no_deploy_job_and_ci_says_so(with_qa, checkout):
    with_qa(promotion={"from": "prod"}, policy={"base": "prod"})  # dr, say: after prod
    infos = [stacks.describe(stack, checkout) for stack in ("dev", "prod", "qa")]
    with pytest.raises(stacks.StackFileError, match="environment qa is wave 4 of the promotion order "
                                                    "\\(dev -> staging -> prod -> qa\\)"):
        stacks.by_stage(infos)
