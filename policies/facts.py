"""What AWS accepts, as the pack knows it, shared with the configuration so the two cannot drift.

A leaf module, importing nothing: the configuration refuses early what the pack would refuse at `pulumi preview`, and
`envstack validate` stays fast (no policy SDK loaded). The pack is published alone, so the facts it needs live in it.
"""

# The ELB TLS policies the pack allows (TLS 1.2+).
TLS_POLICIES = [
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
]

# ElastiCache guide, "Authenticating with IAM", Limitations: IAM authentication needs Valkey 7.2+ or Redis OSS 7.0+
# (and in-transit encryption on the cache).
IAM_AUTH_MINIMUM: dict[str, tuple[int, int]] = {"redis": (7, 0), "valkey": (7, 2)}
