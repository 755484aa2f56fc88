"""envstack: one complete AWS environment per Pulumi stack.

    configuration (profile + stack file) -> AWS provider (region, accounts, tags)
      -> network (VPC: public / private / isolated tiers)
"""

import pulumi

from components.monitoring import Monitoring, MonitoringArgs, MonitoringTargets
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

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        stack=cfg.stack,
        name_prefix=cfg.name_prefix,
        region=cfg.region,
        targets=MonitoringTargets(
            nat_gateway_ids=[nat.id for nat in network.nat_gateways],
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
