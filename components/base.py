"""What every envstack component shares: its registration, child options and the small AWS building blocks
(customer-managed KMS keys, service roles) that several components need."""

import json
from collections.abc import Callable, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# How a service names what it acts for: (region, account) -> the ARN (pattern) of the resources that may use a role.
SourceArn = Callable[[str, str], str]


def assume_role_policy(service: str, account_id: str | None = None, source_arn: str | None = None) -> str:
    """A trust policy for `service`; with `account_id` (and `source_arn`), only when it acts for this account's
    (and these) resources: aws:SourceAccount / aws:SourceArn against the confused deputy (IAM guide, "The confused
    deputy problem")."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}
    if account_id is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id},
                                  **({"ArnLike": {"aws:SourceArn": source_arn}} if source_arn else {})}
    return policy_document(statement)


def key_policy(account_id: str, *statements: dict[str, Any]) -> str:
    """A KMS key policy: the account administers the key through IAM; `statements` grant AWS services use."""
    admin = {"Sid": "AccountAdministers", "Effect": "Allow", "Action": "kms:*", "Resource": "*",
             "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}}
    return policy_document(admin, *statements)


def logs_may_use_key(account_id: str, region: str) -> dict[str, Any]:
    """CloudWatch Logs may encrypt with the key, only for log groups of this account and region."""
    return {
        "Sid": "CloudWatchLogsEncrypt", "Effect": "Allow", "Resource": "*",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:*"}},
    }


class Component(pulumi.ComponentResource):
    """A ComponentResource that records its key settings as its inputs (shown by `envstack synth`)."""

    def __init__(self, token: str, name: str, settings: dict[str, Any], opts: pulumi.ResourceOptions | None,
                 protect: bool = False, warnings: Sequence[str] = ()):
        """`protect`: stateful children (data stores, KMS keys, log buckets) get the `protect` resource option.
        `warnings`: what works but should not be left so; `pulumi preview/up` and `envstack synth` print them."""
        super().__init__(token, name, {"settings": {**settings, **({"warnings": list(warnings)} if warnings else {})}},
                         opts)
        self.label = name
        self.protect = protect
        for warning in warnings:
            pulumi.log.warn(warning, resource=self)
        self._logs_key: aws.kms.Key | None = None

    @property
    def account_id(self) -> pulumi.Output[str]:
        return aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

    @property
    def region(self) -> pulumi.Output[str]:
        return aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region

    def child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a child resource: parented here, so it inherits this component's provider."""
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def kms_key(self, suffix: str, description: str, policy: pulumi.Input[str] | None = None) -> aws.kms.Key:
        """A customer-managed key with yearly rotation and an alias naming its owner; protected with the component."""
        key = aws.kms.Key(
            f"{self.label}-{suffix}", description=description, enable_key_rotation=True,
            deletion_window_in_days=30, policy=policy, opts=self.child(protect=self.protect))
        aws.kms.Alias(f"{self.label}-{suffix}", name_prefix=f"alias/envstack/{self.label}-{suffix}-",
                      target_key_id=key.key_id, opts=self.child())
        return key

    def service_role(self, suffix: str, service: str, managed_policy_arns: tuple[str, ...] = (),
                     source_arn: SourceArn | None = None) -> aws.iam.Role:
        """A role only `service` may assume, with AWS-managed policies attached as separate resources. With
        `source_arn`, only while acting for this account's resources of that ARN (confused-deputy conditions)."""
        trust: pulumi.Input[str] = assume_role_policy(service) if source_arn is None else pulumi.Output.all(
            self.region, self.account_id).apply(
            lambda ids: assume_role_policy(service, ids[1], source_arn(ids[0], ids[1])))
        role = aws.iam.Role(f"{self.label}-{suffix}", assume_role_policy=trust, opts=self.child())
        self.attach_policies(role, suffix, managed_policy_arns)
        return role

    def attach_policies(self, role: aws.iam.Role, suffix: str, arns: tuple[str, ...]) \
            -> list[aws.iam.RolePolicyAttachment]:
        """Managed policies attached to `role` as separate resources (`<label>-<suffix>-<i>`)."""
        return [aws.iam.RolePolicyAttachment(f"{self.label}-{suffix}-{i}", role=role.name, policy_arn=arn,
                                             opts=self.child()) for i, arn in enumerate(arns)]

    def log_group(self, suffix: str, retention_days: int, name: pulumi.Input[str] | None = None) \
            -> aws.cloudwatch.LogGroup:
        """A log group with retention, encrypted with this component's logs key (created on first use)."""
        if self._logs_key is None:
            policy = pulumi.Output.all(self.account_id, self.region).apply(
                lambda ids: key_policy(ids[0], logs_may_use_key(ids[0], ids[1])))
            self._logs_key = self.kms_key("logs", f"{self.label}: CloudWatch Logs encryption", policy=policy)
        return aws.cloudwatch.LogGroup(
            f"{self.label}-{suffix}", name=name, retention_in_days=retention_days, kms_key_id=self._logs_key.arn,
            opts=self.child())
