"""Entry point for `pulumi preview --policy-pack policies`. Starts the policy server; never import it in tests."""

from pulumi_policy import PolicyPack

from policies.pack import DESCRIPTION, ENFORCEMENT_LEVEL, NAME, all_policies

PolicyPack(NAME, policies=all_policies(), enforcement_level=ENFORCEMENT_LEVEL, description=DESCRIPTION)
