"""Stacks of different environments keep their VPC ranges apart.

They get connected sooner or later (a shared VPN, peering, a Transit Gateway, a runner that deploys both), and
routing only works between ranges that do not overlap; moving a VPC later means rebuilding it. So a stack whose VPC
CIDR overlaps another environment's is refused, naming both stack files. Stacks of one environment may overlap (a
review stack `pr-N` takes dev's range): that is only noted.
envstack/program/config/neighbours.py finds the other stacks.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network

from ..stack_names import REVIEW_STACK
from .errors import Problem

KEY = "envstack:network.cidr"


def file_of(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


@dataclass(frozen=True)
class Neighbour:
    """Another stack's environment and VPC range, as its stack file and profile give them."""

    stack: str
    environment: str
    cidr: IPv4Network

    @property
    def file(self) -> str:
        return file_of(self.stack)


def overlaps(stack: str, environment: str, cidr: IPv4Network, others: Iterable[Neighbour]) \
        -> tuple[list[Problem], list[str]]:
    """Problems for ranges shared with other environments; notes for ranges shared within the environment."""
    problems: list[Problem] = []
    notes: list[str] = []
    others = list(others)
    own_file = file_of(stack)
    for other in others:
        if not cidr.overlaps(other.cidr):
            continue
        if other.environment == environment:
            kind = "a review stack" if REVIEW_STACK.match(stack) else f"a {environment} stack"
            notes.append(f"stack {stack}: VPC {cidr} overlaps stack {other.stack}'s {other.cidr} ({other.file}, also "
                         f"{environment}): fine for {kind}, as long as the two are never connected")
        else:
            problems.append(Problem(KEY, str(cidr), (
                f"a range apart from stack {other.stack}'s {other.cidr} ({other.file}, environment "
                f"{other.environment}): {own_file} (environment {environment}) overlaps it, and stacks of different "
                f"environments must never overlap (peering, VPN and Transit Gateway route only between distinct "
                f"ranges){_free_range(others)}")))
    return problems, notes


def _free_range(others: list[Neighbour]) -> str:
    """A hint: the first 10.x.0.0/16 no other stack uses."""
    for second in range(256):
        candidate = IPv4Network(f"10.{second}.0.0/16")
        if not any(candidate.overlaps(o.cidr) for o in others):
            return f"; e.g. {candidate} is free"
    return ""
