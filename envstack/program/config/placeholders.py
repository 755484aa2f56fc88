"""Example values that must not reach an account: reserved domains and the account ids documentation uses.

A stack file copied from the README or the committed examples carries them until someone replaces them: alerts to
`platform-oncall@example.com` go nowhere (SNS waits for a confirmation no one can give), a role in account
123456789012 is someone else's or no one's. They are valid configuration, so `envstack validate` accepts them;
`envstack synth` and `pulumi preview` warn about each, and `envstack preflight` refuses them before `pulumi up`.
Every string value of the configuration is looked at, so a key added later is covered too.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .stack import StackConfig

# RFC 2606 and RFC 6761: names reserved for documentation and testing, never delegated.
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
RESERVED_TOP_LEVEL = ("example", "test", "invalid", "localhost")
# The account ids AWS's documentation writes in examples (123456789012 throughout; 111122223333, 444455556666 and
# 777788889999 in the IAM and KMS guides; 012345678901 in some API references), and any id of one repeated digit
# (AWS assigns account ids at random: 111111111111 is a placeholder, 000000000000 an emulator's).
DOCUMENTATION_ACCOUNTS = frozenset({"123456789012", "012345678901", "111122223333", "444455556666", "777788889999"})
_ACCOUNT = re.compile(r"^\d{12}$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")
_EMAIL_DOMAIN = re.compile(r"^[^@\s]+@([^@\s]+)$")


@dataclass(frozen=True)
class Placeholder:
    key: str  # envstack:monitoring.notificationEmails[0]
    value: str
    why: str

    def line(self) -> str:
        return f"{self.key} = {self.value!r} is an example value: {self.why}; replace it before deploying"


def documentation_account(account: str) -> bool:
    return account in DOCUMENTATION_ACCOUNTS or (bool(_ACCOUNT.match(account)) and len(set(account)) == 1)


def reserved_domain(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    return domain in RESERVED_DOMAINS or domain.endswith(tuple(f".{d}" for d in RESERVED_DOMAINS)) or \
        domain.rsplit(".", 1)[-1] in RESERVED_TOP_LEVEL


def placeholder_problem(value: str) -> str | None:
    """Why `value` is an example value (a reserved domain, a documentation account id), or None."""
    email = _EMAIL_DOMAIN.match(value)
    if email and reserved_domain(email[1]):
        return (f"{email[1]} is a domain reserved for documentation (RFC 2606/6761): no mail is delivered there "
                "(an alert subscription to it is never confirmed)")
    arn = _ARN_ACCOUNT.match(value)
    account = arn[1] if arn else value if _ACCOUNT.match(value) else None
    if account and documentation_account(account):
        return f"account {account} is an example id (AWS's documentation's, or one digit repeated), not an account"
    return None


def placeholders(cfg: StackConfig) -> list[Placeholder]:
    """Every example value in the stack's configuration (stack file and profile alike)."""
    return [Placeholder(key, value, why) for key, value in _strings(cfg.model_dump(by_alias=True, mode="json"))
            if (why := placeholder_problem(value)) is not None]


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if path == "" and key in ("stack", "project"):
                continue
            yield from _strings(inner, f"{path}.{key}" if path else f"envstack:{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _strings(inner, f"{path}[{i}]")
    elif isinstance(value, str):
        yield ("aws:region" if path == "envstack:region" else path), value
