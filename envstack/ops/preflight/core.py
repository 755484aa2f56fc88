"""What every check shares: the result line, the context (configuration, AWS clients, the caller's account, the
stack's AZs), the registry, and how an unanswered call becomes `skipped` instead of a traceback."""

import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
from botocore.parsers import ResponseParserError

from envstack.program.config import StackConfig
from envstack.program.zones import EKS_UNSUPPORTED_ZONE_IDS
from envstack.tools.terminal import paint

Status = Literal["ok", "warn", "fail", "skipped"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "skipped")
STYLE = {"ok": "ok", "warn": "warning", "fail": "error", "skipped": "dim"}
# Bounded waits: a preflight answers in seconds or says what it could not reach.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"})
# Error codes meaning "this call is not available here" rather than "the answer is no".
UNSUPPORTED = {"NotImplemented", "UnknownOperationException", "InvalidAction", "UnsupportedOperation",
               "UnrecognizedClientException", "404", "501"}
# The caller's permissions say no: docs/preflight.md lists the read-only actions preflight needs.
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
# Credentials that cannot be used at all (none, a missing profile, an expired SSO token, a failing
# credential_process): every call would fail alike, so the preflight stops with one line.
CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, ProfileNotFound, CredentialRetrievalError,
                     TokenRetrievalError, SSOError, NoRegionError)


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    detail: str

    def line(self, stream: Any = None) -> str:
        label = paint(f"{self.status:<7}", STYLE[self.status], stream or sys.stdout)
        return f"{label} {self.check:<22} {self.detail}"


class SkipCheck(Exception):  # noqa: N818 (not an error: a check that cannot be answered here)
    """A check that cannot be answered here (not the account's fault): reported as skipped."""


@dataclass(frozen=True)
class Zone:
    name: str
    zone_id: str


@dataclass
class Context:
    """The stack's configuration, and AWS clients in its region (made once each, or given by tests)."""

    cfg: StackConfig
    session: Any = None
    clients: dict[str, Any] = field(default_factory=dict)
    account: str | None = None
    caller_arn: str | None = None  # STS GetCallerIdentity: arn:aws:sts::<account>:assumed-role/<role>/<session>
    region_zones: list[Zone] | None = None

    def client(self, service: str, region: str | None = None) -> Any:
        key = f"{service}@{region or self.cfg.region}"
        if key not in self.clients:
            self.clients[key] = self.session.client(service, region_name=region or self.cfg.region,
                                                    config=CLIENT_CONFIG)
        return self.clients[key]

    def caller(self) -> str:
        """The caller's ARN, asked of STS once (the account check asks it first)."""
        if self.caller_arn is None:
            identity = self.client("sts").get_caller_identity()
            self.account, self.caller_arn = identity["Account"], identity["Arn"]
        return self.caller_arn

    def candidate_zones(self) -> list[Zone]:
        """The region's zones as components/network.py asks getAvailabilityZones for them (state available, opt-in
        not required), sorted by name as the AWS provider sorts them (terraform-provider-aws,
        ec2_availability_zones_data_source.go); before the exclusion of EKS's unsupported zone IDs."""
        if self.region_zones is None:
            answer = self.client("ec2").describe_availability_zones(Filters=[
                {"Name": "state", "Values": ["available"]},
                {"Name": "opt-in-status", "Values": ["opt-in-not-required"]}])
            self.region_zones = sorted((Zone(z["ZoneName"], z.get("ZoneId", "")) for z in answer["AvailabilityZones"]
                                        if z.get("ZoneType", "availability-zone") == "availability-zone"),
                                       key=lambda z: z.name)
        return list(self.region_zones)

    def zones(self) -> list[str]:
        """The names of the AZs the stack's subnets go to: the first `network.azCount` candidates EKS supports."""
        usable = [z.name for z in self.candidate_zones() if z.zone_id not in EKS_UNSUPPORTED_ZONE_IDS]
        return usable[:self.cfg.network.az_count]


Check = Callable[[Context], Iterable[Result]]
CHECKS: list[tuple[str, Check]] = []


def check(name: str) -> Callable[[Check], Check]:
    """Register a check; it yields its results and may raise ClientError or SkipCheck (turned into `skipped`)."""
    def register(function: Check) -> Check:
        CHECKS.append((name, function))
        return function
    return register


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or error.response.get("ResponseMetadata", {}).get(
        "HTTPStatusCode", ""))


T = TypeVar("T")


def unless_absent(call: Callable[[], T], *absent: str) -> T | None:
    """What `call` answers, or None where AWS answers one of the `absent` error codes (no such thing); any other
    error goes on up."""
    try:
        return call()
    except ClientError as error:
        if error_code(error) not in absent:
            raise
        return None


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item under `key` of every page of a paginated call."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


PERMISSIONS = "docs/preflight.md: the read-only permissions it needs"
C = TypeVar("C", bound=Context)


def run_check(name: str, function: Callable[[C], Iterable[Result]], ctx: C, *, unanswered_as: type[Result] = Result,
              cannot_answer: tuple[type[Exception], ...] = (), permissions: str = PERMISSIONS) -> list[Result]:
    """The check's results; an unsupported or unreachable call ends it with one `skipped` line saying why (the
    results it gave before that stand). Verify tells the calls it could not answer (`unanswered_as`, and its own
    `cannot_answer` errors) from what a check skips by design (SkipCheck)."""
    results: list[Result] = []
    try:
        results.extend(function(ctx))
    except CREDENTIAL_ERRORS:
        raise
    except SkipCheck as reason:
        results.append(Result(name, "skipped", str(reason)))
    except cannot_answer as reason:
        results.append(unanswered_as(name, "skipped", str(reason)))
    except ClientError as error:
        results.append(unanswered_as(name, "skipped", unanswered(error, permissions)))
    except (BotoCoreError, ResponseParserError) as error:
        results.append(unanswered_as(name, "skipped", f"no answer: {type(error).__name__}: {one_line(str(error))}"))
    return results


def unanswered(error: ClientError, permissions: str = PERMISSIONS) -> str:
    """Why a call gave no answer, on one line: 'not supported here: HTTP 404 Not Found', 'no answer: AccessDenied
    ...'; a refusal names where the `permissions` are listed."""
    code = error_code(error)
    why = "not supported here" if code in UNSUPPORTED else "not permitted" if code in DENIED else "no answer"
    label = f"HTTP {code}" if code.isdigit() else code
    message = one_line(error.response.get("Error", {}).get("Message") or "")
    message = message.removeprefix(code).strip()
    if code in DENIED:
        message += f" ({permissions})"
    return f"{why}: {label} {message}".rstrip()


def one_line(text: str, limit: int = 160) -> str:
    """An error message on one line, without the HTML an emulator or a proxy may answer with (and without the
    escaped newlines of a body quoted as bytes)."""
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    text = title[1] if title else text  # an HTML error page (an emulator's, a proxy's): its title says it
    plain = " ".join(re.sub(r"<[^>]+>", " ", text.replace("\\n", " ")).split())
    return plain if len(plain) <= limit else plain[:limit - 1] + "…"
