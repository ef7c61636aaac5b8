"""Moving a waybill through its lifecycle (:mod:`.states`): each transition is a
:class:`WaybillEvent` and an audit entry in the caller's transaction; ``loaded``,
``delivered`` and ``returned`` (after loading) also write the trace events
(:mod:`.custody`). A refused transition changes nothing (the caller rolls back).

:func:`transition` is the API's (permission and scope checked);
:func:`mark_arrived` is for other code (the geofence engine) and checks nothing but
the state machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.logistics.access import org_of
from cloud.logistics.fleet.storage import VehicleInfo
from cloud.logistics.waybills import custody, states
from cloud.logistics.waybills.schemas import TransitionIn
from cloud.logistics.waybills.service import get_trip, get_waybill, stop_for
from cloud.logistics.waybills.storage import Stop, Trip, Waybill, WaybillEvent


@dataclass(frozen=True)
class Moved:
    waybill: Waybill
    outcome: Literal["stored", "unchanged"]


def check_may_move(principal: Principal, wb: Waybill) -> None:
    """Drivers move the waybills of their own trip (visibility already checked);
    carriers those they carry; county roles those of their county."""
    if principal.role is policy.Role.DRIVER:
        return
    org = org_of(principal)
    if org is not None and org != wb.carrier_id:
        raise ApiError(403, f"a {principal.role.value} moves only the waybills its organisation "
                       "carries")  # fmt: skip
    principal.require_write(wb.county, None if org is None else str(org))


async def replayed(session: AsyncSession, wb: Waybill, request_id: str | None) -> bool:
    if request_id is None:
        return False
    found = await session.scalar(
        select(WaybillEvent.id).where(
            WaybillEvent.waybill_id == wb.id, WaybillEvent.request_id == request_id
        )
    )
    return found is not None


async def _was_loaded(session: AsyncSession, wb: Waybill) -> bool:
    n = await session.scalar(
        select(func.count()).where(
            WaybillEvent.waybill_id == wb.id, WaybillEvent.to_status == "loaded"
        )
    )
    return bool(n)


async def _assign(session: AsyncSession, wb: Waybill, trip: Trip) -> None:
    vehicle = await session.get(VehicleInfo, trip.vehicle_id)
    if vehicle is None:  # pragma: no cover - a trip's vehicle is a foreign key
        raise ApiError(422, "body.trip_id: the trip has no vehicle", field="body.trip_id")
    if trip.county != wb.county:
        raise ApiError(404, f"body.trip_id: trip {trip.id} not found", field="body.trip_id")
    if wb.temp_class not in vehicle.temp_classes:
        raise ApiError(
            422, f"body.trip_id: vehicle {vehicle.plate} carries {', '.join(vehicle.temp_classes)}"
            f", not {wb.temp_class} goods", field="body.trip_id",
        )  # fmt: skip
    load = await session.scalar(
        select(func.coalesce(func.sum(Waybill.weight_kg), 0.0)).where(
            Waybill.trip_id == trip.id, Waybill.id != wb.id,
            Waybill.status.not_in(("rejected", "returned")),
        )
    )  # fmt: skip
    if float(load or 0) + wb.weight_kg > vehicle.capacity_kg:
        raise ApiError(
            422, f"body.trip_id: vehicle {vehicle.plate} holds {vehicle.capacity_kg:g} kg; the "
            f"trip already carries {float(load or 0):g} kg, this waybill {wb.weight_kg:g} kg",
            field="body.trip_id",
        )  # fmt: skip
    wb.trip_id, wb.vehicle_id, wb.carrier_id = trip.id, trip.vehicle_id, trip.carrier_id
    wb.stop_id = (await stop_for(session, trip, wb.destination_id)).id


async def apply(
    session: AsyncSession,
    wb: Waybill,
    to: str,
    *,
    actor: Principal | str,
    at: datetime,
    source: str,
    request_id: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    note: str | None = None,
    trip: Trip | None = None,
) -> WaybillEvent:
    """Move ``wb`` to ``to`` (state machine checked: :class:`states.IllegalTransition`),
    with its side effects. No permission check: the callers do that."""
    states.check(wb.status, to)
    trace_id: str | None = None
    if to == "assigned":
        if trip is None:
            raise ApiError(422, "body.trip_id: assigning needs the trip", field="body.trip_id")
        await _assign(session, wb, trip)
    elif to == "loaded":
        trace_id = await custody.load(session, wb, at, actor)
    elif to == "arrived" and wb.stop_id is not None:
        stop = await session.get(Stop, wb.stop_id)
        if stop is not None and stop.arrived_at is None:
            stop.arrived_at = at
    elif to == "delivered":
        trace_id = await custody.receive(session, wb, at, actor)
    elif to == "returned" and await _was_loaded(session, wb):
        trace_id = await custody.receive(session, wb, at, actor, back=True)
    name = actor.actor if isinstance(actor, Principal) else actor
    event = WaybillEvent(
        waybill_id=wb.id, from_status=wb.status, to_status=to, at=at, actor=name, source=source,
        request_id=request_id, lat=lat, lon=lon, note=note, trace_event_id=trace_id,
    )  # fmt: skip
    session.add(event)
    previous, wb.status, wb.updated_at = wb.status, to, utcnow()
    await session.flush()
    await record(
        session, name, f"waybill.{to}", f"waybill:{wb.number}", wb.county,
        {"from": previous, "source": source, "trip_id": wb.trip_id, "trace_event": trace_id},
    )  # fmt: skip
    return event


def refused(exc: states.IllegalTransition) -> ApiError:
    return ApiError(409, str(exc), field="body.to")


async def transition(
    session: AsyncSession, waybill_id: int, body: TransitionIn, principal: Principal, source: str
) -> Moved:
    """The API's transition: visibility (404), who may move it (403), the state machine
    (409 naming ``body.to``), idempotent by ``request_id``."""
    wb = await get_waybill(session, waybill_id, principal, lock=True)
    check_may_move(principal, wb)
    if await replayed(session, wb, body.request_id):
        return Moved(wb, "unchanged")
    trip = None
    if body.to == "assigned":
        if body.trip_id is None:
            raise ApiError(422, "body.trip_id: assigning needs the trip", field="body.trip_id")
        if principal.role is policy.Role.DRIVER:
            raise ApiError(403, "a driver does not assign waybills (a dispatcher or carrier does)")
        trip = await get_trip(session, body.trip_id, principal, "body.trip_id")
    elif body.trip_id is not None:
        raise ApiError(422, "body.trip_id: only an assignment names a trip", field="body.trip_id")
    try:
        await apply(
            session, wb, body.to, actor=principal, at=body.at or utcnow(), source=source,
            request_id=body.request_id, lat=body.lat, lon=body.lon, note=body.note, trip=trip,
        )  # fmt: skip
    except states.IllegalTransition as exc:
        raise refused(exc) from None
    return Moved(wb, "stored")


async def mark_arrived(
    session: AsyncSession, waybill_id: int, at: datetime, source: str = "geofence"
) -> bool:
    """Mark a waybill arrived at its destination, for other code (the geofence engine on
    entering the destination). In the caller's transaction; no permission check.

    A waybill still ``loaded`` (the driver did not tap 发车) departs first, at the same
    time. Already arrived or past it (a second enter): nothing, ``False``. Not yet
    loaded, or unknown: :class:`LookupError` / :class:`states.IllegalTransition`.
    Returns ``True`` when it moved.
    """
    wb = await session.scalar(select(Waybill).where(Waybill.id == waybill_id).with_for_update())
    if wb is None:
        raise LookupError(f"waybill {waybill_id} not found")
    if wb.status in ("arrived", "delivered", "rejected", "damaged", "returned"):
        return False
    actor = f"system:{source}"
    if wb.status == "loaded":
        await apply(session, wb, "departed", actor=actor, at=at, source=source)
    await apply(session, wb, "arrived", actor=actor, at=at, source=source)
    return True
