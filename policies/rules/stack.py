"""Stack rules: relations between resources (WAF on public ALBs, flow logs per VPC, alarms per datastore).

Links are found through property dependencies and dependencies (what both a real engine and envstack's synth
record), falling back to matching known reference values (ids, ARNs, names)."""

from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ..facts import IAM_AUTH_MINIMUM
from .alb import LISTENERS, LOAD_BALANCERS
from .base import as_list, as_mapping, known, known_count, linked, of_type, present, refers_to, stack_rule
from .rds import INSTANCE
from .redis import CACHE_SUBNET_GROUP, CACHE_USER, CACHE_USER_GROUP, REPLICATION_GROUP

Findings = Iterator[tuple[str, str | None]]
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
WAF_RULES = ("aws:wafv2/webAclRule:WebAclRule", "aws:wafv2/webAclRuleGroupAssociation:WebAclRuleGroupAssociation")
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
ROLE = "aws:iam/role:Role"
POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
POD_IDENTITY = "pods.eks.amazonaws.com"
POD_IDENTITY_ACTIONS = {"sts:assumerole", "sts:tagsession"}


def _public_albs(resources: list[PolicyResource]) -> Iterator[PolicyResource]:
    for lb in of_type(resources, *LOAD_BALANCERS):
        if known(lb.props, "loadBalancerType", default="application") == "application" and \
                known(lb.props, "internal") is not True:
            yield lb


@stack_rule("alb-waf-association", "Every internet-facing ALB must have a WAFv2 web ACL associated.",
            checkov="CKV2_AWS_28")
def waf_association(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    associations = list(of_type(resources, WAF_ASSOCIATION))
    for lb in _public_albs(resources):
        if not any(linked(a, lb, "resourceArn") for a in associations):
            yield f"internet-facing ALB {lb.name} has no aws.wafv2.WebAclAssociation", lb.urn


@stack_rule("waf-logging", "Every WAFv2 web ACL has a logging configuration.", severity=Severity.MEDIUM,
            checkov="CKV2_AWS_31")
def waf_logging(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    logging = list(of_type(resources, WAF_LOGGING))
    for acl in of_type(resources, WEB_ACL):
        if not any(linked(config, acl, "resourceArn") for config in logging):
            yield (f"web ACL {acl.name} has no aws.wafv2.WebAclLoggingConfiguration: blocked and allowed requests "
                   "leave no record"), acl.urn


@stack_rule("waf-web-acl-rules",
            "Every WAFv2 web ACL has at least one rule or rule group (inline, or as a separate rule resource).",
            severity=Severity.HIGH)
def waf_web_acl_rules(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    separate = list(of_type(resources, *WAF_RULES))
    for acl in of_type(resources, WEB_ACL):
        inline = known_count(acl.props, "rules")
        if inline == 0 and not present(acl.props, "ruleJson") and not any(
                linked(rule, acl, "webAclArn") for rule in separate):
            yield (f"web ACL {acl.name} has no rules: it only applies its default action "
                   f"({', '.join(as_mapping(known(acl.props, 'defaultAction', default={}))) or 'none'})"), acl.urn


@stack_rule("alb-https-listener", "Every internet-facing ALB must have an HTTPS listener.", checkov="CKV_AWS_2")
def https_listener(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    https = [listener for listener in of_type(resources, *LISTENERS)
             if known(listener.props, "protocol") == "HTTPS"]
    for lb in _public_albs(resources):
        if not any(linked(listener, lb, "loadBalancerArn") for listener in https):
            yield f"ALB {lb.name} has no HTTPS listener", lb.urn


@stack_rule("vpc-flow-logs", "Every VPC must have flow logs.", severity=Severity.MEDIUM, checkov="CKV2_AWS_11")
def flow_logs(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    logs = list(of_type(resources, FLOW_LOG))
    for vpc in of_type(resources, VPC):
        if not any(linked(log, vpc, "vpcId") for log in logs):
            yield f"VPC {vpc.name} has no aws.ec2.FlowLog", vpc.urn


def _metrics(alarm: PolicyResource) -> set[str]:
    names = {known(alarm.props, "metricName")}
    names |= {known(q, "metric", "metricName") for q in as_list(known(alarm.props, "metricQueries"))}
    return {n for n in names if isinstance(n, str)}


def _watches(alarm: PolicyResource, target: PolicyResource) -> bool:
    if target in alarm.dependencies or target in alarm.property_dependencies.get("dimensions", []):
        return True
    dimensions = known(alarm.props, "dimensions", default={})
    if not hasattr(dimensions, "get"):
        return False
    if target.resource_type == INSTANCE:
        return refers_to(known(dimensions, "DBInstanceIdentifier"), target)
    cache_cluster = known(dimensions, "CacheClusterId")
    return refers_to(known(dimensions, "ReplicationGroupId"), target) or (
        isinstance(cache_cluster, str)
        and any(cache_cluster.startswith(f"{i}-") for i in (target.name, known(target.props, "replicationGroupId"))
                if i))


@stack_rule("datastore-alarms",
            "Every RDS instance and Redis replication group must have CloudWatch alarms on its key metrics.",
            severity=Severity.MEDIUM,
            options={"requiredRdsMetrics": {"type": "array", "items": {"type": "string"},
                                            "default": ["CPUUtilization", "FreeStorageSpace"]},
                     "requiredRedisMetrics": {"type": "array", "items": {"type": "string"},
                                              "default": ["EngineCPUUtilization", "DatabaseMemoryUsagePercentage"]}})
def datastore_alarms(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    alarms = list(of_type(resources, METRIC_ALARM))
    for store in of_type(resources, INSTANCE, REPLICATION_GROUP):
        watching = [a for a in alarms if _watches(a, store)]
        required = cfg["requiredRdsMetrics" if store.resource_type == INSTANCE else "requiredRedisMetrics"]
        covered = set().union(*(_metrics(a) for a in watching))
        if not watching:
            yield f"{store.resource_type} {store.name} has no CloudWatch metric alarm", store.urn
        elif missing := [m for m in required if m not in covered]:
            yield f"{store.resource_type} {store.name} has no alarm on {', '.join(missing)}", store.urn


# ElastiCache guide, "Minimizing downtime in ElastiCache by using Multi-AZ": with Multi-AZ the primary and its
# replicas are placed in different AZs, so the replication group's subnet group must span at least two (one subnet
# per AZ in envstack's isolated tier). A single-AZ group (dev) may use a one-subnet subnet group.
@stack_rule("cache-multi-az-subnets",
            "A Multi-AZ replication group needs a cache subnet group with subnets in at least two Availability Zones.",
            deployability=True,
            source="ElastiCache guide, Minimizing downtime by using Multi-AZ")
def cache_multi_az_subnets(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    groups = list(of_type(resources, CACHE_SUBNET_GROUP))
    for cache in of_type(resources, REPLICATION_GROUP):
        if known(cache.props, "multiAzEnabled") is not True:
            continue
        for group in (g for g in groups if linked(cache, g, "subnetGroupName")):
            subnets = known_count(group.props, "subnetIds")
            if subnets is not None and subnets < 2:
                yield (f"replication group {cache.name} is Multi-AZ but its subnet group {group.name} has "
                       f"{subnets} subnet(s); it needs subnets in at least two Availability Zones", cache.urn)


def _source_owner_publish(policy: PolicyResource) -> bool:
    """Does the topic policy let publishers publish under an AWS:SourceOwner condition (condition keys are
    case-insensitive)?"""
    for statement in as_list(as_mapping(known(policy.props, "policy")).get("Statement")):
        actions = {str(a).lower() for a in as_list(statement.get("Action"))} if isinstance(statement, dict) else set()
        conditions = as_mapping(statement.get("Condition")) if isinstance(statement, dict) else {}
        keys = {str(k).lower() for test in conditions.values() for k in as_mapping(test)}
        if statement.get("Effect") == "Allow" and actions & {"sns:publish", "sns:*"} and "aws:sourceowner" in keys:
            return True
    return False


# ElastiCache guide, "Event Notifications and Amazon SNS" and "Managing ElastiCache Amazon SNS notifications": the
# topic a replication group notifies cannot be encrypted, and its policy must use aws:SourceOwner (newly created
# topics default to aws:SourceAccount); otherwise ElastiCache marks the topic inactive and its events are lost.
@stack_rule("elasticache-notification-topic",
            "A replication group notifies an unencrypted SNS topic whose policy admits publishers by aws:SourceOwner.",
            deployability=True,
            source="ElastiCache guide, Event Notifications and Amazon SNS")
def elasticache_notification_topic(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    topics, policies = list(of_type(resources, SNS_TOPIC)), list(of_type(resources, SNS_TOPIC_POLICY))
    for cache in of_type(resources, REPLICATION_GROUP):
        if not present(cache.props, "notificationTopicArn"):
            continue
        for topic in (t for t in topics if linked(cache, t, "notificationTopicArn")):
            if present(topic.props, "kmsMasterKeyId"):
                yield (f"replication group {cache.name} notifies {topic.name}, an encrypted topic: ElastiCache marks "
                       "it inactive and its events are lost", cache.urn)
            topic_policies = [p for p in policies if linked(p, topic, "arn")]
            if not any(_source_owner_publish(p) for p in topic_policies):
                yield (f"replication group {cache.name} notifies {topic.name}, whose policy does not admit "
                       "publishers by aws:SourceOwner: ElastiCache cannot publish there", cache.urn)


def _members(group: PolicyResource, users: list[PolicyResource]) -> tuple[list[PolicyResource], list[str], bool]:
    """The users a user group lists (by property dependency or id), the ids known, and whether all ids are known."""
    count = known_count(group.props, "userIds")
    ids = [i for i in (known(group.props, "userIds", n) for n in range(count or 0)) if isinstance(i, str)]
    linked_users = group.property_dependencies.get("userIds", [])
    members = [u for u in users if u in linked_users or known(u.props, "userId") in ids]
    return members, ids, count is not None and len(ids) == count


# ElastiCache API reference, CreateUserGroup / ModifyUserGroup: DefaultUserRequired, "You must add default user to a
# user group" (CloudFormation AWS::ElastiCache::UserGroup: "A user named default must be included"). AWS's own
# user `default` (id "default") is open to all; envstack adds a switched-off user of its own named default.
@stack_rule("cache-user-group-default-user", "An ElastiCache user group includes a user named default.",
            deployability=True,
            source="ElastiCache API reference, CreateUserGroup")
def cache_user_group_default_user(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    users = list(of_type(resources, CACHE_USER))
    for group in of_type(resources, CACHE_USER_GROUP):
        members, ids, complete = _members(group, users)
        names = [known(u.props, "userName") for u in members]
        if "default" in ids or "default" in names or not complete or None in names:
            continue  # a default user, or members not known yet (preview)
        yield (f"user group {group.name} has no user named default (users {', '.join(ids) or 'none'}): "
               "ElastiCache refuses it (DefaultUserRequired)", group.urn)


def _version(value: Any) -> tuple[int, int] | None:
    parts = str(value).split(".") if value is not None else []
    return (int(parts[0]), int(parts[1])) if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() else None


# ElastiCache guide, "Authenticating with IAM" (Limitations): an IAM-authenticated user connects only over TLS, to
# Valkey 7.2+ or Redis OSS 7.0+; CreateReplicationGroup / ModifyReplicationGroup refuse the user group otherwise.
@stack_rule("cache-iam-auth-requirements",
            "A replication group admitting IAM-authenticated users encrypts in transit and runs Valkey 7.2+ or "
            "Redis OSS 7.0+.", deployability=True,
            source="ElastiCache guide, Authenticating with IAM (Limitations)")
def cache_iam_auth_requirements(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    users, groups = list(of_type(resources, CACHE_USER)), list(of_type(resources, CACHE_USER_GROUP))
    for cache in of_type(resources, REPLICATION_GROUP):
        admitted = [g for g in groups if linked(cache, g, "userGroupIds")]
        if not any(known(u.props, "authenticationMode", "type") == "iam"
                   for g in admitted for u in _members(g, users)[0]):
            continue
        if known(cache.props, "transitEncryptionEnabled") is not True:
            yield (f"replication group {cache.name} admits IAM-authenticated users without in-transit encryption: "
                   "IAM authentication needs TLS (transitEncryptionEnabled)", cache.urn)
        engine = str(known(cache.props, "engine", default="redis")).lower()
        version, minimum = _version(known(cache.props, "engineVersion")), IAM_AUTH_MINIMUM.get(engine)
        if version is not None and minimum is not None and version < minimum:
            yield (f"replication group {cache.name} runs {engine} {version[0]}.{version[1]}: IAM authentication "
                   f"needs {engine} {minimum[0]}.{minimum[1]} or later", cache.urn)


def _trusts_pod_identity(role: PolicyResource) -> bool:
    for statement in as_list(as_mapping(known(role.props, "assumeRolePolicy")).get("Statement")):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        services = as_list(as_mapping(statement.get("Principal")).get("Service"))
        actions = {str(a).lower() for a in as_list(statement.get("Action"))}
        if POD_IDENTITY in services and ("sts:*" in actions or actions >= POD_IDENTITY_ACTIONS):
            return True
    return False


# EKS user guide, "Create IAM role with trust policy required by EKS Pod Identity": the role trusts
# pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession; CreatePodIdentityAssociation refuses another role
# ("Trust policy of the role provided is invalid": hashicorp/terraform-provider-aws#41483).
@stack_rule("pod-identity-role-trust",
            "A Pod Identity association's role trusts pods.eks.amazonaws.com with sts:AssumeRole and "
            "sts:TagSession.", deployability=True,
            source="EKS user guide, Pod Identity role trust policy; terraform-provider-aws#41483")
def pod_identity_role_trust(resources: list[PolicyResource], cfg: dict[str, Any]) -> Findings:
    roles = list(of_type(resources, ROLE))
    for association in of_type(resources, POD_IDENTITY_ASSOCIATION):
        for role in (r for r in roles if linked(association, r, "roleArn")):
            if known(role.props, "assumeRolePolicy") is not None and not _trusts_pod_identity(role):
                yield (f"Pod Identity association {association.name} uses role {role.name}, which does not trust "
                       f"{POD_IDENTITY} with sts:AssumeRole and sts:TagSession: EKS refuses the association",
                       association.urn)
