"""The demo's fleet chapter (``dehong demo``; ``--no-fleet`` leaves it out): refrigerated
trucks of the four counties on Dehong's roads, the Longchuan mango lot of the traced
story (dehong/story.py) on a waybill, and one reefer failing on the road.

- **Registered through the services the API uses** (as the story does for trace): per
  county a carrier (a catalog organisation of kind ``carrier``), its refrigerated
  vehicles (catalog mobile devices of kind ``vehicle``, their fleet attributes, one
  compartment each: a catalog location of kind ``vehicle_compartment`` with a commodity
  profile, the vehicle device linked to it so the cold-chain engine judges its ``temp1``),
  a phone tracker for each phone-reporting truck (the id the tracker service issues), a
  provisioned gateway for each gateway-reporting truck (per-gateway MQTT credentials on
  the demo's broker), and a dispatcher login (:data:`DISPATCHERS`, demo defaults).
- **The waybill**: the mango lot (in its four cases in the Longchuan mango room) is put
  on a waybill to a customer in Mangshi: created → assigned (a trip of the Longchuan
  truck) → loaded (the trace's load event into the truck's compartment) → departed.
- **The drive**: the fleet simulator (``simulators/fleet``) in this process, its phones
  sending to the demo API's ``/api/v1/logistics/osmand`` and its truck gateways
  publishing to the demo's broker. Time-lapse: the last :data:`REPLAY_MIN` minutes are
  replayed at :data:`SPEED`× (every fix lies in the past), then the trucks go on live
  (speed 1) for as long as the demo runs (``CatchUpClock``). The Longchuan truck's
  reefer fails :data:`FAIL_MIN` simulated minutes in (``--fail-reefer``), so its
  ``temp1`` leaves the mango range and the cold-chain engine stores an excursion and
  raises an alarm within about a minute of the demo's start.

The mango truck's compartment has the mango's own profile (10-13 °C, the issue's limits:
one excursion at most 30 min, 60 min per 24 h), not a 2-8 °C one: mango is
chilling-sensitive (DESIGN.md), and the lot's custody evidence judges the truck interval
by the product's profile. The other trucks carry chilled fruit at 2-8 °C
(:data:`FRUIT_PROFILE`, the same limits).

Idempotent like the story: ``--keep`` registers nothing twice; tracker ids are rotated
and gateway passwords renewed (both are shown once, so a new run needs new ones), and the
waybill, kept in ``fleet.json`` of the state directory, is left where it is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

log = logging.getLogger("dehong.fleet")

MANGSHI, LONGCHUAN, YINGJIANG, LIANGHE = "533103", "533124", "533123", "533122"
CST = timezone(timedelta(hours=8))
ACTOR = "demo-admin"

#: Clearly marked demo defaults: one dispatcher per county (the console's login).
DISPATCHERS: dict[str, tuple[str, str]] = {
    MANGSHI: ("mangshi-dispatcher", "demo-dispatch-ms"),
    LONGCHUAN: ("longchuan-dispatcher", "demo-dispatch-lc"),
    YINGJIANG: ("yingjiang-dispatcher", "demo-dispatch-yj"),
    LIANGHE: ("lianghe-dispatcher", "demo-dispatch-lh"),
}
COUNTY_NAMES = {MANGSHI: "芒市", LONGCHUAN: "陇川", YINGJIANG: "盈江", LIANGHE: "梁河"}

#: Time-lapse: simulated minutes replayed before the trucks go live, and how fast.
REPLAY_MIN = 20.0
SPEED = 60.0
#: The mango truck's reefer fails this many simulated minutes after the replay's start
#: (it left the depot at minute 2): passing 13 °C about 9 minutes later, an excursion
#: (2 min at least) about 11 minutes after the failure, i.e. ~17 s of wall time after
#: the fleet starts at 60×.
FAIL_MIN = 6.0
MANGO_TRUCK = "veh-lc-01"

#: Chilled fruit at 2-8 °C with the issue's limits (each county's own copy: a county's
#: profiles are its own).
FRUIT_PROFILE_NAME = "冷链水果（演示）"
FRUIT_PROFILE: dict[str, Any] = {
    "name_en": "chilled fruit (demo)", "temp_min_c": 2.0, "temp_max_c": 8.0,
    "single_excursion_max_s": 1800, "cumulative_excursion_max_s": 3600,
    "categories": ["fruit_other", "fruit_lychee"]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Truck:
    id: str
    county: str
    plate: str
    route: tuple[str, ...]
    depart_min: float
    #: "phone" (OsmAnd, with the reefer probe as temp1), "gateway" (MQTT) or "both"
    reports: str
    phone_form: str = "query"
    mango: bool = False

    @property
    def gateway_id(self) -> str:
        return f"gw-truck-{self.id.removeprefix('veh-')}"


#: The demo fleet: two trucks per county, phones and gateways (routes: roads.json ids).
TRUCKS: tuple[Truck, ...] = (
    Truck(MANGO_TRUCK, LONGCHUAN, "云N·B3301", ("longchuan", "zhefang", "mangshi"), 2, "phone",
          "query", mango=True),
    Truck("veh-lc-02", LONGCHUAN, "云N·B3302", ("longchuan", "ruili"), 1, "gateway"),
    Truck("veh-ms-01", MANGSHI, "云N·A1201", ("mangshi", "kunming"), 0, "gateway"),
    Truck("veh-ms-02", MANGSHI, "云N·A1202", ("mangshi", "ruili", "longchuan"), 3, "phone", "json"),
    Truck("veh-yj-01", YINGJIANG, "云N·C5501", ("yingjiang", "chengzi", "longchuan"), 0, "gateway"),
    Truck("veh-lh-01", LIANGHE, "云N·D7701", ("lianghe", "mangshi"), 4, "phone", "query_post"),
)  # fmt: skip
#: 4-digit number of each county's demo identifiers (USCC, GLNs)
_COUNTY_N = {MANGSHI: 1, LONGCHUAN: 2, YINGJIANG: 3, LIANGHE: 4}


@dataclass(slots=True)
class Fleet:
    """What the chapter registered and runs."""

    carriers: dict[str, int] = field(default_factory=dict)  # county -> org id
    compartments: dict[str, int] = field(default_factory=dict)  # vehicle -> location id
    trackers: dict[str, str] = field(default_factory=dict)  # vehicle -> device id (secret)
    gateways: dict[str, str] = field(default_factory=dict)  # gateway id -> MQTT password
    customer_id: int | None = None
    waybill: dict[str, Any] = field(default_factory=dict)
    start_ms: int = 0

    def fail_at(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000 + FAIL_MIN * 60, UTC)


def _principal() -> Any:
    from cloud.auth.principal import Principal, Role

    return Principal("user", ACTOR, Role.PREFECTURE_ADMIN, "533100")


def dispatcher(county: str) -> Any:
    from cloud.auth.principal import Principal, Role

    return Principal("user", DISPATCHERS[county][0], Role.DISPATCHER, county)


# ------------------------------------------------------------------ registration


async def _carrier(s: Any, county: str) -> Any:
    from cloud.catalog.service import create_org
    from cloud.catalog.storage import Organisation
    from dehong.story import uscc

    code = uscc(county, 900_000 + _COUNTY_N[county])
    org = await s.scalar(select(Organisation).where(Organisation.uscc == code))
    if org is None:
        org = await create_org(
            s, kind="carrier", uscc=code, county=county, actor=f"user:{ACTOR}",
            name=f"{COUNTY_NAMES[county]}冷链运输有限公司 {county} cold-chain carrier (demo)",
            contact_name="演示调度 demo dispatcher", contact_phone="0692-0000000",
        )  # fmt: skip
    return org


async def _place(s: Any, n: int, kind: str, name: str, county: str, org: Any) -> Any:
    from cloud.catalog.gln import location_key
    from cloud.catalog.lookup import get_location_by_gln
    from cloud.catalog.places import create_location
    from dehong.story import gln13

    gln = gln13(n)
    loc = await get_location_by_gln(s, gln)
    if loc is None:
        loc = await create_location(
            s, kind=kind, name=name, key=location_key(gln), county=county, org=org, base=None,
            tier=None, actor=f"user:{ACTOR}",
        )  # fmt: skip
    return loc


async def _vehicle(s: Any, truck: Truck, carrier: Any, profile: Any, fleet: Fleet) -> None:
    """The mobile device, its compartment (profile, device linked), its fleet row."""
    from cloud.catalog.links import link_device
    from cloud.catalog.places import assign_profile
    from cloud.catalog.service import register_device
    from cloud.catalog.storage import LocationDevice, MobileDevice
    from cloud.logistics.fleet.schemas import VehicleIn
    from cloud.logistics.fleet.service import put_vehicle

    if await s.get(MobileDevice, truck.id) is None:
        await register_device(
            s, truck.id, kind="vehicle", org=carrier, may_take_from=None, actor=f"user:{ACTOR}"
        )
    n = 900_000_000 + _COUNTY_N[truck.county] * 1000 + int(truck.id[-2:])
    comp = await _place(
        s, n, "vehicle_compartment", f"{truck.plate} 冷藏厢 reefer compartment",
        truck.county, carrier,
    )  # fmt: skip
    fleet.compartments[truck.id] = comp.id
    if comp.profile_id != profile.id:
        await assign_profile(s, comp, profile, actor=f"user:{ACTOR}")
    linked = await s.scalar(
        select(LocationDevice).where(
            LocationDevice.device_id == truck.id, LocationDevice.until.is_(None)
        )
    )
    if linked is None:
        # the cold-chain engine judges a device by the location it measures now
        await link_device(
            s, comp, truck.id, since=None, can_see=lambda _c: True, own_org=None,
            actor=f"user:{ACTOR}",
        )  # fmt: skip
    elif linked.location_id != comp.id:
        raise RuntimeError(f"{truck.id} measures location {linked.location_id}, not {comp.id}")
    body = VehicleIn(
        plate=truck.plate, vehicle_type="4.2m 冷藏车 reefer truck", refrigerated=True,
        capacity_kg=2000, capacity_m3=16, compartments=[comp.id],
    )  # fmt: skip
    await put_vehicle(s, truck.id, body, _principal())


async def _tracker(s: Any, truck: Truck, server_url: str) -> str:
    """A phone tracker's device id: a new tracker, or the live one rotated (the id is
    shown once, so a kept state needs a new one)."""
    from cloud.logistics.positions import trackers
    from cloud.logistics.positions.storage import Tracker

    live = await s.scalar(
        select(Tracker).where(Tracker.vehicle == truck.id, Tracker.revoked_at.is_(None))
    )
    if live is not None:
        issued = await trackers.rotate(s, live, server_url=server_url, actor=f"user:{ACTOR}")
    else:
        reg = await trackers.vehicle_of(s, truck.id)
        assert reg is not None
        issued = await trackers.create(
            s, reg, label=f"{truck.plate} 司机手机 driver's phone", speed_unit="ms",
            server_url=server_url, actor=f"user:{ACTOR}",
        )  # fmt: skip
    return str(issued.device_id)


async def _gateways(settings: Any, db: Any, fleet: Fleet) -> None:
    """The truck gateways, provisioned as the demo's others (a new password each run)."""
    from cloud.devices.storage import Gateway
    from cloud.provisioning import mosquitto
    from cloud.provisioning.service import provision_gateway, sync_mosquitto

    for truck in TRUCKS:
        if truck.reports == "phone":
            continue
        gid = truck.gateway_id
        async with db.transaction() as s:
            existing = await s.get(Gateway, gid)
            if existing is not None:
                pw = mosquitto.new_password()
                existing.mqtt_password_hash = mosquitto.hash_password(pw)
                fleet.gateways[gid] = pw
                continue
        _gw, pw = await provision_gateway(
            db, truck.county, f"{truck.plate} 车载网关 truck gateway", truck.id, gid,
            actor="demo",
        )  # fmt: skip
        fleet.gateways[gid] = pw
    await sync_mosquitto(db, settings)


async def _dispatchers(db: Any) -> None:
    from cloud.auth.principal import Role
    from cloud.auth.service import create_user, get_user

    async with db.transaction() as s:
        for county, (user, pw) in DISPATCHERS.items():
            if await get_user(s, user) is None:
                await create_user(
                    s, username=user, password=pw, role=Role.DISPATCHER, county=county,
                    display_name=f"{COUNTY_NAMES[county]}调度（演示）", actor="demo",
                )  # fmt: skip


async def register(settings: Any, db: Any, server_url: str) -> Fleet:
    """Carriers, vehicles with compartments, trackers, truck gateways, dispatchers and
    the mango's customer; what exists is left (trackers rotated, passwords renewed)."""
    from cloud.catalog.storage import Organisation
    from dehong import story

    fleet = Fleet()
    async with db.transaction() as s:
        profiles: dict[str, Any] = {}
        for county in DISPATCHERS:
            fleet.carriers[county] = (carrier := await _carrier(s, county)).id
            profiles[county] = await story._profile(s, county, FRUIT_PROFILE_NAME, FRUIT_PROFILE)
        mango = await story._profile(s, LONGCHUAN, story.MANGO_PROFILE_NAME, story.MANGO_PROFILE)
        for truck in TRUCKS:
            carrier = await s.get_one(Organisation, fleet.carriers[truck.county])
            await _vehicle(s, truck, carrier, mango if truck.mango else profiles[truck.county],
                           fleet)  # fmt: skip
        for truck in TRUCKS:
            if truck.reports in ("phone", "both"):
                fleet.trackers[truck.id] = await _tracker(s, truck, server_url)
        customer = await _place(
            s, 312_401_090, "customer_site", "芒市果品批发市场 Mangshi fruit market (demo customer)",
            LONGCHUAN, None,
        )  # fmt: skip
        fleet.customer_id = customer.id
    await _gateways(settings, db, fleet)
    await _dispatchers(db)
    return fleet


# ------------------------------------------------------------------ the waybill


async def ship_mango(db: Any, fleet: Fleet, state: Path) -> dict[str, Any]:
    """The story's mango lot on a waybill of the Longchuan truck: created → assigned →
    loaded (trace load event) → departed, as the Longchuan dispatcher; kept in
    ``fleet.json`` (``--keep`` leaves it as it is). {} when the story's lot is absent."""
    from cloud.catalog.lookup import get_location_by_gln
    from cloud.catalog.storage import Organisation
    from cloud.logistics.waybills import lifecycle, service
    from cloud.logistics.waybills.schemas import TransitionIn, TripIn, WaybillIn
    from cloud.logistics.waybills.storage import Trip, Waybill
    from cloud.trace.lots.service import get_lot
    from dehong import story

    path = state / "fleet.json"
    kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    who = dispatcher(LONGCHUAN)
    async with db.transaction() as s:
        if kept.get("waybill_id") and await s.get(Waybill, kept["waybill_id"]) is not None:
            wb = await s.get_one(Waybill, kept["waybill_id"])
            return {"id": wb.id, "number": wb.number, "status": wb.status, "kept": True}
        lot = await get_lot(s, story.FRUIT.gtin, story.FRUIT.lot, _principal())
        room = await get_location_by_gln(s, story.gln13(312_401_002))
        shipper = await s.scalar(
            select(Organisation).where(Organisation.uscc == story.uscc(LONGCHUAN, 312_401))
        )
        if lot is None or room is None or shipper is None or fleet.customer_id is None:
            return {}
        body = WaybillIn(
            shipper_id=shipper.id, origin_id=room.id, destination_id=fleet.customer_id,
            temp_class="cool", weight_kg=40,
            lots=[{"gtin": story.FRUIT.gtin, "lot": story.FRUIT.lot, "quantity": 40,
                   "unit": "KGM"}],
        )  # fmt: skip
        wb = await service.create_waybill(s, body, who, None)  # type: ignore[arg-type]
        day = datetime.now(CST).date()
        trip = await s.scalar(select(Trip).where(Trip.vehicle_id == MANGO_TRUCK, Trip.day == day))
        if trip is None:
            trip = await service.create_trip(s, TripIn(vehicle_id=MANGO_TRUCK, day=day), who)
        steps = [TransitionIn(to="assigned", trip_id=trip.id), TransitionIn(to="loaded"),
                 TransitionIn(to="departed")]  # fmt: skip
        for body_t in steps:
            await lifecycle.transition(s, wb.id, body_t, who, "demo")
        out = {"id": wb.id, "number": wb.number, "status": wb.status, "trip_id": trip.id}
    await asyncio.to_thread(
        path.write_text, json.dumps({"waybill_id": out["id"], "number": out["number"]}) + "\n",
        "utf-8",
    )  # fmt: skip
    return out


# ------------------------------------------------------------------ the drive


def fleet_model(fleet: Fleet) -> Any:
    """The simulator's fleet (simulators/fleet/config.py) of :data:`TRUCKS`, with the
    issued tracker ids and gateway passwords."""
    from simulators.fleet.config import parse_fleet

    vehicles = []
    for t in TRUCKS:
        band = (10.0, 13.0) if t.mango else (2.0, 8.0)
        v: dict[str, Any] = {
            "id": t.id, "county": t.county, "plate": t.plate, "route": list(t.route),
            "depart_min": t.depart_min,
            # half a minute of open door at loading and at each drop: a phone has no door
            # contact, so a longer opening would read as an excursion of its own
            "door_min": 0.5,
            "reefer": {"commodity": "mango" if t.mango else "fruit", "low_c": band[0],
                       "high_c": band[1]},
        }  # fmt: skip
        if t.id in fleet.trackers:
            v["phone"] = {"tracker_id": fleet.trackers[t.id], "form": t.phone_form}
        if t.gateway_id in fleet.gateways:
            v["gateway"] = {"id": t.gateway_id, "password": fleet.gateways[t.gateway_id]}
        vehicles.append(v)
    return parse_fleet({"ambient_c": 28.0, "vehicles": vehicles}, "<demo fleet>")


async def drive(
    fleet: Fleet,
    *,
    api_url: str,
    mqtt: Any,
    state: Path,
    speed: float = SPEED,
    replay_min: float = REPLAY_MIN,
    duration_s: float | None = None,
) -> Any:
    """Run the trucks (until cancelled, or ``duration_s``): the simulator's result."""
    from simulators.fleet.runner import FleetOptions, run_fleet

    opts = FleetOptions(
        osmand_url=f"{api_url}/api/v1/logistics/osmand",
        batch_path="/api/v1/logistics/osmand/batch",
        mqtt=mqtt,
        speed=speed,
        start_ms=fleet.start_ms,
        duration_s=duration_s,
        failures={MANGO_TRUCK: FAIL_MIN},
        state_dir=state / "fleet",
        catch_up=True,
    )
    return await run_fleet(fleet_model(fleet), opts)


def plan_start(replay_min: float = REPLAY_MIN, now: float | None = None) -> int:
    """The replay's start: ``replay_min`` minutes ago, whole seconds."""
    now = time.time() if now is None else now
    return (int(now) - int(replay_min * 60)) * 1000


async def run_chapter(
    settings: Any,
    db: Any,
    state: Path,
    *,
    api_url: str,
    mqtt: Any,
    with_story: bool,
) -> tuple[Fleet, asyncio.Task[Any]]:
    """Register, ship the mango (with the story), start the trucks (a task)."""
    fleet = await register(settings, db, f"{api_url}/api/v1/logistics/osmand")
    if with_story:
        fleet.waybill = await ship_mango(db, fleet, state)
    fleet.start_ms = plan_start()
    task = asyncio.create_task(
        drive(fleet, api_url=api_url, mqtt=mqtt, state=state), name="demo-fleet"
    )
    return fleet, task


def banner_lines(api: str, fleet: Fleet) -> list[str]:
    """The demo banner's lines for the fleet."""
    start = datetime.fromtimestamp(fleet.start_ms / 1000, UTC)
    live = start + timedelta(minutes=REPLAY_MIN)
    wall_live = datetime.now(UTC) + timedelta(seconds=REPLAY_MIN * 60 / (SPEED - 1))
    excursion_wall = datetime.now(UTC) + timedelta(seconds=(FAIL_MIN + 11) * 60 / SPEED + 5)

    def hm(t: datetime) -> str:
        return t.astimezone(CST).strftime("%H:%M:%S")

    lc_user, lc_pw = DISPATCHERS[LONGCHUAN]
    lines = [
        f"  fleet          {len(TRUCKS)} refrigerated trucks, 4 carriers; console {api}/console",
        f"    time-lapse   {hm(start)}-{hm(live)} replayed at {SPEED:.0f}x, live from about "
        f"{hm(wall_live)} (+08:00)",
        "    dispatchers  "
        + ", ".join(f"{u} / {p}" for u, p in DISPATCHERS.values())
        + "  (DEMO DEFAULT)",
        f"    look for     {MANGO_TRUCK} (云N·B3301, 陇川 → 芒市, reports by phone) carrying "
        "the mango lot; its reefer fails on the road:",
        f"                 temp1 over 13 °C and an alarm in the console's 告警 list by about "
        f"{hm(excursion_wall)}; log in as {lc_user} / {lc_pw} (Longchuan's trucks only)",
    ]
    if fleet.waybill:
        wb = fleet.waybill
        lines.append(f"    waybill      {wb['number']} ({wb['status']})  "
                     f"{api}/api/v1/logistics/waybills/{wb['id']}")  # fmt: skip
    lines.append(
        f"    alarms       {api}/api/v1/coldchain/alarms   excursions "
        f"{api}/api/v1/coldchain/excursions?device={MANGO_TRUCK}"
    )
    return lines
