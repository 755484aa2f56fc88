"""envstack:usage — how much the stack is used: the traffic, data and log volumes the cost estimate prices.

Nothing here changes a resource; only `envstack synth`'s estimate reads it. Every usage-priced line (ALB LCUs, WAF
requests and logs, internet data out, cross-AZ traffic, NAT and endpoint data, access logs) derives from the same
request figures, so a stack that says "prod serves 200 requests a second" sees all of them move together. The
profiles give each figure its source or reasoning; a stack file overrides any of them.
"""

from pydantic import Field

from .base import Model

SECONDS_PER_MONTH = 730 * 3600  # the estimate's month: 730 hours


class LogVolumes(Model):
    """GB a month each log source writes, as ingested (before compression and retention)."""

    eks_audit_gb: float = Field(ge=0)
    """EKS audit log, the cluster-wide part: controllers, add-ons, leader-election leases (GB a month, as ingested)."""
    eks_audit_gb_per_node: float = Field(ge=0)
    """EKS audit log per node: its kubelet (lease, node and pod status) and daemons."""
    eks_other_gb: float = Field(ge=0)
    """The api, authenticator, controllerManager and scheduler logs together."""
    postgresql_gb: float = Field(ge=0)
    """The PostgreSQL log (slow statements, connections, errors)."""
    cache_slow_log_gb: float = Field(ge=0)
    """The cache's slow log."""
    other_gb: float = Field(ge=0)
    """Any other log group (the RDS upgrade log, ...)."""
    flow_log_gb: float = Field(ge=0)
    """VPC flow-log records of ALL traffic at 600 s aggregation."""
    flow_log_reject_share: float = Field(ge=0, le=1)
    """REJECT alone, as a share of ALL."""
    flow_log_every_minute_factor: float = Field(ge=1)
    """60 s aggregation, as a multiple of 600 s."""
    waf_kb_per_request: float = Field(ge=0)
    """One WAF JSON log record per request inspected (KB)."""
    access_log_kb_per_request: float = Field(ge=0)
    """One ALB access-log line per request, gzip'd as S3 stores it (KB)."""
    compressed_share: float = Field(gt=0, le=1)
    """CloudWatch Logs bills stored (archived) bytes compressed: the compressed share."""


class UsageConfig(Model):
    requests_per_second: float = Field(ge=0)
    """Requests at the load balancer, averaged over the month: LCUs, WAF requests and logs, data out, cross-AZ, NAT
    and access logs derive from it."""
    request_kb: float = Field(ge=0)
    """A request's size in (headers and body, KB)."""
    response_kb: float = Field(ge=0)
    """A response's size out to the internet (KB)."""
    requests_per_connection: float = Field(ge=1)
    """Keep-alive: requests a client connection carries."""
    connection_seconds: float = Field(gt=0)
    """How long a client connection stays open."""
    database_kb_per_request: float = Field(ge=0)
    """Pods to and from the database primary, both ways, per request (KB)."""
    cache_kb_per_request: float = Field(ge=0)
    """Pods to and from the cache primary, both ways, per request (KB)."""
    upstream_kb_per_request: float = Field(ge=0)
    """Pods to APIs on the internet, through NAT, per request (KB)."""
    cross_az_share: float = Field(ge=0, le=1)
    """The share of the pods' traffic to a primary (or to a single NAT gateway) that crosses AZs."""
    nat_gb_per_node: float = Field(ge=0)
    """NAT data a node pulls a month: images from registries outside AWS, OS packages (GB)."""
    interface_endpoint_gb: float = Field(ge=0)
    """Data through all interface endpoints together, a month (GB)."""
    database_data_gb: float = Field(ge=0)
    """What the database holds: its full backup (GB)."""
    database_daily_change_share: float = Field(ge=0, le=1)
    """The share changed a day: each day's incremental backup."""
    cache_data_gb: float = Field(ge=0)
    """What the cache holds: each snapshot (GB)."""
    age_months: int = Field(ge=1, le=120)
    """The month of the stack's life the estimate prices (KMS rotations, filled retention)."""
    logs: LogVolumes
    """GB a month each log source writes."""

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_second * SECONDS_PER_MONTH

    def gb_per_month(self, kb_per_request: float) -> float:
        """A per-request size, as GB a month (1 GB = 1024 x 1024 KB, AWS's GB for data transfer)."""
        return self.requests_per_month * kb_per_request / 1024 ** 2
