"""Stack rules over PolicyResource graphs, linked the way envstack's components link resources."""

import json
import re
from pathlib import Path
from typing import Any

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
CACHE_USER = "aws:elasticache/user:User"
CACHE_USER_GROUP = "aws:elasticache/userGroup:UserGroup"
EKS = "eks:index:Cluster"
AWS_EKS = "aws:eks/cluster:Cluster"
MNG = "eks:index:ManagedNodeGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_POLICY = "aws:sns/topicPolicy:TopicPolicy"
ROLE = "aws:iam/role:Role"
POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
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


def test_every_web_acl_logs_and_has_rules() -> None:
    acl = resource(WEB_ACL, "edge", {"defaultAction": {"allow": {}}, "rules": [{"name": "AWSManagedRulesCommonRuleSet",
                                                                                "priority": 0.0}]})
    logging = resource(WAF_LOGGING, "edge", {"resourceArn": "x", "logDestinationConfigs": ["arn"]},
                       property_dependencies={"resourceArn": [acl]})
    assert check_stack("waf-logging", [acl, logging]) == []
    assert check_stack("waf-logging", [acl]) == [
        ("web ACL edge has no aws.wafv2.WebAclLoggingConfiguration: blocked and allowed requests leave no record",
         acl.urn)]
    assert check_stack("waf-web-acl-rules", [acl]) == []
    empty = resource(WEB_ACL, "edge", {"defaultAction": {"allow": {}}, "rules": []})
    assert check_stack("waf-web-acl-rules", [empty]) == [
        ("web ACL edge has no rules: it only applies its default action (allow)", empty.urn)]
    separate = resource("aws:wafv2/webAclRuleGroupAssociation:WebAclRuleGroupAssociation", "crs",
                        {"ruleName": "crs", "priority": 1.0, "webAclArn": "x"},
                        property_dependencies={"webAclArn": [empty]})
    assert check_stack("waf-web-acl-rules", [empty, separate]) == []


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


def test_elasticache_notifies_an_unencrypted_topic_admitting_it_by_source_owner() -> None:
    owner = {"Statement": [{"Sid": "AllowElastiCachePublish", "Effect": "Allow", "Principal": {"AWS": "*"},
                            "Action": "SNS:Publish", "Resource": "arn:aws:sns:us-west-2:123456789012:t",
                            "Condition": {"StringEquals": {"AWS:SourceOwner": "123456789012"}}}]}
    account = {"Statement": [{**owner["Statement"][0],
                              "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]}

    def stack(topic_props: dict[str, Any], policy: dict[str, Any] | None) -> tuple[Any, list[Any]]:
        topic = resource(SNS_TOPIC, "alerts-cache-events", topic_props)
        policies = [resource(SNS_POLICY, "p", {"arn": "x", "policy": json.dumps(policy)},
                             property_dependencies={"arn": [topic]})] if policy else []
        cache = resource(REDIS, "cache", {"notificationTopicArn": "x"},
                         property_dependencies={"notificationTopicArn": [topic, *policies]})
        return cache, [topic, *policies, cache]

    cache, ok = stack({"name": "envstack-prod-cache-events"}, owner)
    assert check_stack("elasticache-notification-topic", ok) == []
    cache, encrypted = stack({"kmsMasterKeyId": "arn:aws:kms:us-west-2:123456789012:key/k"}, owner)
    assert check_stack("elasticache-notification-topic", encrypted) == [
        ("replication group cache notifies alerts-cache-events, an encrypted topic: ElastiCache marks it inactive "
         "and its events are lost", cache.urn)]
    for policy in (account, None):  # aws:SourceAccount, or no policy (new topics default to it)
        cache, violating = stack({}, policy)
        assert check_stack("elasticache-notification-topic", violating) == [
            ("replication group cache notifies alerts-cache-events, whose policy does not admit publishers by "
             "aws:SourceOwner: ElastiCache cannot publish there", cache.urn)]
    silent = resource(REDIS, "cache", {})  # no notifications at all
    assert check_stack("elasticache-notification-topic", [silent]) == []


def test_a_cache_user_group_needs_a_user_named_default() -> None:
    app = resource(CACHE_USER, "cache-app", {"userId": "envstack-prod-app", "userName": "envstack-prod-app"})
    off = resource(CACHE_USER, "cache-default", {"userId": "envstack-prod-default", "userName": "default"})

    def group(*members: Any, ids: list[str] | None = None) -> Any:
        return resource(CACHE_USER_GROUP, "cache", {"userIds": ids or [m.props["userId"] for m in members]},
                        property_dependencies={"userIds": list(members)})

    assert check_stack("cache-user-group-default-user", [app, off, group(off, app)]) == []
    # AWS's own `default` user, by id, counts too.
    assert check_stack("cache-user-group-default-user", [app, group(app, ids=["default", "envstack-prod-app"])]) == []
    violating = group(app)
    assert check_stack("cache-user-group-default-user", [app, off, violating]) == [
        ("user group cache has no user named default (users envstack-prod-app): ElastiCache refuses it "
         "(DefaultUserRequired)", violating.urn)]


def test_a_private_only_cluster_needs_a_443_rule_on_its_cluster_security_group() -> None:
    private = resource(EKS, "cluster-eks", {"endpointPublicAccess": False, "version": "1.35"})

    def rule(port: float, target: Any = private, **props: Any) -> Any:
        return resource(INGRESS, f"rule-{port:g}", {"ipProtocol": "tcp", "fromPort": port, "toPort": port,
                                                     "securityGroupId": "sg-1", **props},
                        property_dependencies={"securityGroupId": [target]})

    assert check_stack("eks-private-endpoint-reachable", [private, rule(443.0)]) == []
    # The ALB's NodePort rule on the same group does not reach the API; nor does 443 on another group.
    elsewhere = resource("aws:ec2/securityGroup:SecurityGroup", "other", {})
    for rules in ([rule(30080.0)], [rule(443.0, elsewhere)], []):
        assert check_stack("eks-private-endpoint-reachable", [private, *rules]) == [
            ("cluster cluster-eks has no public endpoint and no ingress rule on 443 on its cluster security group or "
             "an additional group: nothing outside the cluster reaches the API (list apiAccessCidrs)", private.urn)]
    public = resource(EKS, "cluster-eks", {"endpointPublicAccess": True, "publicAccessCidrs": ["52.94.0.0/22"]})
    assert check_stack("eks-private-endpoint-reachable", [public]) == []


def test_the_aws_cluster_child_is_reached_through_its_component_or_its_security_group_id() -> None:
    """A real preview shows pulumi-eks's aws:eks Cluster too; the program's rule names the component (or the id)."""
    component = resource(EKS, "cluster-eks", {"endpointPublicAccess": False})
    child = resource(AWS_EKS, "cluster-eks-eksCluster", {"vpcConfig": {
        "endpointPublicAccess": False, "endpointPrivateAccess": True, "clusterSecurityGroupId": "sg-0abc"}})
    child.parent = component
    by_component = resource(INGRESS, "api", {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0},
                            property_dependencies={"securityGroupId": [component]})
    by_id = resource(SG_RULE, "api", {"type": "ingress", "protocol": "tcp", "fromPort": 0.0, "toPort": 65535.0,
                                      "securityGroupId": "sg-0abc"})
    assert check_stack("eks-private-endpoint-reachable", [component, child, by_component]) == []
    assert check_stack("eks-private-endpoint-reachable", [child, by_id]) == []
    egress = resource(SG_RULE, "api", {"type": "egress", "protocol": "-1", "securityGroupId": "sg-0abc"})
    assert [urn for _, urn in check_stack("eks-private-endpoint-reachable", [child, egress])] == [child.urn]


def test_one_access_entry_per_principal() -> None:
    admin, deployer = "arn:aws:iam::111111111111:role/platform-admin", "arn:aws:iam::111111111111:role/deployer"
    entries = {"deployer": {"principalArn": deployer}, "admin-0": {"principalArn": admin}}
    assert check_stack("eks-access-entries-unique", [resource(EKS, "c", {"accessEntries": entries})]) == []
    twice = resource(EKS, "c", {"accessEntries": {**entries, "ci-deployer-0": {"principalArn": admin.upper()}}})
    assert check_stack("eks-access-entries-unique", [twice]) == [
        (f"cluster c has more than one access entry for {admin}", twice.urn)]
    # The aws:eks AccessEntry resources of a real preview, linked to their cluster by clusterName.
    cluster = resource(AWS_EKS, "c-eksCluster", {"name": "envstack-prod"})
    other = resource(AWS_EKS, "d-eksCluster", {"name": "envstack-staging"})

    def entry(name: str, arn: str, target: Any) -> Any:
        return resource(ACCESS_ENTRY, name, {"principalArn": arn, "clusterName": "x"},
                        property_dependencies={"clusterName": [target]})

    assert check_stack("eks-access-entries-unique", [cluster, other, entry("a", admin, cluster),
                                                     entry("b", admin, other)]) == []
    assert check_stack("eks-access-entries-unique", [cluster, entry("a", admin, cluster),
                                                     entry("b", admin, cluster)]) == [
        (f"cluster c-eksCluster has more than one access entry for {admin}", cluster.urn)]


def test_node_groups_name_their_clusters_version() -> None:
    cluster = resource(EKS, "cluster-eks", {"version": "1.35"})
    template = {"id": "lt-1", "version": "1"}

    def group(**props: Any) -> Any:
        return resource(MNG, "cluster-main", {"launchTemplate": template, "cluster": "urn", **props},
                        property_dependencies={"cluster": [cluster]})

    assert check_stack("eks-node-group-version", [cluster, group(version="1.35")]) == []
    # Without a launch template the pulumi-eks component fills in the cluster's version.
    assert check_stack("eks-node-group-version", [cluster, group(launchTemplate=None)]) == []
    behind = group()
    assert check_stack("eks-node-group-version", [cluster, behind]) == [
        ("node group cluster-main names no Kubernetes version: with a launch template it stays on its creation "
         "version when the cluster is upgraded", behind.urn)]
    newer = group(version="1.36")
    assert check_stack("eks-node-group-version", [cluster, newer]) == [
        ("node group cluster-main runs Kubernetes 1.36, its cluster 1.35", newer.urn)]
    child_cluster = resource(AWS_EKS, "c-eksCluster", {"name": "envstack-prod", "version": "1.35"})
    child = resource(NODE_GROUP, "cluster-main", {"clusterName": "envstack-prod", "version": "1.34"})
    assert check_stack("eks-node-group-version", [child_cluster, child]) == [
        ("node group cluster-main runs Kubernetes 1.34, its cluster 1.35", child.urn)]
    assert [urn for _, urn in check_stack("eks-node-group-version", [child_cluster, resource(
        NODE_GROUP, "cluster-main", {"clusterName": "envstack-prod"})])] == [child.urn]


def test_every_stack_rule_is_checked() -> None:
    """Each stack rule is named in a test module of this directory that runs stack rules (these, network, storage)."""
    stack_rules = {name for name, p in POLICIES.items() if isinstance(p, StackValidationPolicy)}
    sources = [path.read_text() for path in Path(__file__).parent.glob("test_*.py")]
    checked = {name for source in sources if "check_stack(" in source for name in re.findall(r'"([a-z0-9-]+)"', source)}
    assert stack_rules and stack_rules <= checked, stack_rules - checked


def cache_user(name: str, user_name: str, authentication: str) -> Any:
    return resource(CACHE_USER, name, {"userId": name, "userName": user_name,
                                       "authenticationMode": {"type": authentication}})


def test_iam_authentication_needs_tls_and_valkey_7_2_or_redis_7() -> None:
    default, app = cache_user("p-default", "default", "no-password-required"), cache_user("p-app", "p-app", "iam")
    group = resource(CACHE_USER_GROUP, "p-users", {"userGroupId": "p-users", "userIds": ["p-default", "p-app"]})
    passwordless = resource(CACHE_USER_GROUP, "p-other", {"userGroupId": "p-other", "userIds": ["p-default"]})

    def cache(admits: Any, **props: Any) -> Any:
        return resource(REDIS, "cache", {"transitEncryptionEnabled": True, "engine": "valkey",
                                         "engineVersion": "8.0", "userGroupIds": ["x"], **props},
                        property_dependencies={"userGroupIds": [admits]})

    def findings(c: Any) -> list[str]:
        return [m for m, _ in check_stack("cache-iam-auth-requirements", [default, app, group, passwordless, c])]

    assert findings(cache(group)) == [] and findings(cache(group, engineVersion="7.2")) == []
    assert findings(cache(group, engine="redis", engineVersion="7.0")) == []
    assert findings(cache(group, transitEncryptionEnabled=False)) == [
        "replication group cache admits IAM-authenticated users without in-transit encryption: IAM authentication "
        "needs TLS (transitEncryptionEnabled)"]
    assert findings(cache(group, engineVersion="7.1")) == [
        "replication group cache runs valkey 7.1: IAM authentication needs valkey 7.2 or later"]
    assert findings(cache(group, engine="redis", engineVersion="6.2")) == [
        "replication group cache runs redis 6.2: IAM authentication needs redis 7.0 or later"]
    assert findings(cache(passwordless, transitEncryptionEnabled=False, engineVersion="6.2")) == []  # no IAM user


def test_a_pod_identity_role_trusts_eks_pod_identity_with_both_actions() -> None:
    def role(*actions: str, principal: Any = None) -> Any:
        return resource(ROLE, "identity-app", {"assumeRolePolicy": json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": principal or {"Service": "pods.eks.amazonaws.com"},
            "Action": list(actions)}]})})

    def association(target: Any) -> Any:
        return resource(POD_IDENTITY_ASSOCIATION, "identity-app", {"roleArn": "arn", "namespace": "app"},
                        property_dependencies={"roleArn": [target]})

    trusted = role("sts:AssumeRole", "sts:TagSession")
    assert check_stack("pod-identity-role-trust", [trusted, association(trusted)]) == []
    irsa = role("sts:AssumeRoleWithWebIdentity", principal={"Federated": "arn:aws:iam::1:oidc-provider/x"})
    for untrusted in (role("sts:AssumeRole"), irsa):
        bound = association(untrusted)
        assert check_stack("pod-identity-role-trust", [untrusted, bound]) == [
            ("Pod Identity association identity-app uses role identity-app, which does not trust "
             "pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession: EKS refuses the association", bound.urn)]


def test_a_cluster_keeping_its_creators_admin_entry_declares_no_entry_for_the_deploying_role() -> None:
    """EKS gives the creator an admin entry unless bootstrapClusterCreatorAdminPermissions is false; an explicit entry
    for the same principal then fails with 409. The creator is the role that deploys: its entry is tagged."""
    deployer, admin = "arn:aws:iam::111111111111:role/deployer", "arn:aws:iam::111111111111:role/platform-admin"

    def cluster(**access: Any) -> Any:
        return resource(AWS_EKS, "c-eksCluster", {"name": "envstack-dev", "accessConfig": access})

    def entry(name: str, arn: str, target: Any, **tags: str) -> Any:
        return resource(ACCESS_ENTRY, name, {"principalArn": arn, "clusterName": "x", "tags": tags},
                        property_dependencies={"clusterName": [target]})

    kept = cluster(authenticationMode="API")  # AWS's default: the creator keeps its implicit entry
    off = cluster(authenticationMode="API", bootstrapClusterCreatorAdminPermissions=False)
    tagged = {"envstack:role": "deployer"}
    # A dev stack without a deployer role: the creator's implicit entry, other roles' explicit ones.
    assert check_stack("eks-no-implicit-creator-admin", [kept, entry("admin-0", admin, kept)]) == []
    # The deploying role declared while the implicit entry is kept: a second entry for the creator.
    assert check_stack("eks-no-implicit-creator-admin", [kept, entry("deployer", deployer, kept, **tagged)]) == [
        ("cluster c-eksCluster keeps accessConfig.bootstrapClusterCreatorAdminPermissions (EKS's admin entry for "
         f"whoever creates it) and declares an entry for the role that deploys it ({deployer}): that entry fails "
         "with 409; set the flag to false", kept.urn)]
    assert check_stack("eks-no-implicit-creator-admin", [off, entry("deployer", deployer, off, **tagged)]) == []
    explicit_true = cluster(authenticationMode="API", bootstrapClusterCreatorAdminPermissions=True)
    assert check_stack("eks-no-implicit-creator-admin", [explicit_true,
                                                         entry("deployer", deployer, explicit_true, **tagged)]) != []
    # Another cluster's deployer entry is not this one's; a CONFIG_MAP cluster has no access entries to collide.
    other = resource(AWS_EKS, "d-eksCluster", {"name": "other"})
    assert check_stack("eks-no-implicit-creator-admin", [kept, other, entry("deployer", deployer, other,
                                                                            **tagged)]) == []
    assert check_stack("eks-no-implicit-creator-admin", [cluster(), entry("deployer", deployer, kept, **tagged)]) == []
