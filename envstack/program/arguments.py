"""From the typed stack configuration to each component's typed arguments.

This is the only place that knows both sides: components know nothing of configuration, and the configuration
knows nothing of components. `__main__.py` calls one function per component and stays an architecture diagram.
"""

from collections.abc import Sequence
from typing import Any

import pulumi

from components.access_logs import LogLifecycle, Transition
from components.alerts import AlertsArgs
from components.cache import PORT as CACHE_PORT
from components.cache import CacheArgs
from components.cluster import ClusterArgs, NodeGroupSpec
from components.cluster_autoscaler import ClusterAutoscalerArgs
from components.cluster_baseline import SERVICE_ACCOUNT, BaselineArgs, ContainerLimits, PodSecurity, Quota
from components.database import PORT as DATABASE_PORT
from components.database import DatabaseArgs
from components.datastore import IamConnect
from components.load_balancer import HealthCheck, LoadBalancerArgs, WafArgs
from components.monitoring import MonitoringArgs, MonitoringTargets
from components.network import FlowLogs, NetworkArgs, TransitGateway, subnet_plan
from components.workload_identity import WorkloadIdentityArgs

from . import deployment
from .config import StackConfig


def network(cfg: StackConfig) -> NetworkArgs:
    net = cfg.network
    return NetworkArgs(
        cidr=str(net.cidr), az_count=net.az_count, nat_gateways=net.nat_gateways,
        flow_logs=FlowLogs(traffic=net.flow_log_traffic, aggregation_seconds=net.flow_log_aggregation_seconds,
                           destination=net.flow_log_destination, retention_days=cfg.monitoring.log_retention_days),
        region=cfg.region, name_prefix=cfg.name_prefix, protect=cfg.protect_stateful_resources,
        interface_endpoints=net.interface_endpoints,
        transit_gateway=TransitGateway(net.transit_gateway.id, tuple(str(c) for c in net.transit_gateway.cidrs))
        if net.transit_gateway else None, permissions_boundary=cfg.permissions_boundary_arn)


def cluster(cfg: StackConfig, vpc_id: pulumi.Input[str], private_subnet_ids: Sequence[pulumi.Input[str]],
            api_routes: Sequence[pulumi.Resource] = ()) -> ClusterArgs:
    k8s = cfg.cluster
    return ClusterArgs(
        vpc_id=vpc_id, private_subnet_ids=private_subnet_ids, name=cfg.name_prefix, version=k8s.version,
        upgrade_policy=k8s.upgrade_policy, endpoint_public_access=k8s.endpoint_public_access,
        public_access_cidrs=tuple(str(c) for c in k8s.public_access_cidrs),
        api_access_cidrs=tuple(str(c) for c in k8s.api_access_cidrs), deployer_role_arn=k8s.deployer_role_arn,
        admin_role_arns=k8s.admin_role_arns,
        ci_deployer_role_arns=k8s.ci_deployer_role_arns, viewer_role_arns=k8s.viewer_role_arns, log_types=k8s.log_types,
        log_retention_days=cfg.monitoring.log_retention_days,
        node_groups=tuple(NodeGroupSpec(name=name, **group.model_dump()) for name, group in k8s.node_groups.items()),
        addon_versions=k8s.addon_versions.by_addon_name(), deletion_protection=k8s.deletion_protection,
        protect=cfg.protect_stateful_resources, tags=cfg.tags, permissions_boundary=cfg.permissions_boundary_arn,
        autoscaled=k8s.autoscaler.enabled, api_routes=tuple(api_routes))


def autoscaler(cfg: StackConfig, cluster_arn: pulumi.Input[str],
               node_groups: Sequence[pulumi.Resource]) -> ClusterAutoscalerArgs:
    """The Cluster Autoscaler's release for the cluster's Kubernetes minor (StackConfig refuses another)."""
    version = cfg.cluster.autoscaler.version
    if version is None:  # StackConfig.problems refuses an enabled autoscaler without a release
        raise ValueError("envstack:cluster.autoscaler.version is required while the autoscaler is enabled")
    return ClusterAutoscalerArgs(
        cluster_name=cfg.name_prefix, cluster_arn=cluster_arn, region=cfg.region, version=version,
        node_groups=node_groups, permissions_boundary=cfg.permissions_boundary_arn)


def baseline(cfg: StackConfig) -> BaselineArgs:
    """Namespaces, policies and RBAC; the ALB sits in the public tier (and reaches pods on its target port, the one
    NodePort allowed) and the data stores in the isolated one."""
    base, subnets = cfg.cluster.baseline, subnet_plan(str(cfg.network.cidr), cfg.network.az_count)
    return BaselineArgs(
        namespaces=base.namespaces, app_port=base.app_port, pod_security=PodSecurity(**base.pod_security.model_dump()),
        pod_security_version=f"v{cfg.cluster.version}", quota=Quota(**base.quota.model_dump()),
        container_limits=ContainerLimits(**base.container_limits.model_dump()),
        load_balancer_cidrs=tuple(subnets["public"]), node_port=cfg.load_balancer.target_port,
        data_cidrs=tuple(subnets["isolated"]), data_ports=(DATABASE_PORT, CACHE_PORT),
        https_egress_cidrs=https_egress_cidrs(cfg))


def https_egress_cidrs(cfg: StackConfig) -> tuple[str, ...]:
    """Where pods may open HTTPS: the VPC when it has interface endpoints (the AWS APIs answer there), then the
    stack's explicit list of other destinations."""
    vpc = (str(cfg.network.cidr),) if cfg.network.interface_endpoints else ()
    extra = tuple(str(c) for c in cfg.cluster.baseline.https_egress_cidrs)
    return vpc + tuple(c for c in extra if c not in vpc)


def alerts(cfg: StackConfig) -> AlertsArgs:
    mon = cfg.monitoring
    return AlertsArgs(name_prefix=cfg.name_prefix, notification_emails=mon.notification_emails,
                      anomaly_detection=mon.anomaly_detection, protect=cfg.protect_stateful_resources)


def _data_store(cfg: StackConfig, vpc_id: pulumi.Input[str], subnet_group_name: pulumi.Input[str]) -> dict[str, Any]:
    """What both data stores take alike: where they live, their names, protection and log retention."""
    return {"vpc_id": vpc_id, "subnet_group_name": subnet_group_name, "name_prefix": cfg.name_prefix,
            "protect": cfg.protect_stateful_resources, "log_retention_days": cfg.monitoring.log_retention_days}


def database(cfg: StackConfig, vpc_id: pulumi.Input[str], subnet_group_name: pulumi.Input[str],
             alert_topic_arn: pulumi.Input[str] | None = None) -> DatabaseArgs:
    return DatabaseArgs(**_data_store(cfg, vpc_id, subnet_group_name), alert_topic_arn=alert_topic_arn,
                        permissions_boundary=cfg.permissions_boundary_arn, **cfg.database.model_dump())


def cache(cfg: StackConfig, vpc_id: pulumi.Input[str], subnet_group_name: pulumi.Input[str],
          events_topic_arn: pulumi.Input[str] | None = None) -> CacheArgs:
    return CacheArgs(**_data_store(cfg, vpc_id, subnet_group_name), notification_topic_arn=events_topic_arn,
                     **cfg.cache.model_dump())


def workload_identity(cfg: StackConfig, cluster_name: pulumi.Input[str], cluster_arn: pulumi.Input[str],
                      grants: Sequence[IamConnect]) -> WorkloadIdentityArgs:
    """A role per application namespace for its ServiceAccount (the baseline's), allowed `grants` only."""
    return WorkloadIdentityArgs(
        cluster_name=cluster_name, cluster_arn=cluster_arn, namespaces=cfg.cluster.baseline.namespaces,
        service_account=SERVICE_ACCOUNT, grants=tuple(grants),
        permissions_boundary=cfg.permissions_boundary_arn)


def load_balancer(cfg: StackConfig, vpc_id: pulumi.Input[str], public_subnet_ids: Sequence[pulumi.Input[str]]) \
        -> LoadBalancerArgs:
    lb, logs = cfg.load_balancer, cfg.load_balancer.access_logs
    return LoadBalancerArgs(
        vpc_id=vpc_id, subnet_ids=public_subnet_ids, tls=lb.tls, certificate_arn=lb.certificate_arn,
        ssl_policy=lb.ssl_policy, allowed_cidrs=tuple(str(cidr) for cidr in lb.allowed_cidrs),
        idle_timeout_seconds=lb.idle_timeout_seconds, desync_mitigation_mode=lb.desync_mitigation_mode,
        deletion_protection=lb.deletion_protection, target_port=lb.target_port,
        deregistration_delay_seconds=lb.deregistration_delay_seconds,
        health_check=HealthCheck(**lb.health_check.model_dump()),
        waf=WafArgs(**lb.waf.model_dump(), log_retention_days=cfg.monitoring.log_retention_days),
        access_logs=LogLifecycle(
            prefix=logs.prefix, expiration_days=logs.expiration_days, versioning=logs.versioning,
            transitions=tuple(Transition(t.days, t.storage_class) for t in logs.transitions),
            force_destroy=logs.force_destroy),
        name_prefix=cfg.name_prefix, protect=cfg.protect_stateful_resources)


def monitoring(cfg: StackConfig, alert_topic_arn: pulumi.Input[str], targets: MonitoringTargets,
               record_after: Sequence[pulumi.Resource] = ()) -> MonitoringArgs:
    mon = cfg.monitoring
    return MonitoringArgs(
        stack=cfg.stack, name_prefix=cfg.name_prefix, region=cfg.region, alert_topic_arn=alert_topic_arn,
        targets=targets,
        thresholds=mon.alarm_thresholds.model_dump(by_alias=True),
        evaluation_periods=mon.evaluation_periods, datapoints_to_alarm=mon.datapoints_to_alarm,
        monthly_budget_usd=mon.monthly_budget_usd, anomaly_detection=mon.anomaly_detection,
        anomaly_threshold_usd=mon.anomaly_threshold_usd,
        deployment_record=deployment.from_environment(cfg.stack, cfg.environment), record_after=tuple(record_after))
