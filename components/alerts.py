"""Alerts: the stack's SNS alert topic, built right after the network so every component can notify it.

    customer-managed KMS key (with the default alias/aws/sns key, AWS services' notifications are dropped silently)
      <- SNS topic `<prefix>-alerts` + its policy: which services may publish, only for this account
      -> email subscriptions

Publishers: CloudWatch alarms, AWS Budgets and (when enabled) Cost Anomaly Detection from Monitoring; RDS event
subscriptions (events.rds.amazonaws.com) from the Database; ElastiCache notifications from the Cache. Each must be
allowed both to publish (topic policy) and to use the key (kms:GenerateDataKey*, kms:Decrypt), else SNS drops what
it sends.
"""

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .base import Component, policy_document

# Services that publish to the topic, and so must be able to use its key.
PUBLISHERS = ("cloudwatch.amazonaws.com", "budgets.amazonaws.com", "events.rds.amazonaws.com",
              "elasticache.amazonaws.com")
ANOMALY_PUBLISHER = "costalerts.amazonaws.com"


@dataclass(frozen=True)
class AlertsArgs:
    name_prefix: str = "envstack"  # the topic is `<name_prefix>-alerts`
    notification_emails: tuple[str, ...] = ()
    anomaly_detection: bool = False  # Cost Anomaly Detection publishes too
    protect: bool = False

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

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("envstack:observability:Alerts", name, {
            "topic": f"{args.name_prefix}-alerts", "notificationEmails": len(args.notification_emails),
            "publishers": args.publishers}, opts, protect=args.protect, warnings=args.warnings,
            name_prefix=args.name_prefix)
        self._args = args
        # The publishers (service principals) use the key as themselves; the account's principals through SNS only.
        self.key = self.kms_key("key", f"{args.name_prefix}: alert topic encryption", services=("sns",),
                                statements=lambda account, region: [self._publishers_use_key()])
        self.topic = aws.sns.Topic(name, name=f"{args.name_prefix}-alerts", kms_master_key_id=self.key.arn,
                                   opts=self.child())
        self.topic_policy = aws.sns.TopicPolicy(name, arn=self.topic.arn, policy=self._topic_policy(),
                                                opts=self.child())
        self.subscriptions = [
            aws.sns.TopicSubscription(f"{name}-email-{i}", topic=self.topic.arn, protocol="email", endpoint=email,
                                      opts=self.child())
            for i, email in enumerate(args.notification_emails)]
        # The ARN carries both the topic and its policy: whoever subscribes or publishes waits until it may.
        self.topic_arn = pulumi.Output.all(self.topic.arn, self.topic_policy.id).apply(lambda values: values[0])
        self.register_outputs({"topic_arn": self.topic_arn})

    def _publishers_use_key(self) -> dict[str, Any]:
        return {"Sid": "AlertPublishersEncrypt", "Effect": "Allow", "Resource": "*",
                "Principal": {"Service": self._args.publishers}, "Action": ["kms:GenerateDataKey*", "kms:Decrypt"]}

    def _topic_policy(self) -> pulumi.Output[str]:
        return pulumi.Output.all(self.topic.arn, self.account_id).apply(lambda ids: policy_document({
            "Sid": "AlertPublishers", "Effect": "Allow", "Action": "SNS:Publish", "Resource": ids[0],
            "Principal": {"Service": self._args.publishers},
            "Condition": {"StringEquals": {"aws:SourceAccount": ids[1]}}}))
