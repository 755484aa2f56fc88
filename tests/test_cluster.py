"""The EKS cluster: pulumi-eks inputs per environment, node groups, launch templates, add-ons, IRSA, outputs,
configuration errors and production guardrails."""

import json
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_eks as eks
import pytest
import yaml
from conftest import FIXTURES, STACKS, kubernetes_version, profile_config, stack_config, synth, synth_with, under_mocks
from pulumi.runtime.sync_await import _sync_await

import components.cluster as cluster_module
from components.cluster import (
    Cluster,
    NodeGroupSpec,
    aliases_transform,
    no_creator_admin_transform,
    role_name,
    update_config_transform,
)
from envstack.program import arguments
from envstack.program.config import ENVIRONMENTS, ConfigError, load_profile, load_stack_config
from envstack.program.config.cluster import (
    ADDON_VERSIONS_FILE,
    LOG_TYPES,
    AddonVersions,
    pinned_addon_versions,
    version_pins,
)
from envstack.program.config.loader import deep_merge
from envstack.program.paths import PROFILES
from envstack.tools.synth import ROOT, Synthesis
from policies.evaluate import evaluate

EKS = "eks:index:Cluster"
MNG = "eks:index:ManagedNodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ADDONS = {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"}


def profile(stack: str) -> dict[str, Any]:
    return load_profile(stack).settings["cluster"]


def record(s: Synthesis, type_: str, name: str) -> Any:
    return next(r for r in s.of_type(type_) if r.name == name)


def node_groups(s: Synthesis) -> dict[str, dict[str, Any]]:
    return {r.name.removeprefix("cluster-"): r.inputs for r in s.of_type(MNG)}


# ---- control plane ------------------------------------------------------------------------------------------


def test_cluster_is_private_api_authenticated_encrypted_and_logged(stack):
    eks = stack.one(EKS).inputs
    assert eks["version"] == profile(stack.environment)["version"]
    assert eks["authenticationMode"] == "API"
    assert eks["endpointPrivateAccess"] is True
    assert eks["skipDefaultNodeGroup"] is True and eks["createOidcProvider"] is True
    assert eks["nodeAssociatePublicIpAddress"] is False
    assert eks["enabledClusterLogTypes"] == list(LOG_TYPES)
    assert eks["encryptionConfigKeyArn"] == stack.state_of(record(stack, "aws:kms/key:Key", "cluster-secrets"))["arn"]
    assert eks["privateSubnetIds"] == [stack.id_of(record(stack, SUBNET, f"network-private-{i}"))
                                       for i in range(len(eks["privateSubnetIds"]))]
    assert "publicSubnetIds" not in eks  # the ALB is envstack's own, not one the cluster creates
    # Every add-on is an EKS-managed one created below, never pulumi-eks's or the self-managed bootstrap.
    assert eks["bootstrapSelfManagedAddons"] is False
    assert eks["corednsAddonOptions"]["enabled"] is False and eks["kubeProxyAddonOptions"]["enabled"] is False


def test_secrets_key_rotates():
    key = record(synth("prod"), "aws:kms/key:Key", "cluster-secrets")
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect is True


@pytest.mark.parametrize(("stack", "public", "support", "protection"), [
    ("dev", True, "STANDARD", False), ("staging", True, "STANDARD", False), ("prod", False, "EXTENDED", True)])
def test_endpoint_upgrade_policy_and_deletion_protection_per_environment(stack, public, support, protection):
    eks = synth(stack).one(EKS).inputs
    assert eks["endpointPublicAccess"] is public
    listed = stack_config(stack)["envstack:cluster"].get("publicAccessCidrs")
    assert eks.get("publicAccessCidrs") == (listed if public else None)
    assert eks["upgradePolicy"] == {"supportType": support}
    assert eks["deletionProtection"] is protection


def test_control_plane_log_group_exists_first_with_the_environments_retention(stack):
    eks = stack.one(EKS)
    group = record(stack, "aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane")
    assert group.inputs["name"] == f"/aws/eks/{eks.inputs['name']}/cluster"
    assert group.inputs["retentionInDays"] == load_profile(stack.environment).settings["monitoring"]["logRetentionDays"]
    assert group.inputs["kmsKeyId"] in {stack.state_of(k)["arn"] for k in stack.of_type("aws:kms/key:Key")}
    assert group.urn in eks.dependencies


CLUSTER_ADMIN = {"policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                 "accessScope": {"type": "cluster"}}
CLUSTER_VIEW = {"policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy",
                "accessScope": {"type": "cluster"}}
PREVIEW = "arn:aws:iam::123456789012:role/envstack-bootstrap/envstack-dev-preview"
READER = "arn:aws:iam::123456789012:role/envstack-bootstrap/envstack-dev-reader"


def test_viewer_roles_get_cluster_wide_read_access_keyed_by_role_name():
    """CI's preview and reader roles read the baseline's objects (preview, refresh): AmazonEKSAdminViewPolicy at
    cluster scope. Entries are keyed by role name, so dropping one role leaves the other's entry where it is."""
    cluster = synth_with("dev", cluster={**stack_config("dev")["envstack:cluster"],
                                         "viewerRoleArns": [PREVIEW, READER]})
    entries = cluster.one(EKS).inputs["accessEntries"]
    assert entries["viewer-envstack-dev-preview"] == {"principalArn": PREVIEW,
                                                      "accessPolicies": {"cluster-view": CLUSTER_VIEW}}
    assert entries["viewer-envstack-dev-reader"] == {"principalArn": READER,
                                                     "accessPolicies": {"cluster-view": CLUSTER_VIEW}}
    fewer = synth_with("dev", cluster={**stack_config("dev")["envstack:cluster"], "viewerRoleArns": [READER]})
    kept = fewer.one(EKS).inputs["accessEntries"]
    assert "viewer-envstack-dev-preview" not in kept and kept["viewer-envstack-dev-reader"] == (
        entries["viewer-envstack-dev-reader"])


@pytest.mark.parametrize(("role", "code"), [(READER, 0), (READER.replace("envstack-bootstrap/", ""), 0),
                                            (PREVIEW, 1), ("arn:aws:iam::999999999999:role/envstack-dev-reader", 1),
                                            ("not-an-arn", 1)])
def test_check_viewer_accepts_only_a_role_the_stack_gives_read_access(tmp_path, capsys, role, code):
    from envstack import cli

    for name in ("Pulumi.yaml",):
        (tmp_path / name).write_text((ROOT / name).read_text())
    document = yaml.safe_load((FIXTURES / "Pulumi.dev.yaml").read_text())
    document["config"]["envstack:cluster"]["viewerRoleArns"] = [READER]
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    parsed = cli.parser().parse_args(["check-viewer", "dev", role])
    parsed.root = tmp_path
    assert parsed.run(parsed) == code
    if code:
        assert "envstack:cluster.viewerRoleArns does not list" in capsys.readouterr().err


def test_access_entries_map_the_deployer_and_admins_to_cluster_admin_and_ci_to_its_rbac_group(stack):
    raw = stack_config(stack.stack)["envstack:cluster"]
    entries = stack.one(EKS).inputs.get("accessEntries") or {}
    deployer = [raw["deployerRoleArn"]] if raw.get("deployerRoleArn") else []
    admins = {f"admin-{role_name(arn)}": arn for arn in raw.get("adminRoleArns", [])}
    ci = {f"ci-deployer-{role_name(arn)}": arn for arn in raw.get("ciDeployerRoleArns", [])}
    assert set(entries) == {*(["deployer"] if deployer else []), *admins, *ci}
    for arn in deployer:  # tagged: the policy pack tells the deploying role's entry by it
        assert entries["deployer"] == {"principalArn": arn, "accessPolicies": {"cluster-admin": CLUSTER_ADMIN},
                                       "tags": {"envstack:role": "deployer"}}
    for key, arn in admins.items():
        assert entries[key] == {"principalArn": arn, "accessPolicies": {"cluster-admin": CLUSTER_ADMIN}}
    for key, arn in ci.items():
        assert entries[key] == {"principalArn": arn, "kubernetesGroups": ["envstack:ci-deployers"]}
    # One entry per principal: EKS refuses a second one (409 ResourceInUseException).
    principals = [e["principalArn"] for e in entries.values()]
    assert len(set(principals)) == len(principals)


ROLE_A = "arn:aws:iam::111111111111:role/platform-admin"
ROLE_B = "arn:aws:iam::111111111111:role/teams/oncall-admin"
CI_ROLE = "arn:aws:iam::111111111111:role/github-actions-deployer"


def test_access_entries_are_keyed_by_role_name_so_removing_one_leaves_the_others():
    """pulumi-eks names each entry `<cluster resource>-<key>` (createAccessEntries): the keys are the names."""
    both = synth_with("prod", cluster={**stack_config("prod")["envstack:cluster"],
                                       "adminRoleArns": [ROLE_A, ROLE_B], "ciDeployerRoleArns": [CI_ROLE]})
    second_only = synth_with("prod", cluster={**stack_config("prod")["envstack:cluster"],
                                              "adminRoleArns": [ROLE_B], "ciDeployerRoleArns": [CI_ROLE]})
    before, after = (s.one(EKS).inputs["accessEntries"] for s in (both, second_only))
    assert set(before) == {"deployer", "admin-platform-admin", "admin-oncall-admin",
                           "ci-deployer-github-actions-deployer"}
    assert set(after) == set(before) - {"admin-platform-admin"}
    assert all(after[key] == before[key] for key in after)


def test_renamed_access_entries_and_their_associations_keep_the_state_of_their_positional_names():
    cluster = mocked_cluster(admin_role_arns=(ROLE_A, ROLE_B), ci_deployer_role_arns=(CI_ROLE,))
    transform = aliases_transform(cluster._access_entry_aliases())
    opts = pulumi.ResourceOptions(parent=None)

    def alias(type_: str, name: str) -> list[str | None]:
        result = transform(pulumi.ResourceTransformArgs(True, type_, name, {"p": 1}, opts))
        if result is None:
            return []
        assert result.props == {"p": 1}
        return [a.name for a in result.opts.aliases or []]

    entry, association = "aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
    assert alias(entry, "cluster-eks-admin-oncall-admin") == ["cluster-eks-admin-1"]
    assert alias(association, "cluster-eks-admin-oncall-admin-cluster-admin") == ["cluster-eks-admin-1-cluster-admin"]
    assert alias(entry, "cluster-eks-ci-deployer-github-actions-deployer") == ["cluster-eks-ci-deployer-0"]
    assert alias(entry, "cluster-eks-deployer") == []  # always keyed by what it is
    assert alias("aws:eks/cluster:Cluster", "cluster-eks-admin-platform-admin") == []


def test_two_roles_of_one_name_in_a_list_are_refused():
    refused = problems("prod", adminRoleArns=[ROLE_A, "arn:aws:iam::222222222222:role/other/platform-admin"])
    assert any("envstack:cluster.adminRoleArns" in line and "distinct names" in line and "platform-admin" in line
               for line in refused), refused
    # In two lists, they are two keys (admin-..., ci-deployer-...): only the same role twice is refused there.
    loaded_config("prod", adminRoleArns=[ROLE_A], ciDeployerRoleArns=["arn:aws:iam::222222222222:role/platform-admin"])


def test_the_creator_admin_transform_turns_off_the_implicit_entry_on_the_aws_cluster_only():
    transform = no_creator_admin_transform()
    opts = pulumi.ResourceOptions()
    # What pulumi-eks 4.x sends for authenticationMode API (nodejs/eks/cluster/cluster.ts).
    props = {"version": "1.35", "accessConfig": {"authenticationMode": "API",
                                                 "bootstrapClusterCreatorAdminPermissions": True}}
    result = transform(pulumi.ResourceTransformArgs(True, "aws:eks/cluster:Cluster", "c-eksCluster", props, opts))
    assert result is not None and result.opts is opts
    assert result.props == {"version": "1.35", "accessConfig": {
        "authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}}
    assert props["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True  # the input is not mutated
    for other in ("aws:eks/accessEntry:AccessEntry", "aws:eks/nodeGroup:NodeGroup", "eks:index:Cluster"):
        assert transform(pulumi.ResourceTransformArgs(True, other, "x", dict(props), opts)) is None


@pytest.mark.parametrize(("deployer", "creator_admin"), [("arn:aws:iam::123456789012:role/deployer", False),
                                                         (None, True)])
def test_the_creator_keeps_its_implicit_admin_entry_only_without_a_deployer_role(monkeypatch, deployer,
                                                                                 creator_admin):
    """With deployerRoleArn the transform turns the creator's entry off (the deployer's explicit entry replaces it);
    without one (a dev stack) the creator keeps it and no explicit entry names it. Mocks never run the transform
    (pulumi-eks's child aws:eks Cluster is not created): check what the component hands pulumi-eks."""
    passed: dict[str, pulumi.ResourceOptions] = {}

    class Recording(eks.Cluster):  # `name` is one of eks.Cluster's arguments (the EKS cluster's name)
        def __init__(self, resource_name: str, *args: Any, opts: pulumi.ResourceOptions | None = None, **kwargs: Any):
            passed[resource_name] = opts or pulumi.ResourceOptions()
            super().__init__(resource_name, *args, opts=opts, **kwargs)

    monkeypatch.setattr(cluster_module.eks, "Cluster", Recording)
    mocked_cluster(deployer_role_arn=deployer)
    [opts] = passed.values()
    given = {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}
    child = pulumi.ResourceTransformArgs(True, "aws:eks/cluster:Cluster", "cluster-eks-eksCluster",
                                         {"accessConfig": given}, pulumi.ResourceOptions())
    access = given
    for transform in opts.transforms or []:
        result = transform(pulumi.ResourceTransformArgs(True, child.type_, child.name, {"accessConfig": access},
                                                        child.opts))
        access = result.props["accessConfig"] if result is not None else access
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": creator_admin}


# ---- node groups ----------------------------------------------------------------------------------------------


def test_dev_runs_one_small_on_demand_node():
    groups = node_groups(synth("dev"))
    assert list(groups) == ["main"]
    main = groups["main"]
    assert main["instanceTypes"] == ["t3.medium"] and main["capacityType"] == "ON_DEMAND"
    assert main["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 1}


def test_prod_runs_three_on_demand_m_class_nodes_and_a_diversified_spot_group():
    groups = node_groups(synth("prod"))
    assert set(groups) == {"main", "spot"}
    main, spot = groups["main"], groups["spot"]
    assert main["capacityType"] == "ON_DEMAND" and main["scalingConfig"]["minSize"] >= 3
    assert all(t.startswith("m") for t in main["instanceTypes"])
    assert spot["capacityType"] == "SPOT" and spot["scalingConfig"]["minSize"] == 0
    assert len(spot["instanceTypes"]) >= 3 and len({t.split(".")[0] for t in spot["instanceTypes"]}) >= 3


def test_every_node_group_runs_the_clusters_kubernetes_version(stack):
    """pulumi-eks leaves `version` unset when a launch template is given: without it an upgrade moves only the
    control plane."""
    version = stack.one(EKS).inputs["version"]
    assert version == profile(stack.environment)["version"]
    groups = node_groups(stack)
    assert groups and all(group["version"] == version for group in groups.values())


def test_node_groups_follow_a_new_cluster_version():
    # 1.34 has no pins in envstack/program/addon_versions.yaml: this stack pins all five itself.
    addons = {"vpcCni": "v1.20.0-eksbuild.1", "coredns": "v1.12.0-eksbuild.1", "kubeProxy": "v1.34.0-eksbuild.1",
              "podIdentityAgent": "v1.3.9-eksbuild.1", "ebsCsiDriver": "v1.50.0-eksbuild.1"}
    s = synth_with("dev", cluster={**stack_config("dev")["envstack:cluster"], "version": "1.34",
                                   "addonVersions": addons, "autoscaler": {"version": "v1.34.5"}})
    assert s.one(EKS).inputs["version"] == "1.34"
    assert {g["version"] for g in node_groups(s).values()} == {"1.34"}


def test_node_groups_are_al2023_private_launched_from_envstacks_template(stack):
    role = record(stack, ROLE, "cluster-nodes")
    groups = node_groups(stack)
    assert set(groups) == set(profile(stack.environment)["nodeGroups"])
    for name, group in groups.items():
        assert group["amiType"] == "AL2023_x86_64_STANDARD"
        assert group["subnetIds"] == stack.one(EKS).inputs["privateSubnetIds"]
        template = record(stack, LAUNCH_TEMPLATE, f"cluster-{name}")
        assert group["launchTemplate"] == {"id": stack.id_of(template),
                                           "version": str(int(stack.state_of(template)["latestVersion"]))}
        assert group["ignoreScalingChanges"] is True
        assert group["nodeRole"] == stack.id_of(role)
        assert "diskSize" not in group  # the launch template sizes the root volume


def test_launch_templates_require_imdsv2_with_one_hop_and_encrypt_a_gp3_root_volume(stack):
    sizes = {name: g["diskSizeGib"] for name, g in profile(stack.environment)["nodeGroups"].items()}
    templates = stack.of_type(LAUNCH_TEMPLATE)
    assert {t.name.removeprefix("cluster-") for t in templates} == set(sizes)
    for template in templates:
        assert template.inputs["metadataOptions"] == {
            "httpTokens": "required", "httpPutResponseHopLimit": 1, "httpEndpoint": "enabled"}
        assert template.inputs["blockDeviceMappings"] == [{"deviceName": "/dev/xvda", "ebs": {
            "volumeType": "gp3", "volumeSize": sizes[template.name.removeprefix("cluster-")], "encrypted": "true",
            "deleteOnTermination": "true"}}]
        assert "imageId" not in template.inputs and "userData" not in template.inputs
        assert {t["resourceType"] for t in template.inputs["tagSpecifications"]} >= {"instance", "volume"}
        assert all(t["tags"]["Environment"] == stack.environment for t in template.inputs["tagSpecifications"])


def test_node_role_has_exactly_the_worker_policies(stack):
    attached = {a.inputs["policyArn"] for a in stack.of_type(ATTACHMENT) if a.name.startswith("cluster-nodes-")}
    assert attached == {"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
                        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"}
    trust = json.loads(record(stack, ROLE, "cluster-nodes").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_update_config_transform_sets_max_unavailable_on_the_aws_node_group_only():
    transform = update_config_transform(2)
    opts = pulumi.ResourceOptions()
    result = transform(pulumi.ResourceTransformArgs(True, "aws:eks/nodeGroup:NodeGroup", "ng", {"amiType": "x"}, opts))
    assert result is not None and result.props == {"amiType": "x", "updateConfig": {"maxUnavailable": 2}}
    assert transform(pulumi.ResourceTransformArgs(True, LAUNCH_TEMPLATE, "lt", {}, opts)) is None


# ---- add-ons and IRSA -----------------------------------------------------------------------------------------


def test_addons_are_managed_pinned_and_overwrite_on_update(stack):
    addons = {a.inputs["addonName"]: a.inputs for a in stack.of_type(ADDON)}
    assert set(addons) == ADDONS
    pins = version_pins(stack.one(EKS).inputs["version"])["addonVersions"]
    pinned = AddonVersions.model_validate(pins).by_addon_name()
    assert {name: addon["addonVersion"] for name, addon in addons.items()} == pinned
    assert addons["kube-proxy"]["addonVersion"].startswith(f"v{stack.one(EKS).inputs['version']}.")
    for addon in addons.values():
        assert addon["clusterName"] == stack.one(EKS).inputs["name"]
        assert addon["resolveConflictsOnUpdate"] == "OVERWRITE"
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_networking_addons_precede_the_nodes_and_the_others_follow_them(stack):
    addons = {a.inputs["addonName"]: a for a in stack.of_type(ADDON)}
    group_urns = {g.urn for g in stack.of_type(MNG)}
    for group in stack.of_type(MNG):
        assert addons["vpc-cni"].urn in group.dependencies
    for name in ("coredns", "aws-ebs-csi-driver"):
        assert group_urns <= set(addons[name].dependencies)


def test_ebs_csi_driver_assumes_an_irsa_role_limited_to_its_service_account(stack):
    addon = next(a for a in stack.of_type(ADDON) if a.inputs["addonName"] == "aws-ebs-csi-driver")
    [role] = [r for r in stack.of_type(ROLE) if stack.state_of(r)["arn"] == addon.inputs["serviceAccountRoleArn"]]
    statement = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert len(statement) == 1 and statement[0]["Action"] == "sts:AssumeRoleWithWebIdentity"
    provider_arn = stack.outputs["oidcProviderArn"]
    assert statement[0]["Principal"] == {"Federated": provider_arn}
    issuer = provider_arn.split(":oidc-provider/")[1]
    assert statement[0]["Condition"] == {"StringEquals": {
        f"{issuer}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa",
        f"{issuer}:aud": "sts.amazonaws.com"}}
    attached = [a.inputs["policyArn"] for a in stack.of_type(ATTACHMENT) if a.name.startswith(f"{role.name}-")]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]


# ---- outputs and the interface other components use ---------------------------------------------------------


def test_kubeconfig_is_exported_only_as_a_secret_and_the_provider_uses_it(stack):
    assert "kubeconfig" in stack.secret_outputs
    assert stack.outputs["kubeconfig"] == "[secret]"
    provider = stack.one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert stack.outputs["clusterName"] == stack.one(EKS).inputs["name"]
    assert {"clusterEndpoint", "nodeRoleArns"} <= set(stack.mock_outputs())  # AWS assigns them: labelled
    assert stack.outputs["nodeRoleArns"] == [stack.state_of(record(stack, ROLE, "cluster-nodes"))["arn"]]


def _resolve(value: Any) -> Any:
    return _sync_await(pulumi.Output.from_input(value).future())


def mocked_cluster(**args: Any) -> Cluster:
    """The component built directly under the same mocks as a synthesis, from the prod profile's arguments."""
    under_mocks()
    profile = arguments.cluster(profile_config(), "vpc-1", ["subnet-1", "subnet-2"])
    return Cluster("cluster", replace(profile, name="unit", **args))


def group_spec(**spec: Any) -> NodeGroupSpec:
    """The prod profile's main node group, with `spec` changed."""
    return replace(arguments.cluster(profile_config(), "vpc-1", []).node_groups[0], **spec)


def test_connections_name_the_eks_cluster_security_group_and_node_groups_expose_their_asgs():
    """What the load balancer and data stores consume."""
    cluster = mocked_cluster(node_groups=(group_spec(), group_spec(
        name="spot", capacity_type="SPOT", instance_types=("m7i.large", "m6i.large"))))
    assert cluster.connections.label == "cluster-nodes" and cluster.connections.restricts_egress is False
    assert cluster.connections.owner is cluster
    security_group = _resolve(cluster.connections.security_group_id)
    assert _resolve(cluster.eks.eks_cluster.vpc_config.cluster_security_group_id) == security_group
    assert list(cluster.node_group_asgs) == ["main", "spot"]  # keyed by node group name
    assert len({_resolve(asg) for asg in cluster.node_group_asgs.values()}) == 2  # each group's own
    assert cluster.name == "unit"


def test_each_managed_node_group_carries_its_own_update_config_transform(monkeypatch):
    """Mocks never run the transform (pulumi-eks's child aws:eks NodeGroup is not created): check it is attached."""
    passed: dict[str, pulumi.ResourceOptions] = {}

    class Recording(eks.ManagedNodeGroup):
        def __init__(self, name: str, *args: Any, opts: pulumi.ResourceOptions | None = None, **kwargs: Any):
            passed[name] = opts or pulumi.ResourceOptions()
            super().__init__(name, *args, opts=opts, **kwargs)

    monkeypatch.setattr(cluster_module.eks, "ManagedNodeGroup", Recording)
    mocked_cluster(node_groups=(group_spec(max_unavailable=1), group_spec(
        name="spot", capacity_type="SPOT", instance_types=("m7i.large", "m6i.large"), max_unavailable=3)))
    assert set(passed) == {"cluster-main", "cluster-spot"}
    for name, expected in (("cluster-main", 1), ("cluster-spot", 3)):
        transforms = passed[name].transforms or []
        node_group = pulumi.ResourceTransformArgs(True, "aws:eks/nodeGroup:NodeGroup", name, {},
                                                  pulumi.ResourceOptions())
        results = [t(node_group) for t in transforms]
        assert [r.props["updateConfig"] for r in results if r is not None] == [{"maxUnavailable": expected}]


def test_private_networks_reach_the_private_endpoint_on_443_by_separate_described_rules():
    cidrs = ["10.2.64.0/24", "100.64.0.0/16"]  # inside the VPC, and a VPN routed through the transit gateway
    cluster = stack_config("prod")["envstack:cluster"]
    network = {"transitGateway": {"id": "tgw-0123456789abcdef0", "cidrs": ["100.64.0.0/16"]}}
    s = synth_with("prod", cluster={**cluster, "apiAccessCidrs": cidrs}, network=network)
    rules = [r for r in s.of_type(INGRESS_RULE) if r.name.startswith("cluster-api-")]
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == sorted(cidrs)
    # The cluster security group EKS created: the one the ALB's rule to the nodes also names.
    [from_alb] = [r for r in s.of_type(INGRESS_RULE) if r.name.startswith("cluster-nodes-from-alb-")]
    for rule in rules:
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 443, 443)
        assert rule.inputs["description"] and rule.parent == s.one("envstack:kubernetes:Cluster").urn
        assert rule.inputs["securityGroupId"] == from_alb.inputs["securityGroupId"]
    report = evaluate([vars(r) for r in s.resources], ROOT / "policies" / "prod.json")
    assert [v for v in report.violations if v["urn"] in {r.urn for r in rules}] == []


def test_api_access_rules_are_exactly_the_listed_networks(stack):
    listed = stack_config(stack.stack)["envstack:cluster"].get("apiAccessCidrs", [])
    rules = [r.inputs["cidrIpv4"] for r in stack.of_type(INGRESS_RULE) if r.name.startswith("cluster-api-")]
    assert sorted(rules) == sorted(listed)
    assert bool(rules) == (stack.environment == "prod")  # prod's endpoint is private: its runner needs a rule


def test_no_kubernetes_object_is_sent_before_the_runners_path_to_the_api_exists():
    """prod's first `up` from a runner behind the transit gateway: the Kubernetes provider (so every object sent
    through it) waits for the API rules and the routes to the runner networks, not only for the cluster."""
    s = synth("prod")
    rules = {r.urn for r in s.of_type(INGRESS_RULE) if r.name.startswith("cluster-api-")}
    routes = {r.urn for r in s.of_type("aws:ec2/route:Route") if r.inputs.get("transitGatewayId")}
    assert rules and routes
    [provider] = [r for r in s.of_type("pulumi:providers:kubernetes") if r.name == "cluster-k8s"]
    assert rules | routes <= set(provider.dependencies)
    baseline = [r for r in s.resources if r.type.startswith("kubernetes:")]
    assert baseline and all(r.provider == provider.urn for r in baseline)


# ---- configuration ------------------------------------------------------------------------------------------


def problems(stack: str, **cluster: Any) -> list[str]:
    """Problem lines for the stack file with `cluster` settings merged into its envstack:cluster."""
    raw = {k.removeprefix("envstack:"): v for k, v in stack_config(stack).items() if k.startswith("envstack:")}
    merged = deep_merge(raw.get("cluster", {}), cluster)
    raw["cluster"] = {k: v for k, v in merged.items() if v is not None}  # None: the key is removed
    with pytest.raises(ConfigError) as caught:
        load_stack_config(stack, raw, "us-west-2")
    return caught.value.render().splitlines()[1:]


# A Kubernetes minor with no add-on pins: one past the newest pinned.
UNPINNED = f"1.{max(int(v.split('.')[1]) for v in pinned_addon_versions()) + 1}"


def group(**overrides: Any) -> dict[str, Any]:
    return {"nodeGroups": {"main": overrides}}


INVALID = [
    ("dev", {"version": 1.35}, "envstack:cluster.version", "string"),
    ("dev", {"version": "latest"}, "envstack:cluster.version", "a Kubernetes minor version as a string"),
    ("dev", {"upgradePolicy": "FOREVER"}, "envstack:cluster.upgradePolicy", "'EXTENDED'"),
    ("dev", {"publicAccessCidrs": []}, "envstack:cluster.publicAccessCidrs",
     "(not set): required when endpointPublicAccess is true"),
    ("dev", {"publicAccessCidrs": ["52.94.0.0/22", "203.0.113.0/24"]}, "envstack:cluster.publicAccessCidrs",
     "['203.0.113.0/24'] are documentation ranges"),
    ("staging", {"publicAccessCidrs": ["198.51.100.7/32"]}, "envstack:cluster.publicAccessCidrs",
     "documentation ranges"),
    ("prod", {"apiAccessCidrs": ["0.0.0.0/0"]}, "envstack:cluster.apiAccessCidrs", "never 0.0.0.0/0"),
    ("prod", {"apiAccessCidrs": ["10.2.64.0/24", "52.94.0.0/22"]}, "envstack:cluster.apiAccessCidrs",
     "not private: ['52.94.0.0/22']"),
    ("prod", {"apiAccessCidrs": ["10.2.64.0/33"]}, "envstack:cluster.apiAccessCidrs[0]", "IPv4"),
    ("dev", {"publicAccessCidrs": ["10.0.0.300/32"]}, "envstack:cluster.publicAccessCidrs[0]", "IPv4"),
    ("dev", {"adminRoleArns": ["arn:aws:iam::123:user/bob"]}, "envstack:cluster.adminRoleArns[0]", "an IAM role ARN"),
    ("dev", {"ciDeployerRoleArns": ["deployer"]}, "envstack:cluster.ciDeployerRoleArns[0]", "an IAM role ARN"),
    ("dev", {"logTypes": ["api", "kubelet"]}, "envstack:cluster.logTypes[1]", "'controllerManager'"),
    ("dev", group(minSize=-1), "envstack:cluster.nodeGroups.main.minSize", "greater than or equal to 0"),
    ("dev", {"nodeGroups": {"Main_Group": {"instanceTypes": ["t3.medium"], "minSize": 1, "maxSize": 1,
                                           "desiredSize": 1}}}, "envstack:cluster.nodeGroups.Main_Group",
     "node group name"),
    ("dev", group(instanceTypes=["t3medium"]), "envstack:cluster.nodeGroups.main.instanceTypes[0]", "m7i.large"),
    ("dev", group(instanceTypes=[]), "envstack:cluster.nodeGroups.main.instanceTypes", "at least 1"),
    ("dev", group(desiredSize=5), "envstack:cluster.nodeGroups.main.desiredSize", "minSize <= desiredSize"),
    ("dev", group(maxSize=0), "envstack:cluster.nodeGroups.main.maxSize", "greater than or equal to 1"),
    ("dev", group(capacityType="SPOT"), "envstack:cluster.nodeGroups.main.instanceTypes", "at least 2 instance"),
    ("dev", group(capacityType="RESERVED"), "envstack:cluster.nodeGroups.main.capacityType", "'SPOT'"),
    ("dev", group(amiType="AL2_x86_64"), "envstack:cluster.nodeGroups.main.amiType", "AL2023"),
    ("dev", group(amiType="AL2023_ARM_64_STANDARD"), "envstack:cluster.nodeGroups.main.instanceTypes",
     "['t3.medium'] do not match"),
    ("dev", group(instanceTypes=["m7g.large"]), "envstack:cluster.nodeGroups.main.instanceTypes",
     "amiType AL2023_x86_64_STANDARD's architecture"),
    ("prod", {"nodeGroups": {"spot": {"instanceTypes": ["m7g.large", "m7i.large"],
                                      "amiType": "AL2023_ARM_64_STANDARD"}}},
     "envstack:cluster.nodeGroups.spot.instanceTypes", "['m7i.large'] do not match"),
    ("dev", group(diskSizeGib=8), "envstack:cluster.nodeGroups.main.diskSizeGib", "greater than or equal to 20"),
    ("dev", group(labels={"bad key!": "x"}), "envstack:cluster.nodeGroups.main.labels.bad key!", "label key"),
    ("dev", {"addonVersions": {"coredns": "1.13"}}, "envstack:cluster.addonVersions.coredns", "eksbuild"),
    ("dev", {"version": UNPINNED}, "envstack:cluster.version",
     f"envstack/program/addon_versions.yaml pins {', '.join(pinned_addon_versions())}, and "
     "envstack:cluster.addonVersions does not set vpcCni, coredns, kubeProxy, podIdentityAgent, ebsCsiDriver"),
    ("dev", {"addonVersions": {"kubeProxy": "v1.0.1-eksbuild.1"}}, "envstack:cluster.addonVersions.kubeProxy",
     f"the cluster's Kubernetes minor (v{kubernetes_version('dev')}.x"),
    ("dev", {"addonVersions": {"istio": "v1.0.0-eksbuild.1"}}, "envstack:cluster.addonVersions.istio",
     "unknown key"),
    ("dev", {"endpointPrivateAccess": False}, "envstack:cluster.endpointPrivateAccess", "unknown key"),
    ("prod", {"apiAccessCidrs": []}, "envstack:cluster.apiAccessCidrs",
     "(not set): required when endpointPublicAccess is false"),
    ("staging", {"endpointPublicAccess": False, "publicAccessCidrs": []}, "envstack:cluster.apiAccessCidrs",
     "required when endpointPublicAccess is false"),
    ("dev", {"deployerRoleArn": "arn:aws:iam::123456789012:user/ci"}, "envstack:cluster.deployerRoleArn",
     "an IAM role ARN"),
    ("prod", {"deployerRoleArn": None}, "envstack:cluster.deployerRoleArn",
     "None: environment prod requires the IAM role `pulumi up` runs as"),
    ("staging", {"deployerRoleArn": None}, "envstack:cluster.deployerRoleArn",
     "None: environment staging requires the IAM role `pulumi up` runs as"),
    ("dev", {"adminRoleArns": ["arn:aws:iam::123456789012:role/aws-service-role/eks.amazonaws.com/"
                               "AWSServiceRoleForAmazonEKS"]}, "envstack:cluster.adminRoleArns[0]",
     "a service-linked role"),
    ("dev", {"adminRoleArns": ["arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123456789abcdef"]},
     "envstack:cluster.adminRoleArns[0]", "role/aws-reserved/sso.amazonaws.com/[<region>/]AWSReservedSSO_Admin_"),
    ("dev", {"deployerRoleArn": "arn:aws:iam::123456789012:role/sso/AWSReservedSSO_Deploy_0123456789abcdef"},
     "envstack:cluster.deployerRoleArn", "path included"),
    ("prod", {"adminRoleArns": ["arn:aws:iam::111111111111:role/envstack-prod-deployer"]},
     "envstack:cluster.adminRoleArns", "already in deployerRoleArn"),
    ("prod", {"ciDeployerRoleArns": ["arn:aws:iam::111111111111:role/Platform-Admin"]},
     "envstack:cluster.ciDeployerRoleArns", "already in adminRoleArns, and EKS gives a role one access entry"),
    ("dev", {"adminRoleArns": ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/a"]},
     "envstack:cluster.adminRoleArns", "already in adminRoleArns"),
    ("dev", {"viewerRoleArns": ["arn:aws:iam::123456789012:user/ci"]}, "envstack:cluster.viewerRoleArns[0]",
     "an IAM role ARN"),
    ("prod", {"viewerRoleArns": ["arn:aws:iam::111111111111:role/platform-admin"]},
     "envstack:cluster.viewerRoleArns", "already in adminRoleArns, and EKS gives a role one access entry"),
]


def loaded_config(stack: str, network: dict[str, Any] | None = None, **cluster: Any) -> Any:
    raw = {k.removeprefix("envstack:"): v for k, v in stack_config(stack).items() if k.startswith("envstack:")}
    raw = {**raw, "cluster": deep_merge(raw.get("cluster", {}), cluster),
           "network": deep_merge(raw.get("network", {}), network or {})}
    return load_stack_config(stack, raw, "us-west-2")


def test_graviton_groups_run_the_arm_image_and_x86_groups_the_x86_one():
    cfg = loaded_config("dev", nodeGroups={"main": {"instanceTypes": ["m7g.large", "c7gn.large", "t4g.large"],
                                                   "amiType": "AL2023_ARM_64_STANDARD"}})
    assert cfg.cluster.node_groups["main"].ami_type == "AL2023_ARM_64_STANDARD"
    assert loaded_config("dev", nodeGroups={"main": {"instanceTypes": ["m7i.large", "m7a.large", "g4dn.xlarge"]}})


def test_addon_versions_are_pinned_per_kubernetes_version_in_one_file_not_in_profiles():
    pins = yaml.safe_load(ADDON_VERSIONS_FILE.read_text())
    assert pins and pins == pinned_addon_versions()
    for version in pins:
        addons = version_pins(version)["addonVersions"]
        assert AddonVersions.model_validate(addons).unset == []  # every add-on of every version
        assert addons["kubeProxy"].startswith(f"v{version}.")
        # and the Cluster Autoscaler release built for that minor
        assert version_pins(version)["autoscaler"]["version"].startswith(f"v{version}.")
    for name in ("common", *ENVIRONMENTS):
        own = yaml.safe_load((PROFILES / f"{name}.yaml").read_text())
        assert "addonVersions" not in own["settings"].get("cluster", {})


def test_a_stack_file_overrides_one_addon_and_keeps_the_others_pins():
    cfg = loaded_config("dev", addonVersions={"coredns": "v1.13.9-eksbuild.9"})
    pins = version_pins(kubernetes_version("dev"))["addonVersions"]
    expected = {**AddonVersions.model_validate(pins).by_addon_name(),
                "coredns": "v1.13.9-eksbuild.9"}
    assert cfg.cluster.addon_versions.by_addon_name() == expected


@pytest.mark.parametrize("path", ["aws-reserved/sso.amazonaws.com/", "aws-reserved/sso.amazonaws.com/eu-west-1/"])
def test_an_identity_center_role_with_its_path_is_accepted(path):
    arn = f"arn:aws:iam::123456789012:role/{path}AWSReservedSSO_Admin_0123456789abcdef"
    assert loaded_config("dev", adminRoleArns=[arn]).cluster.admin_role_arns == (arn,)


@pytest.mark.parametrize(("stack", "cluster", "key", "expected"), INVALID)
def test_bad_cluster_values_name_the_key_and_the_expectation(stack, cluster, key, expected):
    lines = problems(stack, **cluster)
    matching = [line for line in lines if line.startswith(f"stack {stack}: {key} = ")]
    assert matching, lines
    assert expected in matching[0], matching[0]


GUARDRAILS = [
    ({"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}, "envstack:cluster.publicAccessCidrs",
     "never 0.0.0.0/0"),
    ({"endpointPublicAccess": True, "publicAccessCidrs": ["52.94.0.0/22", "10.0.0.0/8"]},
     "envstack:cluster.publicAccessCidrs", "10.0.0.0/8"),
    ({"nodeGroups": {"main": {"minSize": 2, "desiredSize": 2}}}, "envstack:cluster.nodeGroups",
     "at least 3 ON_DEMAND nodes"),
    ({"logTypes": ["api", "audit"]}, "envstack:cluster.logTypes", "controllerManager"),
]


@pytest.mark.parametrize(("cluster", "key", "expected"), GUARDRAILS)
def test_prod_guardrails_reject_what_production_must_not_run(cluster, key, expected):
    lines = problems("prod", **cluster)
    matching = [line for line in lines if line.startswith(f"stack prod: {key} = ")]
    assert matching, lines
    assert expected in matching[0], matching[0]


@pytest.mark.parametrize("stack", [s for s in STACKS if stack_config(s)["envstack:environment"] != "prod"])
def test_outside_prod_the_same_values_are_allowed(stack):
    raw = {k.removeprefix("envstack:"): v for k, v in stack_config(stack).items() if k.startswith("envstack:")}
    # Every control-plane log type only where the pack requires them (staging's eks-control-plane-logs).
    fewer_logs = {} if load_profile(raw["environment"]).guardrails.cluster_all_control_plane_logs else {
        "logTypes": ["api"]}
    raw["cluster"] = deep_merge(raw["cluster"], {"publicAccessCidrs": ["0.0.0.0/0"], **fewer_logs})
    cfg = load_stack_config(stack, raw, "us-west-2")
    assert [str(c) for c in cfg.cluster.public_access_cidrs] == ["0.0.0.0/0"]


def test_prod_policy_pack_finds_no_violation_in_the_cluster():
    s = synth("prod")
    report = evaluate([vars(r) for r in s.resources], ROOT / "policies" / "prod.json")
    mine = {r.urn for r in s.resources if "kubernetes:Cluster" in r.urn or "kubernetes:Baseline" in r.urn}
    assert mine and s.one(EKS).urn in mine
    assert [v for v in report.violations if v["urn"] in mine] == []


def test_the_cluster_and_node_groups_get_their_roles_once_the_policies_are_attached(stack):
    """EKS needs the role's permissions to create and to delete what it makes (security groups, network interfaces,
    instances): the role input waits for its attachments, so they outlive the cluster and node groups."""
    def attachments(role: str) -> set[str]:
        found = {r.urn for r in stack.of_type(ATTACHMENT) if r.inputs["role"] == role}
        assert found, role
        return found

    cluster_policies, node_policies = attachments("cluster-eks"), attachments("cluster-nodes")
    assert cluster_policies <= set(stack.one(EKS).propertyDependencies["serviceRole"])
    for group in stack.of_type(MNG):
        assert node_policies <= set(group.propertyDependencies["nodeRole"]), group.name


def test_policy_attachments_and_api_rules_are_named_by_what_they_are_and_keep_their_positional_state():
    """An attachment replaced create-before-delete onto the same role and policy ends detached; a rule replaced
    onto the same CIDR is a duplicate. Named by policy and CIDR, reordering the lists replaces nothing."""
    s = synth("prod")
    attachments = {r.name: r for r in s.of_type(ATTACHMENT) if r.name.startswith("cluster-nodes-")}
    assert set(attachments) == {f"cluster-nodes-{name}" for name in cluster_module.NODE_POLICIES}
    for i, name in enumerate(cluster_module.NODE_POLICIES):
        record = attachments[f"cluster-nodes-{name}"]
        assert record.inputs["policyArn"] == f"arn:aws:iam::aws:policy/{name}"
        assert record.aliases == [record.urn.rsplit("::", 1)[0] + f"::cluster-nodes-{i}"]
    cidrs = stack_config("prod")["envstack:cluster"]["apiAccessCidrs"]
    rules = {r.name: r for r in s.of_type(INGRESS_RULE) if r.name.startswith("cluster-api-")}
    assert {r.inputs["cidrIpv4"]: name for name, r in rules.items()} == {
        cidr: f"cluster-api-{cidr.replace('/', '-')}" for cidr in cidrs}
    assert [r.aliases[0].rsplit("::", 1)[1] for r in rules.values()] == [f"cluster-api-{i}" for i in range(len(cidrs))]
