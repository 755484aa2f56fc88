"""WorkloadIdentity: each application namespace's IAM role, given to its `app` ServiceAccount by EKS Pod Identity.

    IAM role <namespace>   trusted by pods.eks.amazonaws.com only for this cluster, namespace and ServiceAccount
      + inline policy      exactly the data stores' IamConnect grants: rds-db:connect for the database's
                           application user, elasticache:Connect for the cache's user and replication group
    PodIdentityAssociation (cluster, namespace, app) -> role

A pod running as `app` gets the role's temporary credentials from the EKS Pod Identity agent (an add-on of the
cluster; the baseline's NetworkPolicy lets pods reach it) and signs its own short-lived login tokens for PostgreSQL
and Valkey: no password exists to leak, rotate or keep in state.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .base import Component, policy_document
from .datastore import IamConnect

POD_IDENTITY = "pods.eks.amazonaws.com"


def pod_identity_trust(cluster_arn: str, namespace: str, service_account: str) -> str:
    """EKS user guide, "Create IAM role with trust policy required by EKS Pod Identity": the service assumes the role
    (sts:AssumeRole) and tags the session (sts:TagSession) with the cluster, namespace and ServiceAccount, and the
    guide restricts the role through those request tags ("Setting Conditions"). It documents no aws:SourceAccount or
    aws:SourceArn for this principal (only for the cluster role, "Cross-service confused deputy prevention"), and a
    condition on a key the service does not send would refuse every pod (an undocumented aws:SourceArn on the
    association's ARN broke one such flow: awslabs/mountpoint-s3-csi-driver#781), so the tags are the conditions;
    the cluster ARN in them names the account already. An association made with disableSessionTags would send none
    and so cannot use this role."""
    return policy_document({
        "Sid": "EksPodIdentity", "Effect": "Allow", "Principal": {"Service": POD_IDENTITY},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {
            "aws:RequestTag/eks-cluster-arn": cluster_arn,
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account}}})


def connect_policy(grants: Sequence[tuple[str, list[str]]]) -> str:
    """One statement per grant (action, resources), nothing else."""
    return policy_document(*({"Sid": "".join(part.title() for part in action.replace(":", "-").split("-")),
                              "Effect": "Allow", "Action": action, "Resource": resources}
                             for action, resources in grants))


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    namespaces: tuple[str, ...]
    service_account: str  # the baseline creates it in every application namespace
    grants: Sequence[IamConnect]  # what the application roles may log in to
    permissions_boundary: str | None  # carried by every application role


class WorkloadIdentity(Component):
    role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("envstack:kubernetes:WorkloadIdentity", name, {
            "namespaces": list(args.namespaces), "serviceAccount": args.service_account,
            "actions": [grant.action for grant in args.grants]}, opts,
            permissions_boundary=args.permissions_boundary)
        self._args = args
        self.roles = {namespace: self._role(namespace) for namespace in args.namespaces}
        self.role_arns = {namespace: role.arn for namespace, role in self.roles.items()}
        self.register_outputs({"role_arns": self.role_arns})

    def _role(self, namespace: str) -> aws.iam.Role:
        a = self._args
        key = f"{self.label}-{namespace}"
        role = aws.iam.Role(
            key, description=f"EKS Pod Identity: {namespace}/{a.service_account}",
            assume_role_policy=pulumi.Output.from_input(a.cluster_arn).apply(
                lambda arn: pod_identity_trust(arn, namespace, a.service_account)),
            permissions_boundary=self.permissions_boundary, opts=self.child())
        policy = aws.iam.RolePolicy(key, role=role.id, policy=self._connect_policy(), opts=self.child())
        # Created once the role may log in, so a pod never gets credentials that cannot connect yet.
        aws.eks.PodIdentityAssociation(
            key, cluster_name=a.cluster_name, namespace=namespace, service_account=a.service_account,
            role_arn=role.arn, opts=self.child(depends_on=[policy]))
        return role

    def _connect_policy(self) -> pulumi.Output[str]:
        grants: list[Any] = [pulumi.Output.all(*grant.resources) for grant in self._args.grants]
        actions = [grant.action for grant in self._args.grants]
        return pulumi.Output.all(*grants).apply(
            lambda resources: connect_policy(list(zip(actions, resources, strict=True))))
