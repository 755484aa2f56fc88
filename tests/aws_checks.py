"""What the tests of preflight's and verify's AWS checks share: botocore's Stubber behind a context's clients, a
session that records the calls the checks make, and the read-only policy a document gives."""

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber


class StubbedChecks:
    """Stubbed clients for one check run: `stub(service).add_response(...)` queues the answers, in call order;
    `run(name)` runs the registered check and fails while a queued answer was not asked for."""

    def __init__(self, ctx: Any, checks: Iterable[tuple[str, Any]], run_check: Callable[[str, Any, Any], list[Any]]):
        self.ctx = ctx
        self.checks = dict(checks)
        self.run_check = run_check
        self.stubbers: dict[str, Stubber] = {}

    def stub(self, service: str, region: str | None = None) -> Stubber:
        key = f"{service}@{region or self.ctx.cfg.region}"
        if key not in self.stubbers:
            self.ctx.clients[key] = boto3.client(service, region_name=region or self.ctx.cfg.region,
                                                 aws_access_key_id="x", aws_secret_access_key="x")
            self.stubbers[key] = Stubber(self.ctx.clients[key])
            self.stubbers[key].activate()
        return self.stubbers[key]

    def run(self, name: str) -> list[Any]:
        results = self.run_check(name, self.checks[name], self.ctx)
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()
        return results


def recording_session(region: str) -> tuple[boto3.Session, set[str]]:
    """A session (moto's fake credentials) and the calls made through it so far, as `<signing name>:<operation>`."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    called: set[str] = set()
    session.events.register("before-call", lambda model, **_: called.add(
        f"{model.service_model.signing_name}:{model.name}"))
    return session, called


def documented_actions(document: Path, heading: str) -> set[str]:
    """The actions of the first statement of the first JSON policy after `heading` in a Markdown document."""
    text = document.read_text()
    block = text[text.index(heading):]
    start = block.index("```json") + len("```json")
    return set(json.loads(block[start:block.index("```", start)])["Statement"][0]["Action"])
