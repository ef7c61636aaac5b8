"""Time windows that fixes touched, by fix time, for the jobs that recompute from
positions (trips, stops, geofence events, distance, tracks, excursions).

Positions are processed by fix time, not arrival time: a phone that was offline
uploads a day of fixes, and every hour those fixes fall in is marked, once per
registered consumer. A consumer claims marked windows, recomputes them from the
time series, and completes its claim:

```python
from cloud.logistics.positions import dirty

async with db.transaction() as s:
    windows = await dirty.claim(s, "trips", worker="trips-1", limit=100)
for w in windows:  # w.device, w.county, w.start_ms, w.end_ms (one UTC hour)
    ...  # recompute [w.start_ms, w.end_ms) of w.device (with whatever context it needs)
async with db.transaction() as s:
    await dirty.complete(s, "trips", windows)
```

- A window's first mark by a process is written before the fix is written to the
  time series (a crash in between costs one needless recompute, never a missed one).
- A process that holds a mark of a window (it marked it, or found it marked) does not
  mark it again for each fix: after the fix's time-series write it checks, in one
  read, that every consumer's mark of the window is still there and **unclaimed**
  (:func:`still_marked`); a window claimed (or completed) since is marked again
  before the fix is answered. Safe because a consumer reads the time series only
  after its claim is committed: a claim the check did not see reads the fix; one
  it saw gets a new generation, so its completion releases the window, still marked.
  Consumers must therefore read only after committing the claim (as below).
- ``generation`` grows with every new mark: :func:`complete` deletes a window only if
  it was not marked again after the claim; otherwise it releases it, marked.
- A claim is a lease (``lease_s``): a worker that dies leaves its windows to be
  claimed again when the lease runs out.
- A consumer registers once (:func:`register_consumer`; ``trips`` and ``tracks`` are
  registered by the migration); marks made before it registered are not its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cloud.db import utcnow
from cloud.db.upsert import dialect_insert, upsert
from cloud.logistics.positions.storage import DirtyWindow, WindowConsumer

#: One window: an hour, UTC-aligned.
WINDOW_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Window:
    consumer: str
    device: str
    county: str
    start_ms: int
    generation: int

    @property
    def end_ms(self) -> int:
        return self.start_ms + WINDOW_MS


def window_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % WINDOW_MS


async def register_consumer(session: AsyncSession, name: str) -> None:
    await upsert(session, WindowConsumer, {"name": name, "registered_at": utcnow()}, keys=["name"])


async def consumers(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(WindowConsumer.name).order_by(WindowConsumer.name)))


async def mark(
    session: AsyncSession,
    touched: Iterable[tuple[str, str, int]],
    *,
    names: Sequence[str] | None = None,
) -> int:
    """Mark ``(device, county, ts_ms)`` windows for every consumer (or ``names``);
    returns how many (consumer, window) marks were made."""
    windows = sorted({(d, c, window_of(ts)) for d, c, ts in touched})
    if not windows:
        return 0
    who = list(names) if names is not None else await consumers(session)
    now = utcnow()
    rows = [
        {
            "consumer": name,
            "device": d,
            "county": c,
            "window_ms": w,
            "generation": 1,
            "marked_at": now,
        }
        for name in who
        for d, c, w in windows
    ]
    for i in range(0, len(rows), 1000):
        ins = dialect_insert(session, DirtyWindow).values(rows[i : i + 1000])
        await session.execute(
            ins.on_conflict_do_update(
                index_elements=["consumer", "device", "county", "window_ms"],
                set_={
                    "generation": DirtyWindow.generation + 1,
                    "marked_at": ins.excluded.marked_at,
                },
            )
        )
    return len(rows)


#: :func:`still_marked` on PostgreSQL: one statement, the windows as three arrays
#: (no per-call compilation of an IN list of tuples: it runs after every write); its
#: parameters are :func:`still_marked_params`'s.
STILL_MARKED_PG = """
SELECT d.device, d.county, d.window_ms
FROM position_dirty_windows d
JOIN position_window_consumers c ON c.name = d.consumer
JOIN unnest(%(devices)s::text[], %(counties)s::text[], %(windows)s::bigint[])
  AS w(device, county, window_ms)
  ON d.device = w.device AND d.county = w.county AND d.window_ms = w.window_ms
WHERE d.claimed_by IS NULL
GROUP BY d.device, d.county, d.window_ms
HAVING count(*) = (SELECT count(*) FROM position_window_consumers)
"""


def still_marked_params(windows: Iterable[tuple[str, str, int]]) -> dict[str, object]:
    devices, counties, starts = zip(*sorted(set(windows)), strict=True)
    return {"devices": list(devices), "counties": list(counties), "windows": list(starts)}


async def still_marked(
    conn: AsyncConnection, windows: Iterable[tuple[str, str, int]]
) -> set[tuple[str, str, int]]:
    """Of ``(device, county, window_ms)`` windows, those marked and unclaimed for every
    registered consumer (one read). A window not in the answer must be marked again
    (:func:`mark`) for a fix written to it since it was last marked. A claim whose
    lease ran out still counts as claimed (its worker may still complete it)."""
    wanted = sorted(set(windows))
    if not wanted:
        return set()
    if conn.dialect.name == "postgresql":
        rows = await conn.exec_driver_sql(STILL_MARKED_PG, still_marked_params(wanted))
        return {(d, c, int(w)) for d, c, w in rows}
    n_consumers = select(func.count()).select_from(WindowConsumer).scalar_subquery()
    out: set[tuple[str, str, int]] = set()
    key = tuple_(DirtyWindow.device, DirtyWindow.county, DirtyWindow.window_ms)
    for i in range(0, len(wanted), 500):
        rows = await conn.execute(
            select(DirtyWindow.device, DirtyWindow.county, DirtyWindow.window_ms)
            .join(WindowConsumer, WindowConsumer.name == DirtyWindow.consumer)
            .where(key.in_(wanted[i : i + 500]), DirtyWindow.claimed_by.is_(None))
            .group_by(DirtyWindow.device, DirtyWindow.county, DirtyWindow.window_ms)
            .having(func.count() == n_consumers)
        )
        out.update((d, c, int(w)) for d, c, w in rows)
    return out


def _window(row: DirtyWindow) -> Window:
    return Window(row.consumer, row.device, row.county, row.window_ms, row.generation)


async def touched_windows(
    session: AsyncSession,
    consumer: str,
    *,
    county: str | None = None,
    device: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 10_000,
) -> list[Window]:
    """The windows marked for ``consumer`` (claimed or not), by window then device."""
    q = select(DirtyWindow).where(DirtyWindow.consumer == consumer)
    if county is not None:
        q = q.where(DirtyWindow.county == county)
    if device is not None:
        q = q.where(DirtyWindow.device == device)
    if start_ms is not None:
        q = q.where(DirtyWindow.window_ms + WINDOW_MS > start_ms)
    if end_ms is not None:
        q = q.where(DirtyWindow.window_ms < end_ms)
    rows = await session.scalars(
        q.order_by(DirtyWindow.window_ms, DirtyWindow.device, DirtyWindow.county).limit(limit)
    )
    return [_window(r) for r in rows]


async def claim(
    session: AsyncSession,
    consumer: str,
    *,
    worker: str,
    limit: int = 100,
    lease_s: float = 300.0,
    now: datetime | None = None,
    marked_before: datetime | None = None,
) -> list[Window]:
    """Claim up to ``limit`` windows of ``consumer`` not claimed (or whose lease ran
    out), oldest window first; with ``marked_before``, only windows last marked
    before then (left to settle: their fixes' time-series write is done). Commit the
    session to hold the claim."""
    now = now or utcnow()
    free = or_(DirtyWindow.claimed_until.is_(None), DirtyWindow.claimed_until < now)
    if marked_before is not None:
        free = and_(free, DirtyWindow.marked_at < marked_before)
    rows = list(
        await session.scalars(
            select(DirtyWindow)
            .where(DirtyWindow.consumer == consumer, free)
            .order_by(DirtyWindow.window_ms, DirtyWindow.device)
            .limit(limit)
        )
    )
    until = now + timedelta(seconds=lease_s)
    out = []
    for row in rows:
        key = and_(
            DirtyWindow.consumer == row.consumer,
            DirtyWindow.device == row.device,
            DirtyWindow.county == row.county,
            DirtyWindow.window_ms == row.window_ms,
        )
        # re-checked under the row lock: of two workers, one wins
        result = await session.execute(
            update(DirtyWindow)
            .where(key, free)
            .values(claimed_by=worker[:64], claimed_until=until)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            out.append(_window(row))
    return out


async def complete(session: AsyncSession, consumer: str, windows: Iterable[Window]) -> int:
    """Done with claimed windows: each is deleted unless marked again since the claim
    (then it is released, still marked). Returns how many were deleted."""
    done = 0
    for w in windows:
        key = and_(
            DirtyWindow.consumer == consumer,
            DirtyWindow.device == w.device,
            DirtyWindow.county == w.county,
            DirtyWindow.window_ms == w.start_ms,
        )
        result = await session.execute(
            delete(DirtyWindow).where(key, DirtyWindow.generation == w.generation)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            done += 1
        else:
            await session.execute(
                update(DirtyWindow).where(key).values(claimed_by=None, claimed_until=None)
            )
    return done
