"""envstack:loadBalancer — the internet-facing ALB: TLS, who may connect, the NodePort it forwards to, health
checks, WAF and the access-log bucket's lifecycle."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from policies.facts import TLS_POLICIES  # the policies the pack allows: one list, so they cannot drift

from .base import Cidr, Model, matches

StorageClass = Literal["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]
# S3 refuses a transition to an infrequent-access class before an object is 30 days old.
MIN_DAYS_BEFORE = {"STANDARD_IA": 30, "ONEZONE_IA": 30}

ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d):\d{12}:certificate/[0-9a-f-]{36}$")
# One status code, a comma-separated list or a range, within what ALB health checks accept (200-499).
MATCHER = re.compile(r"^[2-4]\d\d(-[2-4]\d\d)?(,[2-4]\d\d(-[2-4]\d\d)?)*$")
LOG_PREFIX = re.compile(r"^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$")


class HealthCheckConfig(Model):
    path: str = Field(max_length=1024)
    """The path the target group's health check requests (absolute)."""
    matcher: Annotated[str, AfterValidator(matches(MATCHER, "HTTP status codes between 200 and 499: '200', '200,302' "
                                                          "or '200-399'"))]
    """The HTTP codes that count as healthy: `200`, `200,302` or `200-399` (200 to 499)."""
    interval_seconds: int = Field(ge=5, le=300)
    """Seconds between health checks."""
    timeout_seconds: int = Field(ge=2, le=120)
    """Seconds a health check may take, less than `intervalSeconds`."""
    healthy_threshold: int = Field(ge=2, le=10)
    """Consecutive successes before a target is healthy."""
    unhealthy_threshold: int = Field(ge=2, le=10)
    """Consecutive failures before a target is unhealthy."""

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("expected an absolute HTTP path starting with '/'")
        return path

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout_below_interval(cls, timeout: int, info: ValidationInfo) -> int:
        interval = info.data.get("interval_seconds")
        if interval is not None and timeout >= interval:
            raise ValueError(f"expected less than intervalSeconds ({interval})")
        return timeout


# The rules of AWS's core rule set (AWSManagedRulesCommonRuleSet), from the WAF Developer Guide's "Core rule set
# (CRS) managed rule group" page: `countedRules` may only name these.
COMMON_RULE_SET_RULES = (
    "NoUserAgent_HEADER", "UserAgent_BadBots_HEADER", "SizeRestrictions_QUERYSTRING", "SizeRestrictions_Cookie_HEADER",
    "SizeRestrictions_BODY", "SizeRestrictions_URIPATH", "EC2MetaDataSSRF_BODY", "EC2MetaDataSSRF_COOKIE",
    "EC2MetaDataSSRF_URIPATH", "EC2MetaDataSSRF_QUERYARGUMENTS", "GenericLFI_QUERYARGUMENTS", "GenericLFI_URIPATH",
    "GenericLFI_BODY", "RestrictedExtensions_URIPATH", "RestrictedExtensions_QUERYARGUMENTS",
    "GenericRFI_QUERYARGUMENTS", "GenericRFI_BODY", "GenericRFI_URIPATH", "CrossSiteScripting_COOKIE",
    "CrossSiteScripting_QUERYARGUMENTS", "CrossSiteScripting_BODY", "CrossSiteScripting_URIPATH",
)


class WafConfig(Model):
    enabled: bool
    """A WAFv2 web ACL in front of the ALB: IP reputation, a per-IP rate limit, the common rule set, known bad
    inputs."""
    rate_limit: int = Field(ge=10, le=2_000_000_000)  # requests per client IP per window
    """Requests per client IP per `rateLimitWindowSeconds` before it is blocked."""
    rate_limit_window_seconds: Literal[60, 120, 300, 600]
    """The rate limit's window."""
    # An ALB's WAF inspects only the first 8 KB of a body and SizeRestrictions_BODY blocks every body over 8 KB
    # (every larger upload): counted (logged, not blocked) unless a stack says otherwise.
    counted_rules: tuple[str, ...]
    """Rules of `AWSManagedRulesCommonRuleSet` that count instead of block. `SizeRestrictions_BODY` by default: an
    ALB's WAF inspects only the first 8 KB of a body and that rule would block every larger upload (`[]` blocks them
    again)."""
    logging: bool  # full request logs to the aws-waf-logs-<prefix> log group (headers redacted)
    """Full request logs to the `aws-waf-logs-<prefix>` log group (KMS, `monitoring.logRetentionDays`;
    `authorization` and `cookie` headers redacted)."""

    @field_validator("counted_rules")
    @classmethod
    def _common_rule_set_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in rules if r not in COMMON_RULE_SET_RULES]
        if unknown:
            raise ValueError(f"expected rules of AWSManagedRulesCommonRuleSet (e.g. SizeRestrictions_BODY), got "
                             f"{unknown}")
        if len(set(rules)) != len(rules):
            raise ValueError("expected each rule once")
        return rules


class TransitionConfig(Model):
    days: int = Field(ge=1)
    """Days after creation (at least 30 for the infrequent-access classes)."""
    storage_class: StorageClass
    """The S3 storage class objects move to."""

    @model_validator(mode="after")
    def _old_enough(self) -> "TransitionConfig":
        minimum = MIN_DAYS_BEFORE.get(self.storage_class, 0)
        if self.days < minimum:
            raise ValueError(f"S3 moves objects to {self.storage_class} after at least {minimum} days")
        return self


class AccessLogsConfig(Model):
    prefix: str
    """The S3 key prefix of the access logs (no leading or trailing `/`, no `AWSLogs`)."""
    transitions: tuple[TransitionConfig, ...]  # before expirationDays, which must come after them
    """Lifecycle transitions, in increasing `days`, all before `expirationDays`. Objects under 128 KB are never
    transitioned; incomplete multipart uploads are aborted after 7 days."""
    expiration_days: int = Field(ge=1)
    """Days after which access logs are deleted."""
    versioning: bool
    """Versioning of the access-log bucket."""
    force_destroy: bool  # let `pulumi destroy` empty the bucket (disposable environments only)
    """Let `pulumi destroy` empty the bucket (disposable environments only; not in prod)."""

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if not LOG_PREFIX.match(prefix) or "AWSLogs" in prefix:
            raise ValueError("expected an S3 key prefix without leading or trailing '/' and without 'AWSLogs'")
        return prefix

    @field_validator("transitions")
    @classmethod
    def _ascending(cls, transitions: tuple[TransitionConfig, ...]) -> tuple[TransitionConfig, ...]:
        days = [t.days for t in transitions]
        if days != sorted(set(days)):
            raise ValueError(f"expected transitions in strictly increasing days, got {days}")
        return transitions

    @field_validator("expiration_days")
    @classmethod
    def _after_transitions(cls, days: int, info: ValidationInfo) -> int:
        last = max((t.days for t in info.data.get("transitions", ())), default=0)
        if days <= last:
            raise ValueError(f"expected more days than the last transition ({last})")
        return days


class LoadBalancerConfig(Model):
    tls: bool  # false only where a profile or stack says so explicitly: plain HTTP, no redirect
    """An HTTPS listener with `certificateArn`, HTTP answering 301 to HTTPS; false: one HTTP listener that forwards
    (dev only)."""
    certificate_arn: str | None  # null (the common profile's) until a stack file names one
    """The ACM certificate's ARN, in the stack's region; required when `tls` is true (stack file)."""
    ssl_policy: str
    """The HTTPS listener's TLS policy: one of the TLS 1.2+ ELB policies the policy pack allows."""
    allowed_cidrs: tuple[Cidr, ...] = Field(min_length=1)
    """IPv4 CIDRs allowed to connect on 80 and 443."""
    idle_timeout_seconds: int = Field(ge=1, le=4000)
    """The ALB's idle connection timeout."""
    desync_mitigation_mode: Literal["defensive", "strictest"]
    """How the ALB treats requests that may be HTTP desync attacks."""
    deletion_protection: bool
    """ELB refuses to delete the ALB, and its access logs are kept."""
    target_port: int = Field(ge=30000, le=32767)  # the application Service's NodePort
    """The application Service's NodePort the ALB forwards to (`type: NodePort`, `externalTrafficPolicy: Local`)."""
    deregistration_delay_seconds: int = Field(ge=0, le=3600)
    """Seconds a leaving node keeps serving its open connections."""
    health_check: HealthCheckConfig
    """The target group's health check."""
    waf: WafConfig
    """The WAFv2 web ACL."""
    access_logs: AccessLogsConfig
    """The access-log bucket (SSE-S3, private, TLS only, written only by the region's ELB log delivery)."""

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, arn: str | None, info: ValidationInfo) -> str | None:
        tls = info.data.get("tls", True)
        if arn is None and tls:
            raise ValueError("tls is on, so an ACM certificate ARN is required (or set tls: false where allowed)")
        if arn is not None and not tls:
            raise ValueError("tls is false; remove certificateArn or set tls: true")
        if arn is not None and not ACM_ARN.match(arn):
            raise ValueError("expected an ACM certificate ARN: arn:aws:acm:<region>:<account>:certificate/<uuid>")
        return arn

    @field_validator("ssl_policy")
    @classmethod
    def _tls12_or_newer(cls, policy: str) -> str:
        if policy not in TLS_POLICIES:
            raise ValueError(f"expected an ELB policy that refuses TLS 1.0/1.1, one of {', '.join(TLS_POLICIES)}")
        return policy

    @property
    def certificate_region(self) -> str | None:
        match = ACM_ARN.match(self.certificate_arn or "")
        return match.group(1) if match else None
