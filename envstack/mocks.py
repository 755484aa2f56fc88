"""Pulumi mocks that answer like AWS would, well enough for the program to run offline.

`new_resource` echoes the inputs and adds the outputs a resource's consumers read (ARNs, endpoints, names).
Add an entry to OUTPUTS when a component reads an output that the echo does not provide.
"""

import json
from collections.abc import Callable
from typing import Any

import pulumi

ACCOUNT_ID = "123456789012"
Outputs = Callable[[str, dict[str, Any], str], dict[str, Any]]


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource}"


def mock_password(name: str, inputs: dict[str, Any]) -> str:
    """What a mocked random password "generates": recognisable, so tests can prove it never shows in plain text."""
    return f"MockPassword{name}{'x' * 128}"[:int(inputs.get("length", 32))]

# ---- pulumi-eks: remote components are single registrations under mocks; their outputs are simulated here -----


OUTPUTS: dict[str, Outputs] = {
    "aws:ec2/eip:Eip": lambda name, i, r: {
        "publicIp": f"203.0.113.{10 + int(name.rsplit('-', 1)[-1]) if name[-1].isdigit() else 9}",
        "allocationId": f"eipalloc-{name}"},
    "aws:cloudwatch/logGroup:LogGroup": lambda name, i, r: {
        "arn": _arn("logs", r, f"log-group:{i.get('name', name)}")},
    "aws:iam/role:Role": lambda name, i, r: {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{i.get('name', name)}"},
    "aws:iam/policy:Policy": lambda name, i, r: {"arn": f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"},
    "aws:kms/key:Key": lambda name, i, r: {
        "arn": _arn("kms", r, f"key/{name}"), "keyId": f"{name}-key-id"},
    "aws:rds/instance:Instance": lambda name, i, r: {
        "address": f"{i.get('identifier', name)}.c0ffee.{r}.rds.amazonaws.com",
        "endpoint": f"{i.get('identifier', name)}.c0ffee.{r}.rds.amazonaws.com:{int(i.get('port', 5432))}",
        "port": int(i.get("port", 5432)), "resourceId": f"db-{name.upper()}",
        "masterUserSecrets": [{"secretArn": _arn("secretsmanager", r, f"secret:rds!db-{name}-AbCdEf"),
                               "kmsKeyId": i.get("masterUserSecretKmsKeyId"), "secretStatus": "active"}]},
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda name, i, r: {
        "primaryEndpointAddress": f"master.{name}.c0ffee.usw2.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{name}.c0ffee.usw2.cache.amazonaws.com",
        "port": int(i.get("port", 6379)),
        "memberClusters": [f"{name}-00{n + 1}" for n in range(int(i.get("numCacheClusters", 1)))]},
    "random:index/randomPassword:RandomPassword": lambda name, i, r: {"result": mock_password(name, i)},
}

CALLS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a, r: {
        "names": [f"{r}{z}" for z in "abcd"], "zoneIds": [f"usw2-az{n}" for n in range(1, 5)], "id": r},
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a, r: {
        "accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/mock", "userId": "mock", "id": ACCOUNT_ID},
    "aws:index/getRegion:getRegion": lambda a, r: {"name": r, "region": r, "id": r},
    "aws:index/getPartition:getPartition": lambda a, r: {
        "partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
    "aws:iam/getPolicyDocument:getPolicyDocument": lambda a, r: {"json": json.dumps(a), "id": "policy"},
}


class AwsMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str):
        self.region = region

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
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answer = CALLS.get(args.token)
        return (answer(dict(args.args), self.region) if answer else dict(args.args)), []
