"""The embedded time-series store on SQLite, for ``dehong demo`` and small sites.

Same contract as InfluxDB: a point is keyed by its series (measurement, device,
county) and timestamp; writing it again overwrites its fields and merges new ones. Stored one row per
field value, in a WITHOUT ROWID table clustered by that key. WAL mode with
synchronous=FULL: a write that returned is on disk before ingest acknowledges it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
from collections.abc import Callable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

from cloud.timeseries.base import (
    Counties,
    LatestValue,
    Point,
    RawColumns,
    TimeSeriesError,
    TimeSeriesStore,
    columns_of_rows,
    fold_quality,
)
from cloud.timeseries.evidence import EvidenceData, EvidenceReads, merge_window_parts
from cloud.timeseries.rollup_sums import EVIDENCE_PARTS
from cloud.timeseries.windows import (
    DAY_MS,
    DELTA_H_OVER_R,
    KELVIN,
    RAW_RETENTION_DAYS,
    ROLLUP_RETENTION_DAYS,
    Parts,
    PartsByDevice,
    Resolution,
    Span,
    merge_parts,
    offset_ms,
)
from protocol.ids import check_metric
from protocol.messages import AssetKind

#: Spans per query (each is one SELECT of a UNION ALL; SQLite allows 500).
MAX_SPANS = 200

#: One table per resolution, like InfluxDB's retention policies: ``points`` (raw),
#: ``rollup_1m`` and ``rollup_1h``; retention is applied by :meth:`SqliteStore.prune`.
TABLES: dict[Resolution, str] = {"raw": "points", "1m": "rollup_1m", "1h": "rollup_1h"}
RETENTION_DAYS: dict[Resolution, int] = {
    "raw": RAW_RETENTION_DAYS,
    "1m": ROLLUP_RETENTION_DAYS,
    "1h": ROLLUP_RETENTION_DAYS,
}


def _create(table: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    measurement TEXT NOT NULL,
    device      TEXT NOT NULL,
    field       TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    value       REAL NOT NULL,
    county      TEXT NOT NULL,
    site        TEXT NOT NULL,
    PRIMARY KEY (measurement, device, field, ts, county)
) WITHOUT ROWID;
"""


SCHEMA = "".join(_create(table) for table in TABLES.values())


def _upgrade_keys(db: sqlite3.Connection) -> None:
    """Stores made before the county joined the key (as InfluxDB's series key holds
    it: a device's readings under two counties are two series) are rebuilt once."""
    for table in TABLES.values():
        pk = {row[1] for row in db.execute(f"PRAGMA table_info({table})") if row[5]}
        if "county" in pk:
            continue
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
            db.execute(_create(table))
            db.execute(f"INSERT INTO {table} SELECT * FROM {table}_old")
            db.execute(f"DROP TABLE {table}_old")


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
            try:
                db.execute("SELECT exp(0)")
            except sqlite3.OperationalError:  # built without SQLITE_ENABLE_MATH_FUNCTIONS
                db.create_function("exp", 1, math.exp, deterministic=True)
            db.executescript(SCHEMA)
            _upgrade_keys(db)
            return db

        self._db = await asyncio.to_thread(_open)

    async def close(self) -> None:
        # under the lock: never while a call still runs on the worker thread
        async with self._lock:
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
            call = asyncio.ensure_future(asyncio.to_thread(fn, self._conn(), *args))
            try:
                return await asyncio.shield(call)
            except asyncio.CancelledError:
                # The thread cannot be stopped: keep the connection (and the lock) until
                # it is done, so close() never pulls the connection from under it.
                while not call.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait({call})
                if not call.cancelled():
                    call.exception()  # the caller is gone: nobody else will look at it
                raise
            except sqlite3.OperationalError as exc:
                raise TimeSeriesError(f"SQLite time-series store: {exc}", retryable=True) from exc

    async def ping(self) -> bool:
        try:
            await self._run(lambda db: db.execute("SELECT 1").fetchone())
        except TimeSeriesError:
            return False
        return True

    async def write(self, points: Sequence[Point]) -> None:
        await self._write_table("points", points)

    async def write_rollups(self, resolution: Resolution, points: Sequence[Point]) -> None:
        await self._write_table(TABLES[resolution], points)

    async def _write_table(self, table: str, points: Sequence[Point]) -> None:
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
                    f"INSERT INTO {table} (measurement, device, field, ts, value, county, site) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (measurement, device, field, ts, county) DO UPDATE SET "
                    "value = excluded.value, site = excluded.site",
                    rows,
                )

        await self._run(_write)

    async def latest(
        self, measurement: str, device: str, *, counties: Counties = None
    ) -> list[LatestValue]:
        if counties is not None and not counties:
            return []
        where, args = _in_counties(counties)

        def _q(db: sqlite3.Connection) -> list[tuple[str, int, float]]:
            return db.execute(
                "SELECT field, MAX(ts), value FROM points WHERE measurement = ? AND device = ? "
                f"{where} GROUP BY field",
                (measurement, device, *args),
            ).fetchall()

        rows = await self._run(_q)
        return fold_quality({f: (ts, v) for f, ts, v in rows})

    async def aggregate_parts(
        self,
        measurement: str,
        devices: Sequence[str] | None,
        metric: str,
        spans: Sequence[Span],
        every_ms: int,
        resolution: Resolution,
        *,
        mkt: bool = False,
        counties: Counties = None,
    ) -> PartsByDevice:
        if (devices is not None and not devices) or not spans:
            return {}
        if counties is not None and not counties:
            return {}
        check_metric(metric)  # the same contract as InfluxDB: invalid names are refused
        if len(spans) > MAX_SPANS:  # SQLite's limit on a compound SELECT is 500
            out: PartsByDevice = {}
            for i in range(0, len(spans), MAX_SPANS):
                chunk = spans[i : i + MAX_SPANS]
                more = await self.aggregate_parts(
                    measurement,
                    devices,
                    metric,
                    chunk,
                    every_ms,
                    resolution,
                    mkt=mkt,
                    counties=counties,
                )
                merge_parts(out, more)
            return out
        table = TABLES[resolution]
        raw = resolution == "raw"
        fields = (
            [metric] if raw else [f"{metric}_{p}" for p in ("sum", "min", "max", "count", "mkt")]
        )
        rows, rows_args = _span_rows(table, measurement, devices, fields, spans, counties)
        off = offset_ms(every_ms)
        arr = f"SUM(exp(-{DELTA_H_OVER_R} / (value + {KELVIN})))" if raw and mkt else "NULL"
        sql = (
            f"SELECT device, ((ts - ?) / ?) * ? + ? AS w, field, SUM(value), MIN(value), "
            f"MAX(value), COUNT(*), {arr} FROM ({rows}) GROUP BY device, w, field"
        )
        args = [off, every_ms, every_ms, off, *rows_args]

        def _q(db: sqlite3.Connection) -> list[tuple[str, int, str, float, float, float, int, Any]]:
            return db.execute(sql, args).fetchall()

        got: dict[str, dict[int, dict[str, tuple[float, float, float, int, float | None]]]] = {}
        for device, w, field, total, lo, hi, n, e in await self._run(_q):
            got.setdefault(device, {}).setdefault(int(w), {})[field] = (total, lo, hi, n, e)
        out = {}
        for device, windows in got.items():
            mine = out.setdefault(device, {})
            for w, f in windows.items():
                part = Parts()
                if raw:
                    total, lo, hi, n, e = f[metric]
                    part.merge(total, lo, hi, n, e)
                elif f"{metric}_count" in f:
                    mkt = f.get(f"{metric}_mkt")
                    part.merge(
                        f[f"{metric}_sum"][0],
                        f[f"{metric}_min"][1],
                        f[f"{metric}_max"][2],
                        f[f"{metric}_count"][0],
                        mkt[0] if mkt is not None else None,
                    )
                if part.count:
                    mine[w] = part
        return out

    def _raw_fetch(
        self, measurement: str, device: str, start_ms: int, end_ms: int, counties: Counties
    ) -> Callable[[sqlite3.Connection], list[tuple[str, list[tuple[int, float]]]]]:
        """What raw_rows and raw_columns read: each field's ``(ts, value)`` rows."""
        where, args = _in_counties(counties)

        one = (
            "SELECT ts, value FROM points WHERE measurement = ? AND device = ? AND field = ? "
            f"AND ts >= ? AND ts < ? {where}"
        )

        def _fetch(db: sqlite3.Connection) -> list[tuple[str, list[tuple[int, float]]]]:
            # One range scan of the key per field (in key order: by time, then county),
            # not a scan of all the device's rows sorted by time.
            names = [r[0] for r in db.execute(_FIELDS_OF_DEVICE, (measurement, device) * 2)]
            cols = []
            for name in names:
                rows = db.execute(one, (measurement, device, name, start_ms, end_ms, *args))
                got = rows.fetchall()
                if got:
                    cols.append((name, got))
            return cols

        return _fetch

    async def raw_rows(
        self,
        measurement: str,
        device: str,
        start_ms: int,
        end_ms: int,
        *,
        counties: Counties = None,
    ) -> list[tuple[int, dict[str, float]]]:
        if counties is not None and not counties:
            return []
        fetch = self._raw_fetch(measurement, device, start_ms, end_ms, counties)
        return await self._run(lambda db: _pivot(fetch(db)))

    async def raw_columns(
        self,
        measurement: str,
        device: str,
        start_ms: int,
        end_ms: int,
        *,
        counties: Counties = None,
    ) -> RawColumns:
        if counties is not None and not counties:
            return [], {}
        fetch = self._raw_fetch(measurement, device, start_ms, end_ms, counties)
        return await self._run(lambda db: _columns(fetch(db)))

    async def previous(
        self,
        measurement: str,
        device: str,
        fields: Sequence[str],
        before_ms: int,
        lookback_ms: int,
        *,
        counties: Counties = None,
    ) -> dict[str, tuple[int, float]]:
        if not fields or (counties is not None and not counties):
            return {}
        where, cargs = _in_counties(counties)
        sql = (
            "SELECT ts, value FROM points WHERE measurement = ? AND device = ? AND field = ? "
            f"AND ts >= ? AND ts < ? {where} ORDER BY ts DESC LIMIT 1"
        )

        def _q(db: sqlite3.Connection) -> dict[str, tuple[int, float]]:
            out = {}
            for f in fields:
                row = db.execute(
                    sql, (measurement, device, f, before_ms - lookback_ms, before_ms, *cargs)
                ).fetchone()
                if row is not None:
                    out[f] = (int(row[0]), float(row[1]))
            return out

        return await self._run(_q)

    async def evidence_reads(
        self,
        measurement: str,
        device: str,
        metric: str,
        reads: EvidenceReads,
        *,
        counties: Counties = None,
    ) -> EvidenceData:
        check_metric(metric)
        if counties is not None and not counties:
            return EvidenceData(
                [([], []) for _ in reads.raw], [None] * len(reads.prev), [{} for _ in reads.rollups]
            )
        where, cargs = _in_counties(counties)
        key = (measurement, device)
        raw_sql = (
            "SELECT ts, value FROM points WHERE measurement = ? AND device = ? AND field = ? "
            f"AND ts >= ? AND ts < ? {where} ORDER BY ts"
        )
        prev_sql = raw_sql + " DESC LIMIT 1"
        names = [f"{metric}_{p}" for p in EVIDENCE_PARTS]
        part_of = dict(zip(names, EVIDENCE_PARTS, strict=True))
        marks = ",".join("?" * len(names))

        def _q(db: sqlite3.Connection) -> EvidenceData:
            out = EvidenceData()
            for a, b in reads.raw:
                rows = db.execute(raw_sql, (*key, metric, a, b, *cargs)).fetchall()
                ts, vs = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [])
                out.raw.append((ts, vs))
            for before, lookback in reads.prev:
                row = db.execute(prev_sql, (*key, metric, before - lookback, before, *cargs))
                got = row.fetchone()
                out.prev.append((int(got[0]), float(got[1])) if got is not None else None)
            for resolution, (a, b) in reads.rollups:
                rows = db.execute(
                    f"SELECT ts, county, field, value FROM {TABLES[resolution]} "
                    f"WHERE measurement = ? AND device = ? AND field IN ({marks}) "
                    f"AND ts >= ? AND ts < ? {where}",
                    (*key, *names, a, b, *cargs),
                ).fetchall()
                series: dict[tuple[int, str], dict[str, float]] = {}
                for ts, county, name, value in rows:
                    series.setdefault((int(ts), county), {})[part_of[name]] = float(value)
                windows: dict[int, dict[str, float]] = {}
                for (ts, _county), parts in sorted(series.items()):
                    merge_window_parts(windows.setdefault(ts, {}), parts)
                out.rollups.append(windows)
            return out

        return await self._run(_q)

    async def measurement_of(self, device: str, *, counties: Counties = None) -> str | None:
        """The asset kind whose measurement holds the device (raw or 1-h roll-ups);
        the readings themselves are read under ``counties`` by the caller."""
        del counties  # the kind of a device is not a reading; probing by key is cheap

        def _q(db: sqlite3.Connection) -> list[str]:
            for table in (TABLES["raw"], TABLES["1h"]):
                found = [
                    kind.value
                    for kind in AssetKind
                    if db.execute(
                        f"SELECT 1 FROM {table} WHERE measurement = ? AND device = ? LIMIT 1",
                        (kind.value, device),
                    ).fetchone()
                ]
                if found:
                    return found
            return []

        found = await self._run(_q)
        if len(found) > 1:
            raise ValueError(f"device {device!r} has readings in {found}: give the measurement")
        return found[0] if found else None

    async def prune(self, now_ms: int) -> int:
        """Delete what is past retention in every table (the embedded store's
        retention policies); returns the rows deleted."""

        def _prune(db: sqlite3.Connection) -> int:
            deleted = 0
            with db:
                db.execute("BEGIN")
                for resolution, table in TABLES.items():
                    cutoff = now_ms - RETENTION_DAYS[resolution] * DAY_MS
                    deleted += db.execute(f"DELETE FROM {table} WHERE ts < ?", (cutoff,)).rowcount
            return deleted

        return int(await self._run(_prune))

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


#: The fields a device has (in ``points``), by a seek per field on the key rather than
#: a scan of its rows (the "loose index scan" of a recursive query).
_FIELDS_OF_DEVICE = """
WITH RECURSIVE f(name) AS (
    SELECT (SELECT MIN(field) FROM points WHERE measurement = ? AND device = ?)
    UNION ALL
    SELECT (SELECT MIN(field) FROM points WHERE measurement = ? AND device = ?
            AND field > f.name)
    FROM f WHERE f.name IS NOT NULL
)
SELECT name FROM f WHERE name IS NOT NULL
"""


def _aligned(cols: list[tuple[str, list[tuple[int, float]]]]) -> list[int] | None:
    """The instants of every field, when each field has exactly these, once (the usual
    case: every field at every instant); else None."""
    times = [r[0] for r in cols[0][1]]
    if len(set(times)) != len(times):
        return None
    for _, rows in cols[1:]:
        if len(rows) != len(times) or [r[0] for r in rows] != times:
            return None
    return times


def _pivot(cols: list[tuple[str, list[tuple[int, float]]]]) -> list[tuple[int, dict[str, float]]]:
    """``(ts, {field: value})`` by time from each field's ``(ts, value)`` rows in time
    order (of a field's rows with equal times, from several counties, the last wins)."""
    if not cols:
        return []
    names = [name for name, _ in cols]
    times = _aligned(cols)
    if times is not None:
        values = [[r[1] for r in rows] for _, rows in cols]
        rows = map(dict, map(zip, repeat(names), zip(*values, strict=True)))
        return list(zip(times, rows, strict=True))
    out: dict[int, dict[str, float]] = {}
    for name, got in cols:
        for t, v in dict(got).items():
            out.setdefault(t, {})[name] = v
    return sorted(out.items())


def _columns(cols: list[tuple[str, list[tuple[int, float]]]]) -> RawColumns:
    """:func:`_pivot` as columns; the usual case (:func:`_aligned`) without a row of
    its own."""
    if not cols:
        return [], {}
    times = _aligned(cols)
    if times is None:
        return columns_of_rows(_pivot(cols))
    return times, {name: [r[1] for r in rows] for name, rows in cols}


def _in_counties(counties: Counties) -> tuple[str, list[str]]:
    """``AND county IN (?, ...)`` and its arguments: the county filter of a read."""
    if counties is None:
        return "", []
    return f"AND county IN ({','.join('?' * len(counties))})", list(counties)


def _span_rows(
    table: str,
    measurement: str,
    devices: Sequence[str] | None,
    fields: Sequence[str],
    spans: Sequence[Span],
    counties: Counties = None,
) -> tuple[str, list[object]]:
    """``SELECT device, field, ts, value`` of ``table`` over the union of ``spans``, only
    rows stored under ``counties``: one indexed range scan per span (SQLite does not use
    the key for an OR of ranges)."""
    who = f"AND device IN ({','.join('?' * len(devices))}) " if devices is not None else ""
    fmarks = ",".join("?" * len(fields))
    where, cargs = _in_counties(counties)
    one = (
        f"SELECT device, field, ts, value FROM {table} WHERE measurement = ? "
        f"{who}AND field IN ({fmarks}) AND ts >= ? AND ts < ? {where}"
    )
    args: list[object] = []
    for a, b in spans:
        args += [measurement, *(devices or ()), *fields, a, b, *cargs]
    return " UNION ALL ".join([one] * len(spans)), args
