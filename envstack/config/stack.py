"""The whole typed configuration of one stack: its environment's profile plus the stack file's overrides."""

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import Model
from .cache import CacheConfig
from .cluster import ClusterConfig
from .database import DatabaseConfig
from .load_balancer import LoadBalancerConfig
from .monitoring import MonitoringConfig
from .network import NetworkConfig

Environment = Literal["dev", "staging", "prod"]
ENVIRONMENTS: tuple[Environment, ...] = ("dev", "staging", "prod")

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


class StackConfig(Model):
    """Everything under `envstack:` (plus `aws:region`), after the profile's defaults are applied."""

    stack: str
    project: str = "envstack"
    region: str
    environment: Environment
    owner: str = Field(min_length=1)
    team: str = Field(min_length=1)
    repository: str = Field(min_length=1)
    allowed_account_ids: tuple[str, ...] = ()
    protect_stateful_resources: bool = False  # `protect` on data stores, KMS keys and log buckets
    network: NetworkConfig
    monitoring: MonitoringConfig
    database: DatabaseConfig
    cache: CacheConfig
    load_balancer: LoadBalancerConfig
    cluster: ClusterConfig

    @field_validator("region")
    @classmethod
    def _region_shape(cls, region: str) -> str:
        if not _REGION.match(region):
            raise ValueError("expected an AWS region such as us-west-2")
        return region

    @field_validator("allowed_account_ids")
    @classmethod
    def _account_ids(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        bad = [i for i in ids if not _ACCOUNT_ID.match(i)]
        if bad:
            raise ValueError(f"expected 12-digit AWS account ids, got {bad}")
        return ids

    @property
    def name_prefix(self) -> str:
        """Prefix for physical names: unique per project and stack."""
        return f"{self.project}-{self.stack}"

    @property
    def tags(self) -> dict[str, str]:
        """Default tags for every taggable resource. Nothing here changes from one deploy to the next."""
        return {
            "Project": self.project,
            "Environment": self.environment,
            "Stack": self.stack,
            "ManagedBy": "pulumi",
            "Owner": self.owner,
            "Team": self.team,
            "Repository": self.repository,
        }
