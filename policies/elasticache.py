"""ElastiCache facts the pack and the configuration share. A leaf module: the configuration imports it without
loading the policy SDK, and the two cannot drift."""

# ElastiCache guide, "Authenticating with IAM", Limitations: IAM authentication needs Valkey 7.2+ or Redis OSS 7.0+
# (and in-transit encryption on the cache).
IAM_AUTH_MINIMUM: dict[str, tuple[int, int]] = {"redis": (7, 0), "valkey": (7, 2)}
