"""A small world for the custody tests: an organisation of HOME with a product whose
commodity profile is 2-8 °C, a cold room A and a warehouse B each measured by a device
of the registry, a vehicle V that nothing measures, one lot; its events; readings."""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from cloud.auth.principal import Principal, Role
from cloud.catalog.gln import digital_link, location_key
from cloud.catalog.storage import (
    CommodityProfile,
    Location,
    LocationDevice,
    Organisation,
    Product,
)
from cloud.db import Database, utcnow
from cloud.devices.storage import Device
from cloud.timeseries import Point, TimeSeriesStore
from cloud.timeseries.rollup import mark
from cloud.timeseries.windows import HOUR_MS, MINUTE_MS
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.events.service import StoredEvent, store_events
from cloud.trace.lots.storage import TraceLot
from tests.cloud.catalog_support import gln, uscc
from tests.support.api import HOME
from tests.support.epcis import gtin

POLL_MS = 10_000
LOW, HIGH = 2.0, 8.0
ROOM_A, ROOM_B = "gw-cust1.room-a", "gw-cust1.room-b"
CST = timezone(timedelta(hours=8))


@dataclass
class World:
    org_id: int
    gtin: str
    lot: str
    lot_id: int
    county: str
    #: location id and its Digital Link (the normalised bizLocation) per name
    locations: dict[str, tuple[int, str]]
    h0: int  # an hour, ms: the story starts here

    @property
    def lot_uri(self) -> str:
        return dl_uri(self.gtin, self.lot)

    def place(self, name: str) -> str:
        return self.locations[name][1]

    def at(self, minutes: float) -> int:
        return self.h0 + round(minutes * MINUTE_MS)


def admin(county: str = HOME) -> Principal:
    return Principal("user", f"admin-{county}", Role.COUNTY_ADMIN, county)


async def make_world(
    db: Database, *, county: str = HOME, n: int | None = None, h0: int | None = None
) -> World:
    """The world's master data in ``county`` (``n`` keeps its keys apart from another
    world's in the same database)."""
    n = secrets.randbelow(10**6) if n is None else n
    h0 = h0 if h0 is not None else (int(time.time() * 1000) - 10 * HOUR_MS) // HOUR_MS * HOUR_MS
    g = gtin(700_000 + n % 100_000)
    since = datetime.fromtimestamp((h0 - 24 * HOUR_MS) / 1000, UTC)
    async with db.transaction() as s:
        org = Organisation(
            kind="cooperative",
            name=f"custody co-op {n}",
            uscc=uscc(county, 500_000 + n % 10**5),
            county=county,
            created_at=utcnow(),
            created_by="test",
        )
        s.add(org)
        profile = CommodityProfile(
            county=county,
            name=f"custody test {n}",
            temp_min_c=LOW,
            temp_max_c=HIGH,
            single_excursion_max_s=600,
            cumulative_excursion_max_s=1_800,
            rh_min=None,
            rh_max=None,
            categories=["vegetable"],
            created_by="test",
        )
        s.add(profile)
        await s.flush()
        s.add(
            Product(
                gtin=g,
                name="芥蓝",
                category="vegetable",
                org_id=org.id,
                county=county,
                profile_id=profile.id,
                created_by="test",
            )
        )
        locations: dict[str, tuple[int, str]] = {}
        for i, (name, kind, device, metrics) in enumerate(
            (
                ("A", "cold_room", ROOM_A, ["temp_c", "rh", "door"]),
                ("B", "warehouse", ROOM_B, ["temperature"]),
                ("V", "vehicle_compartment", None, None),
            )
        ):
            key = location_key(gln(900_000 + (n % 10**5) * 3 + i))
            loc = Location(
                kind=kind,
                name=f"{name} {n}",
                county=county,
                org_id=org.id,
                gln=key.gln,
                gln_extension=key.extension,
                created_by="test",
            )
            s.add(loc)
            await s.flush()
            locations[name] = (loc.id, digital_link(key))
            if device is not None:
                dev = f"{device}-{n}"
                s.add(
                    Device(
                        id=dev,
                        county=county,
                        kind="cold_room",
                        site="cust",
                        gateway_id="gw-cust1",
                        metrics=metrics,
                        first_seen_at=utcnow(),
                        last_seen_at=utcnow(),
                        last_reading_ms=0,
                        readings=0,
                    )
                )
                s.add(
                    LocationDevice(location_id=loc.id, device_id=dev, since=since, created_by="t")
                )
        lot = TraceLot(gtin=g, lot=f"CUST-{n}", county=county, org_id=org.id, created_by="test")
        s.add(lot)
        await s.flush()
        return World(org.id, g, lot.lot, lot.id, county, locations, h0)


def device(world: World, name: str) -> str:
    n = world.lot.removeprefix("CUST-")
    return f"{ROOM_A if name == 'A' else ROOM_B}-{n}"


def event(
    world: World,
    minutes: float,
    step: str,
    place: str | None,
    *,
    kind: str = "ObjectEvent",
    action: str = "OBSERVE",
    **fields: Any,
) -> dict[str, Any]:
    t = datetime.fromtimestamp(world.at(minutes) / 1000, UTC).astimezone(CST)
    body: dict[str, Any] = {
        "type": kind,
        "eventTime": t.isoformat(timespec="milliseconds"),
        "eventTimeZoneOffset": "+08:00",
        "action": action,
        "bizStep": step,
    }
    if kind == "ObjectEvent":
        body["epcList"] = []
        body["quantityList"] = [{"epcClass": world.lot_uri, "quantity": 500, "uom": "KGM"}]
    if place is not None:
        body["bizLocation"] = {"id": world.place(place)}
    body.update(fields)
    return body


async def story(db: Database, world: World) -> list[StoredEvent]:
    """Commissioned into cold room A at +5 min, loaded on vehicle V at +3 h 10 min,
    received at warehouse B at +3 h 40 min (still there)."""
    events = [
        event(world, 5, "commissioning", "A", action="ADD"),
        event(world, 190, "loading", "V"),
        event(world, 220, "receiving", "B"),
    ]
    async with db.transaction() as s:
        return await store_events(s, events, admin(world.county))


def value(t: int, h0: int) -> float:
    """A room between 3 and 7 °C; 12 °C from h0 + 120 min to + 140 min (an excursion)."""
    if h0 + 120 * MINUTE_MS <= t < h0 + 140 * MINUTE_MS:
        return 12.0
    return round(5.0 + 2.0 * math.sin((t - h0) / 2_000_000), 3)


def readings(
    world: World,
    name: str,
    start_min: float,
    end_min: float,
    *,
    excursion: bool = False,
    skip: tuple[float, float] | None = None,
) -> list[Point]:
    """A reading every 10 s of the device of ``name`` (A: temp_c and rh; B: temperature),
    in [start, end) minutes after h0, but in ``skip``."""
    field = "temp_c" if name == "A" else "temperature"
    out = []
    for t in range(world.at(start_min), world.at(end_min), POLL_MS):
        if skip is not None and world.at(skip[0]) <= t < world.at(skip[1]):
            continue
        v = value(t, world.h0) if excursion else min(value(t, world.h0), 7.5)
        fields = {field: v}
        if name == "A":
            fields["rh"] = 80.0 + (t // POLL_MS) % 5
        out.append(Point("cold_room", device(world, name), world.county, "cust", t, fields))
    return out


async def write(db: Database, tsdb: TimeSeriesStore, points: list[Point]) -> None:
    """As ingest does: the points, and their hours marked for the roll-up job."""
    await tsdb.write(points)
    await mark(db, points)
