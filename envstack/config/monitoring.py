"""envstack:monitoring — log retention, budget and where alerts go."""

from pydantic import Field, field_validator

from .base import Model

# The values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)


class MonitoringConfig(Model):
    log_retention_days: int
    monthly_budget_usd: float = Field(gt=0)

    @field_validator("log_retention_days")
    @classmethod
    def _retention_cloudwatch_accepts(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"expected one of CloudWatch's retention values {list(LOG_RETENTION_DAYS)}")
        return days
