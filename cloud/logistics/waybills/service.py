"""Waybills and trips: creating, finding, who sees what. The lifecycle is
:mod:`cloud.logistics.waybills.lifecycle`.

Who sees a waybill: county roles of its county; the shipper's organisation roles
(operator); its carrier's (carrier); the driver of its trip. Others: 404.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.catalog.storage import Location, Organisation
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.logistics.access import not_found, org_of, sees
from cloud.logistics.fleet.storage import Driver, VehicleInfo
from cloud.logistics.supply.storage import SupplyPost
from cloud.logistics.waybills import states
from cloud.logistics.waybills.schemas import (
    EventOut,
    StopOut,
    TripIn,
    TripOut,
    WaybillIn,
    WaybillOut,
)
from cloud.logistics.waybills.storage import Stop, Trip, Waybill, WaybillEvent
from cloud.pii import Keyring, seal
from cloud.trace.lots.service import get_lot

BEIJING = timezone(timedelta(hours=8))


def phone_context(waybill_number: str) -> str:
    return f"logistics_waybills.receiver_phone:{waybill_number}"


async def _driver_username(session: AsyncSession, trip_id: int | None) -> str | None:
    if trip_id is None:
        return None
    trip = await session.get(Trip, trip_id)
    if trip is None or trip.driver_id is None:
        return None
    driver = await session.get(Driver, trip.driver_id)
    return None if driver is None else driver.username


async def may_see_waybill(session: AsyncSession, principal: Principal, wb: Waybill) -> bool:
    if not principal.can_see(wb.county):
        return False
    if principal.role is policy.Role.DRIVER:
        return principal.kind == "user" and principal.name == await _driver_username(
            session, wb.trip_id
        )
    return sees(principal, wb.county, wb.shipper_id, wb.carrier_id)


async def get_waybill(
    session: AsyncSession, waybill_id: int, principal: Principal, *, lock: bool = False
) -> Waybill:
    q = select(Waybill).where(Waybill.id == waybill_id)
    if lock:
        q = q.with_for_update()
    wb = await session.scalar(q)
    if wb is None or not await may_see_waybill(session, principal, wb):
        raise not_found("waybill", waybill_id)
    return wb


async def _location(
    session: AsyncSession, loc_id: int, county: str, field: str, principal: Principal
) -> Location:
    loc = await session.get(Location, loc_id)
    if loc is None or loc.county != county or not principal.can_see(loc.county):
        raise not_found("location", loc_id, field)
    return loc


async def create_waybill(
    session: AsyncSession, body: WaybillIn, principal: Principal, keyring: Keyring
) -> Waybill:
    org = await session.get(Organisation, body.shipper_id)
    if org is None or not sees(principal, org.county, org.id):
        raise not_found("organisation", body.shipper_id, "body.shipper_id")
    principal.require_write(org.county, str(org.id))
    await _location(session, body.origin_id, org.county, "body.origin_id", principal)
    await _location(session, body.destination_id, org.county, "body.destination_id", principal)
    if body.origin_id == body.destination_id:
        raise ApiError(422, "body.destination_id: the same place as the origin",
                       field="body.destination_id")  # fmt: skip
    for i, item in enumerate(body.lots):
        field = f"body.lots[{i}]"
        lot = await get_lot(session, item.gtin, item.lot, principal)
        if lot is None:
            raise not_found("lot", f"{item.lot!r} of GTIN {item.gtin}", field)
        if lot.org_id != org.id:
            raise ApiError(
                422, f"{field}: lot {item.lot!r} is organisation {lot.org_id}'s, not the "
                f"shipper's ({org.id})", field=field,
            )  # fmt: skip
    if len({(x.gtin, x.lot) for x in body.lots}) != len(body.lots):
        raise ApiError(422, "body.lots: a lot is listed twice", field="body.lots")
    if body.supply_id is not None:
        post = await session.get(SupplyPost, body.supply_id, with_for_update=True)
        if post is None or not sees(principal, post.county, post.org_id):
            raise not_found("supply post", body.supply_id, "body.supply_id")
        if post.org_id != org.id or post.status != "open":
            raise ApiError(
                409, f"body.supply_id: supply post {post.id} is {post.status} or another "
                "organisation's", field="body.supply_id",
            )  # fmt: skip
        post.status = "booked"
    now = utcnow()
    wb = Waybill(
        number=f"TMP-{secrets.token_hex(8)}", county=org.county, shipper_id=org.id,
        supply_id=body.supply_id, origin_id=body.origin_id, destination_id=body.destination_id,
        temp_class=body.temp_class, weight_kg=body.weight_kg, volume_m3=body.volume_m3,
        lots=[x.model_dump(mode="json", exclude_none=True) for x in body.lots], status="created",
        created_at=now, updated_at=now, created_by=principal.actor,
    )  # fmt: skip
    session.add(wb)
    await session.flush()
    day = now.astimezone(BEIJING).strftime("%y%m%d")
    wb.number = f"WB{org.county}{day}{wb.id:06d}"
    if body.receiver_phone is not None:
        wb.receiver_phone_sealed = seal(keyring, body.receiver_phone, phone_context(wb.number))
    session.add(WaybillEvent(
        waybill_id=wb.id, from_status="", to_status="created", at=now, actor=principal.actor,
        source="api",
    ))  # fmt: skip
    await session.flush()
    await record(
        session, principal.actor, "waybill.created", f"waybill:{wb.number}", wb.county,
        {"lots": len(body.lots), "weight_kg": body.weight_kg},
        personal_changed=["phone"] if body.receiver_phone else [],
    )  # fmt: skip
    return wb


async def events_of(session: AsyncSession, waybill_id: int) -> list[EventOut]:
    rows = await session.scalars(
        select(WaybillEvent).where(WaybillEvent.waybill_id == waybill_id).order_by(WaybillEvent.id)
    )
    return [
        EventOut(
            from_status=e.from_status,
            to_status=e.to_status,
            at=e.at,
            actor=e.actor,
            source=e.source,
            lat=e.lat,
            lon=e.lon,
            note=e.note,
            trace_event_id=e.trace_event_id,
        )
        for e in rows
    ]


def waybill_out(wb: Waybill) -> WaybillOut:
    return WaybillOut(
        id=wb.id, number=wb.number, county=wb.county, status=wb.status,
        status_zh=states.NAMES_ZH[wb.status], shipper_id=wb.shipper_id, carrier_id=wb.carrier_id,
        trip_id=wb.trip_id, stop_id=wb.stop_id, vehicle_id=wb.vehicle_id, origin_id=wb.origin_id,
        destination_id=wb.destination_id, temp_class=wb.temp_class, weight_kg=wb.weight_kg,
        volume_m3=wb.volume_m3, lots=wb.lots, supply_id=wb.supply_id, created_at=wb.created_at,
        updated_at=wb.updated_at,
    )  # fmt: skip


def waybills_query(
    principal: Principal,
    counties: list[str] | None,
    *,
    status: str | None = None,
    vehicle_id: str | None = None,
    trip_id: int | None = None,
) -> Select[Any]:
    """The waybills ``principal`` sees (its county's; a shipper's or carrier's own; a
    driver's trips'), filtered."""
    q = select(Waybill)
    if counties is not None:
        q = q.where(Waybill.county.in_(counties))
    if status is not None:
        q = q.where(Waybill.status == status)
    if vehicle_id is not None:
        q = q.where(Waybill.vehicle_id == vehicle_id)
    if trip_id is not None:
        q = q.where(Waybill.trip_id == trip_id)
    if principal.role is policy.Role.DRIVER:
        q = q.where(Waybill.trip_id.in_(_driver_trips(principal)))
    else:
        org = org_of(principal)
        if org is not None:
            q = q.where((Waybill.shipper_id == org) | (Waybill.carrier_id == org))
    return q


def _driver_trips(principal: Principal) -> Select[Any]:
    name = principal.name if principal.kind == "user" else None
    return select(Trip.id).join(Driver, Driver.id == Trip.driver_id).where(Driver.username == name)


# ------------------------------------------------------------------------------- trips


async def create_trip(session: AsyncSession, body: TripIn, principal: Principal) -> Trip:
    vehicle = await session.get(VehicleInfo, body.vehicle_id)
    if vehicle is None or not sees(principal, vehicle.county, vehicle.carrier_id):
        raise not_found("vehicle", repr(body.vehicle_id), "body.vehicle_id")
    principal.require_write(vehicle.county, str(vehicle.carrier_id))
    if body.driver_id is not None:
        driver = await session.get(Driver, body.driver_id)
        if driver is None or not sees(principal, driver.county, driver.carrier_id):
            raise not_found("driver", body.driver_id, "body.driver_id")
        if driver.carrier_id != vehicle.carrier_id:
            raise ApiError(
                422, f"body.driver_id: driver {driver.id} drives for carrier {driver.carrier_id}, "
                f"the vehicle is carrier {vehicle.carrier_id}'s", field="body.driver_id",
            )  # fmt: skip
    busy = await session.scalar(
        select(Trip.id).where(Trip.vehicle_id == vehicle.device_id, Trip.day == body.day)
    )
    if busy is not None:
        raise ApiError(409, f"body.day: vehicle {vehicle.plate} already has trip {busy} on "
                       f"{body.day}", field="body.day")  # fmt: skip
    trip = Trip(
        county=vehicle.county, carrier_id=vehicle.carrier_id, vehicle_id=vehicle.device_id,
        driver_id=body.driver_id, day=body.day, created_by=principal.actor,
    )  # fmt: skip
    session.add(trip)
    await session.flush()
    await record(session, principal.actor, "trip.created", f"trip:{trip.id}", trip.county,
                 {"vehicle": vehicle.device_id, "day": body.day.isoformat()})  # fmt: skip
    return trip


async def may_see_trip(session: AsyncSession, principal: Principal, trip: Trip) -> bool:
    if not principal.can_see(trip.county):
        return False
    if principal.role is policy.Role.DRIVER:
        if trip.driver_id is None:
            return False
        driver = await session.get(Driver, trip.driver_id)
        return driver is not None and principal.kind == "user" and driver.username == principal.name
    return sees(principal, trip.county, trip.carrier_id)


async def get_trip(
    session: AsyncSession, trip_id: int, principal: Principal, field: str | None = None
) -> Trip:
    trip = await session.get(Trip, trip_id)
    if trip is None or not await may_see_trip(session, principal, trip):
        raise not_found("trip", trip_id, field)
    return trip


def trips_query(
    principal: Principal, counties: list[str] | None, day: object = None
) -> Select[Any]:
    q = select(Trip)
    if counties is not None:
        q = q.where(Trip.county.in_(counties))
    if day is not None:
        q = q.where(Trip.day == day)
    if principal.role is policy.Role.DRIVER:
        q = q.where(Trip.id.in_(_driver_trips(principal)))
    else:
        org = org_of(principal)
        if org is not None:
            q = q.where(Trip.carrier_id == org)
    return q


async def stop_for(session: AsyncSession, trip: Trip, location_id: int) -> Stop:
    """The drop stop of ``trip`` at ``location_id`` (made, next in sequence, if new)."""
    stops: Sequence[Stop] = (
        await session.scalars(select(Stop).where(Stop.trip_id == trip.id).order_by(Stop.seq))
    ).all()
    for s in stops:
        if s.location_id == location_id and s.kind == "drop":
            return s
    stop = Stop(trip_id=trip.id, seq=len(stops) + 1, location_id=location_id, kind="drop")
    session.add(stop)
    await session.flush()
    return stop


async def trip_out(session: AsyncSession, trip: Trip) -> TripOut:
    vehicle = await session.get(VehicleInfo, trip.vehicle_id)
    stops = (
        await session.scalars(select(Stop).where(Stop.trip_id == trip.id).order_by(Stop.seq))
    ).all()
    wbs = (
        await session.scalars(
            select(Waybill).where(Waybill.trip_id == trip.id).order_by(Waybill.id)
        )
    ).all()
    names = {
        loc.id: loc.name
        for loc in await session.scalars(
            select(Location).where(Location.id.in_([s.location_id for s in stops] or [0]))
        )
    }
    return TripOut(
        id=trip.id, county=trip.county, carrier_id=trip.carrier_id, vehicle_id=trip.vehicle_id,
        plate=vehicle.plate if vehicle else "", driver_id=trip.driver_id, day=trip.day,
        stops=[
            StopOut(id=s.id, seq=s.seq, location_id=s.location_id,
                    location_name=names.get(s.location_id, ""), kind=s.kind,
                    arrived_at=s.arrived_at, waybills=[w.id for w in wbs if w.stop_id == s.id])
            for s in stops
        ],
        waybills=[waybill_out(w) for w in wbs],
    )  # fmt: skip
