"""What the database and the cache share: a customer-managed key, a security group of their own and `connections`.

The security group is created with no rules at all. The AWS provider removes the allow-all egress rule AWS adds to
new groups, and a data store never opens connections itself, so the group allows nothing until `allow(source,
store)` adds an ingress rule from a connected security group on the store's port.

Neither store has a password for applications: each says, as an `IamConnect`, which IAM action on which resources
lets a principal log in (WorkloadIdentity grants exactly that to the application roles).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from .base import Component
from .connections import Connections


@dataclass(frozen=True)
class IamConnect:
    """What an IAM principal needs to log in to a store as its application user: one action on these resources."""

    action: str
    resources: Sequence[pulumi.Input[str]]


class DataStore(Component):
    def __init__(self, token: str, name: str, settings: dict[str, Any], opts: pulumi.ResourceOptions | None, *,
                 protect: bool, vpc_id: pulumi.Input[str], port: int, display_name: str, name_prefix: str,
                 key_services: tuple[str, ...], keeps_final_snapshot: bool,
                 permissions_boundary: str | None = None):
        """`key_services`: the services that use the store's key for the account's principals (kms:ViaService).
        `keeps_final_snapshot`: the store leaves a final snapshot, encrypted with its key, when it is deleted; the
        key then stays too (retainOnDelete) in every environment, protected or not."""
        super().__init__(token, name, settings, opts, protect=protect, name_prefix=name_prefix,
                         permissions_boundary=permissions_boundary)
        secrets = " and secrets" if "secretsmanager" in key_services else ""  # the cache has none since IAM logins
        self.key = self.kms_key("key", f"{display_name}: storage and snapshots{secrets}", services=key_services,
                                outlives_stack=keeps_final_snapshot)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}", vpc_id=vpc_id, description=f"{display_name}: ingress on {port} from connected groups only",
            tags={"Name": display_name}, opts=self.child())
        self.security_group_id = self.security_group.id
        self.connections = Connections(owner=self, label=name, security_group_id=self.security_group.id,
                                       default_port=port)

    def final_snapshot_name(self, name: str, replaced_by: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
        """`<name>-final-<8 hex>`, the suffix drawn anew whenever one of `replaced_by` changes: the inputs whose
        change replaces the store. A constant name works once: the next delete or replacement fails with
        DBSnapshotAlreadyExists (terraform-aws-modules/terraform-aws-rds#445), and so does a second create-destroy
        cycle; a suffix kept across replacements only moves that failure (terraform-aws-rds-aurora#238, hence
        keepers on every replacing input, terraform-aws-rds#591). A store is deleted with the name in its state,
        so the old store's snapshot keeps the old suffix."""
        suffix = random.RandomId(f"{self.label}-final-snapshot", byte_length=4, keepers=replaced_by,
                                 opts=self.child())
        return pulumi.Output.concat(name, "-final-", suffix.hex)
