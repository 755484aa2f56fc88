"""docs/configuration.md and docs/policies.md are written from the code by `make docs`: they are current, and what
they are written from is complete (every key described, every deployability rule sourced)."""

import json

import pytest
from conftest import STACKS

from envstack.program.config import StackConfig
from envstack.program.config.guardrails import Guardrails
from envstack.tools import reference
from envstack.tools.effective import settings
from envstack.tools.synth import ROOT
from envstack.tools.validate import load
from policies.rules import DEPLOYABILITY, SOURCES, all_policies
from policies.rules.base import REGISTRY, resource_rule


def test_the_generated_references_are_current():
    assert reference.stale() == [], "the generated docs are stale: run `make docs` and commit the result"


def test_a_stale_reference_is_found_and_rewritten(tmp_path):
    for name in reference.GENERATED:
        prose, generated = (reference.DOCS / name).read_text().split("<!-- BEGIN GENERATED", 1)
        (tmp_path / name).write_text(prose + "<!-- BEGIN GENERATED" + generated.replace("| `", "| `x", 1))
    assert reference.stale(tmp_path) == sorted(reference.GENERATED)
    assert reference.write(tmp_path) == sorted(reference.GENERATED)
    assert reference.stale(tmp_path) == []


def test_every_configuration_key_and_guardrail_is_described():
    """The reference's description column comes from each field's docstring (a line under the field)."""
    undescribed = [key.name() for key in reference.keys(StackConfig) if not key.field.description]
    undescribed += [name for name, field in Guardrails.model_fields.items() if not field.description]
    assert undescribed == [], "add a docstring under each of these fields"


def test_types_are_said_in_words_never_by_python_name():
    """A reader of the reference sees `an object (the keys below)`, not the model class (TransitGatewayConfig) or
    typing's Union."""
    types = [reference.type_text(key.field.annotation, key.field.metadata) for key in reference.keys(StackConfig)]
    named = sorted({word for text in types for word in text.replace(",", " ").split()
                    if word.endswith("Config") or word in ("Union", "Optional", "Any", "NoneType")})
    assert named == []
    assert reference.type_text(StackConfig.model_fields["policy"].annotation).endswith("or mapping")


@pytest.mark.parametrize("stack", STACKS)
def test_the_reference_names_every_key_envstack_config_shows(stack):
    documented = {key.name() for key in reference.keys(StackConfig)}
    shown = set()
    for setting in settings(stack, load(stack, ROOT).config, ROOT):
        if setting.key == "aws:region":
            continue
        parts = setting.key.removeprefix("envstack:").split(".")
        if parts[:2] == ["cluster", "nodeGroups"]:  # the stack's own group names, and label keys below them
            parts = ["cluster", "nodeGroups", "<name>", *parts[3:4]]
        shown.add(".".join(parts))
    assert shown - documented == set()


def test_every_rule_is_in_the_policy_reference_with_its_anchor():
    text = reference.policy_reference()
    for policy in all_policies():
        [row] = [line for line in text.splitlines() if line.startswith(f"| `{policy.name}`")]
        anchor = SOURCES[policy.name] if policy.name in DEPLOYABILITY else reference.CHECKOV[policy.name]
        assert anchor in row


def test_a_deployability_rule_without_its_source_is_refused():
    declare = resource_rule("made-up-rule", "A rule AWS would enforce.", ["aws:s3/bucket:Bucket"],
                            deployability=True)
    with pytest.raises(ValueError, match="made-up-rule must name its source"):
        declare(lambda r: iter(()))
    assert "made-up-rule" not in {p.name for p in REGISTRY}


def test_a_source_on_a_rule_that_is_not_a_deployability_rule_is_refused():
    """The reference shows a source only for deployability rules: one given elsewhere would be dropped unseen."""
    declare = resource_rule("made-up-rule", "A rule.", ["aws:s3/bucket:Bucket"], source="somewhere")
    with pytest.raises(ValueError, match="made-up-rule names a source"):
        declare(lambda r: iter(()))
    assert "made-up-rule" not in {p.name for p in REGISTRY}


def test_the_reference_shows_each_environments_enforcement():
    """Each rule a configuration file names by level reads that level in the file's column."""
    environments = list(reference.known_environments())
    rows = {line.split(" | ")[0].removeprefix("| `").split("`")[0]: [c.strip(" |") for c in line.split(" | ")]
            for line in reference.policy_reference().splitlines() if line.startswith("| `")}
    checked = 0
    for column, environment in enumerate(environments, start=len(environments) * -1):
        configured = json.loads((ROOT / "policies" / f"{environment}.json").read_text())
        for rule, entry in configured.items():
            level = entry if isinstance(entry, str) else entry.get("enforcementLevel", configured.get("all"))
            if rule != "all" and level:
                assert rows[rule][column].startswith(level), (rule, environment)
                checked += 1
    assert checked > len(environments)
