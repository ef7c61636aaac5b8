"""The driver interface (think Telegraf input plugins).

A driver reads its devices on its own schedule and pushes what it read into a
:class:`Sink`: :class:`Sample` objects (the readings of one device at one
instant) and :class:`~protocol.messages.EventMessage` notices (device up/down,
driver trouble). The gateway owns the sink; drivers never touch MQTT.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Protocol

from protocol.messages import AssetKind, EventMessage, InventoryItem


@dataclass(frozen=True, slots=True)
class Sample:
    """The readings of one device at one instant.

    ``values`` maps metric to a float, or None when that metric could not be read.
    ``flags`` are :class:`protocol.quality.Quality` bits applying to every value.
    """

    device: str
    ts_ms: int
    values: dict[str, float | None]
    kind: AssetKind = AssetKind.COLD_ROOM
    site: str | None = None
    flags: int = 0
    #: Per-metric quality flags, merged with ``flags``.
    metric_flags: dict[str, int] = field(default_factory=dict)


class Sink(Protocol):
    """Where a driver delivers; implemented by the gateway."""

    def put_sample(self, sample: Sample) -> None: ...

    def put_event(self, event: EventMessage) -> None: ...


class Driver(ABC):
    """An input driver. ``start`` launches its polling tasks and returns."""

    #: Short name, used in logs, the birth inventory and health.
    name: str

    @abstractmethod
    async def start(self, sink: Sink) -> None:
        """Begin reading; deliver to ``sink`` until :meth:`stop`."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop reading and release connections. Safe to call twice."""

    @abstractmethod
    def inventory(self) -> list[InventoryItem]:
        """The devices this driver reads, for the birth message."""

    def status(self) -> dict[str, str]:
        """Per-device state (``up``/``down``/``unknown``) for health and tests."""
        return {}
