"""The embedded time-series store on SQLite, for ``dehong demo`` and small sites.

Same contract as InfluxDB: a point is keyed by (measurement, device, timestamp);
writing it again overwrites its fields and merges new ones. Stored one row per
field value, in a WITHOUT ROWID table clustered by that key. WAL mode with
synchronous=FULL: a write that returned is on disk before ingest acknowledges it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from cloud.timeseries.base import (
    QUALITY_SUFFIX,
    Bucket,
    LatestValue,
    Point,
    TimeSeriesError,
    TimeSeriesStore,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    device      TEXT NOT NULL,
    field       TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    value       REAL NOT NULL,
    county      TEXT NOT NULL,
    site        TEXT NOT NULL,
    PRIMARY KEY (measurement, device, field, ts)
) WITHOUT ROWID;
"""


class SqliteStore(TimeSeriesStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        # One connection, used from one worker thread at a time.
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._db is not None:
            return

        def _open() -> sqlite3.Connection:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=10000")
            db.executescript(SCHEMA)
            return db

        self._db = await asyncio.to_thread(_open)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(db.close)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise TimeSeriesError(
                "the SQLite time-series store is not open; call open()", retryable=True
            )
        return self._db

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        async with self._lock:
            try:
                return await asyncio.to_thread(fn, self._conn(), *args)
            except sqlite3.OperationalError as exc:
                raise TimeSeriesError(f"SQLite time-series store: {exc}", retryable=True) from exc

    async def ping(self) -> bool:
        try:
            await self._run(lambda db: db.execute("SELECT 1").fetchone())
        except TimeSeriesError:
            return False
        return True

    async def write(self, points: Sequence[Point]) -> None:
        rows = [
            (p.measurement, p.device, name, p.ts_ms, float(value), p.county, p.site)
            for p in points
            for name, value in p.fields.items()
        ]
        if not rows:
            return

        def _write(db: sqlite3.Connection) -> None:
            with db:  # one transaction
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO points (measurement, device, field, ts, value, county, site) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (measurement, device, field, ts) DO UPDATE SET "
                    "value = excluded.value, county = excluded.county, site = excluded.site",
                    rows,
                )

        await self._run(_write)

    async def latest(self, measurement: str, device: str) -> list[LatestValue]:
        def _q(db: sqlite3.Connection) -> list[tuple[str, int, float]]:
            return db.execute(
                "SELECT field, MAX(ts), value FROM points WHERE measurement = ? AND device = ? "
                "GROUP BY field",
                (measurement, device),
            ).fetchall()

        rows = await self._run(_q)
        values = {f: (ts, v) for f, ts, v in rows}
        out = []
        for name, (ts, value) in sorted(values.items()):
            if name.endswith(QUALITY_SUFFIX):
                continue
            q = values.get(name + QUALITY_SUFFIX)
            quality = int(q[1]) if q is not None and q[0] == ts else 0
            out.append(LatestValue(name, ts, value, quality))
        return out

    async def range(
        self,
        measurement: str,
        device: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        every_ms: int,
    ) -> list[Bucket]:
        def _q(db: sqlite3.Connection) -> list[tuple[int, float, float, float, int]]:
            return db.execute(
                "SELECT (ts / :every) * :every AS w, AVG(value), MIN(value), MAX(value), COUNT(*) "
                "FROM points WHERE measurement = :m AND device = :d AND field = :f "
                "AND ts >= :start AND ts < :end GROUP BY w ORDER BY w",
                {
                    "every": every_ms,
                    "m": measurement,
                    "d": device,
                    "f": metric,
                    "start": start_ms,
                    "end": end_ms,
                },
            ).fetchall()

        return [Bucket(int(w), mean, lo, hi, int(n)) for w, mean, lo, hi, n in await self._run(_q)]

    async def count(self, measurement: str, device: str | None = None) -> int:
        def _q(db: sqlite3.Connection) -> int:
            sql = (
                "SELECT COUNT(*) FROM (SELECT DISTINCT device, ts FROM points WHERE measurement = ?"
            )
            args: list[str] = [measurement]
            if device is not None:
                sql += " AND device = ?"
                args.append(device)
            return int(db.execute(sql + ")", args).fetchone()[0])

        return await self._run(_q)
