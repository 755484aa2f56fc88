"""Node autoscaling: the Cluster Autoscaler with its own Pod Identity role of least privilege, on the cluster's
Kubernetes minor, finding the node groups by EKS's tags; and node groups whose minSize/maxSize changes deploy."""

import json
from dataclasses import replace
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
from conftest import profile_config, run_program, stack_config, synth_with
from test_cluster import group_spec, problems
from test_cluster_baseline import manifest

from components.cluster import Cluster, NodeGroupSpec
from components.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.node_scaling import NODE_GROUP_TAG, Scaling, ScalingPlan, plan
from envstack.program import arguments
from envstack.program.config.cluster import version_pins
from envstack.tools.mocks import AwsMocks
from envstack.tools.synth import Synthesis

AUTOSCALER = "envstack:kubernetes:ClusterAutoscaler"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
MNG = "eks:index:ManagedNodeGroup"


def owned(s: Synthesis) -> list[Any]:
    component = s.one(AUTOSCALER).urn
    return [r for r in s.resources if r.parent == component]


def of(s: Synthesis, type_: str) -> Any:
    [record] = [r for r in owned(s) if r.type == type_]
    return record


def test_prod_has_an_autoscaler_with_its_pod_identity_association(stack):
    cluster = stack.one("eks:index:Cluster").inputs["name"]
    association = of(stack, ASSOCIATION).inputs
    assert (association["clusterName"], association["namespace"], association["serviceAccount"]) == (
        cluster, "kube-system", "cluster-autoscaler")
    role = of(stack, "aws:iam/role:Role")
    assert association["roleArn"].endswith(f":role/{role.name}")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "pods.eks.amazonaws.com"}]
    assert trust[0]["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "cluster-autoscaler"
    assert trust[0]["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-namespace"] == "kube-system"


def test_its_pods_run_as_the_service_account_the_association_names():
    """Pod Identity hands the role to pods of the associated ServiceAccount only: the one the Deployment runs as."""
    def build() -> None:
        ClusterAutoscaler("autoscaler", ClusterAutoscalerArgs(
            cluster_name="unit", cluster_arn="arn:aws:eks:us-west-2:123456789012:cluster/unit", region="us-west-2",
            version="v1.35.2", node_groups=(), permissions_boundary=None, service_account="scaler"),
            k8s.Provider("k8s", kubeconfig="{}"))

    records = run_program(build)
    [association] = [r.inputs for r in records if r.type == ASSOCIATION]
    [account] = [r.inputs for r in records if r.type == "kubernetes:core/v1:ServiceAccount"]
    [deployment] = [r.inputs for r in records if r.type == DEPLOYMENT]
    assert association["serviceAccount"] == account["metadata"]["name"] == "scaler"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "scaler"
    subjects = [s for r in records if r.type.endswith("Binding") for s in r.inputs["subjects"]]
    assert subjects and all(s["name"] == "scaler" for s in subjects)


def test_its_policy_scales_only_this_clusters_node_groups(stack):
    cluster = stack.one("eks:index:Cluster").inputs["name"]
    statements = {s["Sid"]: s for s in json.loads(of(stack, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])[
        "Statement"]}
    writes = statements["ScaleThisClustersNodeGroups"]
    assert set(writes["Action"]) == {"autoscaling:SetDesiredCapacity",
                                     "autoscaling:TerminateInstanceInAutoScalingGroup"}
    assert writes["Condition"] == {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned",
                                                    "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}}
    assert writes["Resource"].endswith(":autoScalingGroup:*:autoScalingGroupName/eks-*")
    assert statements["DescribeNodeGroups"]["Resource"].endswith(f":nodegroup/{cluster}/*/*")
    reads = statements["Discover"]["Action"]
    assert all(":Describe" in a or ":Get" in a for a in reads)  # the only statement on every resource reads
    assert set(statements) == {"Discover", "DescribeNodeGroups", "ScaleThisClustersNodeGroups"}


def test_it_runs_the_release_of_the_clusters_minor_and_discovers_by_eks_tags(stack):
    version = stack.one("eks:index:Cluster").inputs["version"]
    cluster = stack.one("eks:index:Cluster").inputs["name"]
    [container] = of(stack, DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == (f"registry.k8s.io/autoscaling/cluster-autoscaler:"
                                  f"{version_pins(version)['autoscaler']['version']}")
    assert container["image"].rsplit(":", 1)[1].startswith(f"v{version}.")
    assert ("--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,"
            f"k8s.io/cluster-autoscaler/{cluster}") in container["command"]
    assert "--cloud-provider=aws" in container["command"]


def test_its_objects_are_valid_for_the_clusters_version_and_run_unprivileged(stack):
    version = stack.one("eks:index:Cluster").inputs["version"]
    objects = [r for r in owned(stack) if r.type.startswith("kubernetes:")]
    assert {r.inputs["kind"] for r in objects} == {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment"}
    for record in objects:
        kubernetes_validate.validate(manifest(record.inputs), version, strict=True)
        assert record.provider == stack.one("pulumi:providers:kubernetes").urn
    pod = of(stack, DEPLOYMENT).inputs["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert pod["serviceAccountName"] == "cluster-autoscaler"


# What Cluster Autoscaler 1.35 lists and watches with its default flags, (API group, resource), from the sources at
# tag cluster-autoscaler-1.35.2: utils/kubernetes/listers.go (NewListerRegistryWithDefaultListers), simulator/
# dynamicresources/provider/provider.go (DRA, locked on in 1.35: config/flags/flags.go), simulator/csi/provider and
# the scheduler framework's plugins behind simulator/framework/handle.go (VolumeBinding, NodeVolumeLimits,
# PodTopologySpread, InterPodAffinity). main.go waits for every informer to sync before the first loop: one
# forbidden list and the autoscaler never starts.
WATCHED = (
    ("", "pods"), ("", "nodes"), ("", "namespaces"), ("", "services"), ("", "replicationcontrollers"),
    ("", "persistentvolumeclaims"), ("", "persistentvolumes"), ("policy", "poddisruptionbudgets"),
    ("apps", "daemonsets"), ("apps", "replicasets"), ("apps", "statefulsets"), ("batch", "jobs"),
    ("storage.k8s.io", "storageclasses"), ("storage.k8s.io", "csinodes"), ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "csistoragecapacities"), ("storage.k8s.io", "volumeattachments"),
    ("resource.k8s.io", "resourceclaims"), ("resource.k8s.io", "resourceslices"), ("resource.k8s.io", "deviceclasses"),
)


def test_its_cluster_role_lets_every_informer_of_its_release_sync(stack):
    rules = of(stack, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").inputs["rules"]

    def granted(group: str, resource: str, verb: str) -> bool:
        return any(group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
                   and not rule.get("resourceNames") for rule in rules)

    missing = [(group, resource, verb) for group, resource in WATCHED for verb in ("list", "watch")
               if not granted(group, resource, verb)]
    assert not missing, missing


def test_it_starts_once_its_credentials_and_the_nodes_exist_and_stops_before_they_go(stack):
    deployment = of(stack, DEPLOYMENT)
    assert of(stack, ASSOCIATION).urn in deployment.dependencies
    assert {g.urn for g in stack.of_type(MNG)} <= set(deployment.dependencies)


def test_node_groups_leave_the_desired_size_to_it_and_say_which_group_they_are(stack):
    for group in stack.of_type(MNG):
        assert group.inputs["ignoreScalingChanges"] is True
        assert group.inputs["tags"][NODE_GROUP_TAG] == group.name.removeprefix("cluster-")


def test_without_the_autoscaler_the_configured_size_is_kept():
    s = synth_with("dev", cluster={**stack_config("dev")["envstack:cluster"], "autoscaler": {"enabled": False}})
    assert not s.of_type(AUTOSCALER) and not s.of_type(DEPLOYMENT)
    [group] = s.of_type(MNG)
    assert group.inputs["ignoreScalingChanges"] is False


# ---- raising minSize above what runs -------------------------------------------------------------------------

WANTED = Scaling(min_size=4, max_size=10, desired_size=4)


@pytest.mark.parametrize(("running", "autoscaled", "expected"), [
    (None, True, ScalingPlan(4, True)),                         # a new group: desiredSize is its initial size
    (Scaling(4, 10, 7), True, ScalingPlan(7, True)),            # range unchanged: the autoscaler's size stays
    (Scaling(2, 10, 3), True, ScalingPlan(4, False)),           # minSize raised above the running 3: sent 4 with it
    (Scaling(2, 10, 6), True, ScalingPlan(6, False)),           # minSize raised below it: the running 6 is sent
    (Scaling(4, 20, 15), True, ScalingPlan(10, False)),         # maxSize lowered under it: clamped to 10
    (Scaling(4, 10, 7), False, ScalingPlan(4, False)),          # no autoscaler: the configured count, always
])
def test_a_new_range_is_sent_with_the_running_size_clamped_into_it(running, autoscaled, expected):
    """EKS refuses minSize above the desired size it is sent ("Minimum capacity N can't be greater than desired size
    M", terraform-provider-aws#18310): with the desired size ignored, the engine sends the stale one from state."""
    result = plan(WANTED, running, autoscaled)
    assert result == expected
    assert WANTED.min_size <= result.desired_size <= WANTED.max_size


class RunningCluster(AwsMocks):
    """An account where cluster `unit` runs node group `main` at min 1, max 3, desired 3."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        answers = {
            "aws:eks/getClusters:getClusters": {"names": ["other", "unit"]},
            "aws:eks/getNodeGroups:getNodeGroups": {"names": ["unit-main-1a2b3c", "unit-legacy"]},
        }
        if args.token == "aws:eks/getNodeGroup:getNodeGroup":
            tagged = args.args["nodeGroupName"] == "unit-main-1a2b3c"
            return {"scalingConfigs": [{"minSize": 1, "maxSize": 3, "desiredSize": 3}],
                    "tags": {NODE_GROUP_TAG: "main"} if tagged else {}}, []
        if args.token in answers:
            return answers[args.token], []
        return super().call(args)


def groups_of(mocks: AwsMocks, spec: NodeGroupSpec) -> dict[str, Any]:
    args = arguments.cluster(profile_config(), "vpc-1", ["subnet-1", "subnet-2"])
    records = run_program(lambda: Cluster("cluster", replace(args, name="unit",
                                                             node_groups=(replace(spec, name="main"),))), mocks)
    return {r.name: r.inputs for r in records if r.type == MNG}


def test_raising_min_size_above_the_running_size_sends_both_in_one_deploy():
    spec = group_spec(min_size=5, max_size=8, desired_size=5)
    group = groups_of(RunningCluster("us-west-2"), spec)["cluster-main"]
    assert group["scalingConfig"] == {"minSize": 5.0, "maxSize": 8.0, "desiredSize": 5.0}
    assert group["ignoreScalingChanges"] is False


def test_an_unchanged_range_leaves_the_running_size_to_the_autoscaler():
    spec = group_spec(min_size=1, max_size=3, desired_size=1)
    group = groups_of(RunningCluster("us-west-2"), spec)["cluster-main"]
    assert group["scalingConfig"]["desiredSize"] == 3.0 and group["ignoreScalingChanges"] is True


def test_before_the_cluster_exists_desired_size_is_the_initial_size():
    group = groups_of(AwsMocks("us-west-2"), group_spec(min_size=1, max_size=3, desired_size=2))["cluster-main"]
    assert group["scalingConfig"]["desiredSize"] == 2.0 and group["ignoreScalingChanges"] is True


# ---- configuration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("autoscaler", "fragment"), [
    ({"version": "v1.34.5"}, "a release of the cluster's Kubernetes minor (v1.35.<patch>)"),
    ({"version": "1.35.2"}, "expected a Cluster Autoscaler release such as v1.35.2"),
])
def test_a_release_of_another_minor_or_shape_is_refused(autoscaler, fragment):
    lines = problems("dev", autoscaler=autoscaler)
    assert any(line.startswith("stack dev: envstack:cluster.autoscaler.version = ") and fragment in line
               for line in lines), lines


def test_a_kubernetes_version_without_a_pinned_release_needs_one():
    lines = problems("dev", version="1.34", addonVersions={
        "vpcCni": "v1.20.0-eksbuild.1", "coredns": "v1.12.0-eksbuild.1", "kubeProxy": "v1.34.0-eksbuild.1",
        "podIdentityAgent": "v1.3.9-eksbuild.1", "ebsCsiDriver": "v1.50.0-eksbuild.1"})
    assert any("envstack:cluster.autoscaler.version = (not set)" in line and "Kubernetes 1.34" in line
               for line in lines), lines

