"""What every envstack component shares: its registration, child options and the small AWS building blocks
(customer-managed KMS keys, service roles) that several components need."""

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from .manifest import MANIFEST, ComponentEntry
from .partition import Where


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# How a service names what it acts for: where -> the ARN (pattern) of the resources that may use a role.
SourceArn = Callable[[Where], str]


def assume_role_policy(service: str, account_id: str | None = None, source_arn: str | None = None) -> str:
    """A trust policy for `service`; with `account_id` (and `source_arn`), only when it acts for this account's
    (and these) resources: aws:SourceAccount / aws:SourceArn against the confused deputy (IAM guide, "The confused
    deputy problem")."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}
    if account_id is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id},
                                  **({"ArnLike": {"aws:SourceArn": source_arn}} if source_arn else {})}
    return policy_document(statement)


# Key administration without use: what the KMS console's default policy gives key administrators, minus
# kms:CreateGrant (a grant is use). The account root as principal delegates these to IAM policies, so the key stays
# manageable (CreateKey/PutKeyPolicy refuse a policy that locks the caller out: the lockout safety check).
KEY_ADMINISTRATION = (
    "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:Describe*", "kms:Get*", "kms:List*", "kms:Put*",
    "kms:Update*", "kms:Enable*", "kms:Disable*", "kms:Revoke*", "kms:RetireGrant", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
)
# What the AWS managed keys (aws/rds, aws/secretsmanager, ...) let the account's principals do through their service.
KEY_USE = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
           "kms:CreateGrant", "kms:ListGrants")
# where -> statements a key's policy adds for services that call KMS as themselves.
KeyStatements = Callable[[Where], list[dict[str, Any]]]


def key_policy(where: Where, *statements: dict[str, Any]) -> str:
    """A KMS key policy: the account administers the key (through IAM) but cannot use it; `statements` say who may."""
    admin = {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": where.account_root(),
             "Action": list(KEY_ADMINISTRATION), "Resource": "*"}
    return policy_document(admin, *statements)


def use_through(where: Where, services: Sequence[str]) -> dict[str, Any]:
    """The account's principals (with IAM permission) may use the key only through these services: kms:ViaService
    and kms:CallerAccount, the AWS managed keys' own pattern (KMS guide, "kms:ViaService")."""
    return {"Sid": "UseThroughServices", "Effect": "Allow", "Principal": where.account_root(),
            "Action": list(KEY_USE), "Resource": "*",
            "Condition": {"StringEquals": {
                "kms:CallerAccount": where.account,
                "kms:ViaService": [where.regional(service) for service in services]}}}


def log_group_arn(where: Where, name: str) -> str:
    return where.arn("logs", f"log-group:{name}")


def logs_may_use_key(where: Where, log_groups: Sequence[str]) -> dict[str, Any]:
    """CloudWatch Logs may use the key for these log groups only: the encryption context names the group (CloudWatch
    Logs guide, "Encrypt log data in CloudWatch Logs using AWS KMS")."""
    return {
        "Sid": "CloudWatchLogsEncrypt", "Effect": "Allow", "Resource": "*",
        "Principal": {"Service": where.regional("logs")},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": [
            log_group_arn(where, name) for name in log_groups]}},
    }


class Component(pulumi.ComponentResource):
    """A ComponentResource that describes its key settings to the tools (components/manifest.py), not to state."""

    def __init__(self, token: str, name: str, settings: dict[str, Any], opts: pulumi.ResourceOptions | None,
                 protect: bool = False, warnings: Sequence[str] = (), name_prefix: str = "envstack",
                 permissions_boundary: str | None = None):
        """`settings`: what `envstack synth` summarises (plain values). `protect`: stateful children (data stores,
        KMS keys, log buckets) get the `protect` resource option. `warnings`: what works but should not be left so;
        `pulumi preview/up` and `envstack synth` print them. `name_prefix` (envstack-<stack>): in key aliases and
        log group names, so stacks sharing an account differ. `permissions_boundary`: the managed policy every IAM
        role of this component carries (envstack:permissionsBoundaryArn: bootstrap's deploy roles may create roles
        only with it)."""
        super().__init__(token, name, None, opts)
        MANIFEST.components.append(ComponentEntry(token, name, dict(settings), tuple(warnings)))
        self.label = name
        self.protect = protect
        self.name_prefix = name_prefix
        self.permissions_boundary = permissions_boundary
        for warning in warnings:
            pulumi.log.warn(warning, resource=self)
        self._logs_key: aws.kms.Key | None = None

    @property
    def account_id(self) -> pulumi.Output[str]:
        return aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

    @property
    def region(self) -> pulumi.Output[str]:
        return aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region

    @property
    def where(self) -> pulumi.Output[Where]:
        """The partition, account and region of this component's provider: what its ARNs and principals are made of."""
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return pulumi.Output.all(partition.partition, partition.dns_suffix, self.account_id, self.region).apply(
            lambda values: Where(*values))

    def child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a child resource: parented here, so it inherits this component's provider."""
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def kms_key(self, suffix: str, description: str, *, services: Sequence[str] = (),
                statements: KeyStatements | None = None, users: Sequence[pulumi.Input[str]] = (),
                outlives_stack: bool = False) -> aws.kms.Key:
        """A customer-managed key with yearly rotation, an explicit policy and an alias naming its stack and owner;
        protected with the component. Policy: the account administers it; its principals use it only through
        `services` (kms:ViaService); `statements` add services calling KMS as themselves; `users` are role ARNs
        allowed to use it directly (a service role that must be named in the key policy). `outlives_stack`: what it
        encrypts is kept after a destroy (a final snapshot), so the key is left in the account (retainOnDelete), not
        scheduled for deletion: 30 days later the snapshot could never be restored."""

        def policy(values: list[Any]) -> str:
            where, direct = values[0], values[1]
            return key_policy(
                where, *([use_through(where, services)] if services else []),
                *(statements(where) if statements else []),
                *([{"Sid": "ServiceRolesUse", "Effect": "Allow", "Principal": {"AWS": list(direct)},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants"],
                    "Resource": "*"}] if direct else []))

        key = aws.kms.Key(
            f"{self.label}-{suffix}", description=description, enable_key_rotation=True, deletion_window_in_days=30,
            policy=pulumi.Output.all(self.where, pulumi.Output.all(*users)).apply(policy),
            opts=self.child(protect=self.protect, retain_on_delete=outlives_stack or None))
        aws.kms.Alias(f"{self.label}-{suffix}", name=f"alias/{self.name_prefix}/{self.label}-{suffix}",
                      target_key_id=key.key_id, opts=self.child())
        return key

    def service_role(self, suffix: str, service: str, managed_policies: tuple[str, ...] = (),
                     source_arn: SourceArn | None = None) -> aws.iam.Role:
        """A role only `service` ('ec2', 'monitoring.rds': its principal is the partition's) may assume, with AWS
        managed policies (by name) attached as separate resources. With `source_arn`, only while acting for this
        account's resources of that ARN (confused-deputy conditions)."""
        trust = self.where.apply(lambda where: assume_role_policy(
            where.service_principal(service), *((where.account, source_arn(where)) if source_arn else ())))
        return self.trusting_role(suffix, trust, managed_policies)

    def trusting_role(self, suffix: str, trust: pulumi.Input[str], managed_policies: tuple[str, ...] = ()) \
            -> aws.iam.Role:
        """A role with this trust policy and the stack's permissions boundary, AWS managed policies attached."""
        role = aws.iam.Role(f"{self.label}-{suffix}", assume_role_policy=trust,
                            permissions_boundary=self.permissions_boundary, opts=self.child())
        self.attach_policies(role, suffix, managed_policies)
        return role

    def attach_policies(self, role: aws.iam.Role, suffix: str, names: tuple[str, ...]) \
            -> list[aws.iam.RolePolicyAttachment]:
        """AWS managed policies (by name: 'service-role/AmazonEBSCSIDriverPolicy') attached to `role` as separate
        resources, named by the policy (`<label>-<suffix>-AmazonEKSWorkerNodePolicy`), not by position
        (`<label>-<suffix>-<i>` before: its alias). An attachment replaced create-before-delete onto the same role and
        policy is attached twice (AttachRolePolicy is idempotent), then detached by the old one's delete, while the
        state says attached."""
        return [aws.iam.RolePolicyAttachment(
            f"{self.label}-{suffix}-{name.rsplit('/', 1)[-1]}", role=role.name, policy_arn=self.managed_policy(name),
            opts=self.child(aliases=[pulumi.Alias(name=f"{self.label}-{suffix}-{i}")])) for i, name in enumerate(names)]

    def managed_policy(self, name: str) -> pulumi.Output[str]:
        """An AWS managed policy's ARN in this component's partition."""
        return self.where.apply(lambda where: where.managed_policy(name))

    def log_groups(self, retention_days: int, names: Mapping[str, str]) -> dict[str, aws.cloudwatch.LogGroup]:
        """Log groups (suffix -> name) with retention, encrypted with a logs key of this component that CloudWatch
        Logs may use for these groups only. Names are explicit, so the key policy can name them (and they carry
        the stack); a component makes its log groups in one call, as the key is made for them."""
        if self._logs_key is not None:
            raise ValueError(f"{self.label}: log groups are made in one call (their key policy names them all)")
        self._logs_key = self.kms_key(
            "logs", f"{self.name_prefix} {self.label}: CloudWatch Logs encryption",
            statements=lambda where: [logs_may_use_key(where, list(names.values()))])
        return {suffix: aws.cloudwatch.LogGroup(
            f"{self.label}-{suffix}", name=name, retention_in_days=retention_days, kms_key_id=self._logs_key.arn,
            opts=self.child()) for suffix, name in names.items()}

    def log_group(self, suffix: str, retention_days: int, name: str | None = None) -> aws.cloudwatch.LogGroup:
        """This component's one log group: `name`, or /<name_prefix>/<label>/<suffix>."""
        name = name or f"/{self.name_prefix}/{self.label}/{suffix}"
        return self.log_groups(retention_days, {suffix: name})[suffix]
