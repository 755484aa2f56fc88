"""`envstack verify`: each AWS check passing and failing against botocore's Stubber, the listeners against local
servers on 127.0.0.1, and the whole command (its AWS part) against moto's server."""

import datetime
import http.server
import io
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_checks import StubbedChecks, documented_actions, recording_session
from conftest import command_in_process
from test_config import STACK_FILE
from verify_servers import Authority, http_server

from envstack import cli
from envstack.ops import verify
from envstack.ops.preflight.core import Result
from envstack.ops.verify import observability
from envstack.ops.verify.core import Unanswered, VerifyContext, run_check
from envstack.program.config import load_stack_config
from envstack.program.config.loader import deep_merge
from envstack.tools.validate import load

REPO = Path(__file__).resolve().parent.parent
REGION = "us-west-2"
ACCOUNT = "111111111111"
NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)
PREFIX = "envstack-verified"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-alerts"
CACHE_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-cache-events"
OUTPUTS = {
    "environment": "prod", "clusterName": PREFIX, "vpcId": "vpc-0123456789abcdef0", "appNamespaces": ["app"],
    "targetGroupArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/edge/0123456789abcdef",
    "loadBalancerArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/edge/0123456789abcdef",
    "loadBalancerDnsName": "edge-1234567890.us-west-2.elb.amazonaws.com",
    "databaseEndpoint": f"{PREFIX}-postgres.c0ffee.{REGION}.rds.amazonaws.com", "databasePort": 5432,
    "databaseName": "app", "databaseUser": "app", "cacheReplicationGroupId": f"{PREFIX}-cache",
    "cachePrimaryEndpoint": f"master.{PREFIX}-cache.abcdef.usw2.cache.amazonaws.com", "cachePort": 6379,
    "cacheUser": f"{PREFIX}-app", "alertTopicArn": TOPIC, "cacheEventsTopicArn": CACHE_TOPIC, "kubeconfig": "[secret]",
}


def stack_file(environment: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A valid stack file of `environment` (the configuration tests' own, kept valid as rules are added; dev's load
    balancer without TLS, so without a certificate), `raw` over it."""
    return deep_merge({k: v for k, v in STACK_FILE.items() if environment != "dev" or k != "loadBalancer"}, raw)


def config(environment: str = "prod", **raw: Any) -> Any:
    return load_stack_config("verified", {"environment": environment, **stack_file(environment, raw)}, REGION)


@pytest.fixture(scope="module")
def prod() -> Any:
    return config()


class Stubs(StubbedChecks):
    def __init__(self, cfg: Any, **outputs: Any):
        super().__init__(VerifyContext(cfg, account=ACCOUNT, outputs={**OUTPUTS, **outputs}, now=NOW), verify.CHECKS,
                         run_check)


def statuses(results: list[Result]) -> list[str]:
    return [r.status for r in results]


def test_every_check_is_registered_once_account_first_probe_last() -> None:
    names = [name for name, _ in verify.CHECKS]
    assert names[0] == "account" and names[-1] == "probe" and len(names) == len(set(names))
    assert {"cluster", "addons", "node-groups", "nodes", "target-health", "listener", "waf", "database", "cache",
            "alarms", "alert-subscriptions", "budget", "cost-allocation-tag", "flow-logs", "waf-logs",
            "rds-logs"} <= set(names)


# ---- account ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("caller", "allowed", "status", "fragment"), [
    (ACCOUNT, [ACCOUNT], "ok", "where the stack's resources are"),
    ("222222222222", [ACCOUNT], "fail", "runs in 111111111111 (its outputs' ARNs)"),
    (ACCOUNT, ["333333333333"], "fail", "does not list"),
])
def test_the_caller_must_be_in_the_stacks_account(caller: str, allowed: list[str], status: str,
                                                  fragment: str) -> None:
    stubs = Stubs(config(allowedAccountIds=allowed))
    stubs.ctx.account = None
    stubs.stub("sts").add_response("get_caller_identity", {"Account": caller, "UserId": "AROAEXAMPLE:s",
                                                           "Arn": f"arn:aws:sts::{caller}:assumed-role/deployer/s"})
    [result] = stubs.run("account")
    assert result.status == status and fragment in result.detail


def test_nothing_else_is_asked_of_another_account(prod: Any) -> None:
    ctx = VerifyContext(prod, account="222222222222", caller_arn="arn", outputs=OUTPUTS, now=NOW)
    results = verify.verify(ctx)
    assert [(r.check, r.status) for r in results] == [("account", "fail")]


# ---- cluster, add-ons, node groups -----------------------------------------------------------------------------------

def cluster_answer(status: str = "ACTIVE", version: str = "1.35", issues: int = 0) -> dict[str, Any]:
    return {"cluster": {"name": PREFIX, "status": status, "version": version,
                        "health": {"issues": [{"code": "Ec2SubnetNotFound", "message": "subnet gone"}] * issues}}}


@pytest.mark.parametrize(("answer", "status", "fragment"), [
    ({}, "ok", "ACTIVE, Kubernetes"),
    ({"status": "UPDATING"}, "fail", "is UPDATING, not ACTIVE"),
    ({"version": "1.30"}, "fail", "runs Kubernetes 1.30"),
    ({"issues": 1}, "fail", "Ec2SubnetNotFound: subnet gone"),
])
def test_the_cluster_is_active_on_its_version(prod: Any, answer: dict[str, Any], status: str, fragment: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("eks").add_response("describe_cluster", cluster_answer(**{"version": prod.cluster.version, **answer}),
                                   {"name": PREFIX})
    [result] = stubs.run("cluster")
    assert result.status == status and fragment in result.detail, result.detail


def addon(name: str, version: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {"addon": {"addonName": name, "addonVersion": version, "status": status}}


def test_every_addon_active_at_its_pin(prod: Any) -> None:
    pins = prod.cluster.addon_versions.by_addon_name()
    stubs = Stubs(prod)
    eks = stubs.stub("eks")
    eks.add_response("list_addons", {"addons": list(pins)}, {"clusterName": PREFIX})
    for name, version in pins.items():
        eks.add_response("describe_addon", addon(name, version), {"clusterName": PREFIX, "addonName": name})
    assert statuses(stubs.run("addons")) == ["ok"] * len(pins)


def test_a_missing_degraded_or_unpinned_addon_fails(prod: Any) -> None:
    pins = prod.cluster.addon_versions.by_addon_name()
    missing, degraded, drifted, *rest = pins
    stubs = Stubs(prod)
    eks = stubs.stub("eks")
    eks.add_response("list_addons", {"addons": [degraded, drifted, *rest]}, {"clusterName": PREFIX})
    eks.add_response("describe_addon", addon(degraded, pins[degraded], "DEGRADED"))
    eks.add_response("describe_addon", addon(drifted, "v0.0.1-eksbuild.1"))
    for name in rest:
        eks.add_response("describe_addon", addon(name, pins[name]))
    results = stubs.run("addons")
    assert statuses(results) == ["fail", "fail", "fail"] + ["ok"] * len(rest)
    assert f"{missing} is not installed" in results[0].detail and "is DEGRADED" in results[1].detail
    assert f"pinned at {pins[drifted]}" in results[2].detail


def nodegroup(name: str, version: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {"nodegroup": {"nodegroupName": name, "status": status, "version": version,
                          "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2}}}


def test_node_groups_active_on_the_clusters_version_as_many_as_configured(prod: Any) -> None:
    version = prod.cluster.version
    names = [f"cluster-{group}-0a1b2c3" for group in prod.cluster.node_groups]
    stubs = Stubs(prod)
    eks = stubs.stub("eks")
    eks.add_response("describe_cluster", cluster_answer(version=version))
    eks.add_response("list_nodegroups", {"nodegroups": names}, {"clusterName": PREFIX})
    for name in names:
        eks.add_response("describe_nodegroup", nodegroup(name, version), {"clusterName": PREFIX,
                                                                          "nodegroupName": name})
    results = stubs.run("node-groups")
    assert statuses(results) == ["ok"] * len(names) and "2 of 1-3 nodes" in results[0].detail


def test_a_node_group_behind_the_cluster_or_missing_fails(prod: Any) -> None:
    version = prod.cluster.version
    stubs = Stubs(prod)
    eks = stubs.stub("eks")
    eks.add_response("describe_cluster", cluster_answer(version=version))
    eks.add_response("list_nodegroups", {"nodegroups": ["old"]})
    eks.add_response("describe_nodegroup", nodegroup("old", "1.30"))
    results = stubs.run("node-groups")
    configured = len(prod.cluster.node_groups)
    assert statuses(results) == (["fail"] if configured != 1 else []) + ["fail"]
    assert "runs Kubernetes 1.30" in results[-1].detail and "not rolled" in results[-1].detail


# ---- the edge --------------------------------------------------------------------------------------------------------

def targets(*states: str) -> dict[str, Any]:
    return {"TargetHealthDescriptions": [
        {"Target": {"Id": f"i-{i}", "Port": 30080},
         "TargetHealth": {"State": s, **({"Reason": "Target.FailedHealthChecks"} if s == "unhealthy" else {})}}
        for i, s in enumerate(states)]}


@pytest.mark.parametrize(("states", "status", "fragment"), [
    (("healthy", "unhealthy", "unhealthy"), "ok", "1 of 3 targets healthy"),
    (("unhealthy", "unhealthy"), "fail", "2 unhealthy (Target.FailedHealthChecks)"),
    ((), "fail", "no target is registered"),
])
def test_some_target_must_be_healthy(prod: Any, states: tuple[str, ...], status: str, fragment: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("elbv2").add_response("describe_target_health", targets(*states),
                                     {"TargetGroupArn": OUTPUTS["targetGroupArn"]})
    [result] = stubs.run("target-health")
    assert result.status == status and fragment in result.detail
    assert status == "ok" or not states or "must listen on 30080 and answer /healthz" in result.detail


def web_acl() -> dict[str, Any]:
    return {"WebACL": {"Name": f"{PREFIX}-edge", "Id": "1", "ARN": f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/"
                       f"webacl/{PREFIX}-edge/1", "DefaultAction": {"Allow": {}}, "Rules": [],
                       "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                                            "MetricName": "edge"}}}


def test_the_web_acl_is_in_front_of_the_load_balancer(prod: Any) -> None:
    for answer, status in ((web_acl(), "ok"), ({}, "fail")):
        stubs = Stubs(prod)
        stubs.stub("wafv2").add_response("get_web_acl_for_resource", answer,
                                         {"ResourceArn": OUTPUTS["loadBalancerArn"]})
        assert statuses(stubs.run("waf")) == [status]
    assert statuses(Stubs(config("dev")).run("waf")) == ["skipped"]  # dev has no WAF


# ---- the listeners, against local servers ---------------------------------------------------------------------------

def answer(status: int, headers: dict[str, str] | None = None) -> Any:
    def respond(handler: http.server.BaseHTTPRequestHandler, _: bytes) -> tuple[int, dict[str, str], bytes]:
        assert handler.headers["User-Agent"] == "envstack-verify"
        return status, headers or {}, b""
    return respond


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


def listener(cfg: Any, https: int, http: int, ca_file: str | None) -> list[Result]:
    ctx = VerifyContext(cfg, outputs={**OUTPUTS, "loadBalancerDnsName": "127.0.0.1"}, now=NOW, https_port=https,
                        http_port=http, ca_file=ca_file)
    return run_check("listener", dict(verify.CHECKS)["listener"], ctx)


def test_https_answers_and_http_redirects(prod: Any, authority: Authority) -> None:
    with ExitStack() as servers:
        https = servers.enter_context(http_server(answer(503), authority.server_context("edge")))
        http = servers.enter_context(http_server(answer(301, {"Location": "https://127.0.0.1:443/"})))
        results = listener(prod, https, http, authority.ca_file)
    assert statuses(results) == ["ok", "ok"]
    assert "answered HTTP 503 over TLSv1.3, certificate for edge.test" in results[0].detail
    assert "redirects (301) to https://127.0.0.1:443/" in results[1].detail


def test_an_untrusted_certificate_or_no_redirect_fails(prod: Any, authority: Authority, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    with ExitStack() as servers:
        https = servers.enter_context(http_server(answer(200), Authority(stranger).server_context("edge")))
        http = servers.enter_context(http_server(answer(200)))
        results = listener(prod, https, http, authority.ca_file)
    assert statuses(results) == ["fail", "fail"]
    assert "the certificate is not trusted" in results[0].detail and "not the permanent redirect" in results[1].detail


def test_silence_fails_where_the_load_balancer_is_open_and_warns_where_it_is_not(prod: Any) -> None:
    assert statuses(listener(prod, 9, 9, None)) == ["fail", "fail"]
    limited = config(loadBalancer={"allowedCidrs": ["203.0.113.0/24"]})
    results = listener(limited, 9, 9, None)
    assert statuses(results) == ["warn", "warn"] and "allowedCidrs may not admit this machine" in results[0].detail


def test_without_tls_any_http_answer_will_do() -> None:
    with http_server(answer(404)) as http:
        results = listener(config("dev"), 9, http, None)
    assert statuses(results) == ["ok"] and "loadBalancer.tls is false" in results[0].detail


# ---- the data stores -------------------------------------------------------------------------------------------------

def db_instance(cfg: Any, **changes: Any) -> dict[str, Any]:
    return {"DBInstances": [{
        "DBInstanceIdentifier": f"{PREFIX}-postgres", "DBInstanceStatus": "available",
        "DBInstanceClass": cfg.database.instance_class, "EngineVersion": f"{cfg.database.engine_version}.4",
        "StorageEncrypted": True, "MultiAZ": cfg.database.multi_az, "IAMDatabaseAuthenticationEnabled": True,
        "EnabledCloudwatchLogsExports": ["postgresql", "upgrade"],
        "InstanceCreateTime": NOW - datetime.timedelta(days=3), **changes}]}


@pytest.mark.parametrize(("changes", "status", "fragment"), [
    ({}, "ok", "available, db.m7g.large, PostgreSQL 17.4, encrypted, Multi-AZ, IAM authentication"),
    ({"DBInstanceClass": "db.t4g.micro"}, "fail", "class db.t4g.micro, configured db.m7g.large"),
    ({"MultiAZ": False}, "fail", "not Multi-AZ"),
    ({"StorageEncrypted": False, "DBInstanceStatus": "storage-full"}, "fail", "storage-full, not available; "),
    ({"IAMDatabaseAuthenticationEnabled": False}, "fail", "IAM database authentication off"),
    ({"PendingModifiedValues": {"DBInstanceClass": "db.m7g.xlarge"}}, "warn",
     "pending until the maintenance window: DBInstanceClass -> db.m7g.xlarge"),
    # prod's applyImmediately is false: right after `up` the configured class and Multi-AZ wait for the window
    ({"DBInstanceClass": "db.m7g.medium", "PendingModifiedValues": {"DBInstanceClass": "db.m7g.large"}}, "warn",
     "available, db.m7g.medium, PostgreSQL 17.4, encrypted, Multi-AZ, IAM authentication; pending until the "
     "maintenance window: DBInstanceClass -> db.m7g.large"),
    ({"MultiAZ": False, "PendingModifiedValues": {"MultiAZ": True}}, "warn", "MultiAZ -> True"),
    ({"DBInstanceClass": "db.m7g.medium", "PendingModifiedValues": {"DBInstanceClass": "db.m7g.xlarge"}}, "fail",
     "class db.m7g.medium, configured db.m7g.large"),
    ({"StorageEncrypted": False}, "fail", ": storage not encrypted"),
])
def test_the_database_as_configured(prod: Any, changes: dict[str, Any], status: str, fragment: str) -> None:
    assert prod.database.instance_class == "db.m7g.large" and prod.database.multi_az
    stubs = Stubs(prod)
    stubs.stub("rds").add_response("describe_db_instances", db_instance(prod, **changes),
                                   {"DBInstanceIdentifier": f"{PREFIX}-postgres"})
    [result] = stubs.run("database")
    assert result.status == status and fragment in result.detail, result.detail


def test_a_missing_database_fails(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("rds").add_client_error("describe_db_instances", "DBInstanceNotFound", "gone", 404)
    [result] = stubs.run("database")
    assert result.status == "fail" and "does not exist" in result.detail


def replication_group(cfg: Any, **changes: Any) -> dict[str, Any]:
    return {"ReplicationGroups": [{
        "ReplicationGroupId": f"{PREFIX}-cache", "Status": "available", "CacheNodeType": cfg.cache.node_type,
        "MemberClusters": [f"{PREFIX}-cache-{n:03d}" for n in range(1, cfg.cache.nodes + 1)],
        "AtRestEncryptionEnabled": True, "TransitEncryptionEnabled": True, "TransitEncryptionMode": "required",
        "MultiAZ": "enabled" if cfg.cache.multi_az else "disabled",
        "AutomaticFailover": "enabled" if cfg.cache.automatic_failover else "disabled",
        "UserGroupIds": [f"{PREFIX}-users"], **changes}]}


@pytest.mark.parametrize(("changes", "status", "fragment"), [
    ({}, "ok", "encrypted at rest and in transit, Multi-AZ"),
    ({"TransitEncryptionMode": "preferred"}, "fail", "TLS not required in transit"),
    ({"MultiAZ": "disabled", "MemberClusters": ["one"]}, "fail", "1 nodes, configured 2; "),
    ({"UserGroupIds": []}, "fail", "no user group"),
    ({"AtRestEncryptionEnabled": False}, "fail", ": not encrypted at rest"),
    ({"AutomaticFailover": "disabled"}, "fail", "automatic failover not enabled"),
    ({"AutomaticFailover": "disabled", "PendingModifiedValues": {"AutomaticFailoverStatus": "enabled"}}, "warn",
     "pending until the maintenance window: AutomaticFailoverStatus -> enabled"),
    ({"PendingModifiedValues": {"Resharding": {}}}, "ok", "available"),
])
def test_the_cache_as_configured(prod: Any, changes: dict[str, Any], status: str, fragment: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("elasticache").add_response("describe_replication_groups", replication_group(prod, **changes),
                                           {"ReplicationGroupId": f"{PREFIX}-cache"})
    [result] = stubs.run("cache")
    assert result.status == status and fragment in result.detail, result.detail


@pytest.mark.parametrize(("pending", "status", "fragment"), [
    ({"CacheNodeType": "cache.m7g.large"}, "warn", "pending until the maintenance window: CacheNodeType -> "
                                                   "cache.m7g.large"),
    ({"CacheNodeType": "cache.m7g.xlarge"}, "fail", "node type cache.m7g.medium, configured cache.m7g.large"),
    ({}, "fail", "node type cache.m7g.medium, configured cache.m7g.large"),
])
def test_a_node_type_change_waiting_for_the_window_warns(prod: Any, pending: dict[str, Any], status: str,
                                                         fragment: str) -> None:
    """The replication group keeps its node type until the maintenance window (prod's applyImmediately is false);
    the pending one is on its member clusters (ElastiCache DescribeCacheClusters)."""
    assert prod.cache.node_type == "cache.m7g.large"
    group = replication_group(prod, CacheNodeType="cache.m7g.medium")
    stubs = Stubs(prod)
    elasticache = stubs.stub("elasticache")
    elasticache.add_response("describe_replication_groups", group)
    member = group["ReplicationGroups"][0]["MemberClusters"][0]
    elasticache.add_response("describe_cache_clusters", {"CacheClusters": [
        {"CacheClusterId": member, "CacheNodeType": "cache.m7g.medium", "PendingModifiedValues": pending}]},
        {"CacheClusterId": member})
    [result] = stubs.run("cache")
    assert result.status == status and fragment in result.detail, result.detail


# ---- alarms, subscriptions, budget, cost-allocation tag --------------------------------------------------------------

def alarm(name: str, state: str = "OK", topic: str = TOPIC, enabled: bool = True) -> dict[str, Any]:
    return {"AlarmName": name, "StateValue": state, "AlarmActions": [topic], "ActionsEnabled": enabled,
            "StateReason": "Threshold Crossed: 3 datapoints",
            "StateUpdatedTimestamp": NOW - datetime.timedelta(hours=2)}


def test_alarms_exist_and_none_is_in_alarm(prod: Any) -> None:
    other_stack = alarm(f"{PREFIX}-eu-db-0-CPUUtilization", "ALARM", topic="arn:aws:sns:x:1:other-alerts")
    for found, expected in (
        ([alarm(f"{PREFIX}-db-0-CPUUtilization"), alarm(f"{PREFIX}-nat-0-Errors", "INSUFFICIENT_DATA"),
          other_stack], ["ok"]),
        ([alarm(f"{PREFIX}-db-0-CPUUtilization", "ALARM")], ["fail"]),
        ([alarm(f"{PREFIX}-db-0-CPUUtilization", enabled=False)], ["fail"]),
        ([other_stack], ["fail"]),
    ):
        stubs = Stubs(prod)
        stubs.stub("cloudwatch").add_response("describe_alarms", {"MetricAlarms": found},
                                              {"AlarmNamePrefix": f"{PREFIX}-"})
        results = stubs.run("alarms")
        assert statuses(results) == expected, results


def test_an_alarm_in_alarm_names_itself_and_why(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("cloudwatch").add_response("describe_alarms", {"MetricAlarms": [
        alarm(f"{PREFIX}-db-0-CPUUtilization", "ALARM")]})
    [result] = stubs.run("alarms")
    assert result.detail == f"{PREFIX}-db-0-CPUUtilization is in ALARM since 2 h ago: Threshold Crossed: 3 " \
                            "datapoints"


def subscriptions(topic: str, **emails: str) -> dict[str, Any]:
    return {"Subscriptions": [{"SubscriptionArn": arn, "Protocol": "email", "Endpoint": email, "TopicArn": topic}
                              for email, arn in emails.items()]}


def test_every_address_subscribed_and_confirmed(prod: Any) -> None:
    [email] = prod.monitoring.notification_emails
    stubs = Stubs(prod)
    sns = stubs.stub("sns")
    sns.add_response("list_subscriptions_by_topic", subscriptions(TOPIC, **{email: f"{TOPIC}:1"}),
                     {"TopicArn": TOPIC})
    sns.add_response("list_subscriptions_by_topic", subscriptions(CACHE_TOPIC, **{email: "PendingConfirmation"}),
                     {"TopicArn": CACHE_TOPIC})
    results = stubs.run("alert-subscriptions")
    assert statuses(results) == ["ok", "fail"]
    assert f"{PREFIX}-cache-events: {email} has not confirmed" in results[1].detail


def test_an_address_not_subscribed_fails_and_none_configured_warns(prod: Any) -> None:
    stubs = Stubs(prod)
    sns = stubs.stub("sns")
    sns.add_response("list_subscriptions_by_topic", subscriptions(TOPIC))
    sns.add_response("list_subscriptions_by_topic", subscriptions(CACHE_TOPIC))
    assert statuses(stubs.run("alert-subscriptions")) == ["fail", "fail"]
    assert statuses(Stubs(config("dev", monitoring={"notificationEmails": []})).run("alert-subscriptions")) == ["warn"]


def budget_answer(amount: str) -> dict[str, Any]:
    return {"Budget": {"BudgetName": f"{PREFIX}-monthly", "BudgetLimit": {"Amount": amount, "Unit": "USD"},
                       "TimeUnit": "MONTHLY", "BudgetType": "COST",
                       "CalculatedSpend": {"ActualSpend": {"Amount": "12.5", "Unit": "USD"}}}}


def test_the_budget_exists_with_its_limit(prod: Any) -> None:
    limit = f"{prod.monitoring.monthly_budget_usd:.1f}"
    for answer_, status in ((budget_answer(limit), "ok"), (budget_answer("1.0"), "fail")):
        stubs = Stubs(prod)
        stubs.stub("budgets").add_response("describe_budget", answer_,
                                           {"AccountId": ACCOUNT, "BudgetName": f"{PREFIX}-monthly"})
        [result] = stubs.run("budget")
        assert result.status == status
    stubs = Stubs(prod)
    stubs.stub("budgets").add_client_error("describe_budget", "NotFoundException", "no budget")
    [result] = stubs.run("budget")
    assert result.status == "fail" and f"no budget {PREFIX}-monthly in account {ACCOUNT}" in result.detail


@pytest.mark.parametrize(("tags", "status"), [([{"TagKey": "Stack", "Type": "UserDefined", "Status": "Active"}], "ok"),
                                              ([{"TagKey": "Stack", "Type": "UserDefined", "Status": "Inactive"}],
                                               "fail"),
                                              ([], "warn")])
def test_the_cost_allocation_tag_is_active(prod: Any, tags: list[dict[str, str]], status: str) -> None:
    stubs = Stubs(prod)
    stubs.stub("ce", "us-east-1").add_response("list_cost_allocation_tags", {"CostAllocationTags": tags},
                                               {"TagKeys": ["Stack"], "Type": "UserDefined"})
    assert statuses(stubs.run("cost-allocation-tag")) == [status]


# ---- logs ------------------------------------------------------------------------------------------------------------

def millis(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1000)


def flow_log(created: datetime.datetime, **changes: Any) -> dict[str, Any]:
    return {"FlowLogs": [{"FlowLogId": "fl-1", "FlowLogStatus": "ACTIVE", "DeliverLogsStatus": "SUCCESS",
                          "LogDestinationType": "cloud-watch-logs", "LogGroupName": f"/{PREFIX}/network/flow-logs",
                          "CreationTime": created, **changes}]}


def log_group_exists(stubs: Stubs, group: str) -> None:
    stubs.stub("logs").add_response("describe_log_groups", {"logGroups": [
        {"logGroupName": group, "creationTime": millis(NOW - datetime.timedelta(days=9))}]},
        {"logGroupNamePrefix": group})


def incoming(stubs: Stubs, group: str, **sums: float) -> None:
    """The log group's AWS/Logs IncomingLogEvents of the last hour, per minute: `m7=12` is 12 events 7 min ago."""
    points = [{"Timestamp": NOW - datetime.timedelta(minutes=int(m[1:])), "Sum": float(n), "Unit": "None"}
              for m, n in sums.items()]
    stubs.stub("cloudwatch").add_response("get_metric_statistics", {"Label": "IncomingLogEvents",
                                                                    "Datapoints": points}, {
        "Namespace": "AWS/Logs", "MetricName": "IncomingLogEvents",
        "Dimensions": [{"Name": "LogGroupName", "Value": group}], "StartTime": NOW - datetime.timedelta(hours=1),
        "EndTime": NOW, "Period": 60, "Statistics": ["Sum"]})


def test_flow_logs_arrived_within_the_hour(prod: Any) -> None:
    """The newest minute that counted events, not a minute of zero, read from the metric: no event is read."""
    group = f"/{PREFIX}/network/flow-logs"
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_flow_logs", flow_log(NOW - datetime.timedelta(days=2)),
                                   {"Filters": [{"Name": "resource-id", "Values": [OUTPUTS["vpcId"]]}]})
    log_group_exists(stubs, group)
    incoming(stubs, group, m31=40, m7=12, m2=0)
    [result] = stubs.run("flow-logs")
    assert result.status == "ok" and "received data 7 min ago" in result.detail


def test_flow_logs_silent_for_an_hour_fail_young_ones_are_skipped_failed_ones_fail(prod: Any) -> None:
    group = f"/{PREFIX}/network/flow-logs"
    for silence in ({}, {"m3": 0, "m40": 0}):
        stubs = Stubs(prod)
        stubs.stub("ec2").add_response("describe_flow_logs", flow_log(NOW - datetime.timedelta(days=2)))
        log_group_exists(stubs, group)
        incoming(stubs, group, **silence)
        [silent] = stubs.run("flow-logs")
        assert silent.status == "fail" and f"to {group} received nothing in the last hour" in silent.detail
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_flow_logs", flow_log(NOW - datetime.timedelta(minutes=20)))
    [young] = stubs.run("flow-logs")
    assert young.status == "skipped" and not isinstance(young, Unanswered) and "created 20 min ago" in young.detail
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_flow_logs", flow_log(NOW, DeliverLogsStatus="FAILED",
                                                                  DeliverLogsErrorMessage="Access error"))
    [failed] = stubs.run("flow-logs")
    assert failed.status == "fail" and "Access error" in failed.detail
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_flow_logs", {"FlowLogs": []})
    assert statuses(stubs.run("flow-logs")) == ["fail"]


def test_flow_logs_in_s3_are_looked_for_under_this_hours_partition(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_flow_logs", flow_log(
        NOW - datetime.timedelta(days=2), LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{PREFIX}-flow-logs/vpc-flow-logs"))
    s3 = stubs.stub("s3")
    prefix = f"vpc-flow-logs/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/06/01/"
    s3.add_response("list_objects_v2", {"Contents": [], "KeyCount": 0},
                    {"Bucket": f"{PREFIX}-flow-logs", "Prefix": prefix + "12/"})
    s3.add_response("list_objects_v2", {"Contents": [
        {"Key": prefix + "11/a.log.gz", "LastModified": NOW - datetime.timedelta(minutes=25)},
        {"Key": prefix + "11/b.log.gz", "LastModified": NOW - datetime.timedelta(minutes=75)}]},
        {"Bucket": f"{PREFIX}-flow-logs", "Prefix": prefix + "11/"})
    [result] = stubs.run("flow-logs")
    assert result.status == "ok" and "received data 25 min ago" in result.detail


def test_waf_logs_arrive_in_the_log_group_the_web_acl_logs_to(prod: Any) -> None:
    group = f"aws-waf-logs-{PREFIX}"
    acl_arn = web_acl()["WebACL"]["ARN"]
    stubs = Stubs(prod)
    wafv2 = stubs.stub("wafv2")
    wafv2.add_response("get_web_acl_for_resource", web_acl())
    wafv2.add_response("get_logging_configuration", {"LoggingConfiguration": {
        "ResourceArn": acl_arn, "LogDestinationConfigs": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"]}},
        {"ResourceArn": acl_arn})
    log_group_exists(stubs, group)
    incoming(stubs, group, m2=3)
    assert statuses(stubs.run("waf-logs")) == ["ok"]
    stubs = Stubs(prod)
    wafv2 = stubs.stub("wafv2")
    wafv2.add_response("get_web_acl_for_resource", web_acl())
    wafv2.add_client_error("get_logging_configuration", "WAFNonexistentItemException", "none")
    [result] = stubs.run("waf-logs")
    assert result.status == "fail" and "logs nowhere" in result.detail
    stubs = Stubs(prod)
    wafv2 = stubs.stub("wafv2")
    wafv2.add_response("get_web_acl_for_resource", web_acl())
    wafv2.add_response("get_logging_configuration", {"LoggingConfiguration": {
        "ResourceArn": acl_arn, "LogDestinationConfigs": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"]}})
    stubs.stub("logs").add_response("describe_log_groups", {"logGroups": []})
    [result] = stubs.run("waf-logs")
    assert result.status == "fail" and f"logs to {group}, which does not exist" in result.detail
    assert statuses(Stubs(config("dev", loadBalancer={"waf": {"enabled": True, "logging": False}})).run(
        "waf-logs")) == ["skipped"]


def test_postgresql_logs_exported_and_arriving(prod: Any) -> None:
    group = f"/aws/rds/instance/{PREFIX}-postgres/postgresql"
    stubs = Stubs(prod)
    stubs.stub("rds").add_response("describe_db_instances", db_instance(prod))
    log_group_exists(stubs, group)
    incoming(stubs, group, m1=5)
    assert statuses(stubs.run("rds-logs")) == ["ok"]
    stubs = Stubs(prod)
    stubs.stub("rds").add_response("describe_db_instances", db_instance(prod))
    log_group_exists(stubs, group)
    incoming(stubs, group)
    assert statuses(stubs.run("rds-logs")) == ["fail"]
    stubs = Stubs(prod)
    stubs.stub("rds").add_response("describe_db_instances", db_instance(prod, EnabledCloudwatchLogsExports=[]))
    [result] = stubs.run("rds-logs")
    assert result.status == "fail" and "does not export its postgresql log" in result.detail


@pytest.mark.parametrize(("check", "service", "operation", "code", "fragment"), [
    ("cluster", "eks", "describe_cluster", "ResourceNotFoundException", f"cluster {PREFIX} does not exist"),
    ("target-health", "elbv2", "describe_target_health", "TargetGroupNotFound",
     f"target group {OUTPUTS['targetGroupArn']} does not exist"),
    ("alert-subscriptions", "sns", "list_subscriptions_by_topic", "NotFound", f"topic {TOPIC} does not exist"),
])
def test_a_resource_gone_since_the_deploy_fails_its_check(prod: Any, check: str, service: str, operation: str,
                                                          code: str, fragment: str) -> None:
    """Deleted by hand (what the daily read-only run is for): the answer is a failure, not a call unanswered."""
    stubs = Stubs(prod)
    stubs.stub(service).add_client_error(operation, code, "not found", 404)
    [result, *_] = stubs.run(check)
    assert (type(result), result.status) == (Result, "fail") and fragment in result.detail, result


def test_a_log_destination_that_does_not_exist_fails(prod: Any) -> None:
    """A missing log group or bucket is the answer (nothing can arrive), not a call that went unanswered."""
    group = f"/aws/rds/instance/{PREFIX}-postgres/postgresql"
    stubs = Stubs(prod)
    stubs.stub("rds").add_response("describe_db_instances", db_instance(prod))
    stubs.stub("logs").add_response("describe_log_groups", {"logGroups": [{  # a prefix matches others
        "logGroupName": f"{group}-old", "creationTime": millis(NOW - datetime.timedelta(days=9))}]},
        {"logGroupNamePrefix": group})
    [result] = stubs.run("rds-logs")
    assert (type(result), result.status) == (Result, "fail") and f"log group {group} does not exist" in result.detail
    stubs = Stubs(prod)
    stubs.stub("ec2").add_response("describe_flow_logs", flow_log(
        NOW - datetime.timedelta(days=2), LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{PREFIX}-flow-logs"))
    stubs.stub("s3").add_client_error("list_objects_v2", "NoSuchBucket", "The specified bucket does not exist", 404)
    [result] = stubs.run("flow-logs")
    assert (type(result), result.status) == (Result, "fail")
    assert f"bucket {PREFIX}-flow-logs does not exist" in result.detail


# ---- what cannot be answered -----------------------------------------------------------------------------------------

def test_a_refused_call_is_unanswered_and_names_the_permissions_document(prod: Any) -> None:
    stubs = Stubs(prod)
    stubs.stub("elbv2").add_client_error("describe_target_health", "AccessDenied", "not authorized", 403)
    [result] = stubs.run("target-health")
    assert isinstance(result, Unanswered) and result.status == "skipped"
    assert result.detail.startswith("not permitted: AccessDenied") and "docs/verify.md" in result.detail


def test_a_missing_output_is_unanswered(prod: Any) -> None:
    stubs = Stubs(prod)
    del stubs.ctx.outputs["cacheReplicationGroupId"]
    [result] = stubs.run("cache")
    assert isinstance(result, Unanswered) and "no cacheReplicationGroupId" in result.detail


def test_exit_codes() -> None:
    ok, warn, by_design = Result("a", "ok", ""), Result("b", "warn", ""), Result("c", "skipped", "")
    unanswered = Unanswered("d", "skipped", "")
    assert verify.exit_code([ok, warn, by_design]) == 0
    assert verify.exit_code([ok, unanswered]) == 2
    assert verify.exit_code([unanswered, Result("e", "fail", "")]) == 1


def test_the_job_summary_lists_what_failed_warned_or_went_unanswered() -> None:
    results = [Result("cluster", "ok", "fine"), Result("alarms", "fail", "x | y in ALARM"),
               Unanswered("addons", "skipped", "not permitted"), Result("waf", "skipped", "WAF disabled")]
    text = verify.markdown("prod", results, verify.exit_code(results))
    assert text.startswith("### envstack verify prod: FAILED verification")
    assert "| fail | alarms | x &#124; y in ALARM |" in text and "| skipped | addons | not permitted |" in text
    assert "cluster" not in text and "WAF disabled" not in text


# ---- the command -----------------------------------------------------------------------------------------------------

def write_stack(root: Path, name: str, environment: str = "dev", **raw: Any) -> str:
    """Pulumi.<name>.yaml in `root` (JSON is YAML): the stack file verify reads, outside the repository's stacks."""
    values = {"envstack:environment": environment,
              **{f"envstack:{k}": v for k, v in stack_file(environment, raw).items()}}
    (root / f"Pulumi.{name}.yaml").write_text(json.dumps({"config": {"aws:region": REGION, **values}}))
    return name


def envstack(*args: str, root: Path, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The command in process, with an AWS environment of its own (only `env`), reading stack files from `root`."""
    return command_in_process(*args, root=root, env=env, stdin=stdin)


def in_process(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr(cli, "ROOT", root)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli.main(args)


def test_bad_input_exits_2_before_any_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(boto3, "Session", None)  # no AWS call may be made
    assert in_process(tmp_path, monkeypatch, "verify", "no-such-stack", stdin="{}") == 2
    assert "Pulumi.no-such-stack.yaml" in capsys.readouterr().err
    stack = write_stack(tmp_path, "verified")
    assert in_process(tmp_path, monkeypatch, "verify", stack, "--skip", "nodez", stdin="{}") == 2
    assert "no check named nodez" in capsys.readouterr().err
    assert in_process(tmp_path, monkeypatch, "verify", stack, "--probe-image", "python:3.13-slim", stdin="{}") == 2
    assert "--probe-image python:3.13-slim: expected an image pinned by digest" in capsys.readouterr().err
    assert in_process(tmp_path, monkeypatch, "verify", stack, stdin='{"vpcId": "vpc-1"}') == 2
    assert "a JSON object with clusterName" in capsys.readouterr().err
    (tmp_path / "outputs.json").write_text("not json")
    assert in_process(tmp_path, monkeypatch, "verify", stack, "--outputs", str(tmp_path / "outputs.json")) == 2
    assert capsys.readouterr().err.startswith("stack verified: Expecting value")


def test_without_credentials_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    stack = write_stack(tmp_path, "verified")
    assert in_process(tmp_path, monkeypatch, "verify", stack, "--no-probe", stdin=json.dumps(OUTPUTS)) == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if line]
    assert line.startswith("stack verified: no AWS credentials")


# ---- the whole command against moto (its AWS part) -------------------------------------------------------------------

MOTO_ACCOUNT = "222222222222"  # the shared moto_server fixture's account


def build_stack_in_moto(cfg: Any, url: str) -> dict[str, Any]:
    """Resources as a deployed dev-profile stack has them, with three faults: no target registered, a node group on
    an old version, an alarm in ALARM."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)

    def aws(service: str) -> Any:
        return session.client(service, endpoint_url=url)

    prefix, email = cfg.name_prefix, cfg.monitoring.notification_emails[0]
    ec2, logs, sns = aws("ec2"), aws("logs"), aws("sns")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]
               ["SubnetId"] for i, z in enumerate("ab")]
    flow_group = f"/{prefix}/network/flow-logs"
    logs.create_log_group(logGroupName=flow_group)
    ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="REJECT", LogGroupName=flow_group,
                         LogDestinationType="cloud-watch-logs",
                         DeliverLogsPermissionArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/flow-logs")
    eks = aws("eks")
    eks.create_cluster(name=prefix, version=cfg.cluster.version, roleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/eks",
                       resourcesVpcConfig={"subnetIds": subnets})
    for group in cfg.cluster.node_groups:
        eks.create_nodegroup(clusterName=prefix, nodegroupName=f"cluster-{group}-1a2b3c4", subnets=subnets,
                             nodeRole=f"arn:aws:iam::{MOTO_ACCOUNT}:role/nodes")  # moto's default version: old
    elbv2 = aws("elbv2")
    lb = elbv2.create_load_balancer(Name="edge", Subnets=subnets)["LoadBalancers"][0]
    target_group = elbv2.create_target_group(Name="edge", Protocol="HTTP", Port=30080, VpcId=vpc)["TargetGroups"][0]
    wafv2 = aws("wafv2")
    acl = wafv2.create_web_acl(Name=f"{prefix}-edge", Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig={
        "SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "edge"})["Summary"]
    wafv2.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=lb["LoadBalancerArn"])
    waf_group = f"aws-waf-logs-{prefix}"
    logs.create_log_group(logGroupName=waf_group)
    wafv2.put_logging_configuration(LoggingConfiguration={"ResourceArn": acl["ARN"], "LogDestinationConfigs": [
        f"arn:aws:logs:{REGION}:{MOTO_ACCOUNT}:log-group:{waf_group}"]})
    db = aws("rds").create_db_instance(
        DBInstanceIdentifier=f"{prefix}-postgres", DBInstanceClass=cfg.database.instance_class, Engine="postgres",
        EngineVersion=f"{cfg.database.engine_version}.4", MasterUsername="envstack_admin", AllocatedStorage=20,
        ManageMasterUserPassword=True, StorageEncrypted=True, MultiAZ=cfg.database.multi_az,
        EnableIAMDatabaseAuthentication=True, EnableCloudwatchLogsExports=["postgresql", "upgrade"])["DBInstance"]
    aws("elasticache").create_replication_group(
        ReplicationGroupId=f"{prefix}-cache", ReplicationGroupDescription="cache", Engine=cfg.cache.engine,
        CacheNodeType=cfg.cache.node_type, NumCacheClusters=cfg.cache.nodes, AtRestEncryptionEnabled=True,
        TransitEncryptionEnabled=True, MultiAZEnabled=cfg.cache.multi_az,
        AutomaticFailoverEnabled=cfg.cache.automatic_failover, UserGroupIds=[f"{prefix}-users"])
    topics = {name: sns.create_topic(Name=f"{prefix}-{name}")["TopicArn"] for name in ("alerts", "cache-events")}
    for topic in topics.values():
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=email)
    cloudwatch = aws("cloudwatch")
    for metric in ("CPUUtilization", "FreeStorageSpace"):
        cloudwatch.put_metric_alarm(
            AlarmName=f"{prefix}-db-0-{metric}", Namespace="AWS/RDS", MetricName=metric, Statistic="Average",
            Period=60, EvaluationPeriods=5, DatapointsToAlarm=3, Threshold=90,
            ComparisonOperator="GreaterThanThreshold", AlarmActions=[topics["alerts"]], OKActions=[topics["alerts"]],
            ActionsEnabled=True)
    cloudwatch.set_alarm_state(AlarmName=f"{prefix}-db-0-CPUUtilization", StateValue="ALARM",
                               StateReason="Threshold Crossed: 3 datapoints were greater than the threshold (90.0)")
    aws("budgets").create_budget(AccountId=MOTO_ACCOUNT, Budget={
        "BudgetName": f"{prefix}-monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY",
        "BudgetLimit": {"Amount": f"{cfg.monitoring.monthly_budget_usd:.1f}", "Unit": "USD"}})
    return {"environment": cfg.environment, "clusterName": prefix, "vpcId": vpc, "appNamespaces": ["app"],
            "targetGroupArn": target_group["TargetGroupArn"], "loadBalancerArn": lb["LoadBalancerArn"],
            "loadBalancerDnsName": lb["DNSName"], "databaseEndpoint": db["Endpoint"]["Address"],
            "databasePort": 5432, "databaseName": "app", "databaseUser": "app",
            "cacheReplicationGroupId": f"{prefix}-cache", "alertTopicArn": topics["alerts"],
            "cacheEventsTopicArn": topics["cache-events"], "kubeconfig": "[secret]"}


@pytest.fixture(scope="module")
def moto_stack(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A dev-profile stack in moto's account, with WAF logging and an alert address: its stack file in a directory
    of its own (returned) and its resources in moto (the preflight tests create none)."""
    root = tmp_path_factory.mktemp("moto-stack")
    raw = {"allowedAccountIds": [MOTO_ACCOUNT], "loadBalancer": {"waf": {"enabled": True, "logging": True}},
           "monitoring": {"notificationEmails": ["oncall@example.com"]}}
    name = write_stack(root, "verified-moto", **raw)
    cfg = load_stack_config(name, {"environment": "dev", **stack_file("dev", raw)}, REGION)
    (root / "outputs.json").write_text(json.dumps(build_stack_in_moto(cfg, moto_server)))
    return name, root


def test_verify_against_moto_gives_each_aws_check_its_verdict(moto_stack: tuple[str, Path], moto_server: str,
                                                             tmp_path: Path) -> None:
    name, root = moto_stack
    outputs = root / "outputs.json"
    report, summary = tmp_path / "verify.json", tmp_path / "summary.md"
    done = envstack("verify", name, "--outputs", str(outputs), "--no-probe", "--skip", "nodes", "--skip", "listener",
                    "--json", str(report), "--summary", str(summary), root=root,
                    env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                         "AWS_ENDPOINT_URL": moto_server})
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads(report.read_text())
    verdicts: dict[str, set[str]] = {}
    for r in document["results"]:
        verdicts.setdefault(r["check"], set()).add(r["status"] if r["answered"] else "unanswered")
    assert verdicts == {
        "account": {"ok"}, "cluster": {"ok"},
        "addons": {"unanswered"},  # moto has no EKS add-on API
        "node-groups": {"fail"},  # moto makes node groups on Kubernetes 1.19
        "target-health": {"fail"},  # nothing registered
        "waf": {"ok"}, "database": {"ok"}, "cache": {"ok"},
        "alarms": {"fail"},  # one in ALARM
        "alert-subscriptions": {"ok"}, "budget": {"ok"},
        "cost-allocation-tag": {"unanswered"},  # moto has no ListCostAllocationTags
        "flow-logs": {"skipped"}, "waf-logs": {"skipped"}, "rds-logs": {"skipped"},  # younger than an hour
        "probe": {"skipped"},  # --no-probe
    }, document["results"]
    details = {r["check"]: r["detail"] for r in document["results"]}
    assert "runs Kubernetes 1.19" in details["node-groups"] and "no target is registered" in details["target-health"]
    assert "envstack-verified-moto-db-0-CPUUtilization is in ALARM" in details["alarms"]
    lines = [line.split(maxsplit=2) for line in done.stdout.splitlines() if line.split()[:1] and
             line.split()[0] in ("ok", "warn", "fail", "skipped")]
    assert [(s, c) for s, c, _ in lines] == [(r["status"], r["check"]) for r in document["results"]]
    assert summary.read_text().startswith(f"### envstack verify {name}: FAILED verification")


def documented_permissions() -> set[str]:
    return documented_actions(REPO / "docs" / "verify.md", "**AWS** (all read-only)")


# Where an API operation's IAM action has another name, and services that sign with another name than IAM's prefix.
IAM_ACTIONS = {"budgets:DescribeBudget": "budgets:ViewBudget", "s3:ListObjectsV2": "s3:ListBucket"}
IAM_PREFIXES = {"monitoring": "cloudwatch"}


def test_the_documented_policy_allows_every_call_the_checks_make(moto_stack: tuple[str, Path], moto_server: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call of every AWS check against moto (those moto lacks included: the event comes before the request),
    as an IAM action, is in docs/verify.md's policy; S3 ListObjectsV2 (flow logs to S3) and ElastiCache
    DescribeCacheClusters (a pending node type) are the Stubber tests'."""
    name, root = moto_stack
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    session, called = recording_session(REGION)
    called |= {"s3:ListObjectsV2", "elasticache:DescribeCacheClusters"}
    cfg = load(name, root).config
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)  # the log sources are an hour old
    ctx = VerifyContext(cfg, session=session, outputs=json.loads((root / "outputs.json").read_text()), probe=False,
                        now=later)
    results = verify.verify(ctx, skip=("nodes", "listener"))
    assert {r.check for r in results} >= {"cluster", "budget", "waf-logs", "cost-allocation-tag"}
    # An hour on, nothing has arrived in moto's log groups, and RDS's was never made: each a failure, none unanswered
    assert {(r.check, r.status, type(r)) for r in results if r.check.endswith("-logs")} == {
        ("flow-logs", "fail", Result), ("waf-logs", "fail", Result), ("rds-logs", "fail", Result)}, results
    actions = {IAM_ACTIONS.get(call, call) for call in called}
    actions = {f"{IAM_PREFIXES.get(a.split(':')[0], a.split(':')[0])}:{a.split(':')[1]}" for a in actions}
    assert {"eks:ListAddons", "ce:ListCostAllocationTags", "budgets:ViewBudget", "cloudwatch:GetMetricStatistics",
            "wafv2:GetLoggingConfiguration", "ec2:DescribeFlowLogs", "cloudwatch:DescribeAlarms"} <= actions
    assert actions - documented_permissions() == set()


def test_log_arrivals_are_read_from_the_metric_in_moto(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against moto's CloudWatch, the query finds what CloudWatch Logs publishes for a log group (put here by hand:
    moto publishes no AWS/Logs metric): the newest minute with events in the hour, none from before it or from
    another group; a group that does not exist is one, not an empty metric."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    session, called = recording_session(REGION)
    setup, _ = recording_session(REGION)
    now = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
    group = f"/envstack-metric-{now:%H%M%S%f}/network/flow-logs"
    ctx = VerifyContext(config("dev"), session=session, outputs=OUTPUTS, probe=False, now=now)
    setup.client("logs").create_log_group(logGroupName=group)
    assert observability.arrival_in_group(ctx, group) is None

    def published(log_group: str, minutes: int, events: float) -> None:
        setup.client("cloudwatch").put_metric_data(Namespace="AWS/Logs", MetricData=[{
            "MetricName": "IncomingLogEvents", "Dimensions": [{"Name": "LogGroupName", "Value": log_group}],
            "Timestamp": now - datetime.timedelta(minutes=minutes), "Value": events, "Unit": "None"}])

    published(group, 75, 9)  # before the hour
    published(f"{group}-other", 4, 9)
    assert observability.arrival_in_group(ctx, group) is None
    published(group, 20, 5)
    published(group, 3, 0)
    assert observability.arrival_in_group(ctx, group) == now - datetime.timedelta(minutes=20)
    with pytest.raises(observability.DestinationMissingError):
        observability.arrival_in_group(ctx, f"{group}-gone")
    assert called == {"logs:DescribeLogGroups", "monitoring:GetMetricStatistics"}


def test_the_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parser().parse_args(["verify", "--help"])
    text = capsys.readouterr().out
    assert exited.value.code == 0 and "--no-probe" in text and "--outputs FILE" in text and "--summary" in text
