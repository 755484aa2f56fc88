"""envstack: one complete AWS environment per Pulumi stack.

    configuration (profile + stack file) -> AWS provider (region, accounts, tags)
      -> network (VPC: public / private / isolated tiers)
      -> cluster (EKS in the private tier, managed node groups, add-ons) -> baseline (namespaces, policies, RBAC)
      -> data (PostgreSQL on RDS, Redis/Valkey on ElastiCache, in the isolated tier, reached via allow())
      -> edge (internet-facing ALB in the public subnets: TLS, WAF, access logs -> NodePort on the nodes)
"""

import pulumi

from components.access_logs import AccessLogArgs, Transition
from components.cache import Cache, CacheArgs
from components.cluster import Cluster, ClusterArgs, NodeGroupSpec
from components.cluster_baseline import BaselineArgs, ClusterBaseline, ContainerLimits, PodSecurity, Quota
from components.connections import allow
from components.database import Database, DatabaseArgs
from components.load_balancer import HealthCheck, LoadBalancer, LoadBalancerArgs, WafArgs
from components.monitoring import Monitoring, MonitoringArgs, MonitoringTargets, member_cluster_ids
from components.network import Network, NetworkArgs, subnet_plan
from envstack import deployment
from envstack.config.pulumi_source import stack_config
from envstack.provider import aws_provider

cfg = stack_config()
on_aws = pulumi.ResourceOptions(provider=aws_provider(cfg))

network = Network(
    "network",
    NetworkArgs(
        cidr=str(cfg.network.cidr),
        az_count=cfg.network.az_count,
        nat_gateways=cfg.network.nat_gateways,
        flow_log_traffic=cfg.network.flow_log_traffic,
        flow_log_retention_days=cfg.monitoring.log_retention_days,
        region=cfg.region,
        name_prefix=cfg.name_prefix,
        protect=cfg.protect_stateful_resources,
    ),
    on_aws,
)

db = cfg.database
database = Database(
    "database",
    DatabaseArgs(
        vpc_id=network.vpc_id,
        subnet_group_name=network.db_subnet_group.name,
        name_prefix=cfg.name_prefix,
        engine_version=db.engine_version,
        instance_class=db.instance_class,
        allocated_storage_gb=db.allocated_storage_gb,
        max_allocated_storage_gb=db.max_allocated_storage_gb,
        multi_az=db.multi_az,
        database_name=db.database_name,
        master_username=db.master_username,
        backup_retention_days=db.backup_retention_days,
        backup_window=db.backup_window,
        maintenance_window=db.maintenance_window,
        deletion_protection=db.deletion_protection,
        skip_final_snapshot=db.skip_final_snapshot,
        delete_automated_backups=db.delete_automated_backups,
        protect=cfg.protect_stateful_resources,
        performance_insights_retention_days=db.performance_insights_retention_days,
        monitoring_interval_seconds=db.monitoring_interval_seconds,
        slow_query_ms=db.slow_query_ms,
        log_retention_days=cfg.monitoring.log_retention_days,
    ),
    on_aws,
)

cache = Cache(
    "cache",
    CacheArgs(
        vpc_id=network.vpc_id,
        subnet_group_name=network.cache_subnet_group.name,
        name_prefix=cfg.name_prefix,
        engine=cfg.cache.engine,
        engine_version=cfg.cache.engine_version,
        node_type=cfg.cache.node_type,
        nodes=cfg.cache.nodes,
        automatic_failover=cfg.cache.automatic_failover,
        multi_az=cfg.cache.multi_az,
        snapshot_retention_days=cfg.cache.snapshot_retention_days,
        snapshot_window=cfg.cache.snapshot_window,
        maintenance_window=cfg.cache.maintenance_window,
        final_snapshot=cfg.cache.final_snapshot,
        protect=cfg.protect_stateful_resources,
        log_retention_days=cfg.monitoring.log_retention_days,
    ),
    on_aws,
)

lb = cfg.load_balancer
load_balancer = LoadBalancer(
    "edge",
    LoadBalancerArgs(
        vpc_id=network.vpc_id,
        subnet_ids=network.public_subnet_ids,
        tls=lb.tls,
        certificate_arn=lb.certificate_arn,
        ssl_policy=lb.ssl_policy,
        allowed_cidrs=tuple(str(cidr) for cidr in lb.allowed_cidrs),
        idle_timeout_seconds=lb.idle_timeout_seconds,
        desync_mitigation_mode=lb.desync_mitigation_mode,
        deletion_protection=lb.deletion_protection,
        target_port=lb.target_port,
        deregistration_delay_seconds=lb.deregistration_delay_seconds,
        health_check=HealthCheck(**lb.health_check.model_dump()),
        waf=WafArgs(**lb.waf.model_dump()),
        access_logs=AccessLogArgs(
            prefix=lb.access_logs.prefix,
            expiration_days=lb.access_logs.expiration_days,
            transitions=tuple(Transition(t.days, t.storage_class) for t in lb.access_logs.transitions),
            versioning=lb.access_logs.versioning,
            force_destroy=lb.access_logs.force_destroy,
        ),
        name_prefix=cfg.name_prefix,
        protect=cfg.protect_stateful_resources,
    ),
    on_aws,
)

k8s = cfg.cluster
cluster = Cluster(
    "cluster",
    ClusterArgs(
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        name=cfg.name_prefix,
        version=k8s.version,
        upgrade_policy=k8s.upgrade_policy,
        endpoint_public_access=k8s.endpoint_public_access,
        public_access_cidrs=tuple(str(c) for c in k8s.public_access_cidrs),
        admin_role_arns=k8s.admin_role_arns,
        ci_deployer_role_arns=k8s.ci_deployer_role_arns,
        log_types=k8s.log_types,
        log_retention_days=cfg.monitoring.log_retention_days,
        node_groups=tuple(NodeGroupSpec(name=name, **group.model_dump()) for name, group in k8s.node_groups.items()),
        addon_versions=k8s.addon_versions.by_addon_name(),
        deletion_protection=k8s.deletion_protection,
        protect=cfg.protect_stateful_resources,
        region=cfg.region,
        tags=cfg.tags,
    ),
    on_aws,
)

subnets = subnet_plan(str(cfg.network.cidr), cfg.network.az_count)
baseline = ClusterBaseline(
    "baseline",
    BaselineArgs(
        namespaces=k8s.baseline.namespaces,
        app_port=k8s.baseline.app_port,
        pod_security=PodSecurity(**k8s.baseline.pod_security.model_dump()),
        pod_security_version=f"v{k8s.version}",
        quota=Quota(**k8s.baseline.quota.model_dump()),
        container_limits=ContainerLimits(**k8s.baseline.container_limits.model_dump()),
        load_balancer_cidrs=tuple(subnets["public"]),
        data_cidrs=tuple(subnets["isolated"]),
    ),
    cluster.kube_provider,
    on_aws,
)

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        stack=cfg.stack,
        name_prefix=cfg.name_prefix,
        region=cfg.region,
        targets=MonitoringTargets(
            nat_gateway_ids=[nat.id for nat in network.nat_gateways],
            db_instance_ids=[database.instance.identifier],
            cache_cluster_ids=member_cluster_ids(cache.replication_group.id, cfg.cache.nodes),
            load_balancer_arn_suffix=load_balancer.alb.arn_suffix,
            target_group_arn_suffixes=[load_balancer.target_group.arn_suffix],
            cluster_name=cluster.cluster_name,
        ),
        notification_emails=cfg.monitoring.notification_emails,
        thresholds=cfg.monitoring.alarm_thresholds.model_dump(by_alias=True),
        evaluation_periods=cfg.monitoring.evaluation_periods,
        datapoints_to_alarm=cfg.monitoring.datapoints_to_alarm,
        monthly_budget_usd=cfg.monitoring.monthly_budget_usd,
        anomaly_detection=cfg.monitoring.anomaly_detection,
        anomaly_threshold_usd=cfg.monitoring.anomaly_threshold_usd,
        deployment_record=deployment.from_environment(cfg.stack, cfg.environment),
        protect=cfg.protect_stateful_resources,
    ),
    on_aws,
)

# connections: who may reach whom (ingress rules only; neither data store waits for the cluster)
allow(cluster, database)
allow(cluster, cache)
# the edge reaches the pods through the application's NodePort on every node of the node groups
load_balancer.attach_to(cluster.autoscaling_group_names)
allow(load_balancer, cluster, port=cfg.load_balancer.target_port)

pulumi.export("environment", cfg.environment)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("vpcCidr", network.vpc.cidr_block)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("isolatedSubnetIds", network.isolated_subnet_ids)
pulumi.export("natPublicIps", [eip.public_ip for eip in network.nat_eips])
pulumi.export("dbSubnetGroupName", network.db_subnet_group.name)
pulumi.export("cacheSubnetGroupName", network.cache_subnet_group.name)
pulumi.export("alertTopicArn", monitoring.alert_topic_arn)
pulumi.export("dashboardName", monitoring.dashboard_name)
pulumi.export("deploymentRecordParameter", monitoring.deployment_record_parameter)
pulumi.export("loadBalancerDnsName", load_balancer.dns_name)
pulumi.export("loadBalancerArn", load_balancer.arn)
pulumi.export("loadBalancerZoneId", load_balancer.zone_id)
pulumi.export("targetGroupArn", load_balancer.target_group.arn)
pulumi.export("accessLogBucket", load_balancer.logs.bucket.bucket)
pulumi.export("databaseEndpoint", database.endpoint)
pulumi.export("databasePort", database.port)
pulumi.export("databaseName", database.database_name)
pulumi.export("databaseMasterSecretArn", database.master_secret_arn)
pulumi.export("databaseSecurityGroupId", database.security_group_id)
pulumi.export("cachePrimaryEndpoint", cache.primary_endpoint)
pulumi.export("cacheReaderEndpoint", cache.reader_endpoint)
pulumi.export("cachePort", cache.port)
pulumi.export("cacheAuthSecretArn", cache.auth_secret_arn)
pulumi.export("cacheSecurityGroupId", cache.security_group_id)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("clusterEndpoint", cluster.endpoint)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
pulumi.export("nodeRoleArns", cluster.node_role_arns)
pulumi.export("appNamespaces", list(k8s.baseline.namespaces))
