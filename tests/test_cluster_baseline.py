"""The cluster baseline: every Kubernetes object is valid for the pinned version (offline OpenAPI schemas), and
namespaces, NetworkPolicies, RBAC and capacity limits follow the environment's profile."""

from typing import Any

import celpy
import kubernetes_validate
import pytest
from conftest import kubernetes_version, network_settings, stack_config, synth, synth_with
from kubernetes_validate import utils
from test_cluster import loaded_config, problems

from components.cluster import CI_DEPLOYER_GROUP
from components.cluster_baseline import LOCAL_TRAFFIC_MESSAGE
from components.network import subnet_plan
from envstack.program.arguments import https_egress_cidrs
from envstack.program.config import load_profile
from envstack.tools.synth import ResourceRecord, Synthesis

BASELINE = "envstack:kubernetes:Baseline"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
NAMESPACE = "kubernetes:core/v1:Namespace"
HTTPS_EGRESS = "allow-https-egress"
POD_IDENTITY = "allow-pod-identity-agent"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
ADMISSION_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"


def manifest(inputs: Any) -> Any:
    """The object as `kubectl apply` would send it: the recorded inputs (already camelCase), whole numbers as ints."""
    if isinstance(inputs, dict):
        return {k: manifest(v) for k, v in inputs.items()}
    if isinstance(inputs, list):
        return [manifest(v) for v in inputs]
    if isinstance(inputs, float) and inputs.is_integer():
        return int(inputs)
    return inputs


def kubernetes_objects(s: Synthesis) -> list[ResourceRecord]:
    """The baseline's Kubernetes objects (the Cluster Autoscaler's are tested with it)."""
    baseline = s.one(BASELINE).urn
    return [r for r in s.resources if r.type.startswith("kubernetes:") and r.parent == baseline]


def baseline_settings(environment: str) -> dict[str, Any]:
    return load_profile(environment).settings["cluster"]["baseline"]


def policies(s: Synthesis) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in s.of_type(NETWORK_POLICY)}


def by_name(s: Synthesis, type_: str) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in s.of_type(type_)}


def test_bundled_schemas_include_the_pinned_version(stack):
    version = load_profile(stack.environment).settings["cluster"]["version"]
    assert version in {utils.major_minor(v) for v in utils.all_versions()}


def test_every_kubernetes_object_is_valid_for_the_pinned_version(stack):
    version = load_profile(stack.environment).settings["cluster"]["version"]
    objects = kubernetes_objects(stack)
    kinds = {r.inputs["kind"] for r in objects}
    assert kinds == {"Namespace", "NetworkPolicy", "ServiceAccount", "Role", "RoleBinding", "ResourceQuota",
                     "LimitRange", "StorageClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    assert set(policies(stack)) == {"default-deny-all", "allow-same-namespace", "allow-dns", "allow-data-stores",
                                    HTTPS_EGRESS, POD_IDENTITY, "allow-load-balancer"}
    for record in objects:
        kubernetes_validate.validate(manifest(record.inputs), version, strict=True)


def test_the_validation_rejects_a_malformed_object():
    policy = next(r for r in synth("dev").of_type(NETWORK_POLICY))
    broken = manifest(policy.inputs)
    broken["spec"]["policyTypes"] = "Ingress"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_version("dev"), strict=True)


def test_every_object_uses_the_clusters_provider_and_belongs_to_the_baseline(stack):
    provider = stack.one("pulumi:providers:kubernetes")
    baseline = stack.one(BASELINE)
    objects = kubernetes_objects(stack)
    assert objects
    for record in objects:
        assert record.provider == provider.urn
        assert record.parent == baseline.urn


@pytest.mark.parametrize(("stack", "enforce"), [("dev", "baseline"), ("staging", "restricted"), ("prod", "restricted")])
def test_pod_security_admission_levels_per_environment(stack, enforce):
    namespaces = by_name(synth(stack), NAMESPACE)
    assert set(namespaces) == set(baseline_settings(stack)["namespaces"])
    version = load_profile(stack).settings["cluster"]["version"]
    for namespace in namespaces.values():
        labels = namespace["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == enforce
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["pod-security.kubernetes.io/audit"] == "restricted"
        assert labels["pod-security.kubernetes.io/enforce-version"] == f"v{version}"


def test_default_deny_covers_ingress_and_egress_of_every_pod(stack):
    deny = policies(stack)["default-deny-all"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_pods_may_talk_within_their_namespace(stack):
    same = policies(stack)["allow-same-namespace"]
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["egress"] == [{"to": [{"podSelector": {}}]}]


def test_dns_is_allowed_to_kube_dns_only(stack):
    dns = policies(stack)["allow-dns"]
    assert dns["policyTypes"] == ["Egress"]
    [rule] = dns["egress"]
    assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_data_store_ports_are_reachable_in_the_isolated_subnets_only(stack):
    network = network_settings(stack)
    plan = subnet_plan(network["cidr"], network["azCount"])
    [rule] = policies(stack)["allow-data-stores"]["egress"]
    assert [peer["ipBlock"]["cidr"] for peer in rule["to"]] == plan["isolated"]
    assert sorted(p["port"] for p in rule["ports"]) == [5432, 6379]


def with_baseline(stack: str, **baseline: Any) -> Synthesis:
    """The stack file with `baseline` settings merged over its profile's envstack:cluster.baseline."""
    cluster = stack_config(stack)["envstack:cluster"]
    return synth_with(stack, cluster={**cluster, "baseline": baseline})


def by_namespace(s: Synthesis, policy: str) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["namespace"]: r.inputs["spec"] for r in s.of_type(NETWORK_POLICY)
            if r.inputs["metadata"]["name"] == policy}


def https_egress_by_namespace(s: Synthesis) -> dict[str, dict[str, Any]]:
    return by_namespace(s, HTTPS_EGRESS)


@pytest.mark.parametrize(("stack", "cidrs"), [
    ("dev", ["0.0.0.0/0"]),  # no interface endpoints: AWS APIs have no fixed ranges
    ("staging", ["10.1.0.0/16"]), ("prod", ["10.2.0.0/16"])])  # the VPC, where the interface endpoints answer
def test_https_egress_goes_to_the_vpc_where_it_has_endpoints_and_nowhere_else_by_default(stack, cidrs):
    spec = policies(synth(stack))[HTTPS_EGRESS]
    assert spec["policyTypes"] == ["Egress"] and "ingress" not in spec
    assert spec["egress"] == [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in cidrs],
                               "ports": [{"protocol": "TCP", "port": 443}]}]


def test_every_namespace_gets_its_policies_and_the_admission_binding_covers_them_all():
    namespaces, cidrs = ["app", "jobs"], ["10.20.0.0/16", "52.94.0.0/22"]
    s = with_baseline("dev", namespaces=namespaces, httpsEgressCidrs=cidrs)
    found = https_egress_by_namespace(s)
    assert set(found) == set(namespaces)
    for spec in found.values():
        [rule] = spec["egress"]
        assert [peer["ipBlock"]["cidr"] for peer in rule["to"]] == cidrs
    assert set(by_namespace(s, POD_IDENTITY)) == set(namespaces)
    [binding] = s.of_type(ADMISSION_BINDING)
    assert binding.inputs["spec"]["matchResources"]["namespaceSelector"] == {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]}
    for record in kubernetes_objects(s):
        kubernetes_validate.validate(manifest(record.inputs), kubernetes_version(s.environment), strict=True)


def test_pods_reach_the_pod_identity_agent(stack):
    """EKS Pod Identity hands out credentials at 169.254.170.23:80; default-deny egress would block it."""
    spec = policies(stack)[POD_IDENTITY]
    assert spec == {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"protocol": "TCP", "port": 80}]}]}


def test_extra_https_destinations_are_the_stack_files_explicit_list():
    cfg = loaded_config("prod", baseline={"httpsEgressCidrs": ["52.94.0.0/22", "10.2.0.0/16"]})
    assert https_egress_cidrs(cfg) == ("10.2.0.0/16", "52.94.0.0/22")
    no_endpoints = loaded_config("prod", network={"interfaceEndpoints": []},
                                baseline={"httpsEgressCidrs": ["52.94.0.0/22"]})
    assert https_egress_cidrs(no_endpoints) == ("52.94.0.0/22",)


def test_no_https_egress_policy_for_an_empty_list():
    s = with_baseline("dev", httpsEgressCidrs=[])
    assert https_egress_by_namespace(s) == {}
    assert "allow-dns" in policies(s)


def test_only_the_load_balancer_subnets_reach_the_application_port(stack):
    """Not the private subnets: under the VPC CNI every pod has an address there. With externalTrafficPolicy Local
    packets keep the ALB's address; kubelet probes come from the node's own address, which the network policy
    agent admits."""
    network = network_settings(stack)
    plan = subnet_plan(network["cidr"], network["azCount"])
    spec = policies(stack)["allow-load-balancer"]
    assert spec["policyTypes"] == ["Ingress"] and "egress" not in spec
    [rule] = spec["ingress"]
    assert [peer["ipBlock"]["cidr"] for peer in rule["from"]] == plan["public"]
    assert rule["ports"] == [{"protocol": "TCP", "port": baseline_settings(stack.environment)["appPort"]}]


def test_one_default_storage_class_ebs_csi_gp3_encrypted_bound_where_the_pod_runs(stack):
    [storage_class] = stack.of_type(STORAGE_CLASS)
    inputs = storage_class.inputs
    assert inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert inputs["provisioner"] == "ebs.csi.aws.com"  # the cluster's aws-ebs-csi-driver add-on
    assert inputs["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert "namespace" not in inputs["metadata"]


def service(type_: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "app"},
            "spec": {"type": type_, "ports": [{"port": 80, "targetPort": 8080}], **spec}}


def denials(policy: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """The messages of the policy's validations that `obj` fails, evaluated with a CEL implementation."""
    env = celpy.Environment()
    activation = {"object": celpy.json_to_cel(obj)}
    return [v["message"] for v in policy["spec"]["validations"]
            if not env.program(env.compile(v["expression"])).evaluate(activation)]


def test_services_cannot_open_another_way_in():
    s = synth_with("dev", loadBalancer={"targetPort": 31000})  # the approved port follows the load balancer's
    [policy] = [r.inputs for r in s.of_type(ADMISSION_POLICY)]
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["resourceRules"] == [{
        "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["services"]}]
    node_port = [{"port": 80, "targetPort": 8080, "nodePort": 31000}]
    assert denials(policy, service()) == []
    assert denials(policy, service("NodePort", ports=node_port, externalTrafficPolicy="Local")) == []
    assert denials(policy, service("ExternalName", externalName="db.example.com")) == []
    assert denials(policy, service("LoadBalancer")) == [
        "Services of type LoadBalancer are not allowed: the ALB is the way in"]
    assert denials(policy, service(externalIPs=["10.0.0.10"])) == ["spec.externalIPs is not allowed (CVE-2020-8554)"]
    wrong_port = [{"port": 80, "targetPort": 8080, "nodePort": 30080}]
    for bad in (service("NodePort", ports=wrong_port, externalTrafficPolicy="Local"),
                service("NodePort", externalTrafficPolicy="Local")):
        assert denials(policy, bad) == [
            "a NodePort Service must set nodePort: 31000 (the load balancer's target port)"]
    # The Kubernetes default, Cluster, SNATs the ALB's traffic to node addresses the NetworkPolicy does not admit.
    for bad in (service("NodePort", ports=node_port), service("NodePort", ports=node_port,
                                                             externalTrafficPolicy="Cluster")):
        assert denials(policy, bad) == [LOCAL_TRAFFIC_MESSAGE]
    assert "externalTrafficPolicy: Local" in LOCAL_TRAFFIC_MESSAGE and "NetworkPolicy" in LOCAL_TRAFFIC_MESSAGE
    assert denials(policy, service(externalTrafficPolicy="Cluster")) == []  # ClusterIP: not reached by the ALB


def test_the_admission_policy_is_bound_to_the_application_namespaces_and_denies(stack):
    [policy] = stack.of_type(ADMISSION_POLICY)
    [binding] = stack.of_type(ADMISSION_BINDING)
    spec = binding.inputs["spec"]
    assert spec["policyName"] == policy.inputs["metadata"]["name"]
    assert policy.urn in binding.dependencies
    assert spec["validationActions"] == ["Deny"]
    [selector] = spec["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert selector["values"] == list(baseline_settings(stack.environment)["namespaces"])


def test_the_application_account_only_reads(stack):
    roles = by_name(stack, ROLE)
    reader = roles["app-read-only"]["rules"]
    assert {verb for rule in reader for verb in rule["verbs"]} == {"get", "list", "watch"}
    assert {res for rule in reader for res in rule["resources"]} == {"pods", "services", "configmaps", "deployments"}
    binding = by_name(stack, BINDING)["app-read-only"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "app", "namespace": "app"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app-read-only"}


def test_ci_deployers_write_workloads_but_never_rbac_or_isolation(stack):
    rules = by_name(stack, ROLE)["ci-deployer"]["rules"]
    writes = {res for rule in rules if "create" in rule["verbs"] for res in rule["resources"]}
    assert {"deployments", "statefulsets", "services", "configmaps", "jobs"} <= writes
    assert not writes & {"roles", "rolebindings", "networkpolicies", "resourcequotas", "limitranges", "namespaces"}
    assert all("*" not in rule["verbs"] and "*" not in rule["resources"] for rule in rules)


def test_ci_deployer_role_is_bound_to_the_group_of_the_ci_access_entry(stack):
    """The group the ci-deployer RoleBinding names is the one every CI deployer's access entry maps to (a stack file
    may list no CI deployer: the binding waits for one)."""
    entries = stack.one("eks:index:Cluster").inputs.get("accessEntries") or {}
    groups = {group for name, entry in entries.items() if name.startswith("ci-deployer-")
              for group in entry["kubernetesGroups"]}
    binding = by_name(stack, BINDING)["ci-deployer"]
    assert binding["subjects"] == [{"kind": "Group", "name": CI_DEPLOYER_GROUP,
                                    "apiGroup": "rbac.authorization.k8s.io"}]
    assert groups <= {CI_DEPLOYER_GROUP}
    assert binding["roleRef"]["name"] == "ci-deployer"


def test_quota_and_limits_follow_the_profile(stack):
    settings = baseline_settings(stack.environment)
    quota = by_name(stack, "kubernetes:core/v1:ResourceQuota")["compute"]["spec"]["hard"]
    q = settings["quota"]
    assert quota == {"requests.cpu": q["requestsCpu"], "requests.memory": q["requestsMemory"],
                     "limits.cpu": q["limitsCpu"], "limits.memory": q["limitsMemory"], "pods": str(q["pods"]),
                     "services.loadbalancers": "0", "services.nodeports": "1"}
    [limit] = by_name(stack, "kubernetes:core/v1:LimitRange")["container-defaults"]["spec"]["limits"]
    c = settings["containerLimits"]
    assert limit == {"type": "Container",
                     "default": {"cpu": c["defaultLimitCpu"], "memory": c["defaultLimitMemory"]},
                     "defaultRequest": {"cpu": c["defaultRequestCpu"], "memory": c["defaultRequestMemory"]},
                     "max": {"cpu": c["maxCpu"], "memory": c["maxMemory"]}}


def test_production_gets_more_room_than_dev():
    dev, prod = (by_name(synth(s), "kubernetes:core/v1:ResourceQuota")["compute"]["spec"]["hard"]
                 for s in ("dev", "prod"))
    assert int(prod["pods"]) > int(dev["pods"])
    assert prod["requests.cpu"] != dev["requests.cpu"]


BAD = [
    ({"namespaces": ["kube-system"]}, "envstack:cluster.baseline.namespaces", "system namespaces"),
    ({"namespaces": ["app", "App_1"]}, "envstack:cluster.baseline.namespaces[1]", "DNS label"),
    ({"namespaces": []}, "envstack:cluster.baseline.namespaces", "at least 1"),
    ({"appPort": 80}, "envstack:cluster.baseline.appPort", "greater than or equal to 1024"),
    ({"podSecurity": {"enforce": "strict"}}, "envstack:cluster.baseline.podSecurity.enforce", "'restricted'"),
    ({"quota": {"requestsCpu": "lots"}}, "envstack:cluster.baseline.quota.requestsCpu", "Kubernetes quantity"),
    ({"quota": {"pods": 0}}, "envstack:cluster.baseline.quota.pods", "greater than or equal to 1"),
    ({"containerLimits": {"defaultRequestMemory": "1Gi"}}, "envstack:cluster.baseline.containerLimits",
     "defaultRequest <= defaultLimit <= max for memory"),
    ({"containerLimits": {"maxCpu": "100m"}}, "envstack:cluster.baseline.containerLimits",
     "defaultRequest <= defaultLimit <= max for cpu"),
    ({"httpsEgressCidrs": ["10.0.0.0/33"]}, "envstack:cluster.baseline.httpsEgressCidrs[0]", "IPv4"),
    ({"httpsEgressCidrs": ["52.94.0.0/22", "10.0.0.1/8"]}, "envstack:cluster.baseline.httpsEgressCidrs[1]", "IPv4"),
    ({"httpsEgressCidrs": "0.0.0.0/0"}, "envstack:cluster.baseline.httpsEgressCidrs", "expected a list"),
]


@pytest.mark.parametrize(("baseline", "key", "expected"), BAD)
def test_bad_baseline_values_name_the_key_and_the_expectation(baseline, key, expected):
    lines = problems("dev", baseline=baseline)
    matching = [line for line in lines if line.startswith(f"stack dev: {key} = ")]
    assert matching, lines
    assert expected in matching[0], matching[0]
