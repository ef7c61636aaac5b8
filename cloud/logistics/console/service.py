"""The console's data: the snapshot (vehicles with their last fix and status, places,
geofences, alarms, waybills) as one dict, served as JSON and drawn by the page.

Vehicles are the catalog's registered mobile devices of kind ``vehicle``
(``/api/v1/mobile-devices``); their last fix is read here from the one time series
(measurement ``vehicle``, metrics ``lat``, ``lon`` in WGS-84 degrees, ``speed_kmh``,
``course_deg``, ``alt_m``, ``accuracy_m``, ``battery_pct``, reefer ``temp1`` °C), each
under the vehicle's county. Places are catalog locations drawn at their base's point.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from cloud.catalog.storage import Location, MobileDevice, Organisation, ProductionBase
from cloud.logistics.console import providers
from cloud.logistics.console.providers import Call
from cloud.logistics.console.tiles import tile_source
from cloud.settings import Settings
from cloud.timeseries import TimeSeriesStore
from protocol.ids import COUNTIES

BEIJING = timezone(timedelta(hours=8))
MEASUREMENT = "vehicle"
#: time-series metric -> the fix's key
FIX_METRICS = {
    "lat": "lat",
    "lon": "lon",
    "speed_kmh": "speed_kmh",
    "course_deg": "course_deg",
    "alt_m": "alt_m",
    "accuracy_m": "accuracy_m",
    "battery_pct": "battery_pct",
    "temp1": "temp1",
}
#: catalog location kinds the map draws
PLACE_KINDS = ("station", "cold_room", "warehouse", "customer_site", "processing_site")
#: reads of the time series at once (one per vehicle)
READ_CONCURRENCY = 16


@dataclass(frozen=True)
class VehicleRef:
    device_id: str
    county: str
    owner: str


def now_ms() -> int:
    return int(time.time() * 1000)


def beijing_today() -> date:
    """Days are counted in Beijing time (UTC+8), as everywhere in the platform."""
    return datetime.now(BEIJING).date()


def status_of(fix: dict[str, Any] | None, settings: Settings, at_ms: int) -> str:
    """``moving``, ``stopped`` or ``offline`` (no fix, or older than the setting)."""
    if not fix or fix.get("t") is None:
        return "offline"
    if at_ms - fix["t"] > settings.console_offline_after_s * 1000:
        return "offline"
    speed = fix.get("speed_kmh")
    return "moving" if speed is not None and speed >= settings.console_moving_kmh else "stopped"


async def vehicle_refs(db: Any, counties: Sequence[str] | None) -> list[VehicleRef]:
    async with db.session() as s:
        q = (
            select(MobileDevice.device_id, MobileDevice.county, Organisation.name)
            .join(Organisation, Organisation.id == MobileDevice.org_id)
            .where(MobileDevice.kind == "vehicle")
            .order_by(MobileDevice.device_id)
        )
        if counties is not None:
            q = q.where(MobileDevice.county.in_(list(counties)))
        return [VehicleRef(d, c, o) for d, c, o in (await s.execute(q)).all()]


async def last_fix(tsdb: TimeSeriesStore, ref: VehicleRef) -> dict[str, Any] | None:
    """The newest value of each position metric (the fix's time is its ``lat``'s);
    None when the vehicle never reported a position."""
    values = await tsdb.latest(MEASUREMENT, ref.device_id, counties=[ref.county])
    by = {v.metric: v for v in values}
    if "lat" not in by or "lon" not in by:
        return None
    fix: dict[str, Any] = {"t": by["lat"].ts_ms}
    for metric, key in FIX_METRICS.items():
        v = by.get(metric)
        fix[key] = v.value if v is not None else None
    temp = by.get("temp1")
    fix["temp1_t"] = temp.ts_ms if temp is not None else None
    return fix


async def fixes(tsdb: TimeSeriesStore, refs: Sequence[VehicleRef]) -> list[dict[str, Any] | None]:
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(ref: VehicleRef) -> dict[str, Any] | None:
        async with gate:
            return await last_fix(tsdb, ref)

    return list(await asyncio.gather(*(one(r) for r in refs)))


def vehicle_row(
    ref: VehicleRef, fix: dict[str, Any] | None, settings: Settings, at_ms: int
) -> dict[str, Any]:
    return {
        "device_id": ref.device_id,
        "county": ref.county,
        "owner": ref.owner,
        "fix": fix,
        "status": status_of(fix, settings, at_ms),
    }


async def vehicles(call: Call) -> list[dict[str, Any]]:
    """The vehicles the caller sees, with their last fix, status and (when the fleet
    provider is connected) plate, name, waybill and temperature range."""
    refs = await vehicle_refs(call.db, call.counties)
    found = await fixes(call.tsdb, refs)
    at = now_ms()
    rows = [vehicle_row(r, f, call.settings, at) for r, f in zip(refs, found, strict=True)]
    fleet = providers.provider("fleet")
    if fleet is not None:
        extra = {
            row["device_id"]: row
            for row in providers.scoped(call, await fleet(call), "fleet")
            if isinstance(row.get("device_id"), str)
        }
        for row in rows:
            more = extra.get(row["device_id"])
            if more is not None and more.get("county") == row["county"]:
                row["fleet"] = {k: v for k, v in more.items() if k not in ("device_id", "county")}
    return rows


async def places(call: Call) -> list[dict[str, Any]]:
    """Catalog locations of the kinds the map draws, at their base's point (WGS-84);
    a location without a base has no point (``lat``/``lon`` null: listed, not drawn)."""
    async with call.db.session() as s:
        q = (
            select(Location, ProductionBase.lat, ProductionBase.lon)
            .outerjoin(ProductionBase, ProductionBase.id == Location.base_id)
            .where(Location.kind.in_(PLACE_KINDS))
            .order_by(Location.id)
        )
        if call.counties is not None:
            q = q.where(Location.county.in_(call.counties))
        rows = (await s.execute(q)).all()
    return [
        {
            "id": loc.id,
            "kind": loc.kind,
            "name": loc.name,
            "county": loc.county,
            "tier": loc.tier,
            "gln": loc.gln,
            "lat": lat,
            "lon": lon,
        }
        for loc, lat, lon in rows
    ]


async def from_provider(call: Call, name: str, *args: Any) -> dict[str, Any]:
    """``{"connected": False}`` with no provider; else ``{"connected": True, "items": [...]}``
    (the caller's counties only)."""
    fn = providers.provider(name)
    if fn is None:
        return {"connected": False, "items": []}
    return {"connected": True, "items": providers.scoped(call, await fn(call, *args), name)}


def config(settings: Settings) -> dict[str, Any]:
    return {
        "tiles": tile_source(settings).public(),
        "offline_after_s": settings.console_offline_after_s,
        "moving_kmh": settings.console_moving_kmh,
        "poll_s": settings.console_poll_s,
    }


async def snapshot(call: Call) -> dict[str, Any]:
    """Everything the console draws at first: the page renders exactly this."""
    return {
        "generated_at_ms": now_ms(),
        "counties": call.counties,
        # GB/T 2260 names of the counties the caller sees, for the header
        "county_names": {
            code: {"en": en, "zh": zh}
            for code, (en, zh) in COUNTIES.items()
            if call.counties is None or code in call.counties
        },
        "config": config(call.settings),
        "providers": providers.connected(),
        "vehicles": await vehicles(call),
        "places": await places(call),
        "geofences": await from_provider(call, "geofences"),
        "alarms": await from_provider(call, "alarms", "open"),
        "waybills": await from_provider(call, "waybills", {}),
    }
