"""Helpers of the dispatcher console's tests: organisations, vehicles (registered mobile
devices of kind ``vehicle``), places, positions written into the time series, and
fake providers (alarms, waybills, capacity, trips, replay) as the other packages will
register them."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloud.catalog.storage import Location, MobileDevice, Organisation, ProductionBase
from cloud.db import utcnow
from cloud.logistics.console import providers
from cloud.logistics.console.hub import publish_alarm_update
from cloud.timeseries import Point
from tests.cloud.catalog_support import gln, uscc
from tests.support.api import HOME, OTHER, ApiEnv

#: county -> a point near its seat (WGS-84)
SEATS = {HOME: (24.433, 98.585), OTHER: (24.184, 97.794)}


def now_ms() -> int:
    return int(time.time() * 1000)


async def org(env: ApiEnv, county: str) -> int:
    async with env.db.transaction() as s:
        row = Organisation(
            kind="carrier", name=f"冷链运输 {county}", uscc=uscc(county, secrets.randbelow(10**6)),
            county=county, created_by="test",
        )  # fmt: skip
        s.add(row)
        await s.flush()
        return row.id


async def vehicles(env: ApiEnv, county: str, n: int, prefix: str | None = None) -> list[str]:
    """``n`` vehicles of ``county`` registered to a carrier of it."""
    owner = await org(env, county)
    ids = [f"{prefix or 'veh-' + county}-{i:03d}" for i in range(n)]
    async with env.db.transaction() as s:
        for d in ids:
            s.add(MobileDevice(device_id=d, kind="vehicle", org_id=owner, county=county,
                               registered_by="test"))  # fmt: skip
    return ids


async def place(env: ApiEnv, county: str, kind: str, name: str, lat: float, lon: float) -> int:
    owner = await org(env, county)
    async with env.db.transaction() as s:
        base = ProductionBase(
            org_id=owner, county=county, name=name, kind="processing_site",
            geometry={"type": "Point", "coordinates": [lon, lat]}, lon=lon, lat=lat,
            created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(base)
        await s.flush()
        loc = Location(
            kind=kind, name=name, county=county, org_id=owner, base_id=base.id,
            gln=gln(secrets.randbelow(10**9)), gln_extension="", created_at=utcnow(),
            created_by="test", tier="county" if kind == "station" else None,
        )  # fmt: skip
        s.add(loc)
        await s.flush()
        return loc.id


async def fix(
    env: ApiEnv, device: str, county: str, lat: float, lon: float, *, speed: float = 40.0,
    temp: float | None = 4.0, ts_ms: int | None = None,
) -> int:  # fmt: skip
    """A position of ``device`` written into the time series, as positions' ingest does."""
    ts = ts_ms if ts_ms is not None else now_ms()
    fields = {"lat": lat, "lon": lon, "speed_kmh": speed, "course_deg": 90.0}
    if temp is not None:
        fields["temp1"] = temp
    await env.tsdb.write([Point("vehicle", device, county, "", ts, fields)])
    return ts


@dataclass
class FakeAlarms:
    """An alarms store as cloud/coldchain will provide it: list by state, acknowledge."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    acks: list[tuple[str, str, str]] = field(default_factory=list)

    def raise_alarm(self, county: str, vehicle: str, message: str, *, publish: bool = False) -> str:
        ident = f"al-{secrets.token_hex(3)}"
        row = {
            "id": ident, "county": county, "state": "raised", "severity": "major",
            "subject": vehicle, "vehicle": vehicle, "message": message,
            "raised_at": datetime.now(UTC).isoformat(), "count": 1,
        }  # fmt: skip
        self.rows[ident] = row
        if publish:
            publish_alarm_update(dict(row))
        return ident

    async def list(self, call: providers.Call, state: str) -> list[dict[str, Any]]:
        def wanted(r: dict[str, Any]) -> bool:
            if state == "all":
                return True
            if state == "open":
                return r["state"] in ("raised", "acknowledged")
            return bool(r["state"] == state)

        # deliberately answers every county: the console must filter
        return [dict(r) for r in self.rows.values() if wanted(r)]

    async def ack(self, call: providers.Call, alarm_id: str, comment: str) -> dict[str, Any]:
        row = self.rows.get(alarm_id)
        if row is None:
            raise LookupError(alarm_id)
        if row["state"] != "raised":
            raise ValueError(f"already {row['state']}")
        row.update(
            state="acknowledged", acked_by=call.actor, comment=comment,
            acked_at=datetime.now(UTC).isoformat(),
        )  # fmt: skip
        self.acks.append((alarm_id, call.actor, comment))
        return dict(row)

    def register(self) -> None:
        providers.register_provider("alarms", self.list)
        providers.register_provider("alarm_ack", self.ack)


def replay_fixture(county: str, vehicle: str, n: int = 120) -> dict[str, Any]:
    """A 2-hour trip Mangshi → Longchuan road-like, the reefer warming mid-way."""
    t0 = now_ms() - 3 * 3600 * 1000
    out: dict[str, Any] = {
        "trip_id": "trip-1", "county": county, "vehicle": vehicle, "t": [], "lat": [],
        "lon": [], "temp": [], "speed": [], "temp_min_c": 10.0, "temp_max_c": 12.0,
    }  # fmt: skip
    (la0, lo0), (la1, lo1) = SEATS[HOME], SEATS[OTHER]
    for i in range(n):
        f = i / (n - 1)
        out["t"].append(t0 + i * 60_000)
        out["lat"].append(la0 + (la1 - la0) * f + 0.03 * (f * (1 - f)) * 4)
        out["lon"].append(lo0 + (lo1 - lo0) * f)
        excursion = max(0.0, 1 - abs(0.55 - f) / 0.12) * 4.5  # the reefer fails mid-way
        out["temp"].append(round(10.4 + 1.2 * f + excursion, 2))
        out["speed"].append(55.0)
    return out


def clear_providers() -> None:
    for name in providers.NAMES:
        providers.unregister_provider(name)
