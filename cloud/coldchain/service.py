"""The cold chain running beside an ingest worker: the engine, the escalator and the
notifier, started together (:class:`ColdChain`), and the reads other packages make
(excursions of a device or location over an interval, alarms of a device)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.coldchain.alarms import alarms_query
from cloud.coldchain.clock import Clock, SystemClock
from cloud.coldchain.engine import Engine
from cloud.coldchain.escalation import Escalator, Ladder
from cloud.coldchain.rules import EngineSettings
from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.db import Database
from cloud.ingest.hooks import IngestHooks
from cloud.notify import Notifier, channels_from_env
from cloud.timeseries import TimeSeriesStore


@dataclass
class ColdChain:
    engine: Engine
    escalator: Escalator
    notifier: Notifier | None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def attach(self, hooks: IngestHooks) -> None:
        """Register the engine on an ingest pipeline's post-write hooks."""
        hooks.written.append(self.engine.readings_written)
        hooks.events.append(self.engine.event_stored)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.engine.run(), name="coldchain-engine"),
            asyncio.create_task(self.escalator.run(), name="coldchain-escalation"),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self.notifier is not None:
            await self.notifier.aclose()


def build(
    db: Database,
    tsdb: TimeSeriesStore,
    *,
    notifier: Notifier | None = None,
    ladder: Ladder | None = None,
    settings: EngineSettings | None = None,
    clock: Clock | None = None,
    env: dict[str, str] | None = None,
) -> ColdChain:
    """The cold chain with its configuration from the environment unless given:
    channels (``DEHONG_NOTIFY_CHANNELS``, cloud/notify), the ladder
    (``DEHONG_COLDCHAIN_LADDER``) and the engine's settings
    (``DEHONG_COLDCHAIN_SETTINGS``)."""
    env = dict(os.environ) if env is None else env
    clock = clock or SystemClock()
    if notifier is None:
        channels = channels_from_env(env)
        notifier = Notifier(db, channels) if channels else None
    if ladder is None:
        raw = env.get("DEHONG_COLDCHAIN_LADDER", "").strip()
        ladder = Ladder.from_json(raw) if raw else Ladder()
    if settings is None:
        raw = env.get("DEHONG_COLDCHAIN_SETTINGS", "").strip()
        settings = EngineSettings.from_json(raw) if raw else EngineSettings()
    escalator = Escalator(db, notifier, ladder, clock)
    engine = Engine(
        db, tsdb, settings=settings, clock=clock, on_raised=lambda _id: escalator.kick()
    )
    return ColdChain(engine, escalator, notifier)


def build_engine(
    db: Database,
    tsdb: TimeSeriesStore,
    *,
    settings: EngineSettings | None = None,
    clock: Clock | None = None,
    env: dict[str, str] | None = None,
) -> Engine:
    """The engine alone (no escalator, no notifier), its settings from
    ``DEHONG_COLDCHAIN_SETTINGS`` unless given: for a process that writes readings
    itself (the API's OsmAnd intake) while escalation runs beside ingest. Alarms it
    raises are escalated by the escalator of an ingest process, which looks at the
    alarm table at least every ``max_wait_s`` (30 s)."""
    env = dict(os.environ) if env is None else env
    if settings is None:
        raw = env.get("DEHONG_COLDCHAIN_SETTINGS", "").strip()
        settings = EngineSettings.from_json(raw) if raw else EngineSettings()
    return Engine(db, tsdb, settings=settings, clock=clock or SystemClock())


# ------------------------------------------------------------- reads for others


def excursions_query(
    *,
    device: str | None = None,
    location_id: int | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    counties: Sequence[str] | None = None,
    kinds: Sequence[str] = ("excursion",),
) -> Select[tuple[ColdchainExcursion]]:
    """Excursions (of a device or a location) overlapping [start, end), unordered."""
    q = select(ColdchainExcursion).where(ColdchainExcursion.kind.in_(list(kinds)))
    if device is not None:
        q = q.where(ColdchainExcursion.device == device)
    if location_id is not None:
        q = q.where(ColdchainExcursion.location_id == location_id)
    if counties is not None:
        q = q.where(ColdchainExcursion.county.in_(list(counties)))
    if end_ms is not None:
        q = q.where(ColdchainExcursion.start_ms < end_ms)
    if start_ms is not None:
        q = q.where(or_(ColdchainExcursion.end_ms.is_(None), ColdchainExcursion.end_ms > start_ms))
    return q


async def excursions(
    s: AsyncSession,
    *,
    device: str | None = None,
    location_id: int | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    counties: Sequence[str] | None = None,
    kinds: Sequence[str] = ("excursion",),
) -> list[ColdchainExcursion]:
    """Excursions of a device or a location overlapping [start, end) (a waybill's
    trip, a custody interval), oldest first; ``kinds`` ("excursion", "door")."""
    q = excursions_query(device=device, location_id=location_id, start_ms=start_ms,
                         end_ms=end_ms, counties=counties, kinds=kinds)  # fmt: skip
    return list((await s.scalars(q.order_by(ColdchainExcursion.start_ms))).all())


async def alarms_of(
    s: AsyncSession,
    *,
    device: str | None = None,
    location_id: int | None = None,
    counties: Sequence[str] | None = None,
    open_only: bool = False,
    limit: int = 100,
) -> list[ColdchainAlarm]:
    """Alarms of a device or location, newest first (``open_only``: not cleared)."""
    q = alarms_query(counties, device=device, location_id=location_id)
    if open_only:
        q = q.where(ColdchainAlarm.status != "cleared")
    return list((await s.scalars(q.limit(limit))).all())
