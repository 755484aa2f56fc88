"""Workload identity: an IAM role per application namespace, bound by EKS Pod Identity to its `app` ServiceAccount and
allowed to log in to the database and the cache as their application users, nothing else."""

import json
from typing import Any

from conftest import region
from test_cluster_baseline import with_baseline
from test_database import children, only

from components.workload_identity import connect_policy, pod_identity_trust
from envstack.tools.mocks import ACCOUNT_ID
from envstack.tools.synth import ResourceRecord, Synthesis

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"


def by_namespace(s: Synthesis, type_: str) -> dict[str, ResourceRecord]:
    return {r.name.removeprefix("identity-"): r for r in children(s, "identity", type_)}


def statements(document: str) -> list[dict[str, Any]]:
    return list(json.loads(document)["Statement"])


def cluster_arn(s: Synthesis) -> str:
    return f"arn:aws:eks:{region(s)}:{ACCOUNT_ID}:cluster/envstack-{s.stack}"


def test_one_role_per_application_namespace_assumable_only_by_its_app_service_account(stack):
    roles, namespaces = by_namespace(stack, ROLE), stack.outputs["appNamespaces"]
    assert set(roles) == set(namespaces)
    for namespace, role in roles.items():
        (trust,) = statements(role.inputs["assumeRolePolicy"])
        assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
        # The session tags EKS Pod Identity sets (EKS user guide, "Create IAM role with trust policy ...").
        assert trust["Condition"] == {"StringEquals": {
            "aws:RequestTag/eks-cluster-arn": cluster_arn(stack),
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": "app"}}
    assert stack.outputs["applicationRoleArns"] == {
        namespace: stack.state_of(role)["arn"] for namespace, role in roles.items()}


def test_the_role_may_connect_to_the_database_user_and_the_cache_user_and_nothing_else(stack):
    database, cache = stack.one("aws:rds/instance:Instance"), stack.one(
        "aws:elasticache/replicationGroup:ReplicationGroup")
    # rds-db:connect names the instance by its DbiResourceId (RDS guide, "Creating and using an IAM policy for IAM
    # database access"), in the caller's account.
    db_user = (f"arn:aws:rds-db:{region(stack)}:{ACCOUNT_ID}:dbuser:{stack.state_of(database)['resourceId']}/"
               f"{stack.outputs['databaseUser']}")
    [cache_user] = [u for u in stack.of_type("aws:elasticache/user:User") if u.inputs["userName"] ==
                    stack.outputs["cacheUser"]]
    for policy in by_namespace(stack, ROLE_POLICY).values():
        assert statements(policy.inputs["policy"]) == [
            {"Sid": "RdsDbConnect", "Effect": "Allow", "Action": "rds-db:connect", "Resource": [db_user]},
            {"Sid": "ElasticacheConnect", "Effect": "Allow", "Action": "elasticache:Connect", "Resource": [
                stack.state_of(cache)["arn"], stack.state_of(cache_user)["arn"]]}]
    assert not children(stack, "identity", "aws:iam/rolePolicyAttachment:RolePolicyAttachment")


def test_pod_identity_binds_the_baseline_service_account_once_the_role_may_connect(stack):
    roles, policies = by_namespace(stack, ROLE), by_namespace(stack, ROLE_POLICY)
    accounts = {r.inputs["metadata"]["namespace"]: r.inputs["metadata"]["name"] for r in stack.of_type(SERVICE_ACCOUNT)}
    for namespace, association in by_namespace(stack, ASSOCIATION).items():
        assert association.inputs == {
            "clusterName": f"envstack-{stack.stack}", "namespace": namespace, "serviceAccount": "app",
            "roleArn": stack.state_of(roles[namespace])["arn"]}
        assert accounts[namespace] == "app"
        assert policies[namespace].urn in association.dependencies


def test_every_namespace_gets_its_own_role_and_association():
    s = with_baseline("dev", namespaces=["app", "jobs"])
    assert set(by_namespace(s, ROLE)) == set(by_namespace(s, ASSOCIATION)) == {"app", "jobs"}
    jobs = statements(by_namespace(s, ROLE)["jobs"].inputs["assumeRolePolicy"])[0]["Condition"]["StringEquals"]
    assert jobs["aws:RequestTag/kubernetes-namespace"] == "jobs"
    assert set(s.outputs["applicationRoleArns"]) == {"app", "jobs"}


def test_trust_and_permissions_documents():
    trust = json.loads(pod_identity_trust("arn:aws:eks:us-west-2:1:cluster/c", "ns", "sa"))
    assert trust["Version"] == "2012-10-17"
    assert only_statement(trust)["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-namespace"] == "ns"
    assert statements(connect_policy([("elasticache:Connect", ["a", "b"])])) == [
        {"Sid": "ElasticacheConnect", "Effect": "Allow", "Action": "elasticache:Connect", "Resource": ["a", "b"]}]


def only_statement(document: dict[str, Any]) -> dict[str, Any]:
    (statement,) = document["Statement"]
    return dict(statement)


def test_identity_is_a_kubernetes_component_of_the_stack(stack):
    component = only([r for r in stack.resources if r.type == "envstack:kubernetes:WorkloadIdentity"])
    assert component.inputs == {}  # settings reach the tools through the manifest, not Pulumi state
    assert stack.component(component.name).settings == {
        "namespaces": stack.outputs["appNamespaces"], "serviceAccount": "app",
        "actions": ["rds-db:connect", "elasticache:Connect"]}
