"""Alerts: the stack's SNS alert topics, built right after the network so every component can notify them.

    customer-managed KMS key (with the default alias/aws/sns key, AWS services' notifications are dropped silently)
      <- SNS topic `<prefix>-alerts` + its policy: which services may publish, only for this account
      -> email subscriptions
    SNS topic `<prefix>-cache-events`, unencrypted, + the policy ElastiCache needs -> the same email subscriptions

Publishers of the alert topic: CloudWatch alarms, AWS Budgets and (when enabled) Cost Anomaly Detection from
Monitoring; RDS event subscriptions (events.rds.amazonaws.com) from the Database. Each must be allowed both to
publish (topic policy) and to use the key (kms:GenerateDataKey*, kms:Decrypt), else SNS drops what it sends.

ElastiCache cannot publish there. The ElastiCache guide ("Event Notifications and Amazon SNS"): the topic it
publishes to cannot be encrypted (ElastiCache marks an encrypted one inactive), and its policy must use
aws:SourceOwner, not aws:SourceAccount. Nor can EventBridge carry those events into the encrypted topic: node-based
(self-designed) cluster events are not published to EventBridge (ElastiCache guide, "Events for node-based
clusters"; only serverless caches' are). So the replication group notifies a second topic of its own, unencrypted,
with the guide's policy and the same subscribers. Its messages are cluster events (failover, node replacement,
...): no data.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .base import Component, policy_document

# Services that publish to the alert topic, and so must be able to use its key.
# Global service principals, the same in every partition (components/partition.py).
PUBLISHERS = ("cloudwatch.amazonaws.com", "budgets.amazonaws.com", "events.rds.amazonaws.com")
ANOMALY_PUBLISHER = "costalerts.amazonaws.com"
# (topic ARN, account id) -> the statement of a topic's policy that lets its publishers publish.
Statement = Callable[[str, str], dict[str, Any]]


@dataclass(frozen=True)
class AlertsArgs:
    name_prefix: str  # the topic is `<name_prefix>-alerts`
    notification_emails: tuple[str, ...]
    anomaly_detection: bool  # Cost Anomaly Detection publishes too
    protect: bool

    @property
    def warnings(self) -> list[str]:
        if self.notification_emails:
            return []
        return [f"the alert topic {self.name_prefix}-alerts has no subscriber: alarms, budget and anomaly alerts "
                "reach nobody (set envstack:monitoring.notificationEmails)"]

    @property
    def publishers(self) -> list[str]:
        return [*PUBLISHERS, ANOMALY_PUBLISHER] if self.anomaly_detection else list(PUBLISHERS)


class Alerts(Component):
    topic_arn: pulumi.Output[str]
    cache_events_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("envstack:observability:Alerts", name, {
            "topic": f"{args.name_prefix}-alerts", "cacheEventsTopic": f"{args.name_prefix}-cache-events",
            "notificationEmailCount": len(args.notification_emails), "publishers": args.publishers}, opts,
            protect=args.protect, warnings=args.warnings, name_prefix=args.name_prefix)
        self._args = args
        # The publishers (service principals) use the key as themselves; the account's principals through SNS only.
        self.key = self.kms_key("key", f"{args.name_prefix}: alert topic encryption", services=("sns",),
                                statements=lambda where: [self._publishers_use_key()])
        self.topic = aws.sns.Topic(name, name=f"{args.name_prefix}-alerts", kms_master_key_id=self.key.arn,
                                   opts=self.child())
        self.topic_arn = self._subscribed(name, self.topic, self._publishers_statement)
        self.cache_events_topic = aws.sns.Topic(f"{name}-cache-events", name=f"{args.name_prefix}-cache-events",
                                                opts=self.child())
        self.cache_events_topic_arn = self._subscribed(f"{name}-cache-events", self.cache_events_topic,
                                                       _elasticache_statement)
        self.register_outputs({"topic_arn": self.topic_arn, "cache_events_topic_arn": self.cache_events_topic_arn})

    def _subscribed(self, label: str, topic: aws.sns.Topic, statement: Statement) -> pulumi.Output[str]:
        """The topic's policy (`statement` of its ARN and the account) and an email subscription per address; the
        ARN returned carries the policy, so whoever subscribes or publishes waits until it may. A subscription is
        named by its address (`<label>-email-oncall@example.com`; e-mail addresses are compared without case), never
        its position: keyed `<label>-email-<i>`, an address added in front replaced the on-call subscription with a
        new one that receives nothing until confirmed. The old name is its alias, so upgrading replaces nothing."""
        policy = aws.sns.TopicPolicy(label, arn=topic.arn, opts=self.child(), policy=pulumi.Output.all(
            topic.arn, self.account_id).apply(lambda ids: policy_document(statement(ids[0], ids[1]))))
        for i, email in enumerate(self._args.notification_emails):
            aws.sns.TopicSubscription(
                f"{label}-email-{email.lower()}", topic=topic.arn, protocol="email", endpoint=email,
                opts=self.child(aliases=[pulumi.Alias(name=f"{label}-email-{i}")]))
        return pulumi.Output.all(topic.arn, policy.id).apply(lambda values: values[0])

    def _publishers_use_key(self) -> dict[str, Any]:
        return {"Sid": "AlertPublishersEncrypt", "Effect": "Allow", "Resource": "*",
                "Principal": {"Service": self._args.publishers}, "Action": ["kms:GenerateDataKey*", "kms:Decrypt"]}

    def _publishers_statement(self, topic_arn: str, account_id: str) -> dict[str, Any]:
        return {"Sid": "AlertPublishers", "Effect": "Allow", "Action": "SNS:Publish", "Resource": topic_arn,
                "Principal": {"Service": self._args.publishers},
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}}


def _elasticache_statement(topic_arn: str, account_id: str) -> dict[str, Any]:
    """The statement the ElastiCache guide asks of a notification topic ("Managing ElastiCache Amazon SNS
    notifications", SNS topic access policy requirement): AWS:SourceOwner, which ElastiCache sets; with
    aws:SourceAccount it marks the topic inactive."""
    return {"Sid": "AllowElastiCachePublish", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish",
            "Resource": topic_arn, "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}}}
