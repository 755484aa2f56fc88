"""What verify's checks share: the context (preflight's, plus the stack's outputs, the clock and the Kubernetes API),
the registry, and how a check that could not be answered becomes `skipped` and counted as such (exit 2), apart from
one skipped by design (a stack without WAF logging has no WAF logs to look at)."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from envstack.ops.preflight.core import Context, Result, SkipCheck, pages, unless_absent
from envstack.ops.preflight.core import run_check as preflight_run_check

PERMISSIONS = "docs/verify.md: the permissions verify needs"
__all__ = ["Result", "SkipCheck", "Unanswered", "UnansweredError", "VerifyContext", "check", "pages", "run_check"]
# Logs are expected within this window once their source is older than it.
LOG_WINDOW = timedelta(hours=1)


class Unanswered(Result):
    """A check that could not be answered (a call refused, not supported or unreachable): verify exits 2."""


class UnansweredError(Exception):
    """Raised by a check that cannot get its answer (the Kubernetes API unreachable or refusing, an output missing)."""


@dataclass
class VerifyContext(Context):
    """Preflight's context (configuration, AWS clients, the caller) plus what the running stack says about itself."""

    outputs: dict[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    probe: bool = True  # --no-probe: the read-only part only
    probe_image: str = ""
    rds_ca_bundle: str | None = None  # PEM: the probe verifies the database's certificate with it
    kubernetes: Any = None  # a kube.Kubernetes, made on first use (tests give a fake API's)
    https_port: int = 443  # the listeners (tests point them at local servers)
    http_port: int = 80
    ca_file: str | None = None  # trust for the HTTPS listener (default: the system's)
    cluster: dict[str, Any] | None = None  # EKS DescribeCluster, asked once

    def output(self, name: str) -> Any:
        """A stack output the check needs; a missing or hidden one stops the check as unanswered."""
        value = self.outputs.get(name)
        if value is None or value == "[secret]":
            raise UnansweredError(f"the stack outputs have no {name} (`pulumi stack output --json` of the deployed "
                                  "stack)")
        return value

    def account_id(self) -> str:
        """The caller's account, asked of STS unless known (the account check asks it first)."""
        if self.account is None:
            self.caller()
        return str(self.account)

    def eks_cluster(self) -> dict[str, Any]:
        if self.cluster is None:
            self.cluster = self.client("eks").describe_cluster(name=self.output("clusterName"))["cluster"]
        return self.cluster

    def older_than(self, created: datetime | None, window: timedelta = LOG_WINDOW) -> bool:
        return created is not None and self.now - created >= window


Check = Callable[[VerifyContext], Iterable[Result]]
CHECKS: list[tuple[str, Check]] = []


def check(name: str) -> Callable[[Check], Check]:
    """Register a check (in the order they run); it yields results and may raise what run_check turns into
    `skipped`."""
    def register(function: Check) -> Check:
        CHECKS.append((name, function))
        return function
    return register


def run_check(name: str, function: Check, ctx: VerifyContext) -> list[Result]:
    """Preflight's run_check, telling what could not be answered (Unanswered: exit 2) from what a check skips by
    design."""
    return preflight_run_check(name, function, ctx, unanswered_as=Unanswered, cannot_answer=(UnansweredError,),
                               permissions=PERMISSIONS)


def listed(client: Any, operation: str, key: str, *absent: str, **kwargs: Any) -> list[Any] | None:
    """`pages` as a list, or None where AWS answers one of the `absent` codes (no such thing to list)."""
    return unless_absent(lambda: list(pages(client, operation, key, **kwargs)), *absent)


def ago(then: datetime, now: datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    return f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"
