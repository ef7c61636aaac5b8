"""The console's providers from the real packages (registered by
:func:`install_console_providers`, which ``cloud.logistics.router.install`` calls, so
every app, the demo's included, has them):

- ``alarms``, ``alarm_ack``: the cold chain's alarms (``cloud/coldchain``), county-scoped;
  acknowledging goes through its lifecycle (who, when, the comment; audited
  ``coldchain.alarm.acknowledged``);
- ``fleet``: plate, refrigerated, the waybill on board, the range of its first
  compartment's commodity profile (else of the waybill's products' profiles);
- ``waybills``: the board (state, vehicle, a number/plate search);
- ``capacity``: the fleet's free capacity of a day (``cloud/logistics/supply``).

``trips``, ``replay`` and ``geofences`` belong to the trips package.

Alarm changes are also pushed to the stream at once: the cold chain's listener
registry (:mod:`cloud.coldchain.listeners`) calls :func:`_pushed` after each commit
that changed an alarm in this process; changes made in other processes reach the
console through its poller (``console_poll_s``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select

from cloud.catalog.storage import CommodityProfile, Location, Product
from cloud.coldchain import alarms as lifecycle
from cloud.coldchain.listeners import add_alarm_listener, snapshot
from cloud.coldchain.storage import ColdchainAlarm
from cloud.db import utcnow
from cloud.logistics.console.hub import publish_alarm_update
from cloud.logistics.console.providers import Call, register_provider
from cloud.logistics.fleet.storage import VehicleCompartment, VehicleInfo
from cloud.logistics.supply.service import free_by_day
from cloud.logistics.waybills.storage import Waybill

#: the most alarms ``all`` (and ``cleared``) answer, newest first
ALL_LIMIT = 1000
ON_BOARD = ("loaded", "departed", "arrived", "damaged")
STATE_OF = {"open": None, "raised": "raised", "acknowledged": "acknowledged",
            "cleared": "cleared", "all": None}  # fmt: skip


def _iso(t: Any) -> str | None:
    return t.isoformat() if isinstance(t, datetime) else None


def alarm_row(a: dict[str, Any]) -> dict[str, Any]:
    """A cold-chain alarm (its columns) as the console's alarm row."""
    return {
        "id": str(a["id"]), "county": a["county"], "state": a["status"],
        "severity": a.get("severity"), "subject": f"{a['device']} · {a['metric']}",
        "vehicle": a["device"], "message": a.get("message") or "", "rule": a.get("rule"),
        "active": a.get("active"), "raised_at": _iso(a.get("raised_at")),
        "count": a.get("count"), "peak_c": a.get("peak_c"),
        "acked_by": a.get("acknowledged_by"), "acked_at": _iso(a.get("acknowledged_at")),
        "comment": a.get("ack_comment"), "cleared_at": _iso(a.get("cleared_at")),
    }  # fmt: skip


async def list_alarms(call: Call, state: str) -> list[dict[str, Any]]:
    q = lifecycle.alarms_query(call.counties, status=STATE_OF.get(state))
    if state == "open":
        q = q.where(ColdchainAlarm.status != "cleared")
    elif state in ("all", "cleared"):
        q = q.limit(ALL_LIMIT)
    async with call.db.session() as s:
        return [alarm_row(snapshot(a)) for a in await s.scalars(q)]


async def ack_alarm(call: Call, alarm_id: str, comment: str) -> dict[str, Any]:
    if not alarm_id.isdigit():
        raise LookupError(alarm_id)
    async with call.db.transaction() as s:
        alarm = await s.get(ColdchainAlarm, int(alarm_id), with_for_update=True)
        if alarm is None or not call.can_see(alarm.county):
            raise LookupError(alarm_id)
        await lifecycle.acknowledge(s, alarm, actor=call.actor, comment=comment, now=utcnow())
        await s.flush()
        return alarm_row(snapshot(alarm))


def _vehicles(call: Call) -> Any:
    q = select(VehicleInfo)
    if call.counties is not None:
        q = q.where(VehicleInfo.county.in_(call.counties))
    return q


async def fleet(call: Call) -> list[dict[str, Any]]:
    async with call.db.session() as s:
        vehicles = list(await s.scalars(_vehicles(call)))
        ids = [v.device_id for v in vehicles] or [""]
        first: dict[str, tuple[str, float | None, float | None]] = {}
        rows = await s.execute(
            select(VehicleCompartment.device_id, VehicleCompartment.position, Location.name,
                   CommodityProfile.temp_min_c, CommodityProfile.temp_max_c)
            .join(Location, Location.id == VehicleCompartment.location_id)
            .outerjoin(CommodityProfile, CommodityProfile.id == Location.profile_id)
            .where(VehicleCompartment.device_id.in_(ids))
            .order_by(VehicleCompartment.device_id, VehicleCompartment.position)
        )  # fmt: skip
        for device, _pos, name, low, high in rows:
            first.setdefault(device, (name, low, high))
        on_board: dict[str, Waybill] = {}
        for wb in await s.scalars(
            select(Waybill)
            .where(Waybill.vehicle_id.in_(ids), Waybill.status.in_(ON_BOARD))
            .order_by(Waybill.updated_at)
        ):
            on_board[wb.vehicle_id or ""] = wb
        load_range = {d: await _load_range(s, wb) for d, wb in on_board.items()}
    out = []
    for v in vehicles:
        name, low, high = first.get(v.device_id, (None, None, None))
        if low is None and high is None:
            low, high = load_range.get(v.device_id, (None, None))
        wb = on_board.get(v.device_id)
        out.append({
            "device_id": v.device_id, "county": v.county, "plate": v.plate,
            "refrigerated": v.refrigerated, "compartment": name,
            "waybill": wb.number if wb else None, "temp_min_c": low, "temp_max_c": high,
        })  # fmt: skip
    return out


async def _load_range(s: Any, wb: Waybill) -> tuple[float | None, float | None]:
    """The tightest range of the profiles of the waybill's products."""
    gtins = [str(x.get("gtin")) for x in wb.lots or []]
    rows = (
        await s.execute(
            select(CommodityProfile.temp_min_c, CommodityProfile.temp_max_c)
            .join(Product, Product.profile_id == CommodityProfile.id)
            .where(Product.gtin.in_(gtins or [""]))
        )
    ).all()
    if not rows:
        return None, None
    return max(r[0] for r in rows), min(r[1] for r in rows)


async def waybills(call: Call, filters: dict[str, Any]) -> list[dict[str, Any]]:
    q = select(Waybill, VehicleInfo.plate).outerjoin(
        VehicleInfo, VehicleInfo.device_id == Waybill.vehicle_id
    )
    if call.counties is not None:
        q = q.where(Waybill.county.in_(call.counties))
    if filters.get("state"):
        q = q.where(Waybill.status == filters["state"])
    if filters.get("vehicle"):
        v = str(filters["vehicle"])
        q = q.where(or_(Waybill.vehicle_id == v, VehicleInfo.plate == v))
    if filters.get("q"):
        like = f"%{str(filters['q']).strip()}%"
        q = q.where(or_(Waybill.number.ilike(like), VehicleInfo.plate.ilike(like)))
    async with call.db.session() as s:
        rows = (await s.execute(q.order_by(Waybill.updated_at.desc()).limit(500))).all()
        names = await _place_names(
            s, {i for wb, _ in rows for i in (wb.origin_id, wb.destination_id)}
        )
    return [
        {
            "id": str(wb.id),
            "county": wb.county,
            "number": wb.number,
            "state": wb.status,
            "vehicle": wb.vehicle_id,
            "plate": plate,
            "origin": names.get(wb.origin_id),
            "destination": names.get(wb.destination_id),
            "updated_at": _iso(wb.updated_at),
        }
        for wb, plate in rows
    ]


async def _place_names(s: Any, ids: set[int]) -> dict[int, str]:
    rows = await s.execute(select(Location.id, Location.name).where(Location.id.in_(ids or {0})))
    return {i: n for i, n in rows}


async def capacity(call: Call, day: date) -> list[dict[str, Any]]:
    async with call.db.session() as s:
        free = await free_by_day(s, None, call.counties, day, 1)
    return [
        {
            "county": v.county,
            "vehicle": v.device_id,
            "plate": v.plate,
            "temp_class": tc,
            "capacity_kg": v.capacity_kg,
            "free_kg": kg,
            "capacity_m3": v.capacity_m3,
            "day": d.isoformat(),
            "trip_id": trip,
        }
        for d, rows in free.items()
        for v, kg, trip in rows
        for tc in v.temp_classes
    ]


def _pushed(alarm: dict[str, Any]) -> None:
    publish_alarm_update(alarm_row(alarm))


def install_console_providers() -> None:
    """Register the providers above and the alarm push (idempotent)."""
    register_provider("alarms", list_alarms)
    register_provider("alarm_ack", ack_alarm)
    register_provider("fleet", fleet)
    register_provider("waybills", waybills)
    register_provider("capacity", capacity)
    add_alarm_listener(_pushed)
