"""envstack: one complete AWS environment per Pulumi stack.

    configuration (profile + stack file) -> AWS provider (region, accounts, tags)
      -> network (VPC: public / private / isolated tiers)
      -> data (PostgreSQL on RDS, Redis/Valkey on ElastiCache, in the isolated tier, reached via allow())
"""

import pulumi

from components.cache import Cache, CacheArgs
from components.database import Database, DatabaseArgs
from components.monitoring import Monitoring, MonitoringArgs, MonitoringTargets, member_cluster_ids
from components.network import Network, NetworkArgs
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
