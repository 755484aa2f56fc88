"""Pulumi mocks that answer like AWS would, well enough for the program to run offline.

`new_resource` echoes the inputs and adds the outputs a resource's consumers read (ARNs, endpoints, names).
Add an entry to OUTPUTS when a component reads an output that the echo does not provide.
"""

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from envstack.program.config.regions import partition_of
from policies.facts import ELB_LOG_ACCOUNTS

ACCOUNT_ID = "123456789012"
Outputs = Callable[[str, dict[str, Any], str], dict[str, Any]]


def _arn(service: str, region: str, resource: str, *, regional: bool = True) -> str:
    """An ARN in the region's partition (arn:aws-cn:... in China), of the mock account."""
    return f"arn:{partition_of(region).name}:{service}:{region if regional else ''}:{ACCOUNT_ID}:{resource}"


def _iam_arn(region: str, resource: str) -> str:
    return _arn("iam", region, resource, regional=False)


def _dns(region: str) -> str:
    """The region's DNS suffix: amazonaws.com, amazonaws.com.cn."""
    return partition_of(region).dns_suffix


def _elb(resource: str, suffix: str, region: str) -> dict[str, str]:
    """An ELBv2 ARN and its suffix (what CloudWatch dimensions use): <resource><suffix>/<id>."""
    suffix = f"{suffix}/50dc6c495c0c9188"
    return {"arn": _arn("elasticloadbalancing", region, f"{resource}{suffix}"), "arnSuffix": suffix}


def _random_id(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """A RandomId's value, a function of its name and keepers: as with the random provider, changed keepers give a
    new value (there, a replacement draws one)."""
    seed = json.dumps([name, inputs.get("keepers")], sort_keys=True).encode()
    digest = hashlib.sha256(seed).hexdigest()[:2 * int(inputs.get("byteLength", 8))]
    return {"hex": digest, "dec": str(int(digest, 16))}


# ---- pulumi-eks: remote components are single registrations under mocks; their outputs are simulated here -----


def _child_reference(typ: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    """A resource reference to a component's child, made known to the mock monitor so that the SDK can rehydrate
    it (`cluster.eks_cluster.vpc_config`, `node_group.node_group.resources`) as it would from the real engine."""
    urn = f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{typ}::{name}"
    monitor: Any = pulumi.runtime.settings.get_monitor()
    monitor.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, f"{name}-id", state)
    return {rpc._special_sig_key: rpc._special_resource_sig, "urn": urn, "id": f"{name}-id", "packageVersion": ""}


def _kubeconfig(name: str, endpoint: str, ca: str, region: str) -> dict[str, Any]:
    """pulumi-eks's kubeconfig: no credentials, a token from `aws eks get-token` at each use."""
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "aws",
        "clusters": [{"name": "kubernetes", "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
        "contexts": [{"name": "aws", "context": {"cluster": "kubernetes", "user": "aws"}}],
        "users": [{"name": "aws", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["--region", region, "eks", "get-token", "--cluster-name", name, "--output", "json"]}}}],
    }


def _eks_cluster(name: str, i: dict[str, Any], r: str) -> dict[str, Any]:
    cluster_name = i.get("name", name)
    oidc_id = hashlib.md5(cluster_name.encode()).hexdigest().upper()
    issuer = f"oidc.eks.{r}.{_dns(r)}/id/{oidc_id}"
    endpoint = f"https://{oidc_id}.gr7.{r}.eks.{_dns(r)}"
    ca = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1vY2sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
    cluster_sg = f"sg-{oidc_id[:17].lower()}"
    eks_cluster = _child_reference("aws:eks/cluster:Cluster", f"{name}-eksCluster", {
        "name": cluster_name, "arn": _arn("eks", r, f"cluster/{cluster_name}"), "endpoint": endpoint,
        "version": i.get("version"), "status": "ACTIVE", "certificateAuthority": {"data": ca},
        "vpcConfig": {"clusterSecurityGroupId": cluster_sg, "vpcId": i.get("vpcId"),
                      "subnetIds": i.get("privateSubnetIds", []),
                      "endpointPrivateAccess": i.get("endpointPrivateAccess", False),
                      "endpointPublicAccess": i.get("endpointPublicAccess", True),
                      "publicAccessCidrs": i.get("publicAccessCidrs", ["0.0.0.0/0"])},
        "identities": [{"oidcs": [{"issuer": f"https://{issuer}"}]}],
        "accessConfig": {"authenticationMode": i.get("authenticationMode", "CONFIG_MAP"),
                         "bootstrapClusterCreatorAdminPermissions": True},
        "kubernetesNetworkConfig": {"ipFamily": "ipv4", "serviceIpv4Cidr": "172.20.0.0/16"},
    })
    kubeconfig = _kubeconfig(cluster_name, endpoint, ca, r)
    return {
        "eksCluster": eks_cluster,
        "core": {"cluster": eks_cluster, "endpoint": endpoint, "vpcId": i.get("vpcId"),
                 "subnetIds": i.get("privateSubnetIds", []), "privateSubnetIds": i.get("privateSubnetIds", []),
                 "publicSubnetIds": i.get("publicSubnetIds", []), "instanceRoles": [], "nodeGroupOptions": {},
                 "tags": i.get("tags", {}), "kubeconfig": kubeconfig},
        "kubeconfig": kubeconfig,
        "kubeconfigJson": json.dumps(kubeconfig),
        "clusterSecurityGroupId": cluster_sg,
        "oidcProviderArn": _iam_arn(r, f"oidc-provider/{issuer}"),
        "oidcProviderUrl": f"https://{issuer}",
        "oidcIssuer": issuer,
    }


def _eks_managed_node_group(name: str, i: dict[str, Any], r: str) -> dict[str, Any]:
    group = f"{name}-{hashlib.md5(name.encode()).hexdigest()[:8]}"
    asg = f"eks-{group}-{uuid.UUID(hashlib.md5(group.encode()).hexdigest())}"
    return {"nodeGroup": _child_reference("aws:eks/nodeGroup:NodeGroup", f"{name}-nodeGroup", {
        "nodeGroupName": group, "arn": _arn("eks", r, f"nodegroup/{group}"), "status": "ACTIVE",
        "amiType": i.get("amiType"), "capacityType": i.get("capacityType", "ON_DEMAND"),
        "instanceTypes": i.get("instanceTypes", []), "scalingConfig": i.get("scalingConfig", {}),
        "labels": i.get("labels", {}), "launchTemplate": i.get("launchTemplate"),
        "resources": [{"autoscalingGroups": [{"name": asg}], "remoteAccessSecurityGroupId": ""}],
    })}


OUTPUTS: dict[str, Outputs] = {
    "aws:ec2/eip:Eip": lambda name, i, r: {
        "publicIp": f"203.0.113.{10 + int(name.rsplit('-', 1)[-1]) if name[-1].isdigit() else 9}",
        "allocationId": f"eipalloc-{name}"},
    "aws:cloudwatch/logGroup:LogGroup": lambda name, i, r: {
        "arn": _arn("logs", r, f"log-group:{i.get('name', name)}")},
    "aws:iam/role:Role": lambda name, i, r: {"arn": _iam_arn(r, f"role/{i.get('name', name)}")},
    "aws:iam/policy:Policy": lambda name, i, r: {"arn": _iam_arn(r, f"policy/{name}")},
    "aws:kms/key:Key": lambda name, i, r: {
        "arn": _arn("kms", r, f"key/{name}"), "keyId": f"{name}-key-id"},
    "aws:rds/instance:Instance": lambda name, i, r: {
        "address": f"{i.get('identifier', name)}.c0ffee.{r}.rds.{_dns(r)}",
        "endpoint": f"{i.get('identifier', name)}.c0ffee.{r}.rds.{_dns(r)}:{int(i.get('port', 5432))}",
        "port": int(i.get("port", 5432)), "resourceId": f"db-{name.upper()}",
        "masterUserSecrets": [{"secretArn": _arn("secretsmanager", r, f"secret:rds!db-{name}-AbCdEf"),
                               "kmsKeyId": i.get("masterUserSecretKmsKeyId"), "secretStatus": "active"}]},
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda name, i, r: {
        "arn": _arn("elasticache", r, f"replicationgroup:{i.get('replicationGroupId', name)}"),
        "primaryEndpointAddress": f"master.{i.get('replicationGroupId', name)}.c0ffee.usw2.cache.{_dns(r)}",
        "readerEndpointAddress": f"replica.{i.get('replicationGroupId', name)}.c0ffee.usw2.cache.{_dns(r)}",
        "port": int(i.get("port", 6379)),
        "memberClusters": [f"{i.get('replicationGroupId', name)}-00{n + 1}"
                           for n in range(int(i.get("numCacheClusters", 1)))]},
    # ElastiCache ARNs separate type and id with a colon (ElastiCache guide, "Authenticating with IAM", Setup).
    "aws:elasticache/user:User": lambda name, i, r: {"arn": _arn("elasticache", r, f"user:{i.get('userId', name)}")},
    "aws:elasticache/userGroup:UserGroup": lambda name, i, r: {
        "arn": _arn("elasticache", r, f"usergroup:{i.get('userGroupId', name)}")},
    "random:index/randomId:RandomId": _random_id,
    "aws:lb/loadBalancer:LoadBalancer": lambda name, i, r: {
        **_elb("loadbalancer/", f"app/{name}", r), "dnsName": f"{name}-1234567890.{r}.elb.{_dns(r)}",
        "zoneId": "Z1H1FL5HABSF5"},
    "aws:lb/targetGroup:TargetGroup": lambda name, i, r: _elb("", f"targetgroup/{name}", r),
    "aws:s3/bucket:Bucket": lambda name, i, r: {
        "bucket": f"{i.get('bucketPrefix', name)}20260101000000000000000001",
        "arn": f"arn:{partition_of(r).name}:s3:::{i.get('bucketPrefix', name)}20260101000000000000000001"},
    "aws:wafv2/webAcl:WebAcl": lambda name, i, r: {
        "arn": _arn("wafv2", r, f"regional/webacl/{name}/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111")},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, i, r: {"latestVersion": 1, "defaultVersion": 1},
    "eks:index:Cluster": _eks_cluster,
    "eks:index:ManagedNodeGroup": _eks_managed_node_group,
}

CALLS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a, r: {
        "names": [f"{r}{z}" for z in "abcd"], "zoneIds": [f"usw2-az{n}" for n in range(1, 5)], "id": r},
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a, r: {
        "accountId": ACCOUNT_ID, "arn": _iam_arn(r, "user/mock"), "userId": "mock", "id": ACCOUNT_ID},
    "aws:index/getRegion:getRegion": lambda a, r: {"name": r, "region": r, "id": r},
    # The region's real partition (botocore's endpoints.json, envstack/program/aws_partitions.json).
    "aws:index/getPartition:getPartition": lambda a, r: {
        "partition": partition_of(r).name, "dnsSuffix": _dns(r), "id": partition_of(r).name,
        "reverseDnsPrefix": ".".join(reversed(_dns(r).split(".")))},
    "aws:ec2/getVpcEndpointService:getVpcEndpointService": lambda a, r: _endpoint_service(a, r),
    # No EKS cluster yet: what a first deployment sees (components/node_scaling.py reads the running node groups).
    "aws:eks/getClusters:getClusters": lambda a, r: {"names": [], "id": r},
    "aws:iam/getPolicyDocument:getPolicyDocument": lambda a, r: {"json": json.dumps(a), "id": "policy"},
    "aws:elb/getServiceAccount:getServiceAccount": lambda a, r: _elb_service_account(a.get("region") or r),
}


def _elb_service_account(region: str) -> dict[str, str]:
    """The regional Elastic Load Balancing account, as the provider's table has it: a region without one fails as
    the provider fails (terraform-provider-aws internal/service/elb/service_account_data_source.go)."""
    account = ELB_LOG_ACCOUNTS.get(region)
    if account is None:
        raise UnsupportedRegionError(f"unsupported AWS Region: {region} (aws.elb.getServiceAccount knows the regions "
                                "opened before August 2022 only; newer ones deliver ALB access logs as the service "
                                "principal logdelivery.elasticloadbalancing.amazonaws.com)")
    return {"arn": f"arn:{partition_of(region).name}:iam::{account}:root", "id": account, "region": region}


def _endpoint_service(args: dict[str, Any], region: str) -> dict[str, Any]:
    """The first name asked for (com.amazonaws.<region>.<service>): in China the account may answer the
    cn.com.amazonaws one instead, which only it knows."""
    names = [value for f in args.get("filters", []) if f.get("name") == "service-name" for value in f["values"]]
    name = args.get("serviceName") or names[0]
    return {"serviceName": name, "serviceType": args.get("serviceType", "Interface"), "id": name}


class UnsupportedRegionError(Exception):
    """What the provider answers aws.elb.getServiceAccount in a region without an ELB account."""


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) and len(value) >= 4 else []


class AwsMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str):
        self.region = region
        # What these mocks make up (ids, ARNs, endpoints, addresses, the account): the summary labels outputs built
        # from them, so that nobody mistakes them for what AWS will return.
        self.invented: set[str] = {ACCOUNT_ID}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id = f"{args.name}-id"
        service = args.typ.split(":")[1].split("/")[0] if ":" in args.typ else "mock"
        state = {
            "arn": _arn(service, self.region, f"{args.typ.rsplit(':', 1)[-1].lower()}/{args.name}"),
            "name": args.name,
            **args.inputs,
        }
        extra = OUTPUTS.get(args.typ)
        if extra:
            state.update(extra(args.name, args.inputs, self.region))
        given = set(_strings(args.inputs))
        self.invented.update(v for v in _strings([resource_id, state]) if v not in given and v != self.region)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answer = CALLS.get(args.token)
        return (answer(dict(args.args), self.region) if answer else dict(args.args)), []
