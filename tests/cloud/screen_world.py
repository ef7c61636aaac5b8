"""The big-data screen's test world: 3 days x 20 devices of readings (12 cold rooms,
8 vehicles) and the relational records every relational panel reads, with the values
each panel must answer (``Expected``), computed here from the generator, never from the
code under test."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cloud.catalog.storage import Location, MobileDevice, ProductionBase
from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.commerce.storage import Order, OrderLine, Shop
from cloud.db import utcnow
from cloud.devices.storage import Device
from cloud.logistics.waybills.storage import Waybill
from cloud.resolver.scans.storage import Scan, ScanFlag
from cloud.timeseries.base import Point, TimeSeriesStore
from cloud.timeseries.windows import rollup_fields
from cloud.trace.brand.storage import BrandDecision
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from protocol.ids import COUNTY_CODES
from tests.support.api import ApiEnv
from tests.support.trace_records import add_lot, add_org, add_product

STEP_MS = 5 * 60_000
DAYS = 3
ROOMS_PER_COUNTY = 3
VEHICLES_PER_COUNTY = 2


def room_temp(i: int, k: int) -> float:
    """Room ``i``'s reading ``k``: a daily swing around a per-room set point."""
    return 3.0 + i % 4 + 1.5 * math.sin(k / 288 * 2 * math.pi + i)


@dataclass
class Expected:
    now_ms: int
    rooms: dict[str, list[str]] = field(default_factory=dict)
    vehicles: dict[str, list[str]] = field(default_factory=dict)
    #: raw points per county: [(ts, value)] of cold-room temperatures
    room_points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    open_alarms: dict[str, int] = field(default_factory=dict)
    rooms_out: dict[str, int] = field(default_factory=dict)
    scans_today: dict[str, int] = field(default_factory=dict)
    admitted: dict[str, int] = field(default_factory=dict)
    stations: dict[str, int] = field(default_factory=dict)
    moving: dict[str, int] = field(default_factory=dict)
    waybills: dict[str, dict[str, int]] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    #: net yuan of this month's counted order lines, per county
    sales_month: dict[str, float] = field(default_factory=dict)
    orders: int = 0


def beijing_midnight(now_ms: int) -> int:
    local = datetime.fromtimestamp(now_ms / 1000, UTC) + timedelta(hours=8)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=8)
    return int(start.replace(tzinfo=UTC).timestamp() * 1000)


async def write_readings(store: TimeSeriesStore, exp: Expected) -> None:
    """The time series: 12 cold rooms every 5 min for 3 days (and their 1-h roll-ups),
    8 vehicles' reefer temperatures, and the last 20 min of positions every minute."""
    now = exp.now_ms
    n = DAYS * 86_400_000 // STEP_MS
    t0 = now - n * STEP_MS
    points: list[Point] = []
    rollups: list[Point] = []
    for ci, county in enumerate(COUNTY_CODES):
        for r in range(ROOMS_PER_COUNTY):
            i = ci * ROOMS_PER_COUNTY + r
            dev = f"gw-{county}.room-{r}"
            rows = []
            for k in range(n):
                ts = t0 + k * STEP_MS + 1000 * i
                v = round(room_temp(i, k), 3)
                rows.append((ts, {"temperature": v}))
                exp.room_points.setdefault(county, []).append((ts, v))
                points.append(
                    Point("cold_room", dev, county, f"site-{county}", ts, {"temperature": v})
                )
            for w, f in rollup_fields(rows, 3_600_000).items():
                rollups.append(Point("cold_room", dev, county, f"site-{county}", w, f))
        for v_ in range(VEHICLES_PER_COUNTY):
            dev = f"truck-{county}-{v_}"
            moving = v_ == 0
            for k in range(n):
                ts = t0 + k * STEP_MS + 500
                points.append(Point("vehicle", dev, county, "", ts, {"temp1": 2.0 + v_}))
            for m in range(20):
                ts = now - (20 - m) * 60_000
                points.append(
                    Point(
                        "vehicle", dev, county, "", ts,
                        {"lat": 24.4 + ci * 0.05 + m * 0.001 * moving, "lon": 98.3 + ci * 0.1,
                         "speed_kmh": 35.0 if moving else 0.0},
                    )
                )  # fmt: skip
    for i in range(0, len(points), 5000):
        await store.write(points[i : i + 5000])
    await store.write_rollups("1h", rollups)


async def build(env: ApiEnv, store: TimeSeriesStore, now_ms: int) -> Expected:
    """The whole world, in ``env``'s database and ``store``."""
    exp = Expected(now_ms)
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    midnight = datetime.fromtimestamp(beijing_midnight(now_ms) / 1000, UTC)
    await write_readings(store, exp)
    for ci, county in enumerate(COUNTY_CODES):
        org = await add_org(env, county, 40 + ci)
        lots = [
            await add_lot(env, org, f"0690000000{ci:02d}{j:02d}", f"S{ci}{j}") for j in range(4)
        ]
        async with env.db.transaction() as s:
            exp.rooms[county] = [f"gw-{county}.room-{r}" for r in range(ROOMS_PER_COUNTY)]
            exp.vehicles[county] = [f"truck-{county}-{v}" for v in range(VEHICLES_PER_COUNTY)]
            for dev in exp.rooms[county]:
                s.add(Device(id=dev, county=county, kind="cold_room", site=f"site-{county}",
                             gateway_id=f"gw-{county}", metrics=["temperature"],
                             last_reading_ms=now_ms - 60_000, readings=864))  # fmt: skip
            for dev in exp.vehicles[county]:
                s.add(MobileDevice(device_id=dev, kind="vehicle", org_id=org.id, county=county,
                                   registered_by="test"))  # fmt: skip
            exp.moving[county] = 1
            base = ProductionBase(
                org_id=org.id, county=county, name=f"基地 {county}", kind="farm",
                geometry={"type": "Point", "coordinates": [98.3 + ci * 0.1, 24.4]},
                lon=98.3 + ci * 0.1, lat=24.4, created_by="test",
            )  # fmt: skip
            s.add(base)
            await s.flush()
            locs = []
            for j in range(2 + ci % 2):  # stations: 2 or 3 per county
                loc = Location(kind="station", name=f"服务站 {county}-{j}", county=county,
                               org_id=org.id, base_id=base.id, tier="village",
                               gln=f"69{ci:02d}{j:09d}", created_by="test")  # fmt: skip
                s.add(loc)
                locs.append(loc)
            exp.stations[county] = 2 + ci % 2
            room = Location(kind="cold_room", name=f"冷库 {county}", county=county, org_id=org.id,
                            base_id=base.id, gln=f"68{ci:02d}000000001", created_by="test")  # fmt: skip
            s.add(room)
            await s.flush()
            # alarms: 2 raised + 1 acknowledged open, 1 cleared (ci more raised per county)
            statuses = ["raised"] * (2 + ci) + ["acknowledged", "cleared"]
            for j, status in enumerate(statuses):
                s.add(ColdchainAlarm(
                    county=county, device=exp.rooms[county][0], metric="temperature",
                    rule="range", source="cloud", severity="major", status=status,
                    active=status != "cleared", count=1, first_ms=now_ms - 3_600_000,
                    last_ms=now_ms - 60_000, message="", raised_at=now - timedelta(hours=j + 1),
                ))  # fmt: skip
            exp.open_alarms[county] = 3 + ci
            # excursions: one open in room 0, one closed in room 1
            for j, end in enumerate((None, now_ms - 600_000)):
                s.add(ColdchainExcursion(
                    device=exp.rooms[county][j], metric="temperature", county=county,
                    start_ms=now_ms - 3_600_000 * (j + 2), end_ms=end, duration_s=600.0,
                    direction=1, peak_c=9.0, kind="range", confirmed_ms=now_ms - 3_000_000,
                ))  # fmt: skip
            exp.rooms_out[county] = 1
            # scans: (ci + 1) * 2 today, 3 yesterday
            count = 0
            for j in range((ci + 1) * 2):
                at = midnight + timedelta(
                    seconds=(now - midnight).total_seconds() * (j + 1) / ((ci + 1) * 2 + 1)
                )
                s.add(Scan(token_sha256=hashlib.sha256(f"{county}t{j}".encode()).hexdigest(),
                           lot_id=lots[j % 4], county=county, at=at))  # fmt: skip
                count += 1
            for j in range(3):
                s.add(Scan(token_sha256=hashlib.sha256(f"{county}y{j}".encode()).hexdigest(),
                           lot_id=lots[0], county=county, at=midnight - timedelta(hours=j + 1)))  # fmt: skip
            exp.scans_today[county] = count
            # brand decisions: lots 0..ci granted, the rest refused
            for j, lot in enumerate(lots):
                s.add(BrandDecision(lot_id=lot, county=county, granted=j <= ci, ruleset_version=1,
                                    states=[], reason="test", trigger="rules",
                                    decided_at=now - timedelta(days=1)))  # fmt: skip
            exp.admitted[county] = min(ci + 1, 4)
            # counterfeit flags: ci + 1 in the last week
            for j in range(ci + 1):
                s.add(ScanFlag(kind="too_many_scans", lot_id=lots[j % 4], county=county,
                               serial=f"{j}", hits=3, first_at=now - timedelta(days=2),
                               last_at=now - timedelta(hours=2), detail={}))  # fmt: skip
            exp.flags[county] = ci + 1
            # waybills: created 1, departed 1 + ci, delivered 2
            states = ["created"] + ["departed"] * (1 + ci) + ["delivered"] * 2
            for j, status in enumerate(states):
                s.add(Waybill(number=f"WB{county}{j:04d}", county=county, shipper_id=org.id,
                              origin_id=locs[0].id, destination_id=locs[1].id, temp_class="chilled",
                              weight_kg=100.0, lots=[], status=status, created_by="test",
                              created_at=now - timedelta(days=2), updated_at=now - timedelta(hours=j + 1)))  # fmt: skip
            exp.waybills[county] = {"created": 1, "departed": 1 + ci, "delivered": 2}
            # trace events: 2 per day for 3 days, each naming a lot
            for d in range(3):
                for j in range(2):
                    ev = TraceEvent(
                        event_id=f"ni:///sha-256;{county}-{d}-{j}", event_type="ObjectEvent",
                        event_time=now - timedelta(days=d, hours=j + 1), event_tz_offset="+08:00",
                        county=county, action="OBSERVE",
                        biz_step="shipping" if j else "commissioning", body={}, created_by="test",
                    )  # fmt: skip
                    s.add(ev)
                    await s.flush()
                    s.add(TraceEventObject(event_seq=ev.seq, role="epc", uri=f"urn:x:{county}:{j}",
                                           gtin="06900000000000", lot=f"S{ci}{j}"))  # fmt: skip
        await add_orders(env, exp, county, ci, org.id)
    _ = utcnow
    return exp


async def add_orders(env: ApiEnv, exp: Expected, county: str, ci: int, org_id: int) -> None:
    """A month of orders: 3 a day for 30 days, each with two lines (one refunded in
    part, one not counted on every 7th order: a cancelled order's)."""
    from tests.support.trace_records import Org

    org = Org(org_id, "", county)
    products = [
        await add_product(env, org, f"0691{ci:02d}{j:08d}", "coffee", f"咖啡 {county}-{j}")
        for j in range(3)
    ]
    now = datetime.fromtimestamp(exp.now_ms / 1000, UTC)
    month = (now + timedelta(hours=8)).strftime("%Y-%m")
    async with env.db.transaction() as s:
        shop = Shop(channel="taobao", platform_shop_id=f"shop-{county}", name=f"店 {county}",
                    org_id=org_id, county=county, created_by="test")  # fmt: skip
        s.add(shop)
        await s.flush()
        total = 0
        for d in range(30):
            for k in range(3):
                at = now - timedelta(days=d, hours=k * 3 + 1)
                local = at + timedelta(hours=8)
                n = d * 3 + k
                cancelled = n % 7 == 0
                amounts = [(1000 + 100 * ci + k * 10) * 100, 2550 * 100]
                refunds = [0, 500 * 100 if k == 1 else 0]
                order = Order(
                    shop_id=shop.id, channel="taobao", county=county, org_id=org_id,
                    platform_order_id=f"{county}-{n}", ordered_at=at, month=local.strftime("%Y-%m"),
                    day=local.date(), status="cancelled" if cancelled else "shipped",
                    amount_fen=sum(amounts), refunded_fen=sum(refunds), body_hash="x" * 64,
                    source="api", created_by="test", shipped_at=at, dest_county=county,
                )  # fmt: skip
                s.add(order)
                await s.flush()
                for j in range(2):
                    s.add(OrderLine(
                        order_id=order.id, line_no=j + 1, product_id=products[(n + j) % 3],
                        quantity=1, amount_fen=amounts[j], refunded_fen=refunds[j],
                        category="coffee", farm=True, local=True, county=county,
                        month=local.strftime("%Y-%m"), channel="taobao", shop_id=shop.id,
                        counted=not cancelled,
                    ))  # fmt: skip
                    if not cancelled and local.strftime("%Y-%m") == month:
                        total += amounts[j] - refunds[j]
                exp.orders += 1
        exp.sales_month[county] = total / 100
