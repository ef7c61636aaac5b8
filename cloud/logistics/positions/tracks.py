"""Daily simplified tracks: Douglas-Peucker polylines per vehicle per Beijing day,
kept 2 years in ``position_tracks`` (a relational row per vehicle-day: a polyline is
an ordered list of points, which a time-series roll-up cannot hold; averaging
latitudes is meaningless), beside the raw points of the 90-day raw retention.

The job (:func:`run_once`, ``dehong logistics tracks``) takes the windows marked for
the ``tracks`` consumer (:mod:`.dirty`), recomputes each touched day whole from the
raw points, and completes the claim. Tolerance: ``DEHONG_POSITIONS_TRACK_TOLERANCE_M``
(10 m), measured on a local equirectangular projection in metres.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database, utcnow
from cloud.db.upsert import upsert
from cloud.logistics.positions import dirty
from cloud.logistics.positions.geo import douglas_peucker, haversine_m, local_xy
from cloud.logistics.positions.read import positions_of
from cloud.logistics.positions.storage import Track
from cloud.timeseries import TimeSeriesStore

CONSUMER = "tracks"
BEIJING = 8 * 3_600_000
DAY_MS = 86_400_000
#: How long a track is kept (2 years: the agricultural-product law's record period).
KEEP_DAYS = 2 * 366


def day_of(ts_ms: int) -> str:
    """The Beijing day of an instant, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp((ts_ms + BEIJING) / 1000, UTC).strftime("%Y-%m-%d")


def day_span(day: str) -> tuple[int, int]:
    """[start, end) of a Beijing day in epoch ms."""
    d = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    start = int(d.timestamp() * 1000) - BEIJING
    return start, start + DAY_MS


async def compute_day(
    tsdb: TimeSeriesStore, vehicle: str, county: str, day: str, tolerance_m: float
) -> dict[str, object] | None:
    """The simplified track of one vehicle-day under ``county`` (None: no fixes)."""
    start, end = day_span(day)
    fixes = await positions_of(tsdb, vehicle, start, end, counties=[county])
    if not fixes:
        return None
    latlon = [(f.lat, f.lon) for f in fixes]
    kept = douglas_peucker(local_xy(latlon), tolerance_m)
    distance = sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in itertools.pairwise(fixes))
    return {
        "device": vehicle,
        "county": county,
        "day": day,
        "tolerance_m": tolerance_m,
        "points": [[fixes[i].ts_ms, fixes[i].lat, fixes[i].lon] for i in kept],
        "raw_count": len(fixes),
        "distance_m": round(distance, 1),
        "computed_at": utcnow(),
    }


async def run_once(
    db: Database,
    tsdb: TimeSeriesStore,
    *,
    tolerance_m: float = 10.0,
    worker: str = "tracks",
    limit: int = 500,
) -> int:
    """Recompute the days of every window marked for ``tracks``; returns how many
    vehicle-days were written. Old tracks (past :data:`KEEP_DAYS`) are deleted."""
    written = 0
    while True:
        async with db.transaction() as s:
            windows = await dirty.claim(s, CONSUMER, worker=worker, limit=limit)
        if not windows:
            break
        days = sorted({(w.device, w.county, day_of(w.start_ms)) for w in windows}
                      | {(w.device, w.county, day_of(w.end_ms - 1)) for w in windows})  # fmt: skip
        rows = []
        gone = []
        for vehicle, county, day in days:
            row = await compute_day(tsdb, vehicle, county, day, tolerance_m)
            if row is None:
                gone.append((vehicle, county, day))
            else:
                rows.append(row)
        async with db.transaction() as s:
            for row in rows:
                await upsert(
                    s,
                    Track,
                    row,
                    keys=["device", "county", "day"],
                    update=["tolerance_m", "points", "raw_count", "distance_m", "computed_at"],
                )
            for vehicle, county, day in gone:
                await s.execute(
                    delete(Track).where(
                        Track.device == vehicle, Track.county == county, Track.day == day
                    )
                )
            await dirty.complete(s, CONSUMER, windows)
        written += len(rows)
    cutoff = day_of(int((utcnow() - timedelta(days=KEEP_DAYS)).timestamp() * 1000))
    async with db.transaction() as s:
        await s.execute(delete(Track).where(Track.day < cutoff))
    return written


async def tracks_of(
    session: AsyncSession, vehicle: str, first_day: str, last_day: str, counties: list[str] | None
) -> list[Track]:
    q = select(Track).where(Track.device == vehicle, Track.day >= first_day, Track.day <= last_day)
    if counties is not None:
        q = q.where(Track.county.in_(counties))
    return list(await session.scalars(q.order_by(Track.day, Track.county)))
