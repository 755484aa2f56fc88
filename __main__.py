"""envstack: one complete AWS environment per Pulumi stack.

    configuration (profile + stack file) -> AWS provider (region, accounts, tags)
      -> network (VPC: public / private / isolated tiers)
      -> alerts (the encrypted SNS topic every component below notifies)
      -> cluster (EKS in the private tier, managed node groups, add-ons) -> autoscaler (Cluster Autoscaler)
      -> baseline (namespaces, policies, RBAC)
      -> data (PostgreSQL on RDS, Redis/Valkey on ElastiCache, in the isolated tier, reached via allow())
      -> workload identity (an IAM role per application namespace, EKS Pod Identity: IAM logins, no passwords)
      -> edge (internet-facing ALB in the public subnets: TLS, WAF, access logs -> NodePort on the nodes)
      -> monitoring (alarms on all of the above, dashboard, budget, anomaly detection, deployment record)
"""

import pulumi

from components.alerts import Alerts
from components.cache import Cache
from components.cluster import Cluster
from components.cluster_autoscaler import ClusterAutoscaler
from components.cluster_baseline import ClusterBaseline
from components.connections import allow
from components.database import Database
from components.load_balancer import LoadBalancer
from components.monitoring import Monitoring, MonitoringTargets, member_cluster_ids
from components.network import Network
from components.workload_identity import WorkloadIdentity
from envstack.program import arguments as args
from envstack.program.config.pulumi_source import stack_config
from envstack.program.provider import aws_provider

cfg = stack_config()  # profile + stack file, validated: a bad value stops here, before any resource
on_aws = pulumi.ResourceOptions(provider=aws_provider(cfg))

network = Network("network", args.network(cfg), on_aws)
alerts = Alerts("alerts", args.alerts(cfg), on_aws)
cluster = Cluster("cluster", args.cluster(cfg, network.vpc_id, network.private_subnet_ids,
                                          api_routes=network.transit_gateway_routes), on_aws)
# Node groups follow the pods, within each group's minSize..maxSize (unless cluster.autoscaler.enabled is false).
autoscaler = [ClusterAutoscaler("autoscaler", args.autoscaler(cfg, cluster.arn, cluster.node_groups),
                                cluster.kube_provider, on_aws)] if cfg.cluster.autoscaler.enabled else []
baseline = ClusterBaseline("baseline", args.baseline(cfg), cluster.kube_provider, on_aws,
                           storage_controllers=cluster.storage_controllers)  # destroyed after what owns volumes
database = Database("database", args.database(cfg, network.vpc_id, network.db_subnet_group.name, alerts.topic_arn),
                    on_aws)
cache = Cache("cache", args.cache(cfg, network.vpc_id, network.cache_subnet_group.name, alerts.cache_events_topic_arn),
              on_aws)
edge = LoadBalancer("edge", args.load_balancer(cfg, network.vpc_id, network.public_subnet_ids), on_aws)

# Who may reach whom: separate rules, so neither data store waits for the cluster.
allow(cluster, database)
allow(cluster, cache)
# ...and log in to them as their application users with their namespace's IAM role: no password exists.
identity = WorkloadIdentity("identity", args.workload_identity(
    cfg, cluster.cluster_name, cluster.arn, grants=[database.iam_connect, cache.iam_connect]), on_aws)
# The edge reaches the pods through the application's NodePort on every node of every node group.
edge.attach_to(cluster.node_group_asgs)
allow(edge, cluster, port=edge.target_port)

monitoring = Monitoring("monitoring", args.monitoring(cfg, alerts.topic_arn, MonitoringTargets(
    nat_gateway_ids=[nat.id for nat in network.nat_gateways],
    db_instance_ids=[database.instance.identifier],
    cache_cluster_ids=member_cluster_ids(cache.replication_group_id, cfg.cache.nodes),
    load_balancer_arn_suffix=edge.alb.arn_suffix,
    target_group_arn_suffixes=[edge.target_group.arn_suffix],
    node_group_asgs=cluster.node_group_asgs,
), record_after=[network, alerts, cluster, *autoscaler, baseline, database, cache, edge, identity]), on_aws)  # last

pulumi.export("environment", cfg.environment)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("vpcCidr", network.vpc.cidr_block)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("isolatedSubnetIds", network.isolated_subnet_ids)
pulumi.export("natPublicIps", [eip.public_ip for eip in network.nat_eips])
pulumi.export("dbSubnetGroupName", network.db_subnet_group.name)
pulumi.export("cacheSubnetGroupName", network.cache_subnet_group.name)
pulumi.export("alertTopicArn", alerts.topic_arn)
pulumi.export("cacheEventsTopicArn", alerts.cache_events_topic_arn)
pulumi.export("dashboardName", monitoring.dashboard_name)
pulumi.export("deploymentRecordParameter", monitoring.deployment_record_parameter)
pulumi.export("loadBalancerDnsName", edge.dns_name)
pulumi.export("loadBalancerArn", edge.arn)
pulumi.export("loadBalancerZoneId", edge.zone_id)
pulumi.export("targetGroupArn", edge.target_group.arn)
pulumi.export("accessLogBucket", edge.logs.bucket.bucket)
pulumi.export("databaseEndpoint", database.endpoint)
pulumi.export("databasePort", database.port)
pulumi.export("databaseName", database.database_name)
pulumi.export("databaseMasterSecretArn", database.master_secret_arn)
pulumi.export("databaseUser", database.application_user)
pulumi.export("databaseSecurityGroupId", database.security_group_id)
pulumi.export("cachePrimaryEndpoint", cache.primary_endpoint)
pulumi.export("cacheReaderEndpoint", cache.reader_endpoint)
pulumi.export("cachePort", cache.port)
pulumi.export("cacheReplicationGroupId", cache.replication_group_id)
pulumi.export("cacheUser", cache.user_name)
pulumi.export("cacheSecurityGroupId", cache.security_group_id)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("clusterEndpoint", cluster.endpoint)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
pulumi.export("nodeRoleArns", cluster.node_role_arns)
pulumi.export("appNamespaces", list(cfg.cluster.baseline.namespaces))
pulumi.export("applicationRoleArns", identity.role_arns)
