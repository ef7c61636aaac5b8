"""The console's live feed: a small in-process pub/sub.

- :func:`publish_vehicle_update` and :func:`publish_alarm_update` are the hooks other
  packages may call (positions after a write, the cold-chain engine after an alarm
  changes); they never block and never raise for a slow client.
- Without them the feed is still live: the hub's **poller** reads every vehicle's
  latest fix from the time series every ``console_poll_s`` (2 s) and the ``alarms``
  provider's open alarms, and publishes what changed. It runs only while at least
  one client listens, and stops with the last.
- Each client has a bounded queue (``console_stream_queue`` events); a client that
  falls that far behind is dropped with the reason (``slow consumer``), told so in a
  last event, and reconnects. Publishing is O(clients), never waits on one.
- County isolation: an event carries the county of its record; a subscriber receives
  it only when it sees that county (the prefecture sees all). An event without a
  county reaches no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

from cloud.logistics.console import providers, service
from cloud.logistics.console.providers import Call

log = logging.getLogger(__name__)

#: the catalog's vehicle list is read again at most this often by the poller, s
REFS_TTL_S = 10.0


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    county: str
    data: dict[str, Any]


@dataclass(eq=False)
class Subscriber:
    counties: list[str] | None
    queue: asyncio.Queue[Event]
    dropped: str | None = None
    delivered: int = 0

    def sees(self, county: str) -> bool:
        return self.counties is None or county in self.counties


@dataclass(eq=False)
class Hub:
    queue_size: int = 1000
    subscribers: set[Subscriber] = field(default_factory=set)
    #: how many clients were dropped as too slow (for tests and /metrics readers)
    drops: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _poller: asyncio.Task[None] | None = None
    _context: tuple[Any, Any, Any] | None = None

    def __post_init__(self) -> None:
        _hubs.add(self)

    # ---------------------------------------------------------------- pub/sub

    def subscribe(self, counties: list[str] | None) -> Subscriber:
        sub = Subscriber(counties, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        self._ensure_poller()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers and self._poller is not None:
            self._poller.cancel()
            self._poller = None

    def publish(self, kind: str, county: str | None, data: dict[str, Any]) -> int:
        """Queue the event for every subscriber that sees ``county``; returns how many."""
        if not county:
            return 0
        event = Event(next(self._ids), kind, county, data)
        n = 0
        for sub in list(self.subscribers):
            if sub.dropped or not sub.sees(county):
                continue
            try:
                sub.queue.put_nowait(event)
                n += 1
            except asyncio.QueueFull:
                sub.dropped = f"slow consumer: {sub.queue.qsize()} events queued, not read"
                self.drops += 1
                log.warning("console stream: client dropped (%s)", sub.dropped)
        return n

    # ---------------------------------------------------------------- poller

    def attach(self, db: Any, tsdb: Any, settings: Any) -> None:
        """What the poller reads (the app's database, time series, settings)."""
        self._context = (db, tsdb, settings)

    def _ensure_poller(self) -> None:
        if self._poller is None and self._context is not None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def _poll_forever(self) -> None:
        assert self._context is not None
        db, tsdb, settings = self._context
        call = Call("system:console", "system", None, db, tsdb, settings)
        seen_fix: dict[str, int] = {}
        seen_alarm: dict[str, tuple[str, tuple[Any, ...]]] = {}
        refs: list[service.VehicleRef] = []
        refs_at = -REFS_TTL_S
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - refs_at >= REFS_TTL_S:
                    refs, refs_at = await service.vehicle_refs(db, None), loop.time()
                await self._poll_vehicles(refs, call, seen_fix)
                await self._poll_alarms(call, seen_alarm)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("console poller: one poll failed; retrying next interval")
            await asyncio.sleep(settings.console_poll_s)

    async def _poll_vehicles(
        self, refs: list[service.VehicleRef], call: Call, seen: dict[str, int]
    ) -> None:
        found = await service.fixes(call.tsdb, refs)
        at = service.now_ms()
        for ref, fix in zip(refs, found, strict=True):
            if fix is None or seen.get(ref.device_id) == fix["t"]:
                continue
            seen[ref.device_id] = fix["t"]
            self.publish("vehicle", ref.county, service.vehicle_row(ref, fix, call.settings, at))

    async def _poll_alarms(self, call: Call, seen: dict[str, tuple[str, tuple[Any, ...]]]) -> None:
        fn = providers.provider("alarms")
        if fn is None:
            return
        rows = providers.scoped(call, await fn(call, "open"), "alarms")
        now: dict[str, tuple[str, tuple[Any, ...]]] = {}
        for row in rows:
            key = str(row.get("id"))
            sig = (row.get("state"), row.get("count"), row.get("acked_at"), row.get("comment"))
            now[key] = (row["county"], sig)
            if seen.get(key, (None, None))[1] != sig:
                self.publish("alarm", row["county"], row)
        for key, (county, _sig) in seen.items():
            if key not in now:  # no longer open: cleared (or gone)
                self.publish("alarm", county, {"id": key, "county": county, "state": "cleared"})
        seen.clear()
        seen.update(now)


_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()


def hub_of(app: Any) -> Hub:
    """The app's hub (made on first use, attached to the app's stores)."""
    hub = getattr(app.state, "console_hub", None)
    if hub is None:
        settings = app.state.settings
        hub = Hub(queue_size=settings.console_stream_queue)
        hub.attach(app.state.db, app.state.tsdb, settings)
        app.state.console_hub = hub
    return hub  # type: ignore[no-any-return]


def publish_vehicle_update(
    device_id: str, county: str, fix: dict[str, Any], *, status: str | None = None
) -> int:
    """Push a vehicle's new fix to the consoles of its county (and the prefecture's)
    now, without waiting for the poller. ``fix``: ``{"t": ms, "lat", "lon",
    "speed_kmh", "temp1", ...}`` in WGS-84. Returns the clients reached."""
    row = {"device_id": device_id, "county": county, "fix": fix}
    if status is not None:
        row["status"] = status
    return sum(h.publish("vehicle", county, row) for h in list(_hubs))


def publish_alarm_update(alarm: dict[str, Any]) -> int:
    """Push an alarm (a row of the ``alarms`` provider's shape, with ``county``) to
    the consoles that see its county. Returns the clients reached."""
    county = alarm.get("county")
    if not isinstance(county, str):
        raise ValueError("alarm.county: an alarm update names its county")
    return sum(h.publish("alarm", county, alarm) for h in list(_hubs))
