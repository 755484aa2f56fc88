"""The way in: the target group's health, the listeners answering (HTTPS, and HTTP's redirect), the WAF in front."""

import http.client
import ssl
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

from envstack.ops.preflight.core import unless_absent

from .core import Result, SkipCheck, VerifyContext, check

TIMEOUT = 10
USER_AGENT = "envstack-verify"


@check("target-health")
def target_health(ctx: VerifyContext) -> Iterator[Result]:
    """ELBv2 DescribeTargetHealth: some target healthy. Every node is registered on the NodePort and the Service keeps
    `externalTrafficPolicy: Local`, so nodes without an application pod are unhealthy by design; none healthy is an
    outage."""
    arn = ctx.output("targetGroupArn")
    described = unless_absent(partial(ctx.client("elbv2").describe_target_health, TargetGroupArn=arn),
                              "TargetGroupNotFound")
    if described is None:
        yield Result("target-health", "fail", f"target group {arn} does not exist")
        return
    targets = described["TargetHealthDescriptions"]
    states = Counter(t["TargetHealth"]["State"] for t in targets)
    if not targets:
        yield Result("target-health", "fail", "no target is registered: the node groups' autoscaling groups are not "
                     "attached to the target group")
        return
    if states["healthy"]:
        yield Result("target-health", "ok", f"{states['healthy']} of {len(targets)} targets healthy")
        return
    reasons = Counter(f"{t['TargetHealth']['State']} ({t['TargetHealth'].get('Reason', 'no reason')})"
                      for t in targets)
    lb = ctx.cfg.load_balancer
    yield Result("target-health", "fail", f"no healthy target of {len(targets)}: "
                 f"{', '.join(f'{n} {r}' for r, n in reasons.items())}; the application's NodePort Service must "
                 f"listen on {lb.target_port} and answer {lb.health_check.path} with {lb.health_check.matcher}")


@check("listener")
def listener(ctx: VerifyContext) -> Iterator[Result]:
    """An HTTPS request to the load balancer gets an HTTP answer over a trusted certificate, and a plain HTTP one the
    redirect to HTTPS (with loadBalancer.tls false: an answer on HTTP). Any status proves the listener; whether the
    application behind it is healthy is target-health's question."""
    host = ctx.output("loadBalancerDnsName")
    lb = ctx.cfg.load_balancer
    open_to_all = any(str(cidr) == "0.0.0.0/0" for cidr in lb.allowed_cidrs)
    if lb.tls:
        yield _https(host, ctx.https_port, ctx.ca_file, open_to_all)
    yield _http(host, ctx.http_port, redirect=lb.tls, open_to_all=open_to_all)


def _unreachable(url: str, error: Exception, open_to_all: bool) -> Result:
    """No answer from a load balancer open to all is a failure; one limited to loadBalancer.allowedCidrs may just
    not admit this machine."""
    if open_to_all:
        return Result("listener", "fail", f"{url} did not answer: {error}")
    return Result("listener", "warn", f"{url} did not answer: {error} (loadBalancer.allowedCidrs may not admit this "
                  "machine: run verify from inside them)")


def _https(host: str, port: int, ca_file: str | None, open_to_all: bool) -> Result:
    url = f"https://{host}" + (f":{port}" if port != 443 else "") + "/"
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False  # the certificate names the application's domain, not the ALB's DNS name
    connection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=context)
    try:
        connection.request("GET", "/", headers={"User-Agent": USER_AGENT})
        sock = connection.sock  # before the answer: a connection that closes after it lets go of its socket
        version = sock.version() if isinstance(sock, ssl.SSLSocket) else "?"
        cert: dict[str, Any] = (sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None) or {}
        status = connection.getresponse().status
    except ssl.SSLCertVerificationError as error:
        return Result("listener", "fail", f"{url}: the certificate is not trusted: {error.verify_message}")
    except (OSError, http.client.HTTPException) as error:
        return _unreachable(url, error, open_to_all)
    finally:
        connection.close()
    names = [str(entry[1]) for entry in cert.get("subjectAltName", ()) if entry[0] == "DNS"]
    return Result("listener", "ok", f"{url} answered HTTP {status} over {version}, certificate for "
                  f"{', '.join(names) or 'no DNS name'}")


def _http(host: str, port: int, redirect: bool, open_to_all: bool) -> Result:
    url = f"http://{host}" + (f":{port}" if port != 80 else "") + "/"
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        connection.request("GET", "/", headers={"User-Agent": USER_AGENT})
        answer = connection.getresponse()
        status, location = answer.status, answer.getheader("Location", "")
    except (OSError, http.client.HTTPException) as error:
        return _unreachable(url, error, open_to_all)
    finally:
        connection.close()
    if not redirect:
        return Result("listener", "ok", f"{url} answered HTTP {status} (loadBalancer.tls is false: no HTTPS)")
    if status == 301 and location.startswith("https://"):  # the component redirects with HTTP_301
        return Result("listener", "ok", f"{url} redirects ({status}) to {location}")
    return Result("listener", "fail", f"{url} answered HTTP {status}{' to ' + location if location else ''}, not "
                  "the permanent redirect to HTTPS")


@check("waf")
def waf(ctx: VerifyContext) -> Iterator[Result]:
    """WAFv2 GetWebACLForResource: the web ACL is associated with the load balancer."""
    if not ctx.cfg.load_balancer.waf.enabled:
        raise SkipCheck("envstack:loadBalancer.waf.enabled is false")
    arn = ctx.output("loadBalancerArn")
    acl = ctx.client("wafv2").get_web_acl_for_resource(ResourceArn=arn).get("WebACL")
    if not acl:
        yield Result("waf", "fail", "no web ACL is associated with the load balancer: requests reach it unfiltered")
    else:
        yield Result("waf", "ok", f"web ACL {acl['Name']} ({len(acl.get('Rules', []))} rules) in front of the load "
                     "balancer")
