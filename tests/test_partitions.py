"""ARNs, service principals and service names in the stack's partition: aws, aws-cn; partitions without a service a
stack creates are refused."""

import json
import re
from typing import Any

import pulumi
import pytest
from botocore.loaders import create_loader
from botocore.regions import EndpointResolver
from conftest import stack_config, synth, synthesize_config

from components.partition import Where
from envstack.program.config import ConfigError, load_stack_config
from envstack.tools import partitions
from envstack.tools.mocks import AwsMocks
from envstack.tools.synth import Synthesis

ROLE = "aws:iam/role:Role"
KEY = "aws:kms/key:Key"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ARN = re.compile(r"arn:[a-z-]+:")


def in_region(stack: str, region: str, partition: str) -> dict[str, Any]:
    """The fixture stack's configuration moved to `region`, its ARNs (roles, certificate) to `partition`."""
    text = json.dumps(stack_config(stack)).replace("arn:aws:", f"arn:{partition}:").replace("us-west-2", region)
    return json.loads(text)


def envstack_values(config: dict[str, Any]) -> dict[str, Any]:
    """The `envstack:` keys, without their namespace: what load_stack_config takes."""
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("envstack:")}


def strings(value: Any) -> list[str]:
    """Every string in `value`, JSON documents (policies) opened."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    if isinstance(value, str) and value.startswith("{"):
        try:
            return strings(json.loads(value))
        except ValueError:
            pass
    return [value] if isinstance(value, str) else []


def statements(s: Synthesis, type_: str, key: str) -> list[dict[str, Any]]:
    return [st for r in s.of_type(type_) for st in json.loads(r.inputs[key])["Statement"]]


def principals(s: Synthesis, type_: str, key: str) -> set[str]:
    return {st["Principal"]["Service"] for st in statements(s, type_, key)
            if isinstance(st.get("Principal"), dict) and isinstance(st["Principal"].get("Service"), str)}


@pytest.fixture(scope="module")
def china() -> Synthesis:
    return synthesize_config("prod", in_region("prod", "cn-north-1", "aws-cn"))


def test_a_china_stack_writes_every_arn_in_the_aws_cn_partition(china):
    arns = [m.group(0) for r in china.resources for s in strings(r.inputs) for m in ARN.finditer(s)]
    assert arns and set(arns) == {"arn:aws-cn:"}
    attached = {r.inputs["policyArn"] for r in china.of_type(ATTACHMENT)}
    assert {"arn:aws-cn:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws-cn:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"} <= attached


def test_a_china_stack_trusts_the_principals_china_names(china):
    """EC2's principal is ec2.amazonaws.com.cn there (EKS refuses a node role without it); EKS's and the others'
    stay <service>.amazonaws.com; CloudWatch Logs is regional and partitional; kms:ViaService names the endpoints."""
    trusted = principals(china, ROLE, "assumeRolePolicy")
    assert {"ec2.amazonaws.com.cn", "eks.amazonaws.com", "monitoring.rds.amazonaws.com"} <= trusted
    assert "ec2.amazonaws.com" not in trusted
    assert "logs.cn-north-1.amazonaws.com.cn" in principals(china, KEY, "policy")
    via = {v for st in statements(china, KEY, "policy")
           for v in st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", [])}
    assert via and all(v.endswith(".cn-north-1.amazonaws.com.cn") for v in via), via


def test_the_commercial_stack_keeps_the_global_names():
    prod = synth("prod")
    trusted = principals(prod, ROLE, "assumeRolePolicy")
    assert {"ec2.amazonaws.com", "eks.amazonaws.com"} <= trusted
    assert not [s for r in prod.resources for s in strings(r.inputs) if "arn:aws-cn:" in s or ".com.cn" in s]


@pytest.mark.parametrize(("region", "partition", "lacking"), [
    ("us-gov-west-1", "aws-us-gov", "AWS Budgets (budgets), Cost Explorer (cost anomaly detection) (ce)"),
    ("us-iso-east-1", "aws-iso", "EKS Pod Identity (eks-auth)"),
])
def test_a_partition_without_a_service_a_stack_creates_is_refused(region, partition, lacking):
    with pytest.raises(ConfigError) as caught:
        load_stack_config("prod", envstack_values(in_region("prod", region, partition)), region)
    assert (f"stack prod: aws:region = '{region}': a region of a partition with every service a stack creates "
            f"(aws, aws-cn): {region} is in {partition}, which has no {lacking} endpoint") in caught.value.render()


def test_an_arn_of_another_partition_than_the_stacks_is_refused():
    config = in_region("prod", "cn-north-1", "aws-cn")
    config["envstack:cluster"] = {**config["envstack:cluster"],
                                  "adminRoleArns": ["arn:aws:iam::111111111111:role/platform-admin"]}
    with pytest.raises(ConfigError) as caught:
        load_stack_config("prod", envstack_values(config), "cn-north-1")
    assert ("stack prod: envstack:cluster.adminRoleArns[0] = 'arn:aws:iam::111111111111:role/platform-admin': an "
            "ARN of the stack's partition, arn:aws-cn:... (the partition of cn-north-1)") in caught.value.render()


@pytest.mark.parametrize("region", ["us-west-2", "cn-north-1", "cn-northwest-1", "us-gov-east-1", "eu-central-1"])
def test_the_mocks_answer_the_regions_real_partition(region):
    """What botocore says of the region, not a constant of the mocks."""
    answer, _ = AwsMocks(region).call(pulumi.runtime.MockCallArgs("aws:index/getPartition:getPartition", {}, ""))
    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    partition = resolver.get_partition_for_region(region)
    assert answer["partition"] == partition
    assert answer["dnsSuffix"] == resolver.get_partition_dns_suffix(partition)


def test_the_partitions_file_is_botocores():
    assert not partitions.stale(), "envstack/program/aws_partitions.json is stale: run `make partitions`"


def test_where_writes_arns_principals_and_regional_names_per_partition():
    china, commercial = Where("aws-cn", "amazonaws.com.cn", "1", "cn-north-1"), Where("aws", "amazonaws.com", "1", "x")
    assert china.managed_policy("AmazonEKSClusterPolicy") == "arn:aws-cn:iam::aws:policy/AmazonEKSClusterPolicy"
    assert china.account_root() == {"AWS": "arn:aws-cn:iam::1:root"}
    assert china.arn("logs", "log-group:/a") == "arn:aws-cn:logs:cn-north-1:1:log-group:/a"
    assert (china.service_principal("ec2"), commercial.service_principal("ec2")) == (
        "ec2.amazonaws.com.cn", "ec2.amazonaws.com")
    assert china.service_principal("eks") == "eks.amazonaws.com"
    assert china.regional("logs") == "logs.cn-north-1.amazonaws.com.cn"
