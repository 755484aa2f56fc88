"""envstack: one complete AWS environment per Pulumi stack.

    configuration (profile + stack file) -> AWS provider (region, accounts, tags)
      -> network (VPC: public / private / isolated tiers)
"""

import pulumi

from components.network import Network, NetworkArgs
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

pulumi.export("environment", cfg.environment)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("vpcCidr", network.vpc.cidr_block)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("isolatedSubnetIds", network.isolated_subnet_ids)
pulumi.export("natPublicIps", [eip.public_ip for eip in network.nat_eips])
pulumi.export("dbSubnetGroupName", network.db_subnet_group.name)
pulumi.export("cacheSubnetGroupName", network.cache_subnet_group.name)
