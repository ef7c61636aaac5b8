"""Run catalogue panels for ``/screen``: time-series panels through our own
:class:`~cloud.timeseries.base.TimeSeriesStore` (InfluxDB or the embedded SQLite
store), relational panels through the session (PostgreSQL or SQLite) with the SQL of
:mod:`.sql`, the e-commerce panels read cloud/commerce's order lines the same way (a panel whose
source has not landed shows 未接入, "not connected", never a made-up number).

Every result carries the newest time of its source and ``stale`` when that is older
than the panel's ``stale_after_s``.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.commerce.screen.catalogue import BUCKET_MS, BY_ID, Panel
from cloud.commerce.screen.influxql import MKT_K
from cloud.commerce.screen.sql import compile_freshness, compile_sql
from cloud.db.base import UTCDateTime
from cloud.timeseries.base import TimeSeriesStore
from cloud.timeseries.windows import Parts
from protocol.ids import COUNTY_CODES

BEIJING = timezone(timedelta(hours=8))
HOUR_MS = 3_600_000
Status = Literal["ok", "not_connected", "error"]


@dataclass(slots=True)
class PanelData:
    id: str
    title_zh: str
    title_en: str
    kind: str
    unit: str
    decimals: int
    status: Status
    #: money (a ``fen`` panel): a Decimal of yuan, a string in JSON
    value: float | Decimal | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    newest_ms: int | None = None
    #: seconds from ``newest_ms`` to the read (None: nothing recent): what a county's
    #: Grafana freshness cell shows (its Infinity source reads this JSON)
    age_s: float | None = None
    stale: bool = False
    stale_after_s: int = 0
    error: str | None = None
    #: how long the panel took to compute (ms)
    took_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.value, Decimal):
            out["value"] = str(self.value)
        for row in out["rows"]:
            if isinstance(row.get("value"), Decimal):
                row["value"] = str(row["value"])
        return out


def window(panel: Panel, now_ms: int) -> tuple[int, int]:
    """``[start, end)`` of the panel's window on the wall (Beijing days and months)."""
    if panel.window == "live":
        return now_ms - panel.live_s * 1000, now_ms + 1
    local = datetime.fromtimestamp(now_ms / 1000, BEIJING)
    if panel.window == "today":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return int(start.timestamp() * 1000), now_ms + 1
    if panel.window == "month":
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return int(start.timestamp() * 1000), now_ms + 1
    return now_ms - panel.screen_range_s * 1000, now_ms + 1


def _day_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=BEIJING).timestamp() * 1000)


def _base(panel: Panel, status: Status, **kw: Any) -> PanelData:
    return PanelData(
        panel.id, panel.title_zh, panel.title_en, panel.kind, panel.unit, panel.decimals,
        status, stale_after_s=panel.stale_after_s, **kw,
    )  # fmt: skip


@dataclass(slots=True)
class Context:
    session: AsyncSession
    store: TimeSeriesStore
    #: the caller's counties (None: every county, the prefecture)
    counties: list[str] | None
    now_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    #: opens another session of the same database (``Database.session``): on
    #: PostgreSQL the relational panels then run side by side, each in its own session,
    #: :data:`SQL_AT_ONCE` at a time (None: one after another in ``session``)
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]] | None = None
    _newest: dict[str, asyncio.Future[int | None]] = field(default_factory=dict)

    @property
    def county_list(self) -> list[str]:
        return list(COUNTY_CODES) if self.counties is None else list(self.counties)


def _finish(panel: Panel, data: PanelData, now_ms: int) -> PanelData:
    data.stale = data.newest_ms is None or now_ms - data.newest_ms > panel.stale_after_s * 1000
    if data.newest_ms is not None:
        data.age_s = round(max(now_ms - data.newest_ms, 0) / 1000, 1)
    return data


# ------------------------------------------------------------------ time series


async def _ts(panel: Panel, ctx: Context) -> PanelData:
    """Time-series panels read every device of the measurement under the caller's
    counties (``devices=None``): the aggregate is over whatever reports."""
    assert panel.measurement
    devices = None
    start, end = window(panel, ctx.now_ms)
    store = ctx.store
    data = _base(panel, "ok")
    newest = await _ts_newest(panel, ctx)
    if panel.aggregate == "last":
        # each device's position: its last minute's fix (the mean when it sent several)
        lon = panel.extra.get("lon", "lon")
        lats, lons = await asyncio.gather(
            *(
                store.aggregate_parts(
                    panel.measurement, devices, f, [(start, end)], 60_000, "raw",
                    counties=ctx.counties,
                )
                for f in (panel.field, lon)
            )
        )  # fmt: skip
        for device in sorted(lats):
            w = max(lats[device])
            p_lon = lons.get(device, {}).get(w)
            if p_lon is None or not p_lon.count:
                continue
            p_lat = lats[device][w]
            data.rows.append({"device": device, "lat": p_lat.total / p_lat.count,
                              "lon": p_lon.total / p_lon.count, "t": w})  # fmt: skip
        data.value = float(len(data.rows))
        data.newest_ms = newest
        return _finish(panel, data, ctx.now_ms)
    if panel.bucket is None:  # one window over the span: per device
        every = max(end - start, 60_000) * 2
        parts = await store.aggregate_parts(
            panel.measurement, devices, panel.field, [(start, end)], every, "raw",
            counties=ctx.counties,
        )  # fmt: skip
        per_device: dict[str, Parts] = {}
        for device, windows in parts.items():
            p = per_device.setdefault(device, Parts())
            for w in windows.values():
                p.merge(w.total, w.lo, w.hi, w.count, None)
        if panel.aggregate == "count_distinct":
            data.value = float(sum(1 for p in per_device.values() if p.count > 0))
        elif panel.count_where is not None:
            op, bound = panel.count_where
            vals = [_agg(panel.aggregate, p) for p in per_device.values() if p.count > 0]
            data.value = float(sum(1 for v in vals if _passes(v, op, bound)))
        data.newest_ms = newest
        return _finish(panel, data, ctx.now_ms)
    every = BUCKET_MS[panel.bucket] if panel.bucket != "interval" else 3_600_000
    resolution = "1h" if panel.aggregate == "mkt" else "raw"
    groups = ctx.county_list if "county" in panel.group else [None]
    plan: dict[Any, list[tuple[int, int]]] = {resolution: [(start, end)]}
    if panel.rollups and resolution == "raw" and every % HOUR_MS == 0:
        # whole hours from the 1-h roll-ups (the job's; what the series API reads too),
        # the edges raw: the same sums, a few hundred rows instead of every reading
        a, b = -(-start // HOUR_MS) * HOUR_MS, end // HOUR_MS * HOUR_MS
        if a < b:
            plan = {"1h": [(a, b)], "raw": [x for x in ((start, a), (b, end)) if x[0] < x[1]]}
    results = await asyncio.gather(
        *(
            store.aggregate_plan(
                panel.measurement, devices, panel.field, plan, every,
                counties=[g] if g else ctx.counties,
            )
            for g in groups
        )
    )  # fmt: skip
    for g, by_resolution in zip(groups, results, strict=True):
        merged: dict[int, Parts] = {}
        for parts in by_resolution.values():
            for windows in parts.values():
                for w, p in windows.items():
                    merged.setdefault(w, Parts()).merge(p.total, p.lo, p.hi, p.count, p.mkt)
        for w, p in sorted(merged.items()):
            value = _agg(panel.aggregate, p)
            if value is None:
                continue
            row: dict[str, Any] = {"time": w, "value": value}
            if g:
                row["county"] = g
            data.rows.append(row)
    data.newest_ms = newest
    return _finish(panel, data, ctx.now_ms)


#: how far back the newest reading of a measurement is looked for: the longest stale
#: threshold of the time-series panels (older than this is stale for every one of them)
NEWEST_SPAN_MS = 7_200_000


async def _ts_newest(panel: Panel, ctx: Context) -> int | None:
    """The newest raw reading of the panel's measurement within the last 2 h, to the
    minute within the last 5 min, else to 10 min (None: nothing that recent, so the
    panel is stale); one read per measurement and wall, shared by its panels."""
    assert panel.measurement
    m = panel.measurement
    if m not in ctx._newest:

        async def read() -> int | None:
            # the last 5 min by the minute first (cheap: fresh data is the usual case),
            # then the rest of the 2 h by 10 min
            for back, step in ((300_000, 60_000), (NEWEST_SPAN_MS, 600_000)):
                span = (ctx.now_ms - back, ctx.now_ms + 1)
                parts = await ctx.store.aggregate_parts(
                    m, None, panel.field, [span], step, "raw", counties=ctx.counties
                )
                starts = [w for ws in parts.values() for w, p in ws.items() if p.count > 0]
                if starts:
                    return min(max(starts) + step, ctx.now_ms)
            return None

        ctx._newest[m] = asyncio.ensure_future(read())
    return await asyncio.shield(ctx._newest[m])


def _agg(aggregate: str, p: Parts) -> float | None:
    if p.count <= 0:
        return None
    match aggregate:
        case "mean":
            return p.total / p.count
        case "max":
            return p.hi
        case "min":
            return p.lo
        case "sum":
            return p.total
        case "count":
            return p.count
        case "mkt":
            if not p.mkt:
                return None
            return -MKT_K / math.log(p.mkt / p.count) - 273.15
    raise ValueError(f"aggregate {aggregate} is not a time-series window aggregate")


def _passes(v: float | None, op: str, bound: float) -> bool:
    if v is None:
        return False
    return {">=": v >= bound, "<=": v <= bound, "=": v == bound, "!=": v != bound}[op]


# ------------------------------------------------------------------ relational


async def _sql(panel: Panel, ctx: Context) -> PanelData:
    rel = panel.relation
    assert rel is not None
    target = "postgresql" if ctx.session.bind.dialect.name == "postgresql" else "sqlite"
    start, end = window(panel, ctx.now_ms)
    params: dict[str, Any] = {}
    timed = rel.time is not None and panel.window != "state"
    if timed:
        if rel.time_kind == "month":
            params["month"] = datetime.fromtimestamp(ctx.now_ms / 1000, BEIJING).strftime("%Y-%m")
        elif rel.time_kind == "ms":
            params |= {"start": start, "end": end}
        else:
            params |= {
                "start": datetime.fromtimestamp(start / 1000, UTC),
                "end": datetime.fromtimestamp(end / 1000, UTC),
            }
    scoped = ctx.counties is not None
    binds = []
    if scoped:
        params["counties"] = ctx.county_list
        binds.append(bindparam("counties", expanding=True))
    if timed and rel.time_kind == "ts":
        binds += [bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())]
    stmt = text(compile_sql(panel, target, county_filter=scoped)).bindparams(*binds)
    rows = (await ctx.session.execute(stmt, params)).mappings().all()
    data = _base(panel, "ok")
    if panel.kind == "stat":
        v = rows[0]["value"] if rows else None
        if panel.fen:
            data.value = _yuan(v)
        else:
            data.value = (
                float(v) if v is not None else (0.0 if panel.aggregate != "ratio" else None)
            )
    else:
        for r in rows:
            row = {k: _plain(v) for k, v in r.items()}
            if panel.fen:
                row["value"] = _yuan(r["value"])
            if "time" in row and isinstance(row["time"], str):
                row["time"] = _day_ms(row["time"])
            data.rows.append(row)
        data.value = float(len(rows))
    fresh = compile_freshness(panel, target, county_filter=scoped)
    if fresh is None:
        data.newest_ms = ctx.now_ms  # master data: current as of the read
    else:
        col = UTCDateTime() if rel.fresh is not None or rel.time_kind == "ts" else None
        fstmt = text(fresh).bindparams(*(binds[:1] if scoped else []))
        if col is not None:
            fstmt = fstmt.columns(newest=col)
        got = (await ctx.session.execute(fstmt, params)).scalar()
        if isinstance(got, datetime):
            data.newest_ms = int(got.timestamp() * 1000)
        elif got is not None:
            data.newest_ms = int(got)
        if data.newest_ms is None and panel.kind == "stat" and data.value == 0:
            data.newest_ms = ctx.now_ms  # nothing recorded yet: zero is current
    return _finish(panel, data, ctx.now_ms)


def _yuan(fen: Any) -> Decimal:
    """Integer fen (None: nothing) -> yuan, exactly."""
    return (Decimal(int(fen or 0)) / 100).quantize(Decimal("0.01"))


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return int(v.timestamp() * 1000)
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return float(v)


# ------------------------------------------------------------------ sources


def connected(panel: Panel) -> bool:
    """Whether the module whose tables the panel reads exists (else 未接入)."""
    if panel.requires is None:
        return True
    try:
        importlib.import_module(panel.requires)
    except ModuleNotFoundError as exc:
        if exc.name and panel.requires.startswith(exc.name):
            return False
        raise
    return True


# ------------------------------------------------------------------ entry points


async def run_panel(panel: Panel, ctx: Context) -> PanelData:
    """One panel; a failing source makes that panel ``error`` (named), never the wall."""
    started = time.perf_counter()
    data = await _run_panel(panel, ctx)
    data.took_ms = round((time.perf_counter() - started) * 1000, 1)
    return data


async def _run_panel(panel: Panel, ctx: Context) -> PanelData:
    try:
        if not connected(panel):
            return _finish(panel, _base(panel, "not_connected"), ctx.now_ms)
        if panel.source == "ts":
            return await _ts(panel, ctx)
        return await _sql(panel, ctx)
    except Exception as exc:  # noqa: BLE001 - one source down leaves the others on the wall
        data = _base(panel, "error", error=f"{type(exc).__name__}: {exc}"[:300])
        return _finish(panel, data, ctx.now_ms)


#: Relational panels run at once on PostgreSQL (each holds a pooled connection; the
#: pool has 5 and 10 more on demand, and a wall's computation is shared by its walls).
SQL_AT_ONCE = 4


async def run_panels(ids: Sequence[str], ctx: Context) -> list[PanelData]:
    """The panels in order. The time-series panels run side by side; so do the
    relational panels on PostgreSQL when ``ctx.sessions`` is given (each in a session
    of its own), else they share ``ctx.session`` one after another beside them."""
    out: dict[str, PanelData] = {}
    ts_ids = [i for i in ids if BY_ID[i].source == "ts"]
    sql_ids = [i for i in ids if BY_ID[i].source != "ts"]
    ts_task = asyncio.gather(*(run_panel(BY_ID[i], ctx) for i in ts_ids))
    opener = ctx.sessions
    if opener is not None and ctx.session.bind.dialect.name == "postgresql":
        gate = asyncio.Semaphore(SQL_AT_ONCE)

        async def own_session(i: str) -> PanelData:
            async with gate, opener() as s:
                return await run_panel(BY_ID[i], replace(ctx, session=s))

        for i, d in zip(sql_ids, await asyncio.gather(*map(own_session, sql_ids)), strict=True):
            out[i] = d
    else:
        for i in sql_ids:
            out[i] = await run_panel(BY_ID[i], ctx)
    for i, d in zip(ts_ids, await ts_task, strict=True):
        out[i] = d
    return [out[i] for i in ids]
