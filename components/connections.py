"""Who may reach whom, expressed once: `allow(source, target)` in __main__.py.

Each side owns a security group. A connection is a pair of separate rule resources (ingress on the target,
and egress on the source when the source restricts its egress), so neither side's main resource waits for
the other: on a first `pulumi up` the database and the cluster are created in parallel.
"""

from dataclasses import dataclass
from typing import Protocol

import pulumi
import pulumi_aws as aws

from .manifest import MANIFEST, ConnectionEntry


@dataclass(frozen=True)
class Connections:
    owner: pulumi.Resource          # parent of the rules this side owns
    label: str                      # short name used in rule names and descriptions
    security_group_id: pulumi.Input[str]
    default_port: int | None = None  # the port others connect to
    restricts_egress: bool = False   # True: connecting out needs an explicit egress rule


class Connectable(Protocol):
    @property
    def connections(self) -> Connections: ...


def allow(source: Connectable, target: Connectable, port: int | None = None) -> None:
    """Let `source` open TCP connections to `target` on `port` (default: the target's port)."""
    src, dst = source.connections, target.connections
    port = port or dst.default_port
    if port is None:
        raise ValueError(f"allow({src.label} -> {dst.label}): the target has no default port; name one")
    description = f"{src.label} to {dst.label} on tcp/{port}"
    MANIFEST.connections.append(ConnectionEntry(src.label, dst.label, port, description))
    aws.vpc.SecurityGroupIngressRule(
        f"{dst.label}-from-{src.label}-{port}", security_group_id=dst.security_group_id,
        referenced_security_group_id=src.security_group_id, ip_protocol="tcp", from_port=port, to_port=port,
        description=description, opts=pulumi.ResourceOptions(parent=dst.owner))
    if src.restricts_egress:
        aws.vpc.SecurityGroupEgressRule(
            f"{src.label}-to-{dst.label}-{port}", security_group_id=src.security_group_id,
            referenced_security_group_id=dst.security_group_id, ip_protocol="tcp", from_port=port, to_port=port,
            description=description, opts=pulumi.ResourceOptions(parent=src.owner))
