"""The export: every section's figures for each county (and the prefecture) of one
month, as a dict (the JSON document, FORMAT.md) and as an XLSX workbook.

``build_export(db, month)`` reads:

- ``ecommerce``: :func:`cloud.commerce.indicators.indicators` grouped by county;
- ``logistics``: waybills, their delivery events, planned and tracked trips
  (cloud.logistics), cold-chain alarms and excursions (cloud.coldchain), each counted
  in the Beijing month it happened;
- ``stations``, ``training``, ``poverty``, ``registry``: the providers plugged into
  :mod:`.providers`; a slot with none is status ``not_connected`` (未接入), every
  figure null.

Months are Beijing months (UTC+8), as the commerce indicators'. A month after the
current one is refused (``MonthError``); the current month is exported with
``complete: false``.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.commerce.indicators import indicators
from cloud.db import Database
from cloud.fsutil import write_atomic
from cloud.logistics.trips.storage import TrackedTrip
from cloud.logistics.waybills.storage import Trip, Waybill, WaybillEvent
from cloud.services.mofcom.fields import FORMAT_NAME, FORMAT_VERSION, SECTIONS, Section
from cloud.services.mofcom.providers import PROVIDERS
from protocol.ids import COUNTIES, COUNTY_CODES, PREFECTURE

BEIJING = timezone(timedelta(hours=8))
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
STATUS_ZH = {"connected": "已接入", "not_connected": "未接入", "error": "出错"}


class MonthError(ValueError):
    """A month that cannot be exported; ``str()`` says why."""


def beijing_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(BEIJING).date()


def check_month(month: str, now: datetime | None = None) -> str:
    """``month`` (``YYYY-MM``) when it can be exported, else MonthError saying why."""
    m = MONTH_RE.match(month or "")
    if not m:
        raise MonthError(f"{month!r} is not a month; use YYYY-MM, e.g. 2026-11")
    if int(m.group(1)) < 2000:
        raise MonthError(f"{month} is before 2000")
    today = beijing_today(now)
    if month > f"{today.year:04d}-{today.month:02d}":
        raise MonthError(f"{month} is in the future (today is {today.isoformat()}, Beijing)")
    return month


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in UTC (a Beijing month)."""
    y, mo = int(month[:4]), int(month[5:7])
    start = datetime(y, mo, 1, tzinfo=BEIJING)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=BEIJING)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_month(today: date) -> str:
    first = today.replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


@asynccontextmanager
async def _session(db: Database | AsyncSession) -> AsyncIterator[AsyncSession]:
    if isinstance(db, AsyncSession):
        yield db
    else:
        async with db.session() as s:
            yield s


def _num(v: Any) -> Any:
    """JSON-safe: a Decimal as its exact text (FORMAT.md: money and ratios are strings)."""
    return str(v) if isinstance(v, Decimal) else v


async def _ecommerce(s: AsyncSession, month: str, counties: list[str]) -> dict[str, dict]:
    rows = await indicators(s, counties=counties, start_month=month, end_month=month,
                            group_by=["county"])  # fmt: skip
    total = (await indicators(s, counties=counties, start_month=month, end_month=month,
                              group_by=[]))[0]  # fmt: skip
    out: dict[str, dict] = {}
    for key, row in [*((r.county, r) for r in rows), (PREFECTURE, total)]:
        out[str(key)] = {
            "online_retail_sales": _num(row.online_retail_sales),
            "farm_online_retail_sales": _num(row.farm_online_retail_sales),
            "order_count": row.order_count,
            "parcels_out": row.parcels_out,
            "parcels_in": row.parcels_in,
            "local_produce_share": _num(row.local_produce_share),
            "active_shops": row.active_shops,
            "online_retail_sales_yoy": _num(row.yoy.get("online_retail_sales")),
            "online_retail_sales_mom": _num(row.mom.get("online_retail_sales")),
        }
    idle = {
        "online_retail_sales": "0.00", "farm_online_retail_sales": "0.00", "order_count": 0,
        "parcels_out": 0, "parcels_in": 0, "local_produce_share": None, "active_shops": 0,
        "online_retail_sales_yoy": None, "online_retail_sales_mom": None,
    }  # fmt: skip
    for c in counties:
        out.setdefault(c, dict(idle))
    return out


async def _count_by_county(s: AsyncSession, q: Any) -> dict[str, float]:
    return {str(r[0]): float(r[1] or 0) for r in await s.execute(q)}


async def _logistics(s: AsyncSession, month: str, counties: list[str]) -> dict[str, dict]:
    start, end = month_bounds(month)
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    first_day = date(int(month[:4]), int(month[5:7]), 1)
    next_day = (end.astimezone(BEIJING)).date()
    W, E, T, TT = Waybill, WaybillEvent, Trip, TrackedTrip
    A, X = ColdchainAlarm, ColdchainExcursion
    parts = {
        "waybills_created": select(W.county, func.count(W.id))
        .where(W.created_at >= start, W.created_at < end, W.county.in_(counties))
        .group_by(W.county),
        "waybills_delivered": select(W.county, func.count(func.distinct(W.id)))
        .join(E, E.waybill_id == W.id)
        .where(E.to_status == "delivered", E.at >= start, E.at < end, W.county.in_(counties))
        .group_by(W.county),
        "trips_planned": select(T.county, func.count(T.id))
        .where(T.day >= first_day, T.day < next_day, T.county.in_(counties))
        .group_by(T.county),
        "tracked_trips": select(TT.county, func.count(TT.id))
        .where(TT.start_ms >= start_ms, TT.start_ms < end_ms, TT.county.in_(counties))
        .group_by(TT.county),
        "tracked_distance_km": select(TT.county, func.sum(TT.distance_m))
        .where(TT.start_ms >= start_ms, TT.start_ms < end_ms, TT.county.in_(counties))
        .group_by(TT.county),
        "coldchain_alarms": select(A.county, func.count(A.id))
        .where(A.raised_at >= start, A.raised_at < end, A.county.in_(counties))
        .group_by(A.county),
        "coldchain_excursions": select(X.county, func.count(X.id))
        .where(X.start_ms >= start_ms, X.start_ms < end_ms, X.county.in_(counties))
        .group_by(X.county),
    }
    got = {k: await _count_by_county(s, q) for k, q in parts.items()}
    out: dict[str, dict] = {}
    for c in [*counties, PREFECTURE]:
        row: dict[str, Any] = {}
        for k, by in got.items():
            v = sum(by.values()) if c == PREFECTURE else by.get(c, 0.0)
            row[k] = round(v / 1000, 1) if k == "tracked_distance_km" else int(v)
        out[c] = row
    return out


async def _provided(
    s: AsyncSession, section: Section, month: str, counties: list[str]
) -> dict[str, dict]:
    """Each county's section from its provider, and the prefecture's sum (null unless
    every county gave a number)."""
    expected = [f.key for f in section.fields]
    provider = PROVIDERS.get(section.key)
    out: dict[str, dict] = {}
    if provider is None:
        for c in [*counties, PREFECTURE]:
            out[c] = {"status": "not_connected", "figures": dict.fromkeys(expected)}
        return out
    for c in counties:
        try:
            got = dict(await provider(s, c, month))
        except Exception as exc:  # noqa: BLE001 - a provider's failure is reported, not fatal
            out[c] = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                      "figures": dict.fromkeys(expected)}  # fmt: skip
            continue
        out[c] = {"status": "connected", "figures": {**dict.fromkeys(expected), **got}}
    keys = list(dict.fromkeys(k for c in counties for k in out[c]["figures"]))
    total: dict[str, Any] = {}
    for k in keys:
        vals = [out[c]["figures"].get(k) for c in counties]
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in vals)
        total[k] = sum(vals) if ok else None  # type: ignore[arg-type]
    statuses = {out[c]["status"] for c in counties}
    out[PREFECTURE] = {"status": "connected" if statuses == {"connected"} else "error",
                       "figures": total}  # fmt: skip
    return out


async def build_export(
    db: Database | AsyncSession,
    month: str,
    *,
    counties: list[str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The export of ``month`` (FORMAT.md): one entry per county (``counties``, default
    all four) and the prefecture's. MonthError for a bad or future month."""
    check_month(month, now)
    when = now or datetime.now(UTC)
    today = beijing_today(when)
    chosen = [c for c in COUNTY_CODES if counties is None or c in counties]
    by_section: dict[str, dict[str, dict]] = {}
    async with _session(db) as s:
        eco = await _ecommerce(s, month, chosen)
        log = await _logistics(s, month, chosen)
        for sec in SECTIONS:
            if sec.key == "ecommerce":
                by_section[sec.key] = {c: {"status": "connected", "figures": v}
                                       for c, v in eco.items()}  # fmt: skip
            elif sec.key == "logistics":
                by_section[sec.key] = {c: {"status": "connected", "figures": v}
                                       for c, v in log.items()}  # fmt: skip
            else:
                by_section[sec.key] = await _provided(s, sec, month, chosen)
    entries = []
    # the prefecture's row only when every county is in (a county admin's export is its own)
    rows = [*chosen, PREFECTURE] if counties is None else chosen
    for c in rows:
        sections = {}
        for sec in SECTIONS:
            got = by_section[sec.key][c]
            sections[sec.key] = {
                "status": got["status"],
                "status_zh": STATUS_ZH[got["status"]],
                "source": sec.source,
                **({"error": got["error"]} if "error" in got else {}),
                "figures": got["figures"],
            }
        en, zh = COUNTIES[c]
        entries.append({"county": c, "name_zh": zh, "name_en": en, "sections": sections})
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "month": month,
        "timezone": "Asia/Shanghai (UTC+8)",
        "complete": month < f"{today.year:04d}-{today.month:02d}",
        "generated_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "counties": entries,
    }


def _cell(v: Any) -> Any:
    """A figure as a spreadsheet cell: exact decimal text becomes a number; a provider's
    other text stays text."""
    if isinstance(v, str):
        try:
            return float(Decimal(v))
        except InvalidOperation:
            return v
    return v


def to_xlsx(doc: dict[str, Any]) -> bytes:
    """The export as a workbook: an About sheet (format, version, month, statuses), then
    one sheet per section, a row per county: code, name, status, then each field (row 1
    the field keys, row 2 their Chinese names). Money and ratios are numbers here."""
    from openpyxl import Workbook

    wb = Workbook()
    about = wb.active
    about.title = "说明 About"
    for row in (
        ("format", doc["format"]), ("version", doc["version"]), ("month", doc["month"]),
        ("timezone", doc["timezone"]), ("complete", str(doc["complete"]).lower()),
        ("generated_at", doc["generated_at"]),
        ("note", "未接入 = not connected: the source has not landed; figures are empty"),
    ):  # fmt: skip
        about.append(list(row))
    for sec in SECTIONS:
        ws = wb.create_sheet(f"{sec.zh} {sec.en}"[:31])
        keys = [f.key for f in sec.fields]
        extra = list(
            dict.fromkeys(
                k for e in doc["counties"] for k in e["sections"][sec.key]["figures"]
                if k not in keys
            )
        )  # fmt: skip
        ws.append(["county", "name", "status", *keys, *extra])
        ws.append(["县代码", "县名", "状态", *(f.zh for f in sec.fields), *extra])
        for e in doc["counties"]:
            part = e["sections"][sec.key]
            vals = [_cell(part["figures"].get(k)) for k in [*keys, *extra]]
            ws.append([e["county"], e["name_zh"], part["status_zh"], *vals])
    wb.properties.creator = "dehong"
    stamp = datetime.fromisoformat(doc["generated_at"].replace("Z", "+00:00")).replace(tzinfo=None)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_json(doc: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def file_names(month: str) -> tuple[str, str]:
    """The files ``dehong report mofcom`` writes: ``mofcom-YYYY-MM-v1.json`` / ``.xlsx``."""
    major = FORMAT_VERSION.split(".")[0]
    return f"mofcom-{month}-v{major}.json", f"mofcom-{month}-v{major}.xlsx"


def write_export(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write the JSON and XLSX files of ``doc`` into ``out_dir`` (made if missing),
    each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    j, x = file_names(doc["month"])
    write_atomic(out_dir / j, to_json(doc), mode=0o644)
    write_atomic(out_dir / x, to_xlsx(doc), mode=0o644)
    return out_dir / j, out_dir / x
