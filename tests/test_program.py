"""The composed program for each fixture stack: provider, tags, outputs."""

import json

import pytest
from conftest import stack_config, synth

PROVIDER = "pulumi:providers:aws"


def test_one_aws_provider_per_stack_with_region_and_default_tags(stack):
    provider = stack.one(PROVIDER)
    assert provider.inputs["region"] == stack_config(stack.stack)["aws:region"]
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags["Environment"] == stack.environment and tags["Stack"] == stack.stack
    assert set(tags) == {"Project", "Environment", "Stack", "ManagedBy", "Owner", "Team", "Repository"}


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_staging_and_prod_providers_refuse_other_accounts(name):
    provider = synth(name).one(PROVIDER)
    assert json.loads(provider.inputs["allowedAccountIds"]) == ["111111111111"]


def test_every_aws_resource_uses_the_stack_provider(stack):
    provider_urn = stack.one(PROVIDER).urn
    aws_resources = [r for r in stack.resources if r.custom and r.type.startswith("aws:")]
    assert aws_resources
    assert all(r.provider == provider_urn for r in aws_resources)


def test_every_resource_belongs_to_a_component(stack):
    components = {r.urn for r in stack.resources if r.type.startswith("envstack:")}
    for record in stack.resources:
        if record.type.startswith("aws:"):
            assert record.parent in components or record.parent in {r.urn for r in stack.resources}


def test_stack_outputs(stack):
    outputs = stack.outputs
    assert outputs["environment"] == stack.environment
    profile_cidr = {"dev": "10.0.0.0/16", "staging": "10.1.0.0/16", "prod": "10.2.0.0/16"}[stack.environment]
    assert outputs["vpcCidr"] == stack_config(stack.stack).get("envstack:network", {}).get("cidr", profile_cidr)
    count = {"dev": 2, "staging": 3, "prod": 3}[stack.environment]
    for tier in ("public", "private", "isolated"):
        assert len(outputs[f"{tier}SubnetIds"]) == count
    assert len(outputs["natPublicIps"]) == {"dev": 1, "staging": 1, "prod": 3}[stack.environment]
    assert outputs["dbSubnetGroupName"] and outputs["cacheSubnetGroupName"]


def test_no_tag_changes_per_deploy(stack):
    """Tags that change per deploy would make every preview a diff."""
    for record in stack.resources:
        tags = record.inputs.get("tags") or {}
        assert not {"DeployedAt", "GitCommitSha", "BuildNumber", "DeploymentId"} & set(tags)
