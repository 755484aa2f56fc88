"""envstack:permissionsBoundaryArn: every IAM role the program makes carries the account's deploy boundary, the
condition under which bootstrap's deploy roles may create a role at all (bootstrap/__main__.py)."""

import pytest
from conftest import STACKS, synth, synth_with

from envstack.program.config import ConfigError

ROLE = "aws:iam/role:Role"
BOUNDARY = "arn:aws:iam::123456789012:policy/envstack-bootstrap/envstack-deploy-boundary"


@pytest.mark.parametrize("stack", STACKS[:1])
def test_every_role_carries_the_boundary_when_one_is_configured(stack):
    bounded = synth_with(stack, permissionsBoundaryArn=BOUNDARY)
    roles = bounded.of_type(ROLE)
    # the cluster, node, EBS CSI, flow log (when to CloudWatch), RDS monitoring and application roles
    assert len(roles) >= 5
    assert {r.name: r.inputs.get("permissionsBoundary") for r in roles} == {r.name: BOUNDARY for r in roles}
    assert all("permissionsBoundary" not in r.inputs for r in synth(stack).of_type(ROLE))


@pytest.mark.parametrize("value", ["envstack-deploy-boundary", "arn:aws:iam::123456789012:role/envstack-deployer"])
def test_a_boundary_that_is_not_a_managed_policy_arn_is_refused(value):
    with pytest.raises(ConfigError) as caught:
        synth_with(STACKS[0], permissionsBoundaryArn=value)
    assert f"envstack:permissionsBoundaryArn = {value!r}: expected an IAM managed policy ARN" in caught.value.render()
