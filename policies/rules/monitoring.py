"""CloudWatch log groups and alarms."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Resource, resource_rule

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@resource_rule("log-group-retention", "Log groups must keep logs at least the configured number of days.",
               [LOG_GROUP], severity=Severity.MEDIUM, checkov="CKV_AWS_66",
               options={"minimumDays": {"type": "integer", "minimum": 1, "default": 90}})
def retention(r: Resource) -> Iterator[str]:
    days, minimum = r.get("retentionInDays", default=0), r.cfg["minimumDays"]
    if not days:
        yield f"retentionInDays is not set (logs are kept forever); set at least {minimum:g} days"
    elif days < minimum:
        yield f"retentionInDays is {days:g}; at least {minimum:g} required"


@resource_rule("log-group-kms", "Log groups must be encrypted with a KMS key.", [LOG_GROUP], severity=Severity.LOW,
               checkov="CKV_AWS_158")
def kms(r: Resource) -> Iterator[str]:
    if not r.present("kmsKeyId"):
        yield "kmsKeyId is not set"


@resource_rule("alarm-actions-enabled", "Metric alarms must have actions enabled and somewhere to send them.",
               [METRIC_ALARM], severity=Severity.MEDIUM, checkov="CKV_AWS_319")
def actions_enabled(r: Resource) -> Iterator[str]:
    if r.get("actionsEnabled") is False:
        yield "actionsEnabled is false"
    if not r.present("alarmActions"):
        yield "alarmActions is empty: the alarm notifies no one"
