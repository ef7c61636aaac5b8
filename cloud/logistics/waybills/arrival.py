"""Geofence enter → waybill arrived: when a vehicle enters the geofence of a catalog
location that is the destination of a waybill on board (``loaded`` or ``departed``),
the waybill is marked arrived at the enter's confirming fix (:func:`mark_arrived`,
``source="geofence"``: a :class:`WaybillEvent` and an audit entry, actor
``system:geofence``). An enter from before the waybill was loaded (a day of fixes
uploaded late) moves nothing.

Registered on the trips package's enter hook (:mod:`cloud.logistics.trips.hooks`) by
:func:`register` (the API's ``install``, ``dehong logistics recompute``). Each waybill
moves in its own savepoint: one that cannot move (changed meanwhile) is logged and the
others still move.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.logistics.trips import hooks
from cloud.logistics.waybills.lifecycle import mark_arrived
from cloud.logistics.waybills.storage import Waybill, WaybillEvent

log = logging.getLogger(__name__)

#: The statuses in which an enter at the destination means "arrived".
EN_ROUTE = ("loaded", "departed")


async def arrive_on_enter(session: AsyncSession, event: hooks.EnterEvent) -> None:
    q = select(Waybill.id).where(
        Waybill.vehicle_id == event.vehicle,
        Waybill.destination_id == event.location_id,
        Waybill.status.in_(EN_ROUTE),
    )
    for waybill_id in list(await session.scalars(q.order_by(Waybill.id))):
        loaded_at = await session.scalar(
            select(func.max(WaybillEvent.at)).where(
                WaybillEvent.waybill_id == waybill_id, WaybillEvent.to_status == "loaded"
            )
        )
        if loaded_at is not None and event.at < loaded_at:
            continue  # a late upload's enter from before the load: not this waybill's arrival
        try:
            async with session.begin_nested():
                moved = await mark_arrived(session, waybill_id, event.at, "geofence")
        except (LookupError, ValueError):
            log.exception("waybill %s: not marked arrived on enter %s", waybill_id, event.event_id)
            continue
        if moved:
            log.info("waybill %s arrived: %s entered location %s at %s", waybill_id,
                     event.vehicle, event.location_id, event.at.isoformat())  # fmt: skip


def register() -> None:
    """Put :func:`arrive_on_enter` on the enter hook (twice is once)."""
    hooks.on_enter(arrive_on_enter)
