"""LoadBalancer: the internet-facing edge, an Application Load Balancer in the public subnets.

    client --443 (TLS, WAF)--> ALB --HTTP, NodePort--> EKS nodes (kube-proxy) --> application pods
           --80--> 301 redirect to https://

Its security group admits 443/80 from the allowed CIDRs only and has no egress of its own: `allow(load_balancer,
cluster, port=target_port)` adds the one egress rule, to the nodes' security group on the NodePort. Instance
targets come from the node groups' autoscaling groups (`attach_to`), so nodes join and leave the target group as
they are replaced. Access logs go to an AccessLogBucket this component owns.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from policies.facts import INTERNET_INGRESS, INTERNET_TAG

from .access_logs import LOG_DELIVERY, AccessLogArgs, AccessLogBucket, LogLifecycle
from .base import Component, policy_document
from .connections import Connections
from .partition import Where

HTTPS_PORT, HTTP_PORT = 443, 80
# AWS managed rule groups, in evaluation order around the rate limit (cheap IP reputation first).
IP_REPUTATION = "AWSManagedRulesAmazonIpReputationList"
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
MANAGED_AFTER_RATE_LIMIT = (COMMON_RULE_SET, "AWSManagedRulesKnownBadInputsRuleSet")
# Never written to the WAF logs: credentials and session cookies of every request.
REDACTED_HEADERS = ("authorization", "cookie")


@dataclass(frozen=True)
class HealthCheck:
    path: str
    matcher: str
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class WafArgs:
    enabled: bool
    rate_limit: int  # requests per client IP per window
    rate_limit_window_seconds: int
    # Rules of the common rule set that count instead of block. WAF Developer Guide, "Core rule set (CRS) managed
    # rule group": SizeRestrictions_BODY blocks bodies over 8 KB, and an ALB's WAF inspects only the first 8 KB
    # ("Oversize web request components"), so by default it would block every larger upload.
    counted_rules: tuple[str, ...]
    logging: bool
    log_retention_days: int


@dataclass(frozen=True, kw_only=True)
class LoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]  # public subnets, at least two AZs
    tls: bool
    certificate_arn: str | None  # required when tls
    ssl_policy: str
    allowed_cidrs: tuple[str, ...]
    idle_timeout_seconds: int
    desync_mitigation_mode: str
    deletion_protection: bool
    target_port: int  # the NodePort of the application's Service
    deregistration_delay_seconds: int
    health_check: HealthCheck
    waf: WafArgs
    access_logs: LogLifecycle
    name_prefix: str
    protect: bool  # the access-log bucket survives `pulumi destroy`


class LoadBalancer(Component):
    alb: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    web_acl: aws.wafv2.WebAcl | None

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        if args.tls and not args.certificate_arn:
            raise ValueError(f"{name}: tls needs a certificate_arn")
        super().__init__("envstack:edge:LoadBalancer", name, {
            "tls": args.tls, "sslPolicy": args.ssl_policy if args.tls else None,
            "allowedCidrs": list(args.allowed_cidrs), "deletionProtection": args.deletion_protection,
            "desyncMitigationMode": args.desync_mitigation_mode, "targetPort": args.target_port,
            "waf": args.waf.enabled, "wafCountedRules": list(args.waf.counted_rules) if args.waf.enabled else [],
            "wafLogging": args.waf.enabled and args.waf.logging}, opts, protect=args.protect,
            name_prefix=args.name_prefix)
        self._args = args
        self.listener_port = HTTPS_PORT if args.tls else HTTP_PORT
        self.target_port = args.target_port  # the NodePort: `allow(load_balancer, cluster, port=...)`
        self.logs = AccessLogBucket(
            f"{name}-access-logs", AccessLogArgs.of(args.access_logs, writer="elb", kind="alb-logs",
                                                    name_prefix=args.name_prefix, protect=self.protect),
            self.child())
        self.security_group = self._security_group()
        self.connections = Connections(owner=self, label="alb", security_group_id=self.security_group.id,
                                       default_port=self.listener_port, restricts_egress=True)
        self.alb = self._load_balancer()
        self.target_group = self._target_group()
        self.listeners = self._listeners()
        self.web_acl = self._web_acl() if args.waf.enabled else None
        self.waf_logs = self._waf_logging(self.web_acl) if self.web_acl is not None and args.waf.logging else None

        self.dns_name, self.arn, self.zone_id = self.alb.dns_name, self.alb.arn, self.alb.zone_id
        self.register_outputs({
            "dns_name": self.dns_name, "arn": self.arn, "zone_id": self.zone_id,
            "arn_suffix": self.alb.arn_suffix, "target_group_arn": self.target_group.arn,
            "target_group_arn_suffix": self.target_group.arn_suffix, "access_log_bucket": self.logs.bucket.bucket,
        })

    def attach_to(self, autoscaling_groups: Mapping[str, pulumi.Input[str]]) -> list[aws.autoscaling.Attachment]:
        """Register every node of these autoscaling groups (the EKS node groups', by node group name) as an instance
        target. An attachment is named by its node group (`edge-nodes-main`; `edge-nodes-<i>` before, its alias):
        by position, removing the first group replaced the second's attachment create-before-delete onto the same
        pair, and the old one's delete detached the target group from that Auto Scaling group (aws_autoscaling_
        attachment's delete detaches the pair it names) while the state said attached."""
        return [aws.autoscaling.Attachment(
            f"{self.label}-nodes-{name}", autoscaling_group_name=group, lb_target_group_arn=self.target_group.arn,
            opts=self.child(aliases=[pulumi.Alias(name=f"{self.label}-nodes-{i}")]))
            for i, (name, group) in enumerate(autoscaling_groups.items())]

    def _security_group(self) -> aws.ec2.SecurityGroup:
        # No inline rules: the provider removes AWS's default allow-all egress rule from a new group, and every
        # rule is a separate resource (inline rules would fight them). The tag declares the group internet-facing:
        # the pack admits public ingress (to 80/443) on such groups only (policies/facts.py).
        group = aws.ec2.SecurityGroup(
            f"{self.label}-alb", vpc_id=self._args.vpc_id,
            description=f"{self._args.name_prefix} internet-facing ALB: listeners from allowed CIDRs only",
            tags={"Name": f"{self._args.name_prefix}-alb", INTERNET_TAG: INTERNET_INGRESS}, opts=self.child())
        ports = (HTTPS_PORT, HTTP_PORT) if self._args.tls else (HTTP_PORT,)
        for port in ports:
            for cidr in self._args.allowed_cidrs:
                aws.vpc.SecurityGroupIngressRule(
                    f"{self.label}-{port}-from-{cidr.replace('.', '-').replace('/', '-')}",
                    security_group_id=group.id, cidr_ipv4=cidr, ip_protocol="tcp", from_port=port, to_port=port,
                    description=f"clients in {cidr} to the ALB on tcp/{port}", opts=self.child())
        return group

    def _load_balancer(self) -> aws.lb.LoadBalancer:
        args = self._args
        return aws.lb.LoadBalancer(
            self.label, internal=False, load_balancer_type="application", subnets=list(args.subnet_ids),
            security_groups=[self.security_group.id], ip_address_type="ipv4",
            drop_invalid_header_fields=True, desync_mitigation_mode=args.desync_mitigation_mode,
            idle_timeout=args.idle_timeout_seconds, enable_deletion_protection=args.deletion_protection,
            enable_http2=True,
            access_logs={"bucket": self.logs.bucket.bucket, "enabled": True, "prefix": args.access_logs.prefix},
            tags={"Name": f"{args.name_prefix}-alb"},
            # ELB checks that it may write to the bucket when access logs are turned on.
            opts=self.child(depends_on=[self.logs.policy]))

    def _target_group(self) -> aws.lb.TargetGroup:
        args, check = self._args, self._args.health_check
        return aws.lb.TargetGroup(
            self.label, target_type="instance", port=args.target_port, protocol="HTTP", protocol_version="HTTP1",
            vpc_id=args.vpc_id, deregistration_delay=args.deregistration_delay_seconds,
            health_check={
                "enabled": True, "protocol": "HTTP", "port": "traffic-port", "path": check.path,
                "matcher": check.matcher, "interval": check.interval_seconds, "timeout": check.timeout_seconds,
                "healthy_threshold": check.healthy_threshold, "unhealthy_threshold": check.unhealthy_threshold},
            tags={"Name": f"{args.name_prefix}-nodeport-{args.target_port}"}, opts=self.child())

    def _listeners(self) -> list[aws.lb.Listener]:
        forward = {"type": "forward", "target_group_arn": self.target_group.arn}
        if not self._args.tls:
            return [self._listener("http", HTTP_PORT, "HTTP", forward)]
        redirect = {"type": "redirect", "redirect": {
            "protocol": "HTTPS", "port": str(HTTPS_PORT), "status_code": "HTTP_301"}}
        return [
            self._listener("https", HTTPS_PORT, "HTTPS", forward,
                           certificate_arn=self._args.certificate_arn, ssl_policy=self._args.ssl_policy),
            self._listener("http", HTTP_PORT, "HTTP", redirect),
        ]

    def _listener(self, suffix: str, port: int, protocol: str, action: dict[str, Any], **tls: Any) -> aws.lb.Listener:
        return aws.lb.Listener(f"{self.label}-{suffix}", load_balancer_arn=self.alb.arn, port=port, protocol=protocol,
                               default_actions=[action], opts=self.child(), **tls)

    def _web_acl(self) -> aws.wafv2.WebAcl:
        waf = self._args.waf
        rate_limit = {
            "name": "rate-limit-per-ip", "action": {"block": {}},
            "statement": {"rate_based_statement": {
                "limit": waf.rate_limit, "aggregate_key_type": "IP",
                "evaluation_window_sec": waf.rate_limit_window_seconds}}}
        rules = [_managed_rule_group(IP_REPUTATION), rate_limit,
                 *(_managed_rule_group(group, waf.counted_rules if group == COMMON_RULE_SET else ())
                   for group in MANAGED_AFTER_RATE_LIMIT)]
        acl = aws.wafv2.WebAcl(
            self.label, scope="REGIONAL", description=f"{self._args.name_prefix}: edge protection for the ALB",
            default_action={"allow": {}},
            rules=[{**rule, "priority": i, "visibility_config": self._visibility(rule["name"])}
                   for i, rule in enumerate(rules)],
            visibility_config=self._visibility("web-acl"), opts=self.child())
        aws.wafv2.WebAclAssociation(self.label, resource_arn=self.alb.arn, web_acl_arn=acl.arn, opts=self.child())
        return acl

    def _waf_logging(self, acl: aws.wafv2.WebAcl) -> aws.cloudwatch.LogGroup:
        """Full request logs to `aws-waf-logs-<prefix>` (WAF refuses a destination without that prefix), with the
        environment's retention, credentials and cookies redacted."""
        args = self._args
        log_group = self.log_group("waf-logs", args.waf.log_retention_days, name=f"aws-waf-logs-{args.name_prefix}")
        # WAF delivers through CloudWatch Logs' log delivery, which needs a resource policy for
        # delivery.logs.amazonaws.com. Left to itself WAF adds every log group to one shared `AWSWAF-LOGS` policy,
        # which fails once it outgrows the 5,120-character limit (pulumi-aws wafv2.WebAclLoggingConfiguration
        # warning; CloudWatch Logs guide, "Logs sent to CloudWatch Logs"): a policy of the stack's own instead.
        # Each costs one of the 10 resource policies a region allows an account.
        policy = aws.cloudwatch.LogResourcePolicy(
            f"{self.label}-waf-logs", policy_name=f"{args.name_prefix}-waf-logs",
            policy_document=pulumi.Output.all(log_group.arn, self.where).apply(
                lambda v: log_group_delivery_policy(v[0], v[1])),
            opts=self.child())
        aws.wafv2.WebAclLoggingConfiguration(
            self.label, resource_arn=acl.arn, log_destination_configs=[log_group.arn],
            redacted_fields=[{"single_header": {"name": header}} for header in REDACTED_HEADERS],
            opts=self.child(depends_on=[policy]))
        return log_group

    def _visibility(self, metric: str) -> dict[str, Any]:
        return {"cloudwatch_metrics_enabled": True, "metric_name": f"{self._args.name_prefix}-{metric}",
                "sampled_requests_enabled": True}


def _managed_rule_group(group: str, counted: tuple[str, ...] = ()) -> dict[str, Any]:
    """An AWS managed rule group applied with its own actions (override none: blocking rules block), except the
    `counted` rules, which only count (rule_action_overrides)."""
    statement: dict[str, Any] = {"vendor_name": "AWS", "name": group}
    if counted:
        statement["rule_action_overrides"] = [{"name": rule, "action_to_use": {"count": {}}} for rule in counted]
    return {"name": group, "override_action": {"none": {}}, "statement": {"managed_rule_group_statement": statement}}


def log_group_delivery_policy(log_group_arn: str, where: Where) -> str:
    """CloudWatch Logs' log delivery may write to this log group only, for this account's deliveries."""
    return policy_document({
        "Sid": "LogDeliveryWrites", "Effect": "Allow", "Principal": {"Service": LOG_DELIVERY},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_group_arn}:*",
        "Condition": {"StringEquals": {"aws:SourceAccount": where.account},
                      "ArnLike": {"aws:SourceArn": where.arn("logs", "*")}}})
