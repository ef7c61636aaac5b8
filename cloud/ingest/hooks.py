"""Post-write hooks: how ingest (floor 2) tells higher floors what it stored without
importing them. Whoever builds a worker registers callables here (the cold chain's
excursion engine: ``cloud.coldchain.attach``).

- ``stored(blocks)`` (async, awaited): after each write group is stored and
  **before** it is acknowledged, with the blocks the store took. For what must not be
  lost with the acknowledgement (logistics marks the windows its positions touched):
  one that raises leaves the group unacknowledged, so the gateways resend it (as
  when the relational store fails); the writes are idempotent;
- ``written(blocks)``: after each write group is stored and acknowledged, with the
  blocks the store took (points it refused are not in them);
- ``event(ev, county)``: after a gateway event is stored (``ingest_events``).

``written`` and ``event`` callables must not block (note the work and return; do it
on a task of your own); one that raises is logged and counted, never fails the write
nor the other hooks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from cloud.timeseries import PointBlock
from protocol.messages import EventMessage

log = logging.getLogger(__name__)

Stored = Callable[[Sequence[PointBlock]], Awaitable[None]]
Written = Callable[[Sequence[PointBlock]], None]
EventStored = Callable[[EventMessage, str], None]


@dataclass
class IngestHooks:
    stored: list[Stored] = field(default_factory=list)
    written: list[Written] = field(default_factory=list)
    events: list[EventStored] = field(default_factory=list)
    errors: int = 0

    async def blocks_stored(self, blocks: Sequence[PointBlock]) -> None:
        """Await each ``stored`` hook in turn; the first error is raised (the write
        group stays unacknowledged)."""
        for hook in self.stored:
            await hook(blocks)

    def blocks_written(self, blocks: Sequence[PointBlock]) -> None:
        for hook in self.written:
            try:
                hook(blocks)
            except Exception:
                self.errors += 1
                log.exception("post-write hook %r failed; the write stands", hook)

    def event_stored(self, ev: EventMessage, county: str) -> None:
        for hook in self.events:
            try:
                hook(ev, county)
            except Exception:
                self.errors += 1
                log.exception("event hook %r failed; the event stands", hook)
