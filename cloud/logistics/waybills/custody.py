"""Custody follows the waybill: loading writes the trace's shipping event (``load``:
into the vehicle's compartment, with the destination), delivery and return write a
receiving event (``receive``: at the destination, or back at the origin), for the lots
on board, through the trace operations (floor 4) in the caller's transaction.

The trace principal is the waybill's county acting through the caller (a dispatcher
role of that county named like the caller: the trace event's actor is the caller):
the waybill's lots were checked against its shipper when it was made, and a carrier
or driver moving a waybill does not own the shipper's lots.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.policy import Role
from cloud.auth.principal import Principal
from cloud.errors import ApiError
from cloud.logistics.fleet.service import compartments_of
from cloud.logistics.waybills.storage import Waybill
from cloud.trace.operations import service as ops
from cloud.trace.operations.schemas import LoadOp, ReceiveOp

#: uuid5 namespace of the EPCIS event ids a waybill writes (a retry writes the same id).
NAMESPACE = uuid.UUID("6f1c1e8e-3d2a-5b7e-9f5e-0c7a1d0b4a11")


def event_id(wb: Waybill, step: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{wb.number}:{step}')}"


def trace_principal(actor: Principal | str, county: str) -> Principal:
    if isinstance(actor, Principal):
        return Principal(kind=actor.kind, name=actor.name, role=Role.DISPATCHER, county=county)
    return Principal(kind="user", name=actor, role=Role.DISPATCHER, county=county)


async def compartment(session: AsyncSession, wb: Waybill) -> int:
    comps = [] if wb.vehicle_id is None else await compartments_of(session, wb.vehicle_id)
    if not comps:
        raise ApiError(
            422,
            f"waybill.vehicle_id: vehicle {wb.vehicle_id!r} has no compartment to load into; "
            "give it one (a catalog location of kind vehicle_compartment, PUT "
            "/api/v1/logistics/vehicles/{id} compartments)",
            field="waybill.vehicle_id",
        )
    return comps[0]


def _renamed(exc: ApiError) -> ApiError:
    field = exc.field.replace("body.", "waybill.", 1) if exc.field else None
    detail = str(exc.detail).replace("body.", "waybill.", 1)
    return ApiError(exc.status_code, f"trace refused the waybill's event: {detail}", field=field)


async def load(session: AsyncSession, wb: Waybill, at: datetime, actor: Principal | str) -> str:
    body = LoadOp.model_validate(
        {
            "event_id": event_id(wb, "loaded"), "time": at,
            "location_id": await compartment(session, wb), "destination_id": wb.destination_id,
            "lots": wb.lots, "note": f"waybill {wb.number}",
        }
    )  # fmt: skip
    try:
        done = await ops.load(session, body, trace_principal(actor, wb.county))
    except ApiError as exc:
        raise _renamed(exc) from None
    return done.event_id


async def receive(
    session: AsyncSession, wb: Waybill, at: datetime, actor: Principal | str, *, back: bool = False
) -> str:
    step = "returned" if back else "delivered"
    body = ReceiveOp.model_validate(
        {
            "event_id": event_id(wb, step), "time": at,
            "location_id": wb.origin_id if back else wb.destination_id,
            "source_id": await compartment(session, wb), "lots": wb.lots,
            "note": f"waybill {wb.number} {step}",
        }
    )  # fmt: skip
    try:
        done = await ops.receive(session, body, trace_principal(actor, wb.county))
    except ApiError as exc:
        raise _renamed(exc) from None
    return done.event_id
