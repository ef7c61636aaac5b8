"""The OTA event log: what happened to a transfer, in order, for people and tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OtaEvent:
    kind: str
    node: int
    detail: str = ""
    at: float = field(default_factory=time.time)

    def __str__(self) -> str:
        return f"node {self.node}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


class EventLog:
    def __init__(self) -> None:
        self.events: list[OtaEvent] = []

    def add(self, kind: str, node: int, detail: str = "") -> OtaEvent:
        event = OtaEvent(kind, node, detail)
        self.events.append(event)
        return event

    def kinds(self, node: int | None = None) -> list[str]:
        return [e.kind for e in self.events if node is None or e.node == node]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.events)
