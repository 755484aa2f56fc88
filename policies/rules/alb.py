"""Application load balancers and their listeners."""

import re
from collections.abc import Callable, Iterator
from typing import Any

from pulumi_policy import ResourceValidationPolicy as Policy
from pulumi_policy import Severity

from ..facts import TLS13_POLICIES, TLS_POLICIES
from .base import Resource, ResourceCheck, as_list, dig, resource_rule

LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
WAF_LOG_PREFIX = "aws-waf-logs-"


def _application(r: Resource) -> bool:
    return r.get("loadBalancerType", default="application") == "application"


def alb_rule(name: str, description: str, severity: Severity, checkov: str = "",
             deployability: bool = False, source: str = "") -> Callable[[ResourceCheck], Policy]:
    """A rule over application load balancers (network and gateway load balancers are skipped)."""
    return resource_rule(name, description, LOAD_BALANCERS, severity=severity, checkov=checkov, when=_application,
                         deployability=deployability, source=source)


# ELB API reference, CreateLoadBalancer: "[Application Load Balancers] You must specify subnets from at least two
# Availability Zones." envstack puts one public subnet per AZ, so two subnets means two AZs.
@alb_rule("alb-two-availability-zones", "An ALB needs subnets in at least two Availability Zones (AWS refuses one).",
          severity=Severity.HIGH, deployability=True,
          source="ELB API reference, CreateLoadBalancer")
def two_availability_zones(r: Resource) -> Iterator[str]:
    subnets = len(as_list(r.get("subnets"))) or len(as_list(r.get("subnetMappings")))
    if subnets < 2:
        yield f"{subnets} subnet(s): an application load balancer needs subnets in at least two Availability Zones"


@alb_rule("alb-access-logs", "ALBs must write access logs to S3.", severity=Severity.MEDIUM, checkov="CKV_AWS_91")
def access_logs(r: Resource) -> Iterator[str]:
    if not (r.true("accessLogs", "enabled") and r.present("accessLogs", "bucket")):
        yield "accessLogs is not enabled with a bucket"


@alb_rule("alb-deletion-protection", "ALBs must have deletion protection.", severity=Severity.MEDIUM,
          checkov="CKV_AWS_150")
def deletion_protection(r: Resource) -> Iterator[str]:
    if not r.true("enableDeletionProtection"):
        yield "enableDeletionProtection is not true"


@alb_rule("alb-drop-invalid-headers", "ALBs must drop invalid HTTP header fields.", severity=Severity.MEDIUM,
          checkov="CKV_AWS_131")
def drop_invalid_headers(r: Resource) -> Iterator[str]:
    if not r.true("dropInvalidHeaderFields"):
        yield "dropInvalidHeaderFields is not true"


@alb_rule("alb-desync-mitigation", "ALBs must use the defensive or strictest desync mitigation mode.",
          severity=Severity.MEDIUM, checkov="CKV_AWS_328")
def desync_mitigation(r: Resource) -> Iterator[str]:
    mode = r.get("desyncMitigationMode", default="defensive")
    if mode not in ("defensive", "strictest"):
        yield f"desyncMitigationMode is {mode}"


def _redirects_to_https(action: Any) -> bool:
    return dig(action, "type") == "redirect" and dig(action, "redirect", "protocol") == "HTTPS"


@resource_rule("alb-http-redirects-to-https", "Plain HTTP listeners may only redirect to HTTPS.", LISTENERS,
               checkov="CKV2_AWS_20, CKV_AWS_2")
def http_redirects(r: Resource) -> Iterator[str]:
    if r.get("protocol") == "HTTP":
        actions = as_list(r.get("defaultActions"))
        if not actions or not all(_redirects_to_https(a) for a in actions):
            yield "an HTTP listener's default action must be a redirect to HTTPS"


@resource_rule("alb-tls-policy",
               "HTTPS listeners must use a certificate and a TLS 1.2+ security policy; of the TLS 1.3 family where "
               "the configuration requires it.", LISTENERS, checkov="CKV_AWS_103",
               options={"requireTls13": {"type": "boolean", "default": True,
                                         "description": "accept only the TLS 1.3 family (ELBSecurityPolicy-TLS13-*)"}})
def tls_policy(r: Resource) -> Iterator[str]:
    if r.get("protocol") in ("HTTPS", "TLS"):
        policy = r.get("sslPolicy")
        allowed = TLS13_POLICIES if r.cfg["requireTls13"] else TLS_POLICIES
        if policy not in allowed:
            family = "a TLS 1.3 policy (ELBSecurityPolicy-TLS13-*)" if r.cfg["requireTls13"] else "a TLS 1.2+ policy"
            yield f"sslPolicy {policy or '(provider default, TLS 1.0)'} is not {family}"
        if not r.present("certificateArn"):
            yield "certificateArn is not set"


# WAF API reference, LoggingConfiguration: "The name that you give the destination must start with aws-waf-logs-"
# (CloudWatch Logs log group, S3 bucket or Firehose stream).
@resource_rule("waf-log-destination-name", "WAF logs go only to a destination named aws-waf-logs-*.", [WAF_LOGGING],
               deployability=True,
               source="WAF API reference, LoggingConfiguration")
def waf_log_destination_name(r: Resource) -> Iterator[str]:
    for arn in as_list(r.get("logDestinationConfigs")):
        name = re.split(r"log-group:|deliverystream/|:::", str(arn))[-1]
        if not name.startswith(WAF_LOG_PREFIX):
            yield f"log destination {arn}: its name must start with {WAF_LOG_PREFIX}"
