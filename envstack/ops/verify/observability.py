"""What tells someone when the stack goes wrong, and what it costs: alarms, the alert subscriptions, the budget and
its cost-allocation tag, and the logs (VPC flow logs, WAF logs, PostgreSQL logs) actually arriving."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

from envstack.ops.preflight.account import stack_tag_status
from envstack.ops.preflight.core import unless_absent

from .core import LOG_WINDOW, Result, SkipCheck, VerifyContext, ago, check, listed, pages

RDS_LOG = "postgresql"  # the export that PostgreSQL writes to all the time (checkpoints, connections, errors)


@check("alarms")
def alarms(ctx: VerifyContext) -> Iterator[Result]:
    """CloudWatch DescribeAlarms: the stack's alarms (named <prefix>-..., notifying its alert topic) exist and none is
    in ALARM."""
    topic = ctx.output("alertTopicArn")
    found = [a for a in pages(ctx.client("cloudwatch"), "describe_alarms", "MetricAlarms",
                              AlarmNamePrefix=f"{ctx.cfg.name_prefix}-") if topic in a.get("AlarmActions", [])]
    if not found:
        yield Result("alarms", "fail", f"no alarm named {ctx.cfg.name_prefix}-* notifies {topic}")
        return
    for alarm in found:
        if alarm.get("StateValue") == "ALARM":
            since = alarm.get("StateUpdatedTimestamp")
            yield Result("alarms", "fail", f"{alarm['AlarmName']} is in ALARM"
                         f"{' since ' + ago(since, ctx.now) if since else ''}: {alarm.get('StateReason', '')}")
    quiet = [a for a in found if not a.get("ActionsEnabled", True)]
    for alarm in quiet:
        yield Result("alarms", "fail", f"{alarm['AlarmName']} has its actions disabled: it notifies nobody")
    waiting = sum(a.get("StateValue") == "INSUFFICIENT_DATA" for a in found)
    if all(a.get("StateValue") != "ALARM" for a in found) and not quiet:
        yield Result("alarms", "ok", f"{len(found)} alarms notify the alert topic, none in ALARM"
                     f"{f' ({waiting} without data yet)' if waiting else ''}")


@check("alert-subscriptions")
def alert_subscriptions(ctx: VerifyContext) -> Iterator[Result]:
    """SNS ListSubscriptionsByTopic of both alert topics: every configured address subscribed and confirmed (an
    unconfirmed e-mail subscription receives nothing)."""
    emails = set(ctx.cfg.monitoring.notification_emails)
    if not emails:
        yield Result("alert-subscriptions", "warn", "envstack:monitoring.notificationEmails is empty: alarms, budget "
                     "and anomaly alerts reach nobody")
        return
    for output in ("alertTopicArn", "cacheEventsTopicArn"):
        topic = ctx.output(output)
        found = listed(ctx.client("sns"), "list_subscriptions_by_topic", "Subscriptions", "NotFound", TopicArn=topic)
        if found is None:
            yield Result("alert-subscriptions", "fail", f"topic {topic} does not exist")
            continue
        subscribed = {s["Endpoint"]: s["SubscriptionArn"] for s in found if s.get("Protocol") == "email"}
        name = topic.rsplit(":", 1)[-1]
        for email in sorted(emails - set(subscribed)):
            yield Result("alert-subscriptions", "fail", f"{name}: {email} is not subscribed")
        pending = sorted(e for e in emails & set(subscribed) if subscribed[e] == "PendingConfirmation")
        for email in pending:
            yield Result("alert-subscriptions", "fail", f"{name}: {email} has not confirmed its subscription (the "
                         "link in the AWS Notification e-mail; or `aws sns subscribe` again to resend it)")
        if emails <= set(subscribed) and not pending:
            yield Result("alert-subscriptions", "ok", f"{name}: {len(emails)} e-mail subscriptions confirmed")


@check("budget")
def budget(ctx: VerifyContext) -> Iterator[Result]:
    """AWS Budgets DescribeBudget: the stack's monthly budget exists with the configured limit."""
    name = f"{ctx.cfg.name_prefix}-monthly"
    described = unless_absent(partial(ctx.client("budgets").describe_budget, AccountId=ctx.account_id(),
                                      BudgetName=name), "NotFoundException")
    if described is None:
        yield Result("budget", "fail", f"no budget {name} in account {ctx.account}")
        return
    found = described["Budget"]
    limit = float(found.get("BudgetLimit", {}).get("Amount", "nan"))
    spent = found.get("CalculatedSpend", {}).get("ActualSpend", {}).get("Amount")
    if limit != ctx.cfg.monitoring.monthly_budget_usd:
        yield Result("budget", "fail", f"{name} limits {limit:g} USD, envstack:monitoring.monthlyBudgetUsd says "
                     f"{ctx.cfg.monitoring.monthly_budget_usd:g}")
    else:
        yield Result("budget", "ok", f"{name}: {limit:g} USD a month{f', {float(spent):.2f} spent' if spent else ''}")


@check("cost-allocation-tag")
def cost_allocation_tag(ctx: VerifyContext) -> Iterator[Result]:
    """The Stack tag is an active cost-allocation tag, else the budget and anomaly monitor see nothing. Billing lists a
    tag only once it has seen it on a bill (up to 24 hours after the first tagged resource): a warning until then."""
    status = stack_tag_status(ctx)
    if status == "Active":
        yield Result("cost-allocation-tag", "ok", "the Stack tag is an active cost-allocation tag")
    elif status is None:
        yield Result("cost-allocation-tag", "warn", "Billing does not list the Stack tag yet (up to 24 hours after the "
                     "first tagged resource): activate it then, in the payer account")
    else:
        yield Result("cost-allocation-tag", "fail", f"the Stack tag is {status}: the budget and anomaly monitor see "
                     "nothing until the payer account activates it (Billing > Cost allocation tags)")


def _from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


class DestinationMissingError(Exception):
    """The log group or bucket a source writes to does not exist: nothing can arrive (a failure, not a question
    left unanswered)."""

    def __init__(self, kind: str, name: str):
        super().__init__(f"{kind} {name}")
        self.name = name


def last_arrival(ctx: VerifyContext, group: str) -> datetime | None:
    """The start of the last minute of the last hour in which log group `group` received events, or None: the
    AWS/Logs IncomingLogEvents metric (dimension LogGroupName, Sum; CloudWatch GetMetricStatistics), which CloudWatch
    Logs publishes each minute (CloudWatch Logs User Guide, "Monitoring with CloudWatch metrics"). A count, never an
    event: the read roles are denied every log event (bootstrap's <env>-<kind>-no-data). Not DescribeLogStreams:
    its lastEventTimestamp and lastIngestionTime update "on an eventual consistency basis ... typically in less than
    an hour" (CloudWatch Logs API Reference, LogStream), as late as the whole window looked at."""
    datapoints = ctx.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Logs", MetricName="IncomingLogEvents", Dimensions=[{"Name": "LogGroupName", "Value": group}],
        StartTime=ctx.now - LOG_WINDOW, EndTime=ctx.now, Period=60, Statistics=["Sum"])["Datapoints"]
    return max((point["Timestamp"] for point in datapoints if point.get("Sum", 0) > 0), default=None)


def arrival_in_group(ctx: VerifyContext, group: str) -> datetime | None:
    """`last_arrival` of a log group that must exist (CloudWatch Logs DescribeLogGroups): the metric of a group
    that does not exist is merely empty."""
    if _log_group_created(ctx, group) is None:
        raise DestinationMissingError("log group", group)
    return last_arrival(ctx, group)


def fresh(ctx: VerifyContext, name: str, source: str, created: datetime | None,
          newest: Callable[[], datetime | None]) -> Result:
    """ok when `source` received data within the last hour; skipped while it is younger than that."""
    if not ctx.older_than(created):
        return Result(name, "skipped", f"{source} was created {ago(created, ctx.now) if created else 'just now'}: "
                      "data is expected once it is an hour old")
    try:
        when = newest()
    except DestinationMissingError as missing:
        where = f"{missing}" if source == missing.name else f"{source}: {missing}"
        return Result(name, "fail", f"{where} does not exist, so nothing can arrive")
    if when is None:
        return Result(name, "fail", f"{source} received nothing in the last hour")
    return Result(name, "ok", f"{source} received data {ago(when, ctx.now)}")


@check("flow-logs")
def flow_logs(ctx: VerifyContext) -> Iterator[Result]:
    """EC2 DescribeFlowLogs of the VPC: active, delivering, and data in its log group or bucket within the hour."""
    vpc = ctx.output("vpcId")
    found = ctx.client("ec2").describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])["FlowLogs"]
    if not found:
        yield Result("flow-logs", "fail", f"{vpc} has no flow log")
    for flow in found:
        label = f"flow log {flow.get('FlowLogId')}"
        if flow.get("FlowLogStatus") != "ACTIVE" or flow.get("DeliverLogsStatus") == "FAILED":
            yield Result("flow-logs", "fail", f"{label} is {flow.get('FlowLogStatus')}, delivery "
                         f"{flow.get('DeliverLogsStatus')}: {flow.get('DeliverLogsErrorMessage', '')}")
        elif flow.get("LogDestinationType") == "s3":
            yield fresh(ctx, "flow-logs", f"{label} to {flow.get('LogDestination')}", flow.get("CreationTime"),
                        partial(_latest_object, ctx, flow["LogDestination"]))
        else:
            group = flow.get("LogGroupName") or str(flow.get("LogDestination", "")).split(":log-group:")[-1]
            yield fresh(ctx, "flow-logs", f"{label} to {group}", flow.get("CreationTime"),
                        partial(arrival_in_group, ctx, group))


def _latest_object(ctx: VerifyContext, destination: str) -> datetime | None:
    """The newest flow-log object of this hour or the last one: they are written under
    <prefix>/AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/<hh>/ with per-hour partitions (VPC guide,
    "Flow log files" for S3; the network component turns per-hour partitions on)."""
    bucket, _, prefix = destination.split(":::", 1)[1].partition("/")
    newest: datetime | None = None
    for hour in (ctx.now, ctx.now - timedelta(hours=1)):
        key = f"{prefix.rstrip('/') + '/' if prefix else ''}AWSLogs/{ctx.account_id()}/vpcflowlogs/{ctx.cfg.region}/" \
              f"{hour:%Y/%m/%d/%H}/"
        objects = listed(ctx.client("s3"), "list_objects_v2", "Contents", "NoSuchBucket", Bucket=bucket, Prefix=key)
        if objects is None:
            raise DestinationMissingError("bucket", bucket)
        for item in objects:
            modified = item["LastModified"]
            if modified >= ctx.now - LOG_WINDOW and (newest is None or modified > newest):
                newest = modified
    return newest


@check("waf-logs")
def waf_logs(ctx: VerifyContext) -> Iterator[Result]:
    """WAFv2 GetLoggingConfiguration of the load balancer's web ACL, and events in its log group within the hour."""
    waf = ctx.cfg.load_balancer.waf
    if not (waf.enabled and waf.logging):
        raise SkipCheck("envstack:loadBalancer.waf.logging is false")
    wafv2 = ctx.client("wafv2")
    acl = wafv2.get_web_acl_for_resource(ResourceArn=ctx.output("loadBalancerArn")).get("WebACL")
    if not acl:
        yield Result("waf-logs", "fail", "no web ACL on the load balancer, so no WAF logs")
        return
    described = unless_absent(partial(wafv2.get_logging_configuration, ResourceArn=acl["ARN"]),
                              "WAFNonexistentItemException")
    if described is None:
        yield Result("waf-logs", "fail", f"web ACL {acl['Name']} logs nowhere")
        return
    logging = described["LoggingConfiguration"]
    for destination in logging.get("LogDestinationConfigs", []):
        group = destination.split(":log-group:")[-1].removesuffix(":*")
        created = _log_group_created(ctx, group)
        if created is None:
            yield Result("waf-logs", "fail", f"web ACL {acl['Name']} logs to {group}, which does not exist")
        else:
            yield fresh(ctx, "waf-logs", group, created, partial(last_arrival, ctx, group))


def _log_group_created(ctx: VerifyContext, group: str) -> datetime | None:
    for found in ctx.client("logs").describe_log_groups(logGroupNamePrefix=group).get("logGroups", []):
        if found["logGroupName"] == group:
            return _from_millis(found["creationTime"])
    return None


@check("rds-logs")
def rds_logs(ctx: VerifyContext) -> Iterator[Result]:
    """The instance exports its PostgreSQL log (RDS DescribeDBInstances) and events arrived within the hour."""
    identifier = str(ctx.output("databaseEndpoint")).split(".")[0]
    db = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    if RDS_LOG not in db.get("EnabledCloudwatchLogsExports", []):
        yield Result("rds-logs", "fail", f"{identifier} does not export its {RDS_LOG} log to CloudWatch Logs")
        return
    group = f"/aws/rds/instance/{identifier}/{RDS_LOG}"
    yield fresh(ctx, "rds-logs", group, db.get("InstanceCreateTime"), partial(arrival_in_group, ctx, group))
