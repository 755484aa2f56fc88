"""Stack rules over PolicyResource graphs, linked the way envstack's components link resources."""

import re
from pathlib import Path

from policy_support import POLICIES, check_stack, resource
from pulumi_policy import StackValidationPolicy

ALB = "aws:lb/loadBalancer:LoadBalancer"
WAF = "aws:wafv2/webAclAssociation:WebAclAssociation"
LISTENER = "aws:lb/listener:Listener"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
CACHE_SUBNETS = "aws:elasticache/subnetGroup:SubnetGroup"
ALB_ARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/alb/50dc6c495c0c9188"


def test_public_alb_needs_waf_association_linked_by_dependency() -> None:
    alb = resource(ALB, "alb", {"internal": False})
    assert check_stack("alb-waf-association", [alb]) == [
        ("internet-facing ALB alb has no aws.wafv2.WebAclAssociation", alb.urn)]
    waf = resource(WAF, "alb-waf", {"resourceArn": "mock-arn", "webAclArn": "arn:acl"}, dependencies=[alb])
    assert check_stack("alb-waf-association", [alb, waf]) == []


def test_waf_association_linked_by_property_dependency_or_arn_value() -> None:
    alb = resource(ALB, "alb", {})
    by_prop = resource(WAF, "w", {"resourceArn": "x"}, property_dependencies={"resourceArn": [alb]})
    by_value = resource(WAF, "w", {"resourceArn": ALB_ARN})
    other = resource(WAF, "w", {"resourceArn": ALB_ARN.replace("/app/alb/", "/app/other/")})
    assert check_stack("alb-waf-association", [alb, by_prop]) == []
    assert check_stack("alb-waf-association", [alb, by_value]) == []
    assert check_stack("alb-waf-association", [alb, other]) != []


def test_internal_and_network_load_balancers_need_no_waf() -> None:
    assert check_stack("alb-waf-association", [resource(ALB, "a", {"internal": True}),
                                               resource(ALB, "n", {"loadBalancerType": "network"})]) == []


def test_alb_needs_https_listener() -> None:
    alb = resource(ALB, "alb", {})
    http = resource(LISTENER, "http", {"protocol": "HTTP", "loadBalancerArn": ALB_ARN}, dependencies=[alb])
    assert check_stack("alb-https-listener", [alb, http]) == [("ALB alb has no HTTPS listener", alb.urn)]
    https = resource(LISTENER, "https", {"protocol": "HTTPS", "loadBalancerArn": ALB_ARN}, dependencies=[alb])
    assert check_stack("alb-https-listener", [alb, http, https]) == []


def test_every_vpc_has_flow_logs() -> None:
    vpc, other = resource(VPC, "vpc", {}), resource(VPC, "vpc2", {})
    log = resource(FLOW_LOG, "log", {"vpcId": "vpc-id"}, dependencies=[vpc])
    assert check_stack("vpc-flow-logs", [vpc, log]) == []
    assert check_stack("vpc-flow-logs", [vpc, other, log]) == [("VPC vpc2 has no aws.ec2.FlowLog", other.urn)]


def test_datastores_need_alarms_on_key_metrics() -> None:
    db = resource(RDS, "db", {"identifier": "envstack-prod-db"})
    cache = resource(REDIS, "cache", {"replicationGroupId": "envstack-prod-cache"})
    alarms = [
        resource(ALARM, "db-cpu", {"metricName": "CPUUtilization"}, dependencies=[db]),
        resource(ALARM, "db-storage", {"metricName": "FreeStorageSpace",
                                       "dimensions": {"DBInstanceIdentifier": "envstack-prod-db"}}),
        resource(ALARM, "cache-cpu", {"metricName": "EngineCPUUtilization",
                                      "dimensions": {"ReplicationGroupId": "envstack-prod-cache"}}),
        resource(ALARM, "cache-mem", {"metricName": "DatabaseMemoryUsagePercentage",
                                      "dimensions": {"CacheClusterId": "envstack-prod-cache-001"}}),
    ]
    assert check_stack("datastore-alarms", [db, cache, *alarms]) == []
    assert check_stack("datastore-alarms", [db, cache, *alarms[:1], *alarms[3:]]) == [
        ("aws:rds/instance:Instance db has no alarm on FreeStorageSpace", db.urn),
        ("aws:elasticache/replicationGroup:ReplicationGroup cache has no alarm on EngineCPUUtilization", cache.urn)]
    assert check_stack("datastore-alarms", [db]) == [
        ("aws:rds/instance:Instance db has no CloudWatch metric alarm", db.urn)]


def test_datastore_alarm_metrics_are_configurable() -> None:
    db = resource(RDS, "db", {})
    alarm = resource(ALARM, "db-conn", {"metricName": "DatabaseConnections"}, dependencies=[db])
    assert check_stack("datastore-alarms", [db, alarm]) != []
    assert check_stack("datastore-alarms", [db, alarm], {"requiredRdsMetrics": ["DatabaseConnections"]}) == []


def test_multi_az_cache_needs_subnets_in_two_azs() -> None:
    one = resource(CACHE_SUBNETS, "cache-subnets", {"subnetIds": ["subnet-a"]})
    two = resource(CACHE_SUBNETS, "cache-subnets", {"subnetIds": ["subnet-a", "subnet-b"]})

    def cache(group, multi_az=True):
        return resource(REDIS, "cache", {"multiAzEnabled": multi_az, "subnetGroupName": "x"},
                        property_dependencies={"subnetGroupName": [group]})

    assert check_stack("cache-multi-az-subnets", [two, cache(two)]) == []
    assert check_stack("cache-multi-az-subnets", [one, cache(one, multi_az=False)]) == []  # dev: one node
    violating = cache(one)
    assert check_stack("cache-multi-az-subnets", [one, violating]) == [
        ("replication group cache is Multi-AZ but its subnet group cache-subnets has 1 subnet(s); it needs subnets "
         "in at least two Availability Zones", violating.urn)]


def test_every_stack_rule_is_checked_here() -> None:
    stack_rules = {name for name, p in POLICIES.items() if isinstance(p, StackValidationPolicy)}
    checked = set(re.findall(r'check_stack\("([a-z0-9-]+)"', Path(__file__).read_text()))
    assert stack_rules and stack_rules <= checked, stack_rules - checked
