"""What the components tell the tools about themselves, without writing it into Pulumi state.

A component records its key settings and warnings here as it is built, and `allow()` records each connection, in
the order `__main__.py` makes them: the architecture as the program states it. `envstack synth` empties the manifest
before it runs the program under mocks and reads it afterwards, so the report, the cost estimate and the diff show
what the program itself knows instead of rebuilding it from URNs. Under `pulumi up` nothing reads it.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ComponentEntry:
    token: str                       # envstack:<area>:<Name>
    name: str                        # the component's resource name
    settings: dict[str, Any]         # plain values, as a reader would want them summarised
    warnings: tuple[str, ...] = ()   # what works but should not be left so


@dataclass(frozen=True)
class ConnectionEntry:
    source: str   # the component (label) that opens the connection
    target: str   # the component (label) that accepts it
    port: int
    description: str


@dataclass
class Manifest:
    components: list[ComponentEntry] = field(default_factory=list)
    connections: list[ConnectionEntry] = field(default_factory=list)

    def reset(self) -> None:
        self.components.clear()
        self.connections.clear()


MANIFEST = Manifest()
