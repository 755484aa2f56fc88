"""Alerts: an encrypted topic, built before the data stores, that every AWS publisher of the stack may use but
ElastiCache, and the unencrypted topic ElastiCache needs, with the same subscribers."""

import json
from typing import Any

import pytest
from conftest import region, stack_config, synth_with
from test_database import children, only, transitive_dependencies

from components.alerts import ANOMALY_PUBLISHER, PUBLISHERS
from envstack.program.config import ConfigError, load_profile
from envstack.tools.report import summary
from envstack.tools.synth import ResourceRecord, Synthesis

TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
KEY = "aws:kms/key:Key"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
EVENT_SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
# Alarms (CloudWatch), budgets, RDS event subscriptions. Not ElastiCache: it cannot publish to an encrypted topic.
SERVICE_PUBLISHERS = {"cloudwatch.amazonaws.com", "budgets.amazonaws.com", "events.rds.amazonaws.com"}


def monitoring_settings(s: Synthesis) -> dict[str, Any]:
    """The profile's monitoring settings under the stack file's (which names the alert addresses)."""
    return {**load_profile(s.environment).settings["monitoring"],
            **(stack_config(s.stack).get("envstack:monitoring") or {})}


def topic(s: Synthesis, name: str = "alerts") -> ResourceRecord:
    return only([t for t in children(s, "alerts", TOPIC) if t.name == name])


def topic_policy(s: Synthesis, name: str = "alerts") -> ResourceRecord:
    return only([p for p in children(s, "alerts", TOPIC_POLICY) if p.name == name])


def expected_publishers(s: Synthesis) -> set[str]:
    anomaly = {ANOMALY_PUBLISHER} if monitoring_settings(s)["anomalyDetection"] else set()
    return {*PUBLISHERS, *anomaly}


def test_the_stack_has_two_topics_owned_by_alerts_and_exports_their_arns(stack):
    cache_events = topic(stack, "alerts-cache-events")
    assert sorted(t.urn for t in stack.of_type(TOPIC)) == sorted([topic(stack).urn, cache_events.urn])
    assert topic(stack).inputs["name"] == f"envstack-{stack.stack}-alerts"
    assert cache_events.inputs["name"] == f"envstack-{stack.stack}-cache-events"
    assert stack.outputs["alertTopicArn"] == stack.state_of(topic(stack))["arn"] == topic_policy(stack).inputs["arn"]
    assert stack.outputs["cacheEventsTopicArn"] == topic_policy(stack, "alerts-cache-events").inputs["arn"]


def test_elasticache_notifies_an_unencrypted_topic_it_may_publish_to_by_source_owner(stack):
    """The ElastiCache guide: no encryption (an encrypted topic is marked inactive), and the documented
    AWS:SourceOwner statement (with aws:SourceAccount ElastiCache cannot publish)."""
    cache_events = topic(stack, "alerts-cache-events")
    assert "kmsMasterKeyId" not in cache_events.inputs
    arn = stack.outputs["cacheEventsTopicArn"]
    (statement,) = json.loads(topic_policy(stack, "alerts-cache-events").inputs["policy"])["Statement"]
    assert statement == {"Sid": "AllowElastiCachePublish", "Effect": "Allow", "Principal": {"AWS": "*"},
                         "Action": "SNS:Publish", "Resource": arn,
                         "Condition": {"StringEquals": {"AWS:SourceOwner": arn.split(":")[4]}}}


def test_topic_is_encrypted_with_its_own_key_every_publisher_may_use(stack):
    key = only(children(stack, "alerts", KEY))
    assert topic(stack).inputs["kmsMasterKeyId"] == stack.state_of(key)["arn"]
    assert key.urn in topic(stack).dependencies
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect == load_profile(stack.environment).settings["protectStatefulResources"]
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert set(statements) == {"AccountAdministers", "UseThroughServices", "AlertPublishersEncrypt"}
    # The account's principals publish (and so use the key) through SNS only.
    assert statements["UseThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"] == [
        f"sns.{region(stack)}.amazonaws.com"]
    services = statements["AlertPublishersEncrypt"]
    assert set(services["Principal"]["Service"]) == expected_publishers(stack)
    assert set(services["Principal"]["Service"]) >= SERVICE_PUBLISHERS
    assert set(services["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}


def test_topic_policy_lets_only_this_accounts_publishers_publish(stack):
    arn = stack.outputs["alertTopicArn"]
    (statement,) = json.loads(topic_policy(stack).inputs["policy"])["Statement"]
    assert statement["Action"] == "SNS:Publish" and statement["Resource"] == arn
    assert set(statement["Principal"]["Service"]) == expected_publishers(stack)
    assert set(statement["Principal"]["Service"]) >= SERVICE_PUBLISHERS
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": arn.split(":")[4]}}


def test_email_subscriptions_follow_the_profile_on_both_topics(stack):
    emails = monitoring_settings(stack)["notificationEmails"]
    subscriptions = children(stack, "alerts", "aws:sns/topicSubscription:TopicSubscription")
    for output in ("alertTopicArn", "cacheEventsTopicArn"):
        on_topic = [s for s in subscriptions if s.inputs["topic"] == stack.outputs[output]]
        assert sorted(s.inputs["endpoint"] for s in on_topic) == sorted(emails)
        assert all(s.inputs["protocol"] == "email" for s in on_topic)
    assert len(subscriptions) == 2 * len(emails)


def test_a_topic_nobody_subscribes_to_is_a_loud_warning(stack):
    """dev's profile lists no address: synth (summary and JSON) and `pulumi up` say so; staging and prod must list
    one (guardrail minNotificationEmails)."""
    nobody = not monitoring_settings(stack)["notificationEmails"]
    warning = (f"alerts: the alert topic envstack-{stack.stack}-alerts has no subscriber: alarms, budget and anomaly "
               "alerts reach nobody (set envstack:monitoring.notificationEmails)")
    assert [w for w in stack.warnings() if not w.startswith("configuration:")] == ([warning] if nobody else [])
    assert stack.to_json()["warnings"] == stack.warnings()
    assert (f"WARNING: {warning}" in summary(stack)) == nobody
    assert nobody == (stack.environment == "dev")


def assert_notifies_the_topic_once_it_may(s: Synthesis, record: ResourceRecord, name: str = "alerts") -> None:
    """Created after the topic and its policy (AWS checks it may publish when the subscription is made)."""
    assert {topic(s, name).urn, topic_policy(s, name).urn} <= set(record.dependencies), record.urn


def test_data_stores_notify_the_topics_created_before_them(stack):
    group = only(children(stack, "cache", REPLICATION_GROUP))
    assert group.inputs["notificationTopicArn"] == stack.outputs["cacheEventsTopicArn"]
    assert_notifies_the_topic_once_it_may(stack, group, "alerts-cache-events")
    assert topic(stack).urn not in group.dependencies
    subscription = only(children(stack, "database", EVENT_SUBSCRIPTION))
    assert subscription.inputs["snsTopic"] == stack.outputs["alertTopicArn"]
    assert_notifies_the_topic_once_it_may(stack, subscription)
    # ...and the topic waits for neither data store.
    ancestry = transitive_dependencies(stack.resources, topic_policy(stack).urn)
    assert not {r.urn for r in stack.resources if r.parent and r.parent.endswith(("::database", "::cache"))} \
        & (ancestry | {topic(stack).urn})


def test_alarms_budget_and_anomaly_subscription_wait_for_the_topic_policy(stack):
    notifiers = [*stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"), stack.one("aws:budgets/budget:Budget"),
                 *stack.of_type("aws:costexplorer/anomalySubscription:AnomalySubscription")]
    assert len(notifiers) > 2
    for record in notifiers:
        assert_notifies_the_topic_once_it_may(stack, record)


def test_anomaly_detection_off_leaves_cost_alerts_out_of_both_policies():
    s = synth_with("staging", monitoring={"anomalyDetection": False, "notificationEmails": ["oncall@acme-corp.io"]})
    key_policy = json.loads(only(children(s, "alerts", KEY)).inputs["policy"])
    (services,) = [st for st in key_policy["Statement"] if "Service" in st["Principal"]]
    (published,) = json.loads(topic_policy(s).inputs["policy"])["Statement"]
    assert set(services["Principal"]["Service"]) == set(published["Principal"]["Service"]) == set(PUBLISHERS)


SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"


def subscription_urns(s: Synthesis) -> dict[tuple[str, str], str]:
    """(topic output, address) -> the subscription's URN."""
    topics = {s.outputs[o]: o for o in ("alertTopicArn", "cacheEventsTopicArn")}
    return {(topics[r.inputs["topic"]], r.inputs["endpoint"]): r.urn for r in children(s, "alerts", SUBSCRIPTION)}


def test_an_address_added_in_front_leaves_the_other_subscriptions_as_they_are():
    """Named by position, the on-call subscription would be replaced by a new, unconfirmed one receiving nothing."""
    before = subscription_urns(synth_with("staging", monitoring={"notificationEmails": ["oncall@example.com"]}))
    after = subscription_urns(synth_with("staging", monitoring={
        "notificationEmails": ["new@example.com", "oncall@example.com"]}))
    assert {key for key in before} == {("alertTopicArn", "oncall@example.com"),
                                       ("cacheEventsTopicArn", "oncall@example.com")}
    assert {key: after[key] for key in before} == before
    assert after[("alertTopicArn", "new@example.com")].endswith("::alerts-email-new@example.com")


def test_subscriptions_keep_the_state_of_their_positional_names():
    s = synth_with("staging", monitoring={"notificationEmails": ["new@example.com", "OnCall@example.com"]})
    records = {r.name: r for r in children(s, "alerts", SUBSCRIPTION)}
    oncall = records["alerts-email-oncall@example.com"]
    assert oncall.inputs["endpoint"] == "OnCall@example.com"
    assert oncall.aliases == [oncall.urn.replace("::alerts-email-oncall@example.com", "::alerts-email-1")]
    assert records["alerts-cache-events-email-new@example.com"].aliases[0].endswith("::alerts-cache-events-email-0")


def test_an_address_listed_twice_in_any_case_is_refused():
    with pytest.raises(ConfigError, match=r"envstack:monitoring.notificationEmails.*more than once.*oncall"):
        synth_with("staging", monitoring={"notificationEmails": ["oncall@example.com", "OnCall@Example.com"]})
