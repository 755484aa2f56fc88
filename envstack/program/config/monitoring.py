"""envstack:monitoring — log retention, budget, where alerts go and when alarms fire."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from .base import Model, matches

# The values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$")
Email = Annotated[str, AfterValidator(matches(_EMAIL, "an email address such as oncall@example.com"))]


class AlarmThresholds(Model):
    """One threshold per alarm preset (components/monitoring.py PRESETS, same camelCase keys)."""

    rds_cpu_percent: float = Field(gt=0, le=100)
    """Alarm when the database's CPUUtilization exceeds it."""
    rds_free_storage_gb: float = Field(gt=0)
    """Alarm when the database's FreeStorageSpace falls below it (GB)."""
    rds_freeable_memory_mb: float = Field(gt=0)
    """Alarm when the database's FreeableMemory falls below it (MB)."""
    rds_connections: float = Field(gt=0)
    """Alarm when DatabaseConnections exceed it."""
    redis_engine_cpu_percent: float = Field(gt=0, le=100)
    """Alarm when a cache node's EngineCPUUtilization exceeds it."""
    redis_memory_percent: float = Field(gt=0, le=100)
    """Alarm when a cache node's DatabaseMemoryUsagePercentage exceeds it."""
    redis_evictions: float = Field(ge=0)
    """Alarm when a cache node's Evictions exceed it."""
    redis_connections: float = Field(gt=0)
    """Alarm when a cache node's CurrConnections exceed it."""
    alb_elb_5xx: float = Field(ge=0, alias="albElb5xx")
    """Alarm when the load balancer's HTTPCode_ELB_5XX_Count exceeds it."""
    alb_target_5xx: float = Field(ge=0, alias="albTarget5xx")
    """Alarm when the targets' HTTPCode_Target_5XX_Count exceeds it."""
    alb_p99_seconds: float = Field(gt=0)
    """Alarm when the p99 TargetResponseTime exceeds it (seconds)."""
    alb_min_healthy_hosts: float = Field(ge=1)  # alarm when fewer targets than this are healthy
    """Alarm when the target group's HealthyHostCount falls below it (with `externalTrafficPolicy: Local`, nodes
    without a pod are unhealthy by design)."""
    nat_port_allocation_errors: float = Field(ge=0)
    """Alarm when a NAT gateway's ErrorPortAllocation exceeds it."""
    eks_node_cpu_percent: float = Field(gt=0, le=100)
    """Alarm when a node group's CPUUtilization (AWS/EC2, per Auto Scaling group) exceeds it."""
    # StatusCheckFailed is 0 or 1 per node and the alarm reads the group's Maximum: only a value below 1 can fire.
    eks_node_status_check_failures: float = Field(ge=0, lt=1)
    """Alarm when any node of a group fails its EC2 status checks (the group's Maximum above it; below 1)."""


class MonitoringConfig(Model):
    log_retention_days: int
    """Retention of every log group, a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."""
    monthly_budget_usd: float = Field(gt=0)
    """The AWS Budgets monthly limit on the `Stack` cost-allocation tag (alerts at 80% forecast and 100% actual)."""
    notification_emails: tuple[Email, ...]
    """E-mail subscribers of the alert topics, which alarms, RDS and cache events, the budget and anomaly detection
    notify; each once. Staging and prod need one; without any, synth and `pulumi up` warn that alerts reach nobody."""
    alarm_thresholds: AlarmThresholds
    """One threshold per alarm preset."""
    evaluation_periods: int = Field(ge=2, le=20)  # M of N: never 1 of 1 (one noisy datapoint pages someone)
    """N of the M-of-N alarm datapoints (never 1 of 1: one noisy datapoint would page someone)."""
    datapoints_to_alarm: int = Field(ge=1)
    """M of the M-of-N alarm datapoints, at most `evaluationPeriods`."""
    anomaly_detection: bool
    """Cost Anomaly Detection on the `Stack` tag, notifying the alert topic."""
    anomaly_threshold_usd: float = Field(gt=0)
    """The anomaly impact (USD) above which Cost Anomaly Detection notifies."""

    @field_validator("log_retention_days")
    @classmethod
    def _retention_cloudwatch_accepts(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"expected one of CloudWatch's retention values {list(LOG_RETENTION_DAYS)}")
        return days

    @field_validator("notification_emails")
    @classmethod
    def _email_addresses(cls, emails: tuple[str, ...]) -> tuple[str, ...]:
        # Compared without case, as mail systems do: each address names its subscription (components/alerts.py).
        folded = [e.casefold() for e in emails]
        repeated = sorted({e for e in emails if folded.count(e.casefold()) > 1})
        if repeated:
            raise ValueError(f"expected each address once (in any case); listed more than once: {repeated}")
        return emails

    @field_validator("datapoints_to_alarm")
    @classmethod
    def _m_of_n(cls, datapoints: int, info: ValidationInfo) -> int:
        periods = info.data.get("evaluation_periods")
        if periods is not None and datapoints > periods:
            raise ValueError(f"expected at most evaluationPeriods ({periods}): M of N datapoints")
        return datapoints
