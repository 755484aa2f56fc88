"""The edge: ALB, listeners, security group, access-log bucket, target group wiring, WAF, config and guardrails."""

import json
from dataclasses import asdict, replace
from typing import Any

import pulumi
import pytest
from conftest import profile_config, region, run_monitored, run_program, stack_config, synth, synth_with

from components.access_logs import elb_log_writer
from components.connections import Connections, allow
from components.load_balancer import LoadBalancer
from envstack.program import arguments
from envstack.program.config import ConfigError, load_stack_config
from envstack.program.config.load_balancer import LoadBalancerConfig
from envstack.program.config.loader import deep_merge
from envstack.tools.mocks import ACCOUNT_ID, AwsMocks, UnsupportedRegionError
from envstack.tools.synth import ResourceRecord, Synthesis
from policies.evaluate import evaluate

ALB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
BUCKET = "aws:s3/bucket:Bucket"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
ATTACHMENT = "aws:autoscaling/attachment:Attachment"
TLS13 = "ELBSecurityPolicy-TLS13-1-2-2021-06"
MANAGED_GROUPS = {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                  "AWSManagedRulesAmazonIpReputationList"}


def edge(s: Synthesis, type_: str) -> list[ResourceRecord]:
    return [r for r in s.of_type(type_) if "envstack:edge:" in r.urn]


def one(s: Synthesis, type_: str) -> ResourceRecord:
    found = edge(s, type_)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def listeners(s: Synthesis) -> dict[int, dict[str, Any]]:
    return {int(r.inputs["port"]): r.inputs for r in edge(s, LISTENER)}


def alb_sg_id(s: Synthesis) -> str:
    return s.id_of(one(s, SG))


def lb_config(stack: str) -> LoadBalancerConfig:
    """The stack's validated envstack:loadBalancer (profile + stack file), what the synthesis should reflect."""
    values = stack_config(stack)
    raw = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("envstack:")}
    return load_stack_config(stack, raw, values["aws:region"]).load_balancer


# --- the fixture stacks --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_https_listener_uses_the_tls13_policy_and_the_configured_certificate(stack):
    s = synth(stack)
    https = listeners(s)[443]
    assert https["protocol"] == "HTTPS" and https["sslPolicy"] == TLS13
    assert https["certificateArn"] == stack_config(stack)["envstack:loadBalancer"]["certificateArn"]
    assert https["defaultActions"] == [{"type": "forward", "targetGroupArn": s.outputs["targetGroupArn"]}]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_http_listener_only_redirects_to_https_with_301(stack):
    http = listeners(synth(stack))[80]
    assert http["protocol"] == "HTTP"
    assert http["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]


def test_dev_without_tls_forwards_plain_http_because_its_profile_says_so():
    s = synth("dev")
    assert set(listeners(s)) == {80}
    assert listeners(s)[80]["defaultActions"][0]["type"] == "forward"
    assert {r.inputs["fromPort"] for r in edge(s, INGRESS)} == {80}


def test_alb_is_internet_facing_hardened_and_in_the_public_subnets(stack):
    alb = one(stack, ALB).inputs
    assert alb["internal"] is False and alb["loadBalancerType"] == "application"
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["desyncMitigationMode"] in ("defensive", "strictest")
    assert alb["idleTimeout"] == lb_config(stack.stack).idle_timeout_seconds
    assert alb["securityGroups"] == [alb_sg_id(stack)]
    subnets = stack.of_type("aws:ec2/subnet:Subnet")
    public = sorted(stack.id_of(r) for r in subnets if r.inputs["tags"]["Tier"] == "public")
    assert sorted(alb["subnets"]) == public and len(public) >= 2


@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("staging", True), ("prod", True)])
def test_deletion_protection_per_environment(stack, protected):
    assert one(synth(stack), ALB).inputs["enableDeletionProtection"] is protected


def test_alb_writes_access_logs_to_its_bucket_once_the_policy_allows_it(stack):
    alb = one(stack, ALB)
    bucket = one(stack, BUCKET)
    assert alb.inputs["accessLogs"] == {"enabled": True, "bucket": stack.outputs["accessLogBucket"], "prefix": "alb"}
    assert bucket.inputs["bucketPrefix"] == f"envstack-{stack.stack}-alb-logs-"
    policy = one(stack, "aws:s3/bucketPolicy:BucketPolicy")
    assert policy.urn in alb.dependencies


def test_log_bucket_is_encrypted_private_and_owner_enforced(stack):
    sse = one(stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    block = one(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    ownership = one(stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_bucket_policy_lets_the_regional_elb_writer_write_and_refuses_plain_http(stack):
    statements = json.loads(one(stack, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    write, deny = statements
    bucket_arn = f"arn:aws:s3:::{stack.outputs['accessLogBucket']}"
    assert write["Effect"] == "Allow" and write["Action"] == "s3:PutObject"
    assert write["Principal"] == elb_log_writer(region(stack), "aws")  # its table: tested against the ELB guide
    assert write["Resource"] == f"{bucket_arn}/alb/AWSLogs/{ACCOUNT_ID}/*"  # the caller's account (mocks' answer)
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_a_region_without_an_elb_account_delivers_access_logs_as_the_service_principal():
    """ELB guide, "Enable access logs": regions available as of August 2022 (ca-west-1: December 2023) have no ELB
    account; the bucket policy names logdelivery.elasticloadbalancing.amazonaws.com instead."""
    stack = synth_with("dev", **{"aws:region": "ca-west-1"})
    write = json.loads(one(stack, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"][0]
    assert write["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    assert write["Action"] == "s3:PutObject" and write["Resource"].endswith(f"/alb/AWSLogs/{ACCOUNT_ID}/*")


@pytest.mark.parametrize(("aws_region", "partition", "principal"), [
    ("eu-central-2", "aws", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),  # November 2022
    ("mx-central-1", "aws", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    ("ap-southeast-3", "aws", {"AWS": "arn:aws:iam::589379963580:root"}),  # Jakarta, December 2021: an account
    ("us-gov-west-1", "aws-us-gov", {"AWS": "arn:aws-us-gov:iam::048591011584:root"}),
])
def test_the_log_writer_is_the_regions_elb_account_or_the_service_principal(aws_region, partition, principal):
    assert elb_log_writer(aws_region, partition) == principal


@pytest.mark.parametrize(("aws_region", "account", "partition"), [
    ("us-west-2", "797873946194", "aws"), ("ca-west-1", None, "aws"), ("il-central-1", None, "aws"),
    ("cn-north-1", "638102146993", "aws-cn")])
def test_the_mocks_answer_get_service_account_as_the_provider_does(aws_region, account, partition):
    """The provider's table (terraform-provider-aws elb/service_account_data_source.go): an account where there is
    one, in the region's partition, "unsupported AWS Region" elsewhere; never an invented account."""
    call = pulumi.runtime.MockCallArgs("aws:elb/getServiceAccount:getServiceAccount", {}, "")
    if account is None:
        with pytest.raises(UnsupportedRegionError, match=f"unsupported AWS Region: {aws_region}"):
            AwsMocks(aws_region).call(call)
    else:
        answer, _ = AwsMocks(aws_region).call(call)
        assert answer["id"] == account and answer["arn"] == f"arn:{partition}:iam::{account}:root"


@pytest.mark.parametrize(("stack", "days", "transitions", "versioned", "retained"), [
    ("dev", 30, [], False, False),
    ("staging", 90, [], False, False),
    ("prod", 2555, [{"days": 30, "storageClass": "STANDARD_IA"}, {"days": 90, "storageClass": "GLACIER"}], True, True),
])
def test_log_lifecycle_versioning_and_retention_per_environment(stack, days, transitions, versioned, retained):
    s = synth(stack)
    lifecycle = one(s, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs
    assert lifecycle["transitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    (rule,) = lifecycle["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": "alb/"}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rule["expiration"] == {"days": days}
    assert rule.get("transitions", []) == transitions
    assert bool(edge(s, "aws:s3/bucketVersioning:BucketVersioning")) is versioned
    bucket = one(s, BUCKET)
    assert bucket.protect is retained and bucket.inputs["forceDestroy"] is (not retained)


def test_target_group_is_the_nodeport_with_health_checks(stack):
    tg = one(stack, TARGET_GROUP).inputs
    assert tg["targetType"] == "instance" and tg["protocol"] == "HTTP" and tg["port"] == 30080
    assert tg["vpcId"] == stack.id_of(stack.one("aws:ec2/vpc:Vpc")) and tg["deregistrationDelay"] == 30
    check = tg["healthCheck"]
    assert check["path"] == "/healthz" and check["matcher"] == "200-399" and check["port"] == "traffic-port"
    assert check["interval"] > check["timeout"]
    assert stack.outputs["targetGroupArn"] == stack.state_of(one(stack, TARGET_GROUP))["arn"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_waf_with_managed_rule_groups_and_a_rate_limit_is_associated_with_the_alb(stack):
    s = synth(stack)
    acl = one(s, WEB_ACL).inputs
    assert acl["scope"] == "REGIONAL" and acl["defaultAction"] == {"allow": {}}
    rules = {r["name"]: r for r in acl["rules"]}
    managed = {n: r for n, r in rules.items() if "managedRuleGroupStatement" in r["statement"]}
    assert set(managed) == MANAGED_GROUPS
    assert all(r["overrideAction"] == {"none": {}} and "action" not in r for r in managed.values())
    # Bodies over 8 KB are counted, not blocked; every other rule keeps its own action.
    overrides = {n: r["statement"]["managedRuleGroupStatement"].get("ruleActionOverrides") for n, r in managed.items()}
    assert overrides == {"AWSManagedRulesCommonRuleSet": [{"name": "SizeRestrictions_BODY",
                                                           "actionToUse": {"count": {}}}],
                         "AWSManagedRulesKnownBadInputsRuleSet": None, "AWSManagedRulesAmazonIpReputationList": None}
    (rate,) = [r for r in rules.values() if "rateBasedStatement" in r["statement"]]
    assert rate["action"] == {"block": {}}
    assert rate["statement"]["rateBasedStatement"]["limit"] == 2000
    assert rate["statement"]["rateBasedStatement"]["aggregateKeyType"] == "IP"
    assert len({r["priority"] for r in rules.values()}) == len(rules)
    for visibility in [acl["visibilityConfig"], *(r["visibilityConfig"] for r in rules.values())]:
        assert visibility["cloudwatchMetricsEnabled"] and visibility["sampledRequestsEnabled"]
        assert visibility["metricName"].startswith(f"envstack-{stack}-")
    association = one(s, WAF_ASSOCIATION).inputs
    assert association["resourceArn"] == s.outputs["loadBalancerArn"]
    assert association["webAclArn"] == s.state_of(one(s, WEB_ACL))["arn"]


def test_dev_has_no_waf():
    s = synth("dev")
    assert not edge(s, WEB_ACL) and not edge(s, WAF_ASSOCIATION) and not edge(s, WAF_LOGGING)


@pytest.mark.parametrize(("stack", "days"), [("staging", 30), ("prod", 90)])
def test_waf_logs_to_its_own_log_group_with_credentials_redacted(stack, days):
    s = synth(stack)
    logging = one(s, WAF_LOGGING)
    log_group = next(r for r in edge(s, "aws:cloudwatch/logGroup:LogGroup") if r.name == "edge-waf-logs")
    assert log_group.inputs["name"] == f"aws-waf-logs-envstack-{stack}"  # WAF refuses any other prefix
    assert log_group.inputs["retentionInDays"] == days and log_group.inputs["kmsKeyId"]
    assert logging.inputs["resourceArn"] == one(s, WAF_ASSOCIATION).inputs["webAclArn"]
    assert logging.inputs["logDestinationConfigs"] == [s.state_of(log_group)["arn"]]
    assert logging.inputs["redactedFields"] == [{"singleHeader": {"name": "authorization"}},
                                                {"singleHeader": {"name": "cookie"}}]
    policy = one(s, "aws:cloudwatch/logResourcePolicy:LogResourcePolicy")
    assert policy.urn in logging.dependencies
    (statement,) = json.loads(policy.inputs["policyDocument"])["Statement"]
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert statement["Resource"] == f"{logging.inputs['logDestinationConfigs'][0]}:*"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}  # the caller's account


def test_counted_rules_and_logging_are_configurable():
    s = synth_with("staging", loadBalancer={**stack_config("staging")["envstack:loadBalancer"],
                                            "waf": {"countedRules": [], "logging": False}})
    (common,) = [r for r in one(s, WEB_ACL).inputs["rules"] if r["name"] == "AWSManagedRulesCommonRuleSet"]
    assert "ruleActionOverrides" not in common["statement"]["managedRuleGroupStatement"]
    assert not edge(s, WAF_LOGGING)


def test_alb_security_group_admits_only_the_listener_ports_and_never_allows_all_egress(stack):
    group = one(stack, SG).inputs
    assert "egress" not in group and "ingress" not in group and group["description"]
    ingress = [r.inputs for r in edge(stack, INGRESS) if r.inputs["securityGroupId"] == alb_sg_id(stack)]
    config = lb_config(stack.stack)
    ports = (443, 80) if config.tls else (80,)
    assert sorted((r["fromPort"], r["toPort"], r["cidrIpv4"]) for r in ingress) == sorted(
        (port, port, str(cidr)) for port in ports for cidr in config.allowed_cidrs)
    assert all(r["ipProtocol"] == "tcp" and r["description"] for r in ingress)
    egress = [r.inputs for r in stack.of_type(EGRESS) if r.inputs["securityGroupId"] == alb_sg_id(stack)]
    assert len(egress) == 1 and "cidrIpv4" not in egress[0] and "cidrIpv6" not in egress[0]
    assert egress[0]["fromPort"] == egress[0]["toPort"] == config.target_port


def test_alb_reaches_the_nodes_security_group_only_on_the_nodeport(stack):
    alb_group = alb_sg_id(stack)
    (egress,) = [r.inputs for r in stack.of_type(EGRESS) if r.inputs["securityGroupId"] == alb_group]
    (ingress,) = [r for r in stack.of_type(INGRESS) if r.inputs.get("referencedSecurityGroupId") == alb_group]
    assert "envstack:kubernetes:Cluster" in (ingress.parent or "")  # the rule belongs to the nodes' side
    assert ingress.inputs["securityGroupId"] == egress["referencedSecurityGroupId"]
    assert ingress.inputs["fromPort"] == ingress.inputs["toPort"] == 30080


def test_every_node_group_is_attached_to_the_target_group(stack):
    attachments = stack.of_type(ATTACHMENT)
    assert len(attachments) == len(stack.of_type("eks:index:ManagedNodeGroup")) >= 1
    assert {a.inputs["lbTargetGroupArn"] for a in attachments} == {stack.outputs["targetGroupArn"]}
    assert len({a.inputs["autoscalingGroupName"] for a in attachments}) == len(attachments)


def test_stack_outputs(stack):
    outputs = stack.outputs
    alb = stack.state_of(one(stack, ALB))
    assert (outputs["loadBalancerArn"], outputs["loadBalancerDnsName"], outputs["loadBalancerZoneId"]) == (
        alb["arn"], alb["dnsName"], alb["zoneId"])
    assert {"loadBalancerArn", "loadBalancerDnsName", "loadBalancerZoneId"} <= set(stack.mock_outputs())  # labelled
    bucket = one(stack, BUCKET)
    assert outputs["accessLogBucket"] == stack.state_of(bucket)["bucket"]  # S3 completes the name: labelled invented
    assert bucket.inputs["bucketPrefix"] == f"envstack-{stack.stack}-alb-logs-"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_policy_pack_finds_no_mandatory_violation_at_the_edge(stack):
    s = synth(stack)
    report = evaluate([asdict(r) for r in s.resources], f"policies/{stack}.json")
    edge_urns = {r.urn for r in s.resources if "envstack:edge:" in r.urn}
    found = [v for v in report.violations if v["level"] == "mandatory" and v["urn"] in edge_urns]
    assert not found, found


# --- the component on its own: wiring to the cluster, CIDRs, TLS ------------------------------------------------

class FakeNodes(pulumi.ComponentResource):
    """Stands in for the cluster: a component owning the nodes' security group."""

    def __init__(self) -> None:
        super().__init__("envstack:test:Nodes", "nodes")
        self.connections = Connections(owner=self, label="nodes", security_group_id="sg-nodes")


def component(**overrides: Any) -> LoadBalancer:
    """The prod profile's load balancer, with `overrides` changed."""
    args = arguments.load_balancer(profile_config(), "vpc-1", ["subnet-a", "subnet-b"])
    return LoadBalancer("edge", replace(args, **overrides))


def of(records: list[ResourceRecord], type_: str) -> list[ResourceRecord]:
    return [r for r in records if r.type == type_]


def test_attach_to_registers_every_node_group_and_allow_opens_only_the_nodeport():
    def program() -> None:
        lb = component(target_port=31000)
        lb.attach_to({"main": "eks-ng-a", "spot": pulumi.Output.from_input("eks-ng-b")})
        allow(lb, FakeNodes(), port=lb.target_port)

    monitor = run_monitored(program)
    records = monitor.records
    (target_group,), (alb_group,) = of(records, TARGET_GROUP), of(records, SG)
    attachments = [r.inputs for r in of(records, ATTACHMENT)]
    assert sorted(a["autoscalingGroupName"] for a in attachments) == ["eks-ng-a", "eks-ng-b"]
    # Named by node group, each keeping its positional name's state (an alias).
    named = {r.name: r for r in of(records, ATTACHMENT)}
    assert set(named) == {"edge-nodes-main", "edge-nodes-spot"}
    spot = named["edge-nodes-spot"]
    assert spot.aliases == [spot.urn.replace("::edge-nodes-spot", "::edge-nodes-1")]
    assert all(a["lbTargetGroupArn"] == monitor.states[target_group.urn]["arn"] for a in attachments)
    (egress,) = [r.inputs for r in of(records, EGRESS)]
    alb_sg = monitor.ids[alb_group.urn]
    assert egress == {"securityGroupId": alb_sg, "referencedSecurityGroupId": "sg-nodes", "ipProtocol": "tcp",
                      "fromPort": 31000, "toPort": 31000, "description": "alb to nodes on tcp/31000"}
    nodes_ingress = [r.inputs for r in of(records, INGRESS) if r.inputs["securityGroupId"] == "sg-nodes"]
    assert nodes_ingress == [{**egress, "securityGroupId": "sg-nodes", "referencedSecurityGroupId": alb_sg}]


def test_each_allowed_cidr_gets_its_own_described_rule_per_listener_port():
    records = run_program(lambda: component(allowed_cidrs=("198.51.100.0/24", "203.0.113.0/24")))
    rules = {(r.inputs["fromPort"], r.inputs["cidrIpv4"]): r for r in of(records, INGRESS)}
    assert set(rules) == {(p, c) for p in (443, 80) for c in ("198.51.100.0/24", "203.0.113.0/24")}
    assert rules[(443, "203.0.113.0/24")].inputs["description"] == "clients in 203.0.113.0/24 to the ALB on tcp/443"
    assert not of(records, EGRESS)


def test_component_refuses_tls_without_a_certificate():
    with pytest.raises(ValueError, match="certificate_arn"):
        run_program(lambda: component(certificate_arn=None))


def test_the_prod_profiles_load_balancer_is_the_secure_one():
    records = run_program(lambda: component())
    assert of(records, ALB)[0].inputs["enableDeletionProtection"] is True
    assert of(records, WEB_ACL) and of(records, WAF_ASSOCIATION)
    assert {int(r.inputs["port"]) for r in of(records, LISTENER)} == {443, 80}
    assert of(records, BUCKET)[0].inputs["forceDestroy"] is False


# --- configuration: bad values and guardrails ---------------------------------------------------------------------

def problems(stack: str, load_balancer: dict[str, Any], replace: bool = False) -> list[str]:
    """The fixture stack file with envstack:loadBalancer merged (or replaced), loaded: every problem line."""
    values = stack_config(stack)
    raw = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("envstack:")}
    raw["loadBalancer"] = load_balancer if replace else deep_merge(raw.get("loadBalancer", {}), load_balancer)
    with pytest.raises(ConfigError) as caught:
        load_stack_config(stack, raw, values["aws:region"])
    return caught.value.render().splitlines()[1:]


CERT = "arn:aws:acm:us-west-2:111111111111:certificate/00000000-0000-4000-8000-000000000009"
INVALID = [
    ("dev", {"certificateArn": CERT}, "certificateArn", "tls is false"),
    ("dev", {"tls": True}, "certificateArn", "ACM certificate ARN is required"),
    ("dev", {"tls": "maybe"}, "tls", "boolean"),
    ("prod", {"certificateArn": "arn:aws:iam::111111111111:server-certificate/x"}, "certificateArn",
     "arn:aws:acm:<region>"),
    ("prod", {"sslPolicy": "ELBSecurityPolicy-2016-08"}, "sslPolicy", TLS13),
    ("dev", {"allowedCidrs": ["10.0.0.1/8"]}, "allowedCidrs[0]", "IPv4"),
    ("dev", {"allowedCidrs": ["anywhere"]}, "allowedCidrs[0]", "IPv4"),
    ("dev", {"allowedCidrs": []}, "allowedCidrs", "at least 1"),
    ("dev", {"idleTimeoutSeconds": 0}, "idleTimeoutSeconds", "greater than or equal to 1"),
    ("dev", {"idleTimeoutSeconds": 4001}, "idleTimeoutSeconds", "less than or equal to 4000"),
    ("dev", {"desyncMitigationMode": "monitor"}, "desyncMitigationMode", "'defensive' or 'strictest'"),
    ("dev", {"deletionProtection": "yes please"}, "deletionProtection", "boolean"),
    ("dev", {"targetPort": 8080}, "targetPort", "greater than or equal to 30000"),
    ("dev", {"targetPort": 32768}, "targetPort", "less than or equal to 32767"),
    ("dev", {"deregistrationDelaySeconds": 3601}, "deregistrationDelaySeconds", "less than or equal to 3600"),
    ("dev", {"healthCheck": {"path": "healthz"}}, "healthCheck.path", "starting with '/'"),
    ("dev", {"healthCheck": {"matcher": "600"}}, "healthCheck.matcher", "between 200 and 499"),
    ("dev", {"healthCheck": {"matcher": "200-"}}, "healthCheck.matcher", "between 200 and 499"),
    ("dev", {"healthCheck": {"intervalSeconds": 10, "timeoutSeconds": 10}}, "healthCheck.timeoutSeconds",
     "less than intervalSeconds (10)"),
    ("dev", {"healthCheck": {"healthyThreshold": 1}}, "healthCheck.healthyThreshold", "greater than or equal to 2"),
    ("dev", {"healthCheck": {"unhealthyThreshold": 11}}, "healthCheck.unhealthyThreshold", "less than or equal to 10"),
    ("dev", {"waf": {"rateLimit": 5}}, "waf.rateLimit", "greater than or equal to 10"),
    ("dev", {"waf": {"rateLimitWindowSeconds": 30}}, "waf.rateLimitWindowSeconds", "60"),
    ("dev", {"waf": {"countedRules": ["SizeRestriction_BODY"]}}, "waf.countedRules", "AWSManagedRulesCommonRuleSet"),
    ("dev", {"waf": {"countedRules": ["SizeRestrictions_BODY", "SizeRestrictions_BODY"]}}, "waf.countedRules",
     "each rule once"),
    ("dev", {"accessLogs": {"prefix": "/alb/"}}, "accessLogs.prefix", "without leading or trailing '/'"),
    ("dev", {"accessLogs": {"prefix": "x/AWSLogs"}}, "accessLogs.prefix", "without 'AWSLogs'"),
    ("dev", {"accessLogs": {"expirationDays": 0}}, "accessLogs.expirationDays", "greater than or equal to 1"),
    ("dev", {"accessLogs": {"transitions": [{"days": 10, "storageClass": "STANDARD_IA"}]}},
     "accessLogs.transitions[0]", "at least 30 days"),
    ("dev", {"accessLogs": {"transitions": [{"days": 30, "storageClass": "TAPE"}]}},
     "accessLogs.transitions[0].storageClass", "'GLACIER'"),
    ("dev", {"accessLogs": {"expirationDays": 400, "transitions": [
        {"days": 90, "storageClass": "GLACIER"}, {"days": 30, "storageClass": "STANDARD_IA"}]}},
     "accessLogs.transitions", "strictly increasing days, got [90, 30]"),
    ("prod", {"accessLogs": {"expirationDays": 60}}, "accessLogs.expirationDays",
     "more days than the last transition (90)"),
    ("dev", {"certficateArn": CERT}, "certficateArn", "unknown key"),
]


@pytest.mark.parametrize(("stack", "value", "key", "expected"), INVALID,
                         ids=[f"{row[2]}-{i}" for i, row in enumerate(INVALID)])
def test_invalid_load_balancer_values_name_the_key_and_expectation(stack, value, key, expected):
    lines = problems(stack, value)
    matching = [line for line in lines if line.startswith(f"stack {stack}: envstack:loadBalancer.{key} = ")]
    assert matching, lines
    assert expected in matching[0], matching[0]


GUARDRAILS = [
    ("staging", {"tls": False, "certificateArn": None}, "tls", "environment staging requires TLS"),
    ("prod", {"tls": False, "certificateArn": None}, "tls", "environment prod requires TLS"),
    ("prod", {"waf": {"enabled": False}}, "waf.enabled", "requires a WAF web ACL"),
    ("prod", {"deletionProtection": False}, "deletionProtection", "requires deletion protection"),
    ("prod", {"accessLogs": {"forceDestroy": True}}, "accessLogs.forceDestroy", "access logs kept"),
    ("prod", {"certificateArn": CERT.replace("us-west-2", "us-east-1")}, "certificateArn",
     "in the stack's region us-west-2"),
]


@pytest.mark.parametrize(("stack", "value", "key", "expected"), GUARDRAILS,
                         ids=[f"{row[0]}-{row[2]}" for row in GUARDRAILS])
def test_guardrails_reject(stack, value, key, expected):
    merged = {k: v for k, v in deep_merge(stack_config(stack)["envstack:loadBalancer"], value).items()
              if v is not None}
    lines = problems(stack, merged, replace=True)
    matching = [line for line in lines if line.startswith(f"stack {stack}: envstack:loadBalancer.{key} = ")]
    assert matching, lines
    assert expected in matching[0], matching[0]


def test_staging_and_prod_stack_files_must_name_a_certificate():
    for stack in ("staging", "prod"):
        lines = problems(stack, {}, replace=True)
        assert any(line.startswith(f"stack {stack}: envstack:loadBalancer.certificateArn = None: tls is on")
                   for line in lines), lines
