"""What AWS accepts, as the pack knows it, shared with the configuration so the two cannot drift.

A leaf module, importing nothing: the configuration refuses early what the pack would refuse at `pulumi preview`, and
`envstack validate` stays fast (no policy SDK loaded). The pack is published alone, so the facts it needs live in it.
"""

# ELB security policies for HTTPS listeners (ELB guide, "Security policies for your Application Load Balancer"). The
# TLS 1.3 family negotiates TLS 1.3 and, but for TLS13-1-3, TLS 1.2 for older clients; prod accepts only these.
TLS13_POLICIES = [
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
]
# Older policies that still refuse TLS 1.0 and 1.1 (TLS 1.2 only): accepted where TLS 1.3 is not required.
TLS12_POLICIES = [
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
]
# Every policy the configuration and the pack accept (TLS 1.2+).
TLS_POLICIES = TLS13_POLICIES + TLS12_POLICIES

# ElastiCache guide, "Authenticating with IAM", Limitations: IAM authentication needs Valkey 7.2+ or Redis OSS 7.0+
# (and in-transit encryption on the cache).
IAM_AUTH_MINIMUM: dict[str, tuple[int, int]] = {"redis": (7, 0), "valkey": (7, 2)}

# RDS guide, "Updating applications to connect to PostgreSQL DB instances using new SSL/TLS certificates": the
# parameter rds.force_ssl defaults to 1 (TLS required) from PostgreSQL 15 on, to 0 before. A parameter group that
# restates the default shows a change on every preview (terraform-provider-aws#22857), so it is set only below 15.
POSTGRES_FORCE_SSL_DEFAULT_FROM = 15

# RDS for PostgreSQL exports postgresql, upgrade and iam-db-auth-error (CreateDBInstance EnableCloudwatchLogsExports;
# terraform-provider-aws internal/service/rds/consts.go, exportableLogTypeIAMDBAuthError): the last is where RDS
# reports failed IAM logins (RDS guide, "Troubleshooting for IAM DB authentication"), and every workload logs in so.
# What the database exports, and what `rds-log-exports` requires by default.
POSTGRES_LOG_EXPORTS = ("postgresql", "upgrade", "iam-db-auth-error")

# The Elastic Load Balancing account that delivers a region's ALB access logs, for the regions that have one: the
# Terraform AWS provider's table behind aws.elb.getServiceAccount (internal/service/elb/service_account_data_source.go,
# accountIDPerRegionMap; any other region fails with "unsupported AWS Region"), the same as the ELB guide's list
# ("Enable access logs for your Application Load Balancer", regions available before August 2022). Regions opened
# since (ca-west-1, il-central-1, eu-central-2, ap-southeast-4, mx-central-1, ...) have none: they deliver as the
# service principal ELB_LOG_DELIVERY. AWS adds no region to this table any more.
ELB_LOG_ACCOUNTS: dict[str, str] = {
    "af-south-1": "098369216593", "ap-east-1": "754344448648", "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887", "ap-northeast-3": "383597477331", "ap-south-1": "718504428378",
    "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266", "ap-southeast-3": "589379963580",
    "ca-central-1": "985666609251", "cn-north-1": "638102146993", "cn-northwest-1": "037604701340",
    "eu-central-1": "054676820928", "eu-north-1": "897822967062", "eu-south-1": "635631232127",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-west-3": "009996457667",
    "me-south-1": "076674570225", "sa-east-1": "507241528517", "us-east-1": "127311923021",
    "us-east-2": "033677994240", "us-gov-east-1": "190560391635", "us-gov-west-1": "048591011584",
    "us-west-1": "027434742980", "us-west-2": "797873946194",
}
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"

# Security groups that face the internet say so with this tag, which the pack's network rules read: `ingress` (the
# internet may connect, to the allowed public ports only: the LoadBalancer component's group) and `egress` (it may
# connect to the internet), or both separated by a space. A stack file cannot set it; a component does, in code.
INTERNET_TAG = "envstack:internet"
INTERNET_INGRESS = "ingress"
INTERNET_EGRESS = "egress"
# A bucket that is not versioned records why in this tag (its value: the reason); the pack's s3-versioning rule
# accepts it where the environment's policy configuration allows recorded exceptions (not in prod).
UNVERSIONED_TAG = "envstack:unversioned"
# The tag envstack puts on the access entry of the role that runs `pulumi up` (envstack:cluster.deployerRoleArn): the
# principal that creates the cluster, so the pack can tell that entry from the others (eks-no-implicit-creator-admin).
DEPLOYER_ENTRY_TAG = ("envstack:role", "deployer")
