"""The scan log and its anomalies.

``record_scan`` keeps one scan (time, user agent) and answers how many times and
since when the code was scanned; ``add_place`` adds the place the browser shared,
rounded to its prefecture-level city (cloud/resolver/scans/cities.py), to the one
scan whose token it is given, once, within ``scan_place_window_s``. Anomalies are
found as the scans come in and kept as flags (one per kind, lot and serial):

- ``too_many_scans``: a serial scanned more than ``scan_max_per_serial`` times;
- ``impossible_travel``: two shared places of one serial farther apart than
  ``scan_max_speed_kmh`` covers in the time between the two scans (distance between
  the cities' centres; the same city is 0 km);
- ``outside_destinations``: a shared place of a lot's code in a city that is neither
  the lot's own (its producer's county's city) nor the city of any place it was
  shipped to. Those are the ``destinationList`` locations and the ``bizLocation`` of
  its ``receiving`` events, each a catalog location, mapped to the prefecture-level
  city of the location's county. "Outside" is a different prefecture-level city. A
  lot is judged only when it was shipped somewhere and every destination is a catalog
  location (a destination we cannot place could be anywhere: no flag).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.lookup import get_location_by_gln
from cloud.db import utcnow
from cloud.resolver.scans.cities import City, by_code, city_of_county, distance_km, nearest_city
from cloud.resolver.scans.schemas import ScanSummary
from cloud.resolver.scans.storage import Scan, ScanFlag
from cloud.resolver.serials.service import SETTINGS_INFO
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.storage import TraceLot


class ScanLimits(Protocol):
    scan_max_speed_kmh: float
    scan_max_per_serial: int
    scan_place_window_s: float


class _Defaults:
    scan_max_speed_kmh = 120.0
    scan_max_per_serial = 10
    scan_place_window_s = 600.0


class ScanError(Exception):
    """``status`` (404, 409, 410, 422) and the input at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def limits_of(session: AsyncSession) -> ScanLimits:
    """The app's settings on the session (cloud/app.py), else the defaults."""
    found = session.info.get(SETTINGS_INFO)
    return found if found is not None else _Defaults()  # type: ignore[no-any-return]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def record_scan(
    session: AsyncSession,
    gtin: str,
    lot: str,
    serial: str | None,
    *,
    user_agent: str | None,
    at: datetime,
) -> ScanSummary:
    """Keep one scan of (GTIN, lot[, serial]) and sum up the code's scans so far.

    Call it for a code that checked ``valid`` (or ``no_serial``: then the lot's own
    code is counted); the caller commits. Raises ScanError 404 for a lot we do not
    hold."""
    found = await session.scalar(select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == lot))
    if found is None:
        raise ScanError(404, f"lot {lot!r} of GTIN {gtin} not found")
    key = serial or ""
    token = secrets.token_urlsafe(24)
    scan = Scan(
        token_sha256=token_hash(token), lot_id=found.id, county=found.county, serial=key,
        at=at, user_agent=(user_agent or None) and user_agent[:300],
    )  # fmt: skip
    session.add(scan)
    await session.flush()
    count, first_at = (
        await session.execute(
            select(func.count(), func.min(Scan.at)).where(
                Scan.lot_id == found.id, Scan.serial == key
            )
        )
    ).one()
    limits = limits_of(session)
    if key and count > limits.scan_max_per_serial:
        await _flag(
            session, "too_many_scans", found, key, at,
            {"scans": int(count), "limit": limits.scan_max_per_serial},
        )  # fmt: skip
    return ScanSummary(scan_id=token, first=count == 1, count=int(count), first_at=first_at)


async def add_place(
    session: AsyncSession, token: str, lat: float, lon: float, *, now: datetime | None = None
) -> City:
    """Round the shared position to its city and add it to the token's scan (once);
    then look for anomalies. The caller commits."""
    now = now or utcnow()
    scan = await session.scalar(select(Scan).where(Scan.token_sha256 == token_hash(token)))
    if scan is None:
        raise ScanError(404, "scan not found", "path.token")
    if scan.placed_at is not None:
        raise ScanError(409, "this scan has its place already; a place is added once",
                        "path.token")  # fmt: skip
    limits = limits_of(session)
    if now - scan.at > timedelta(seconds=limits.scan_place_window_s):
        raise ScanError(
            410, f"a place is added within {limits.scan_place_window_s:g} s of the scan",
            "path.token",
        )  # fmt: skip
    city = nearest_city(lon, lat)
    if city is None:
        raise ScanError(422, "body.lat: the position is not in any city of China we know",
                        "body.lat")  # fmt: skip
    scan.city, scan.lon, scan.lat, scan.placed_at = city.code, city.lon, city.lat, now
    await session.flush()
    lot = await session.get_one(TraceLot, scan.lot_id)
    if scan.serial:
        await _travel(session, lot, scan, limits.scan_max_speed_kmh)
    await _outside(session, lot, scan, city)
    return city


async def _travel(session: AsyncSession, lot: TraceLot, scan: Scan, max_kmh: float) -> None:
    others = await session.scalars(
        select(Scan).where(
            Scan.lot_id == scan.lot_id,
            Scan.serial == scan.serial,
            Scan.city.is_not(None),
            Scan.id != scan.id,
        )
    )
    worst: dict[str, Any] | None = None
    for other in others:
        if other.city == scan.city:
            continue
        km = distance_km(other.lon or 0.0, other.lat or 0.0, scan.lon or 0.0, scan.lat or 0.0)
        hours = abs((scan.at - other.at).total_seconds()) / 3600
        if km <= max_kmh * hours:
            continue
        speed = None if hours == 0 else round(km / hours, 1)
        if worst is None or (speed or float("inf")) > (worst["kmh"] or float("inf")):
            worst = {
                "cities": [other.city, scan.city],
                "names": [by_code()[other.city].name, by_code()[scan.city].name],  # type: ignore[index]
                "at": [other.at.isoformat(), scan.at.isoformat()],
                "km": round(km, 1),
                "kmh": speed,
                "limit_kmh": max_kmh,
            }
    if worst is not None:
        await _flag(session, "impossible_travel", lot, scan.serial, scan.at, worst)


async def destination_cities(session: AsyncSession, lot: TraceLot) -> tuple[set[str], int]:
    """The cities the lot was shipped to, and how many destinations could not be
    placed (not a catalog location)."""
    rows = await session.execute(
        select(TraceEvent.biz_step, TraceEvent.biz_location, TraceEvent.body)
        .join(TraceEventObject, TraceEventObject.event_seq == TraceEvent.seq)
        .where(
            TraceEventObject.gtin == lot.gtin,
            TraceEventObject.lot == lot.lot,
            TraceEvent.error_declaration.is_(None),
        )
    )
    places: set[str] = set()
    for biz_step, biz_location, body in rows:
        for item in (body or {}).get("destinationList") or ():
            if isinstance(item, dict) and isinstance(item.get("destination"), str):
                kind = str(item.get("type", ""))
                if kind.endswith("location"):
                    places.add(item["destination"])
        if biz_step == "receiving" and biz_location:
            places.add(biz_location)
    cities: set[str] = set()
    unknown = 0
    for place in sorted(places):
        loc = await get_location_by_gln(session, place)
        city = None if loc is None else city_of_county(loc.county)
        if city is None:
            unknown += 1
        else:
            cities.add(city.code)
    return cities, unknown


async def _outside(session: AsyncSession, lot: TraceLot, scan: Scan, city: City) -> None:
    shipped, unknown = await destination_cities(session, lot)
    if not shipped or unknown:
        return
    home = city_of_county(lot.county)
    allowed = shipped | ({home.code} if home else set())
    if city.code in allowed:
        return
    table = by_code()
    await _flag(
        session, "outside_destinations", lot, "", scan.at,
        {"city": city.code, "name": city.name, "serial": scan.serial or None,
         "destinations": [{"city": c, "name": table[c].name} for c in sorted(allowed)]},
    )  # fmt: skip


async def _flag(
    session: AsyncSession, kind: str, lot: TraceLot, serial: str, at: datetime,
    detail: dict[str, Any],
) -> None:  # fmt: skip
    """Raise the (kind, lot, serial) flag, or count one more hit on it."""
    for _attempt in range(2):
        found = await session.scalar(
            select(ScanFlag).where(
                ScanFlag.kind == kind, ScanFlag.lot_id == lot.id, ScanFlag.serial == serial
            )
        )
        if found is not None:
            found.hits += 1
            found.last_at = max(found.last_at, at)
            found.detail = detail
            await session.flush()
            return
        try:
            async with session.begin_nested():
                session.add(ScanFlag(kind=kind, lot_id=lot.id, county=lot.county, serial=serial,
                                     hits=1, first_at=at, last_at=at, detail=detail))  # fmt: skip
            return
        except IntegrityError:  # raised at once by another scan: count on it
            continue


def flags_query(
    counties: list[str] | None, *, kind: str | None = None, gtin: str | None = None,
    lot: str | None = None,
) -> Select[Any]:  # fmt: skip
    """Flags of ``counties`` (None: all), unordered (the router pages)."""
    q = select(ScanFlag).join(TraceLot, TraceLot.id == ScanFlag.lot_id)
    if counties is not None:
        q = q.where(ScanFlag.county.in_(counties))
    if kind is not None:
        q = q.where(ScanFlag.kind == kind)
    if gtin is not None:
        q = q.where(TraceLot.gtin == gtin)
    if lot is not None:
        q = q.where(TraceLot.lot == lot)
    return q


async def lot_keys(session: AsyncSession, lot_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(GTIN, lot number) of each lot id, one query."""
    if not lot_ids:
        return {}
    q = select(TraceLot.id, TraceLot.gtin, TraceLot.lot).where(TraceLot.id.in_(set(lot_ids)))
    return {i: (g, n) for i, g, n in await session.execute(q)}


async def count_flags(session: AsyncSession, counties: Sequence[str] | None) -> dict[str, int]:
    """Flags by kind, of ``counties`` (None: every county): for the big screen."""
    q = select(ScanFlag.kind, func.count()).group_by(ScanFlag.kind)
    if counties is not None:
        q = q.where(ScanFlag.county.in_(list(counties)))
    out = dict.fromkeys(("impossible_travel", "too_many_scans", "outside_destinations"), 0)
    for kind, n in await session.execute(q):
        out[kind] = int(n)
    return out
