"""Monitoring: what raises the stack's alerts, what it may spend, and what was deployed.

    the alert topic (components/alerts.py, built before everything it watches; its ARN is an argument)
      <- metric alarms: one per (preset, watched resource), from the PRESETS table; alarm and OK actions
      <- AWS Budgets monthly cost budget on the stack's cost-allocation tag (80% forecast, 100% actual)
      <- Cost Anomaly Detection on the same tag (when enabled)
    one CloudWatch dashboard, built from the same PRESETS table
    SSM parameter /envstack/<stack>/deployment: the deployment record (JSON: envstack/program/deployment.py),
      written last: after every other component (`record_after`) and every resource above

Everything to watch is an optional argument, so the component works with whatever the stack has. Every preset reads
a metric AWS publishes without an agent: the node presets read AWS/EC2 per node-group autoscaling group (basic
monitoring, so 5-minute periods), not Container Insights, which would need the `amazon-cloudwatch-observability`
add-on. The target group is watched on HealthyHostCount, not UnHealthyHostCount: every node is registered on the
NodePort and the Service uses `externalTrafficPolicy: Local`, so nodes without an application pod are unhealthy by
design; what matters is that some target is healthy.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from envstack.program.deployment import DeploymentRecord, parameter_name

from .base import Component

ABOVE, BELOW = "GreaterThanThreshold", "LessThanThreshold"
GB, MB = 1024.0**3, 1024.0**2
Dimensions = Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class AlarmPreset:
    key: str  # its threshold's key under envstack:monitoring.alarmThresholds
    watches: str  # the kind of resource (MonitoringTargets.dimensions key)
    namespace: str
    metric: str
    comparison: str
    statistic: str = "Average"  # a percentile such as "p99" is sent as extended_statistic
    period: int = 60
    scale: float = 1.0  # configured unit -> metric unit (e.g. GB -> bytes)
    # Gauges keep their state through gaps; counts of bad events publish nothing when nothing went wrong.
    missing_data: str = "missing"

    @property
    def percentile(self) -> bool:
        return self.statistic.startswith("p")


PRESETS: tuple[AlarmPreset, ...] = (
    AlarmPreset("rdsCpuPercent", "db", "AWS/RDS", "CPUUtilization", ABOVE),
    AlarmPreset("rdsFreeStorageGb", "db", "AWS/RDS", "FreeStorageSpace", BELOW, "Minimum", 300, GB),
    AlarmPreset("rdsFreeableMemoryMb", "db", "AWS/RDS", "FreeableMemory", BELOW, "Minimum", scale=MB),
    AlarmPreset("rdsConnections", "db", "AWS/RDS", "DatabaseConnections", ABOVE, "Maximum"),
    AlarmPreset("redisEngineCpuPercent", "cache", "AWS/ElastiCache", "EngineCPUUtilization", ABOVE),
    AlarmPreset("redisMemoryPercent", "cache", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", ABOVE, "Maximum"),
    AlarmPreset("redisEvictions", "cache", "AWS/ElastiCache", "Evictions", ABOVE, "Sum", missing_data="notBreaching"),
    AlarmPreset("redisConnections", "cache", "AWS/ElastiCache", "CurrConnections", ABOVE, "Maximum"),
    AlarmPreset("albElb5xx", "alb", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", ABOVE, "Sum",
                missing_data="notBreaching"),
    AlarmPreset("albTarget5xx", "alb", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", ABOVE, "Sum",
                missing_data="notBreaching"),
    AlarmPreset("albP99Seconds", "alb", "AWS/ApplicationELB", "TargetResponseTime", ABOVE, "p99",
                missing_data="notBreaching"),
    # No datapoint means no healthy target reported, which is the outage this alarm is for.
    AlarmPreset("albMinHealthyHosts", "targetGroup", "AWS/ApplicationELB", "HealthyHostCount", BELOW, "Minimum",
                missing_data="breaching"),
    AlarmPreset("natPortAllocationErrors", "nat", "AWS/NATGateway", "ErrorPortAllocation", ABOVE, "Sum",
                missing_data="notBreaching"),
    # Basic EC2 monitoring publishes every 5 minutes; a group scaled to zero publishes nothing (INSUFFICIENT_DATA).
    AlarmPreset("eksNodeCpuPercent", "nodeGroup", "AWS/EC2", "CPUUtilization", ABOVE, period=300),
    AlarmPreset("eksNodeStatusCheckFailures", "nodeGroup", "AWS/EC2", "StatusCheckFailed", ABOVE, "Maximum", 300),
)


def member_cluster_ids(replication_group_id: pulumi.Input[str], nodes: int) -> list[pulumi.Output[str]]:
    """ElastiCache names a (cluster-mode disabled) replication group's nodes <id>-001, <id>-002, ...; its metrics
    are published per node (CacheClusterId)."""
    return [pulumi.Output.concat(replication_group_id, f"-{n:03d}") for n in range(1, nodes + 1)]


@dataclass(frozen=True)
class MonitoringTargets:
    """What the stack has to watch; every list may be empty."""

    db_instance_ids: Sequence[pulumi.Input[str]]
    cache_cluster_ids: Sequence[pulumi.Input[str]]  # replication group members: see member_cluster_ids
    load_balancer_arn_suffix: pulumi.Input[str] | None
    target_group_arn_suffixes: Sequence[pulumi.Input[str]]  # target groups of that load balancer
    nat_gateway_ids: Sequence[pulumi.Input[str]]
    node_group_asgs: Mapping[str, pulumi.Input[str]]  # node group name -> its autoscaling group

    def dimensions(self) -> dict[str, list[Dimensions]]:
        return {kind: [dims for _, dims in watched] for kind, watched in self.keyed_dimensions().items()}

    def keyed_dimensions(self) -> dict[str, list[tuple[str, Dimensions]]]:
        """Per kind, (key, dimensions) of each watched resource: the key names its alarms. A node group by its name
        (what it is: removing one leaves the others' alarms); the others by position, which is what they are (the
        AZ of a NAT gateway, a cache member's number, the one database)."""
        lb = self.load_balancer_arn_suffix
        positional: dict[str, list[Dimensions]] = {
            "db": [{"DBInstanceIdentifier": i} for i in self.db_instance_ids],
            "cache": [{"CacheClusterId": i} for i in self.cache_cluster_ids],
            "alb": [{"LoadBalancer": lb}] if lb is not None else [],
            "targetGroup": [{"TargetGroup": tg, "LoadBalancer": lb} for tg in self.target_group_arn_suffixes]
            if lb is not None else [],
            "nat": [{"NatGatewayId": i} for i in self.nat_gateway_ids],
        }
        return {**{kind: [(str(i), dims) for i, dims in enumerate(watched)] for kind, watched in positional.items()},
                "nodeGroup": [(name, {"AutoScalingGroupName": asg}) for name, asg in self.node_group_asgs.items()]}


@dataclass(frozen=True)
class MonitoringArgs:
    stack: str
    name_prefix: str  # physical names: envstack-<stack>
    alert_topic_arn: pulumi.Input[str]  # Alerts.topic_arn: alarms, budget and anomaly detection notify it
    region: str
    targets: MonitoringTargets
    thresholds: Mapping[str, float]
    evaluation_periods: int
    datapoints_to_alarm: int
    monthly_budget_usd: float
    anomaly_detection: bool
    anomaly_threshold_usd: float
    deployment_record: DeploymentRecord | None
    # What the deployment record waits for: every other component of the stack. Written last, it names a commit only
    # once everything else of that update succeeded (a failed update stops before it), so `envstack promote` and the
    # post-deploy check never take a commit that did not deploy.
    record_after: Sequence[pulumi.Resource]

    @property
    def cost_tag(self) -> tuple[str, str]:
        """The cost-allocation tag (key, value) the budget and anomaly monitor filter on: every resource's Stack."""
        return "Stack", self.stack


class Monitoring(Component):
    dashboard_name: pulumi.Output[str]
    deployment_record_parameter: pulumi.Output[str] | None

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        watched = {kind: len(dims) for kind, dims in args.targets.dimensions().items()}
        super().__init__("envstack:observability:Monitoring", name, {
            "monthlyBudgetUsd": args.monthly_budget_usd,
            "alarmsOf": watched, "datapoints": f"{args.datapoints_to_alarm} of {args.evaluation_periods}",
            "anomalyDetection": args.anomaly_detection}, opts, name_prefix=args.name_prefix)
        self._args = args
        self.alarms = self._alarms()
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=args.name_prefix, dashboard_body=self._dashboard_body(),
            opts=self.child())
        self.dashboard_name = self.dashboard.dashboard_name
        self.budget = self._budget()
        self.anomaly_subscription = self._anomaly_detection() if args.anomaly_detection else None
        self.deployment_parameter = self._deployment_parameter()
        self.deployment_record_parameter = self.deployment_parameter.name if self.deployment_parameter else None
        self.register_outputs({
            "dashboard_name": self.dashboard_name,
            "alarm_count": len(self.alarms), "deployment_record_parameter": self.deployment_record_parameter,
        })

    def _alarms(self) -> list[aws.cloudwatch.MetricAlarm]:
        targets = self._args.targets.keyed_dimensions()
        return [self._alarm(preset, key, dims) for preset in PRESETS for key, dims in targets[preset.watches]]

    def _alarm(self, preset: AlarmPreset, key: str, dimensions: Dimensions) -> aws.cloudwatch.MetricAlarm:
        args = self._args
        threshold = args.thresholds[preset.key]
        word = "above" if preset.comparison == ABOVE else "below"
        return aws.cloudwatch.MetricAlarm(
            f"{self.label}-{preset.key}-{key}",
            name=f"{args.name_prefix}-{preset.watches}-{key}-{preset.metric}",
            alarm_description=(f"{preset.namespace} {preset.metric} ({preset.statistic}) {word} {threshold:g} "
                               f"in {args.datapoints_to_alarm} of {args.evaluation_periods} periods of "
                               f"{preset.period}s [{args.stack}: monitoring.alarmThresholds.{preset.key}]"),
            namespace=preset.namespace, metric_name=preset.metric, dimensions=dimensions,
            statistic=None if preset.percentile else preset.statistic,
            extended_statistic=preset.statistic if preset.percentile else None,
            comparison_operator=preset.comparison, threshold=threshold * preset.scale, period=preset.period,
            evaluation_periods=args.evaluation_periods, datapoints_to_alarm=args.datapoints_to_alarm,
            treat_missing_data=preset.missing_data, actions_enabled=True,
            alarm_actions=[args.alert_topic_arn], ok_actions=[args.alert_topic_arn], opts=self.child())

    def _dashboard_body(self) -> pulumi.Output[str]:
        """One graph per preset that has something to watch, with its alarm threshold drawn on it."""
        args, targets = self._args, self._args.targets.dimensions()
        widgets: list[dict[str, Any]] = [{
            "type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
            "properties": {"markdown": f"# {args.name_prefix}\nAlarms notify the SNS topic "
                                       f"`{args.name_prefix}-alerts`; thresholds come from "
                                       "`envstack:monitoring.alarmThresholds`."}}]
        for preset in PRESETS:
            if not targets[preset.watches]:
                continue
            n = len(widgets) - 1
            widgets.append({
                "type": "metric", "x": (n % 3) * 8, "y": 2 + (n // 3) * 6, "width": 8, "height": 6,
                "properties": {
                    "title": f"{preset.namespace} {preset.metric} ({preset.statistic})", "region": args.region,
                    "view": "timeSeries", "period": preset.period, "stat": preset.statistic,
                    "metrics": [[preset.namespace, preset.metric, *_flatten(dims)]
                                for dims in targets[preset.watches]],
                    "annotations": {"horizontal": [
                        {"label": preset.key, "value": args.thresholds[preset.key] * preset.scale}]},
                }})
        return pulumi.Output.from_input({"widgets": widgets}).apply(json.dumps)

    def _budget(self) -> aws.budgets.Budget:
        args = self._args
        tag_key, tag_value = args.cost_tag

        # The topic only: its e-mail subscriptions already reach the same people (an e-mail subscriber here too
        # would send every budget alert twice).
        def notify(kind: str, percent: float) -> dict[str, Any]:
            return {"comparison_operator": "GREATER_THAN", "notification_type": kind, "threshold": percent,
                    "threshold_type": "PERCENTAGE", "subscriber_sns_topic_arns": [args.alert_topic_arn]}

        return aws.budgets.Budget(
            f"{self.label}-monthly", name=f"{args.name_prefix}-monthly", budget_type="COST", time_unit="MONTHLY",
            limit_amount=f"{args.monthly_budget_usd:.2f}", limit_unit="USD",
            # Costs are attributed through the cost-allocation tag user:Stack on every resource. AWS Billing only
            # reports a tag once it is activated in the payer (management) account ("Activating user-defined cost
            # allocation tags", Billing guide); until then this filter and the anomaly monitor see nothing.
            # `envstack preflight` checks it.
            cost_filters=[{"name": "TagKeyValue", "values": [f"user:{tag_key}${tag_value}"]}],
            notifications=[notify("FORECASTED", 80), notify("ACTUAL", 100)], opts=self.child())

    def _anomaly_detection(self) -> aws.costexplorer.AnomalySubscription:
        args = self._args
        tag_key, tag_value = args.cost_tag
        monitor = self.anomaly_monitor = aws.costexplorer.AnomalyMonitor(
            f"{self.label}-cost", name=f"{args.name_prefix}-cost", monitor_type="CUSTOM",
            monitor_specification=anomaly_monitor_specification(tag_key, tag_value), opts=self.child())
        return aws.costexplorer.AnomalySubscription(
            f"{self.label}-cost", name=f"{args.name_prefix}-cost", monitor_arn_lists=[monitor.arn],
            frequency="IMMEDIATE",  # the only frequency Cost Anomaly Detection allows for SNS subscribers
            subscribers=[{"type": "SNS", "address": args.alert_topic_arn}],
            threshold_expression={"dimension": {
                "key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE", "match_options": ["GREATER_THAN_OR_EQUAL"],
                "values": [f"{args.anomaly_threshold_usd:g}"]}},
            opts=self.child())

    def _deployment_parameter(self) -> aws.ssm.Parameter | None:
        record = self._args.deployment_record
        if record is None:
            return None
        # After the other components (a component stands for all its children) and this one's own resources.
        own = [*self.alarms, self.dashboard, self.budget,
               *([self.anomaly_monitor, self.anomaly_subscription] if self.anomaly_subscription else [])]
        return aws.ssm.Parameter(
            f"{self.label}-deployment", name=parameter_name(record.stack), type="String",
            insecure_value=record.to_json(),  # not a secret: shown in previews so a deploy's diff names the commit
            description=f"{self._args.name_prefix}: what was deployed last (JSON, see envstack/program/deployment.py)",
            opts=self.child(depends_on=[*self._args.record_after, *own]))


def anomaly_monitor_specification(tag_key: str, tag_value: str) -> str:
    """The Cost Explorer expression "cost tagged `tag_key`=`tag_value`" in the form the provider reads back: it
    serializes the whole Expression, every unset key as null, and compares it with what the program sends, so a
    shorter document differs on every preview and the specification, ForceNew, replaces the monitor each time.
    The key is the cost-allocation tag's `user:<key>`, as the budget's filter names it: the provider's acceptance
    tests create a tag monitor with "user:CostCenter" and assert that the next plan is empty and that an import
    reads the same document (internal/service/ce/anomaly_monitor_test.go, testAccAnomalyMonitorConfig_basic; its
    earlier versions used the bare key, which no current test round-trips). MatchOptions null: EQUALS is the
    default (Cost Explorer API, TagValues)."""
    return json.dumps({"And": None, "CostCategories": None, "Dimensions": None, "Not": None, "Or": None,
                       "Tags": {"Key": f"user:{tag_key}", "MatchOptions": None, "Values": [tag_value]}})


def _flatten(dimensions: Dimensions) -> list[pulumi.Input[str]]:
    return [part for name, value in dimensions.items() for part in (name, value)]
