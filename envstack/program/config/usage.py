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

    eks_audit_gb: float = Field(ge=0)  # the cluster-wide part: controllers, add-ons, leader-election leases
    eks_audit_gb_per_node: float = Field(ge=0)  # each node's kubelet (lease, node and pod status) and daemons
    eks_other_gb: float = Field(ge=0)  # api, authenticator, controllerManager and scheduler together
    postgresql_gb: float = Field(ge=0)  # the PostgreSQL log (slow statements, connections, errors)
    cache_slow_log_gb: float = Field(ge=0)
    other_gb: float = Field(ge=0)  # any other log group (the RDS upgrade log, ...)
    flow_log_gb: float = Field(ge=0)  # VPC flow-log records of ALL traffic at 600 s aggregation
    flow_log_reject_share: float = Field(ge=0, le=1)  # REJECT alone, as a share of ALL
    flow_log_every_minute_factor: float = Field(ge=1)  # 60 s aggregation, as a multiple of 600 s
    waf_kb_per_request: float = Field(ge=0)  # one JSON record per request inspected
    access_log_kb_per_request: float = Field(ge=0)  # one ALB access-log line per request, gzip'd as S3 stores it
    compressed_share: float = Field(gt=0, le=1)  # CloudWatch Logs bills stored (archived) bytes compressed


class UsageConfig(Model):
    requests_per_second: float = Field(ge=0)  # at the load balancer, averaged over the month
    request_kb: float = Field(ge=0)  # in: headers and body
    response_kb: float = Field(ge=0)  # out to the internet
    requests_per_connection: float = Field(ge=1)  # keep-alive: requests a client connection carries
    connection_seconds: float = Field(gt=0)  # how long a client connection stays open
    database_kb_per_request: float = Field(ge=0)  # pods <-> the database primary, both ways
    cache_kb_per_request: float = Field(ge=0)  # pods <-> the cache primary, both ways
    upstream_kb_per_request: float = Field(ge=0)  # pods -> APIs on the internet, through NAT
    cross_az_share: float = Field(ge=0, le=1)  # of the pods' traffic to a primary (or to a single NAT gateway)
    nat_gb_per_node: float = Field(ge=0)  # a month: images from registries outside AWS, OS packages
    interface_endpoint_gb: float = Field(ge=0)  # a month through all interface endpoints together
    database_data_gb: float = Field(ge=0)  # what the database holds: its full backup
    database_daily_change_share: float = Field(ge=0, le=1)  # changed a day: each day's incremental backup
    cache_data_gb: float = Field(ge=0)  # what the cache holds: each snapshot
    age_months: int = Field(ge=1, le=120)  # the month of the stack's life the estimate prices
    logs: LogVolumes

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_second * SECONDS_PER_MONTH

    def gb_per_month(self, kb_per_request: float) -> float:
        """A per-request size, as GB a month (1 GB = 1024 x 1024 KB, AWS's GB for data transfer)."""
        return self.requests_per_month * kb_per_request / 1024 ** 2
