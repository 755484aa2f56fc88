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
    rds_free_storage_gb: float = Field(gt=0)
    rds_freeable_memory_mb: float = Field(gt=0)
    rds_connections: float = Field(gt=0)
    redis_engine_cpu_percent: float = Field(gt=0, le=100)
    redis_memory_percent: float = Field(gt=0, le=100)
    redis_evictions: float = Field(ge=0)
    redis_connections: float = Field(gt=0)
    alb_elb_5xx: float = Field(ge=0, alias="albElb5xx")
    alb_target_5xx: float = Field(ge=0, alias="albTarget5xx")
    alb_p99_seconds: float = Field(gt=0)
    alb_min_healthy_hosts: float = Field(ge=1)  # alarm when fewer targets than this are healthy
    nat_port_allocation_errors: float = Field(ge=0)
    eks_node_cpu_percent: float = Field(gt=0, le=100)
    # StatusCheckFailed is 0 or 1 per node and the alarm reads the group's Maximum: only a value below 1 can fire.
    eks_node_status_check_failures: float = Field(ge=0, lt=1)


class MonitoringConfig(Model):
    log_retention_days: int
    monthly_budget_usd: float = Field(gt=0)
    notification_emails: tuple[Email, ...] = ()
    alarm_thresholds: AlarmThresholds
    evaluation_periods: int = Field(ge=2, le=20)  # M of N: never 1 of 1 (one noisy datapoint pages someone)
    datapoints_to_alarm: int = Field(ge=1)
    anomaly_detection: bool = False
    anomaly_threshold_usd: float = Field(default=50, gt=0)

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
