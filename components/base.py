"""What every envstack component shares: its registration, child options and the small AWS building blocks
(customer-managed KMS keys, service roles) that several components need."""

import json
from typing import Any

import pulumi
import pulumi_aws as aws


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def assume_role_policy(service: str) -> str:
    return policy_document({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}})


class Component(pulumi.ComponentResource):
    """A ComponentResource that records its key settings as its inputs (shown by `envstack synth`)."""

    def __init__(self, token: str, name: str, settings: dict[str, Any], opts: pulumi.ResourceOptions | None):
        super().__init__(token, name, {"settings": settings}, opts)
        self.label = name

    def child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a child resource: parented here, so it inherits this component's provider."""
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def kms_key(self, suffix: str, description: str, policy: pulumi.Input[str] | None = None,
                protect: bool = False) -> aws.kms.Key:
        """A customer-managed key with yearly rotation and an alias naming its owner."""
        key = aws.kms.Key(
            f"{self.label}-{suffix}", description=description, enable_key_rotation=True,
            deletion_window_in_days=30, policy=policy, opts=self.child(protect=protect))
        aws.kms.Alias(f"{self.label}-{suffix}", name_prefix=f"alias/envstack/{self.label}-{suffix}-",
                      target_key_id=key.key_id, opts=self.child())
        return key

    def service_role(self, suffix: str, service: str, managed_policy_arns: tuple[str, ...] = ()) -> aws.iam.Role:
        """A role only `service` may assume, with AWS-managed policies attached as separate resources."""
        role = aws.iam.Role(f"{self.label}-{suffix}", assume_role_policy=assume_role_policy(service),
                            opts=self.child())
        for i, arn in enumerate(managed_policy_arns):
            aws.iam.RolePolicyAttachment(f"{self.label}-{suffix}-{i}", role=role.name, policy_arn=arn,
                                         opts=self.child())
        return role
