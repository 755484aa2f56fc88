"""Cross-cutting resource rules: required tags (own tags or the provider's default tags) and `protect`."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Resource, as_mapping, dig, resource_rule

# The taggable (props schema has `tags`) AWS types envstack creates. Components are skipped: in a real preview
# their AWS children carry the tags.
TAGGABLE = [
    "aws:cloudwatch/logGroup:LogGroup", "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    "aws:ec2/eip:Eip", "aws:ec2/flowLog:FlowLog", "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/natGateway:NatGateway", "aws:ec2/networkAcl:NetworkAcl",
    "aws:ec2/routeTable:RouteTable", "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/subnet:Subnet",
    "aws:ec2/vpc:Vpc", "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon",
    "aws:elasticache/replicationGroup:ReplicationGroup", "aws:elasticache/parameterGroup:ParameterGroup",
    "aws:elasticache/subnetGroup:SubnetGroup",
    "aws:rds/instance:Instance", "aws:rds/cluster:Cluster", "aws:rds/parameterGroup:ParameterGroup",
    "aws:rds/subnetGroup:SubnetGroup",
    "aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup", "aws:lb/listener:Listener",
    "aws:alb/loadBalancer:LoadBalancer", "aws:alb/targetGroup:TargetGroup", "aws:alb/listener:Listener",
    "aws:wafv2/webAcl:WebAcl", "aws:kms/key:Key", "aws:sns/topic:Topic",
    "aws:iam/role:Role", "aws:iam/policy:Policy", "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2", "aws:secretsmanager/secret:Secret",
    "aws:budgets/budget:Budget",
]
REQUIRED_TAGS = ["Project", "Environment", "Stack", "Owner", "Team", "ManagedBy"]
STATEFUL = ["aws:rds/instance:Instance", "aws:rds/cluster:Cluster", "aws:elasticache/replicationGroup:ReplicationGroup",
            "aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"]


def tag_keys(r: Resource) -> set[str]:
    """Keys of the resource's own tags plus its AWS provider's defaultTags.tags (an object, or the JSON string the
    engine sends for provider config). Only keys are read, so unknown tag values are fine."""
    keys = set(iter(as_mapping(r.get("tags", default={}))))
    if r.args.provider is not None:
        default_tags = as_mapping(dig(r.args.provider.props, "defaultTags"))
        keys |= set(iter(as_mapping(dig(default_tags, "tags", default={}))))
    return keys


@resource_rule("required-tags", "Taggable resources must carry the required tags (own or provider default tags).",
               TAGGABLE, severity=Severity.LOW,
               options={"requiredTags": {"type": "array", "items": {"type": "string"}, "default": REQUIRED_TAGS}})
def required_tags(r: Resource) -> Iterator[str]:
    missing = [t for t in r.cfg["requiredTags"] if t not in tag_keys(r)]
    if missing:
        yield f"missing tags: {', '.join(missing)}"


@resource_rule("protect-stateful-resources", "Stateful resources (databases, caches, KMS keys, buckets) must be "
               "protected (opts.protect) so `pulumi destroy` cannot delete them.",
               [*STATEFUL], severity=Severity.HIGH,
               options={"types": {"type": "array", "items": {"type": "string"}, "default": STATEFUL}})
def protect_stateful(r: Resource) -> Iterator[str]:
    if r.type in r.cfg["types"] and not r.args.opts.protect:
        yield f"{r.type} is not protected: set ResourceOptions(protect=True)"
