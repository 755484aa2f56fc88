"""Rules an environment imposes on its stacks, whatever the stack file says.

Guardrail values live in the environment's profile (data, not code) and cannot be overridden by a stack file.
Each check returns the problems it finds; the loader reports them all at once.
"""

from collections.abc import Callable, Iterable

from .base import Model
from .errors import Problem
from .stack import StackConfig


class Guardrails(Model):
    min_az_count: int = 1
    nat_gateway_per_az: bool = False
    protect_stateful_resources: bool = False
    min_notification_emails: int = 0
    require_anomaly_detection: bool = False


Check = Callable[[StackConfig, Guardrails], Iterable[Problem]]


def _az_count(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    if cfg.network.az_count < g.min_az_count:
        yield Problem("envstack:network.azCount", cfg.network.az_count,
                      f"environment {cfg.environment} requires at least {g.min_az_count} availability zones")


def _nat_per_az(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    if g.nat_gateway_per_az and cfg.network.nat_gateway_count < cfg.network.az_count:
        yield Problem("envstack:network.natGateways", cfg.network.nat_gateways,
                      f"environment {cfg.environment} requires one NAT gateway per availability zone ('perAz')")


def _protected(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    if g.protect_stateful_resources and not cfg.protect_stateful_resources:
        yield Problem("envstack:protectStatefulResources", cfg.protect_stateful_resources,
                      f"environment {cfg.environment} requires true (data stores and keys must be protected)")


def _alert_endpoints(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    if len(cfg.monitoring.notification_emails) < g.min_notification_emails:
        yield Problem("envstack:monitoring.notificationEmails", list(cfg.monitoring.notification_emails),
                      f"environment {cfg.environment} requires at least {g.min_notification_emails} address(es): "
                      "alarms and budget alerts must reach someone")


def _anomaly_detection(cfg: StackConfig, g: Guardrails) -> Iterable[Problem]:
    if g.require_anomaly_detection and not cfg.monitoring.anomaly_detection:
        yield Problem("envstack:monitoring.anomalyDetection", cfg.monitoring.anomaly_detection,
                      f"environment {cfg.environment} requires true (cost anomaly detection)")


CHECKS: list[Check] = [_az_count, _nat_per_az, _protected, _alert_endpoints, _anomaly_detection]


def check(cfg: StackConfig, guardrails: Guardrails) -> list[Problem]:
    return [problem for rule in CHECKS for problem in rule(cfg, guardrails)]
