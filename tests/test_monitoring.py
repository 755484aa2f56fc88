"""Monitoring: every watched resource has its alarms, which notify the Alerts topic (tests/test_alerts.py), budgets
and anomaly detection per environment, log retention, the deployment record and the config's bad values."""

import json
from collections import Counter
from typing import Any

import pytest
from conftest import named, stack_config, synth, synth_with

from components.monitoring import PRESETS, MonitoringTargets
from envstack.program.config import ConfigError, load_profile, load_stack_config
from envstack.program.config.monitoring import AlarmThresholds
from envstack.program.deployment import DeploymentRecord, from_environment
from envstack.tools.synth import ResourceRecord, Synthesis

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
NODE_GROUP = "eks:index:ManagedNodeGroup"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
# What must watch each resource type: (metric names, dimension that names the resource).
WATCHED: dict[str, tuple[set[str], str]] = {
    "aws:rds/instance:Instance": (
        {"CPUUtilization", "FreeStorageSpace", "FreeableMemory", "DatabaseConnections"}, "DBInstanceIdentifier"),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        {"EngineCPUUtilization", "DatabaseMemoryUsagePercentage", "Evictions", "CurrConnections"}, "CacheClusterId"),
    "aws:lb/loadBalancer:LoadBalancer": (
        {"HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "TargetResponseTime", "HealthyHostCount"},
        "LoadBalancer"),
    TARGET_GROUP: ({"HealthyHostCount"}, "TargetGroup"),
    "aws:ec2/natGateway:NatGateway": ({"ErrorPortAllocation"}, "NatGatewayId"),
    NODE_GROUP: ({"CPUUtilization", "StatusCheckFailed"}, "AutoScalingGroupName"),
}
# How many of each kind of watched thing (MonitoringTargets.dimensions keys) the synthesized stack has.
WATCHED_COUNT = {
    "db": lambda s: len(s.of_type("aws:rds/instance:Instance")),
    "cache": lambda s: sum(int(g.inputs["numCacheClusters"])
                           for g in s.of_type("aws:elasticache/replicationGroup:ReplicationGroup")),
    "alb": lambda s: len(s.of_type("aws:lb/loadBalancer:LoadBalancer")),
    "targetGroup": lambda s: len(s.of_type(TARGET_GROUP)),
    "nat": lambda s: len(s.of_type("aws:ec2/natGateway:NatGateway")),
    "nodeGroup": lambda s: len(s.of_type(NODE_GROUP)),
}

NOTHING = MonitoringTargets(db_instance_ids=(), cache_cluster_ids=(), load_balancer_arn_suffix=None,
                            target_group_arn_suffixes=(), nat_gateway_ids=(), node_group_asgs={})


def settings(s: Synthesis) -> dict[str, Any]:
    return load_profile(s.environment).settings["monitoring"]


def watching(s: Synthesis, target: ResourceRecord) -> list[ResourceRecord]:
    return [a for a in s.of_type(ALARM) if target.urn in a.dependencies]


def topic_arn(s: Synthesis) -> str:
    return s.outputs["alertTopicArn"]


@pytest.mark.parametrize("type_", sorted(WATCHED))
def test_every_watched_resource_has_its_alarms(stack, type_):
    metrics, dimension = WATCHED[type_]
    targets = stack.of_type(type_)
    assert targets, f"{stack.stack} has no {type_} to watch"
    for target in targets:
        alarms = watching(stack, target)
        assert {a.inputs["metricName"] for a in alarms} >= metrics, target.name
        assert all(dimension in a.inputs["dimensions"] for a in alarms if a.inputs["metricName"] in metrics)


def test_every_replication_group_member_has_each_redis_alarm(stack):
    groups = stack.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert groups
    for group in groups:
        members = int(group.inputs["numCacheClusters"])
        per_metric = Counter(a.inputs["metricName"] for a in watching(stack, group))
        assert set(per_metric.values()) == {members}
        ids = {a.inputs["dimensions"]["CacheClusterId"] for a in watching(stack, group)}
        assert len(ids) == members


def test_target_group_alarm_names_its_load_balancer_too(stack):
    lb = stack.one("aws:lb/loadBalancer:LoadBalancer")
    groups = stack.of_type(TARGET_GROUP)
    assert groups
    for group in groups:
        alarms = watching(stack, group)
        assert alarms, group.name
        for alarm in alarms:
            assert set(alarm.inputs["dimensions"]) == {"TargetGroup", "LoadBalancer"}
            assert lb.urn in alarm.dependencies


def test_target_group_alarms_when_too_few_hosts_are_healthy_not_when_some_are_unhealthy(stack):
    """Every node is a target and nodes without an application pod fail health checks by design."""
    assert not [a for a in stack.of_type(ALARM) if a.inputs["metricName"] == "UnHealthyHostCount"]
    minimum = settings(stack)["alarmThresholds"]["albMinHealthyHosts"]
    groups = stack.of_type(TARGET_GROUP)
    assert groups
    for group in groups:
        (alarm,) = [a.inputs for a in watching(stack, group) if a.inputs["metricName"] == "HealthyHostCount"]
        assert (alarm["namespace"], alarm["statistic"], alarm["comparisonOperator"]) == (
            "AWS/ApplicationELB", "Minimum", "LessThanThreshold")
        assert alarm["threshold"] == minimum >= 1
        assert alarm["treatMissingData"] == "breaching"  # no report of a healthy host is the outage itself


def test_each_node_groups_autoscaling_group_has_ec2_alarms_without_an_agent(stack):
    groups = stack.of_type(NODE_GROUP)
    assert groups
    attached = {a.inputs["autoscalingGroupName"] for a in stack.of_type("aws:autoscaling/attachment:Attachment")}
    for group in groups:
        alarms = [a.inputs for a in watching(stack, group)]
        assert sorted(a["metricName"] for a in alarms) == ["CPUUtilization", "StatusCheckFailed"], group.name
        (asg,) = {a["dimensions"]["AutoScalingGroupName"] for a in alarms}
        assert asg in attached  # the same autoscaling group the load balancer registers
        assert all(a["namespace"] == "AWS/EC2" and a["period"] == 300 for a in alarms)  # basic monitoring
    per_asg = Counter(a.inputs["dimensions"].get("AutoScalingGroupName") for a in stack.of_type(ALARM))
    del per_asg[None]
    assert len(per_asg) == len(groups) and set(per_asg.values()) == {2}
    assert not [a for a in stack.of_type(ALARM) if a.inputs["namespace"] == "ContainerInsights"]


def test_one_alarm_per_preset_and_watched_resource(stack):
    watched = {kind: count(stack) for kind, count in WATCHED_COUNT.items()}
    assert set(watched) == set(NOTHING.dimensions())
    per_preset = Counter(a.name.split("-")[1] for a in stack.of_type(ALARM))
    assert per_preset == Counter({p.key: watched[p.watches] for p in PRESETS if watched[p.watches]})


def test_alarms_notify_the_topic_both_ways_m_of_n_with_explicit_missing_data(stack):
    profile = settings(stack)
    for alarm in stack.of_type(ALARM):
        i = alarm.inputs
        assert i["alarmActions"] == i["okActions"] == [topic_arn(stack)] and i["actionsEnabled"] is True
        assert i["treatMissingData"] in ("missing", "notBreaching", "breaching", "ignore")
        assert (i["datapointsToAlarm"], i["evaluationPeriods"]) == (profile["datapointsToAlarm"],
                                                                    profile["evaluationPeriods"])
        assert i["evaluationPeriods"] >= 2


def test_alarm_thresholds_come_from_the_profile(stack):
    thresholds = settings(stack)["alarmThresholds"]
    by_name = {p.key: p for p in PRESETS}
    for alarm in stack.of_type(ALARM):
        preset = by_name[alarm.name.split("-")[1]]
        assert alarm.inputs["threshold"] == pytest.approx(thresholds[preset.key] * preset.scale)


def test_p99_uses_an_extended_statistic(stack):
    p99 = [a for a in stack.of_type(ALARM) if a.inputs["metricName"] == "TargetResponseTime"]
    assert p99 and all(a.inputs["extendedStatistic"] == "p99" and "statistic" not in a.inputs for a in p99)


def test_presets_and_configured_thresholds_are_the_same_keys():
    aliases = {f.alias or name for name, f in AlarmThresholds.model_fields.items()}
    assert aliases == {p.key for p in PRESETS}


def test_nothing_to_watch_means_no_alarm_targets():
    assert all(dims == [] for dims in NOTHING.dimensions().values())


def test_monthly_cost_budget_on_the_stack_tag_warns_at_80_forecast_and_100_actual(stack):
    budget = stack.one("aws:budgets/budget:Budget").inputs
    assert (budget["budgetType"], budget["timeUnit"], budget["limitUnit"]) == ("COST", "MONTHLY", "USD")
    assert float(budget["limitAmount"]) == settings(stack)["monthlyBudgetUsd"]
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:Stack${stack.stack}"]}]
    notifications = {(n["notificationType"], n["threshold"]) for n in budget["notifications"]}
    assert notifications == {("FORECASTED", 80), ("ACTUAL", 100)}
    assert all(n["subscriberSnsTopicArns"] == [topic_arn(stack)] for n in budget["notifications"])


def test_anomaly_detection_only_where_the_profile_enables_it(stack):
    enabled = settings(stack)["anomalyDetection"]
    assert enabled == (stack.environment in ("staging", "prod"))
    monitors = stack.of_type("aws:costexplorer/anomalyMonitor:AnomalyMonitor")
    subscriptions = stack.of_type("aws:costexplorer/anomalySubscription:AnomalySubscription")
    assert len(monitors) == len(subscriptions) == int(enabled)
    if enabled:
        # The provider's read-back form (every unset key null), or the ForceNew monitor is replaced on every up; the
        # key as the budget's filter and the provider's acceptance tests name a cost-allocation tag (user:<key>).
        spec = json.loads(monitors[0].inputs["monitorSpecification"])
        assert spec == {"And": None, "CostCategories": None, "Dimensions": None, "Not": None, "Or": None,
                        "Tags": {"Key": "user:Stack", "MatchOptions": None, "Values": [stack.stack]}}
        assert subscriptions[0].inputs["subscribers"] == [{"type": "SNS", "address": topic_arn(stack)}]
        assert subscriptions[0].inputs["frequency"] == "IMMEDIATE"


def test_every_log_group_keeps_logs_for_the_environments_retention(stack):
    log_groups = stack.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert log_groups
    assert {g.name: g.inputs.get("retentionInDays") for g in log_groups} == {
        g.name: settings(stack)["logRetentionDays"] for g in log_groups}


def test_dashboard_graphs_every_alarmed_metric_and_resource(stack):
    body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    graphed = {(m[0], m[1], *m[2:]) for w in body["widgets"] if w["type"] == "metric"
               for m in w["properties"]["metrics"]}
    for alarm in stack.of_type(ALARM):
        i = alarm.inputs
        dims = [part for kv in i["dimensions"].items() for part in kv]
        assert (i["namespace"], i["metricName"], *dims) in graphed, alarm.name
    assert stack.outputs["dashboardName"] == f"envstack-{stack.stack}"


def test_deployment_record_parameter_and_exports(stack):
    parameter = stack.one("aws:ssm/parameter:Parameter").inputs
    assert parameter["name"] == stack.outputs["deploymentRecordParameter"] == f"/envstack/{stack.stack}/deployment"
    assert parameter["type"] == "String"
    record = DeploymentRecord.from_json(parameter["insecureValue"])
    assert (record.stack, record.environment) == (stack.stack, stack.environment)
    assert stack.outputs["alertTopicArn"] == stack.state_of(named(stack, "alerts", "aws:sns/topic:Topic"))["arn"]


def test_the_deployment_record_is_written_after_everything_else(stack):
    """A failed update stops before the record, so it never names a commit that did not deploy: the parameter depends
    on every resource of every other component (and of monitoring), through the components it is given."""
    parameter = stack.one("aws:ssm/parameter:Parameter")
    by_urn = stack.by_urn()
    top = {r.urn for r in stack.resources if r.parent is None or r.parent not in by_urn}  # components, the provider

    def in_a_component(record) -> bool:
        parent = by_urn.get(record.parent) if record.parent else None
        while parent is not None and not parent.custom and not parent.type.startswith("eks:"):
            if parent.urn in top:
                return True
            parent = by_urn.get(parent.parent) if parent.parent else None
        return False

    # what the engine waits for: the custom resources and remote components (pulumi-eks) under local components
    expected = {r.urn for r in stack.resources if (r.custom or r.type.startswith("eks:")) and in_a_component(r)
                and r.urn != parameter.urn}
    assert len(expected) > 100
    assert expected - set(parameter.dependencies) == set()
    components = [by_urn[u] for u in top if not by_urn[u].custom]
    assert len(components) >= 9  # network, alerts, cluster, baseline, database, cache, edge, identity, monitoring


CI = {"GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_REF_NAME": "main",
      "GITHUB_ACTOR": "release-bot", "ENVSTACK_PROMOTED_FROM": "staging", "GITHUB_SERVER_URL": "https://github.com",
      "GITHUB_REPOSITORY": "example/envstack", "GITHUB_RUN_ID": "42"}


def test_deployment_record_reads_ci_variables_else_local():
    ci = from_environment("prod", "prod", CI)
    assert (ci.commit, ci.branch, ci.deployed_by, ci.promoted_from) == (
        CI["GITHUB_SHA"], "main", "release-bot", "staging")
    assert ci.run_url == "https://github.com/example/envstack/actions/runs/42"
    assert DeploymentRecord.from_json(ci.to_json()) == ci
    promoted = from_environment("prod", "prod", {**CI, "ENVSTACK_COMMIT": "f" * 40})
    assert promoted.commit == "f" * 40  # a promotion dispatched from main deploys an older commit
    local = from_environment("dev", "dev", {})
    assert (local.commit, local.branch, local.deployed_by, local.promoted_from, local.run_url) == (
        "local", "local", "local", None, None)


@pytest.fixture(scope="module")
def deployed_from_ci() -> Synthesis:
    """dev deployed by CI, with two alert addresses and one threshold overridden by the stack file."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in CI.items():
            patch.setenv(key, value)
        return synth_with("dev", monitoring={"notificationEmails": ["a@example.com", "b@example.com"],
                                             "alarmThresholds": {"rdsCpuPercent": 55}})


def test_a_deploy_changes_the_records_value_never_a_tag(deployed_from_ci):
    local, ci = synth("dev"), deployed_from_ci
    record = json.loads(ci.one("aws:ssm/parameter:Parameter").inputs["insecureValue"])
    assert (record["commit"], record["deployedBy"], record["promotedFrom"]) == (CI["GITHUB_SHA"], "release-bot",
                                                                                "staging")
    provider = "pulumi:providers:aws"
    assert ci.one(provider).inputs["defaultTags"] == local.one(provider).inputs["defaultTags"]
    tags = {r.urn: r.inputs.get("tags") for r in local.resources}
    assert {r.urn: r.inputs.get("tags") for r in ci.resources if r.urn in tags} == tags


def test_stack_file_overrides_one_threshold_and_adds_addresses(deployed_from_ci):
    s, profile = deployed_from_ci, settings(synth("dev"))["alarmThresholds"]
    thresholds = {a.name.split("-")[1]: a.inputs["threshold"] for a in s.of_type(ALARM)}
    assert thresholds["rdsCpuPercent"] == 55
    assert thresholds["rdsConnections"] == profile["rdsConnections"]
    # Two addresses, each on the alert topic and on the cache-events topic.
    assert len(s.of_type("aws:sns/topicSubscription:TopicSubscription")) == 2 * 2
    assert [w for w in s.warnings() if not w.startswith("configuration:")] == []  # example.com: placeholders


def test_budget_notifies_the_topic_only(stack):
    """The topic's e-mail subscriptions reach the addresses; an e-mail subscriber on the budget would be a copy."""
    notifications = stack.one("aws:budgets/budget:Budget").inputs["notifications"]
    assert [n["notificationType"] for n in notifications] == ["FORECASTED", "ACTUAL"]
    for notification in notifications:
        assert notification["subscriberSnsTopicArns"] == [stack.outputs["alertTopicArn"]]
        assert "subscriberEmailAddresses" not in notification


# (environment, envstack:monitoring overrides, key path named, words expected)
INVALID = [
    ("dev", {"notificationEmails": ["oncall"]}, "envstack:monitoring.notificationEmails[0]", "an email address"),
    ("dev", {"notificationEmails": ["a@example.com", "a@example.com"]}, "envstack:monitoring.notificationEmails",
     "each address once"),
    ("dev", {"evaluationPeriods": 1}, "envstack:monitoring.evaluationPeriods", "greater than or equal to 2"),
    ("dev", {"evaluationPeriods": 3, "datapointsToAlarm": 4}, "envstack:monitoring.datapointsToAlarm",
     "at most evaluationPeriods (3)"),
    ("dev", {"datapointsToAlarm": 0}, "envstack:monitoring.datapointsToAlarm", "greater than or equal to 1"),
    ("dev", {"alarmThresholds": {"rdsCpuPercent": 150}}, "envstack:monitoring.alarmThresholds.rdsCpuPercent",
     "less than or equal to 100"),
    ("dev", {"alarmThresholds": {"rdsFreeStorageGb": 0}}, "envstack:monitoring.alarmThresholds.rdsFreeStorageGb",
     "greater than 0"),
    ("dev", {"alarmThresholds": {"rdsCpu": 80}}, "envstack:monitoring.alarmThresholds.rdsCpu", "unknown key"),
    ("dev", {"alarmThresholds": {"albMinHealthyHosts": 0}}, "envstack:monitoring.alarmThresholds.albMinHealthyHosts",
     "greater than or equal to 1"),
    ("dev", {"alarmThresholds": {"eksNodeStatusCheckFailures": 1}},
     "envstack:monitoring.alarmThresholds.eksNodeStatusCheckFailures", "less than 1"),
    ("dev", {"alarmThresholds": {"eksNodeMemoryPercent": 85}},
     "envstack:monitoring.alarmThresholds.eksNodeMemoryPercent", "unknown key"),  # no memory metric without an agent
    ("dev", {"anomalyDetection": "sometimes"}, "envstack:monitoring.anomalyDetection", "boolean"),
    ("dev", {"anomalyThresholdUsd": 0}, "envstack:monitoring.anomalyThresholdUsd", "greater than 0"),
    ("prod", {"notificationEmails": []}, "envstack:monitoring.notificationEmails", "at least 1 address"),
    ("staging", {"notificationEmails": []}, "envstack:monitoring.notificationEmails", "at least 1 address"),
    ("prod", {"anomalyDetection": False}, "envstack:monitoring.anomalyDetection", "requires true"),
]


@pytest.mark.parametrize(("environment", "monitoring", "key", "expected"), INVALID,
                         ids=[f"{row[2]}-{i}" for i, row in enumerate(INVALID)])
def test_bad_monitoring_values_name_the_key(environment, monitoring, key, expected):
    stack_file = {k.removeprefix("envstack:"): v for k, v in stack_config(environment).items()
                  if k.startswith("envstack:")}
    with pytest.raises(ConfigError) as caught:
        load_stack_config("broken", {**stack_file, "monitoring": monitoring}, "us-west-2")
    matching = [line for line in caught.value.render().splitlines() if line.startswith(f"stack broken: {key} = ")]
    assert matching, caught.value.render()
    assert expected in matching[0], matching[0]


def test_node_group_alarms_are_named_by_their_node_group(stack):
    """Keyed by position, removing the first node group would move the second's alarms onto other names (new
    alarms, history lost); keyed by group, the others stay as they are."""
    groups = [g.name.removeprefix("cluster-") for g in stack.of_type(NODE_GROUP)]
    for group in stack.of_type(NODE_GROUP):
        name = group.name.removeprefix("cluster-")
        alarms = watching(stack, group)
        assert {a.name for a in alarms} == {f"monitoring-{key}-{name}" for key in
                                            ("eksNodeCpuPercent", "eksNodeStatusCheckFailures")}
        assert {a.inputs["name"] for a in alarms} == {
            f"envstack-{stack.stack}-nodeGroup-{name}-{metric}" for metric in ("CPUUtilization", "StatusCheckFailed")}
    assert len(groups) == len(set(groups))
