"""The synth JSON records every resource option the engine receives, as the engine receives it."""

from typing import Any

import pulumi
import pulumi_aws as aws
from conftest import run_program

from envstack.tools.synth import ResourceRecord

OPTIONS = ("ignoreChanges", "retainOnDelete", "deleteBeforeReplace", "replaceOnChanges", "aliases", "customTimeouts",
           "additionalSecretOutputs", "deletedWith")


class Owner(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("envstack:test:Owner", name)


def recorded(build: Any) -> dict[str, ResourceRecord]:
    return {r.name: r for r in run_program(build)}


def test_every_option_given_is_recorded_and_none_is_invented():
    def build() -> None:
        owner = Owner("owner")
        key = aws.kms.Key("plain", opts=pulumi.ResourceOptions(parent=owner))
        aws.kms.Key("optioned", description="d", opts=pulumi.ResourceOptions(
            parent=owner, ignore_changes=["description"], retain_on_delete=True, delete_before_replace=True,
            replace_on_changes=["policy"], custom_timeouts=pulumi.CustomTimeouts(create="30m", delete="1h"),
            additional_secret_outputs=["arn"], deleted_with=key))

    records = recorded(build)
    plain, optioned = records["plain"], records["optioned"]
    assert {option: getattr(plain, option) for option in OPTIONS} == {
        "ignoreChanges": [], "retainOnDelete": False, "deleteBeforeReplace": False, "replaceOnChanges": [],
        "aliases": [], "customTimeouts": None, "additionalSecretOutputs": [], "deletedWith": None}
    assert optioned.ignoreChanges == ["description"] and optioned.replaceOnChanges == ["policy"]
    assert optioned.retainOnDelete is True and optioned.deleteBeforeReplace is True
    assert optioned.customTimeouts == {"create": "30m", "update": None, "delete": "1h"}
    assert optioned.additionalSecretOutputs == ["arn"]
    assert optioned.deletedWith == plain.urn


def test_aliases_are_recorded_as_the_urns_they_name():
    """An alias spec leaves out what did not change: its URN takes the resource's own stack, project, type and
    parent (the parent's type qualifies the child's, the root stack's does not)."""
    def build() -> None:
        owner = Owner("owner")
        aws.kms.Key("renamed", opts=pulumi.ResourceOptions(parent=owner, aliases=[pulumi.Alias(name="old-name")]))
        aws.kms.Key("moved", opts=pulumi.ResourceOptions(parent=owner, aliases=[pulumi.Alias(parent=None)]))
        aws.kms.Key("by-urn", opts=pulumi.ResourceOptions(aliases=["urn:pulumi:unit::envstack::aws:kms/key:Key::x"]))

    records = recorded(build)
    child = "urn:pulumi:unit::envstack::envstack:test:Owner$aws:kms/key:Key"
    assert records["renamed"].urn == f"{child}::renamed"
    assert records["renamed"].aliases == [f"{child}::old-name"]
    assert records["moved"].aliases == ["urn:pulumi:unit::envstack::aws:kms/key:Key::moved"]
    assert records["by-urn"].aliases == ["urn:pulumi:unit::envstack::aws:kms/key:Key::x"]
