"""The waybills' Python API for other packages (the geofence engine, cold chain views,
the dispatcher console). Each function works in the caller's session/transaction and
checks no permission: the caller is trusted code, not a request.

- :func:`mark_arrived`: a waybill arrived at its destination (geofence enter).
- :func:`waybills_on_vehicle`: the waybills now on a vehicle (loaded, departed,
  arrived, damaged).
- :func:`waybills_of_trip`: a trip's waybills.
- :func:`lots_on_board`: the trace lots on a vehicle now, with their waybills.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.logistics.waybills.lifecycle import mark_arrived
from cloud.logistics.waybills.states import ON_BOARD
from cloud.logistics.waybills.storage import Waybill

__all__ = ["LotOnBoard", "lots_on_board", "mark_arrived", "waybills_of_trip", "waybills_on_vehicle"]


@dataclass(frozen=True)
class LotOnBoard:
    gtin: str
    lot: str
    waybill_id: int
    waybill_number: str
    destination_id: int


async def waybills_on_vehicle(session: AsyncSession, vehicle_id: str) -> list[Waybill]:
    q = select(Waybill).where(Waybill.vehicle_id == vehicle_id, Waybill.status.in_(ON_BOARD))
    return list(await session.scalars(q.order_by(Waybill.id)))


async def waybills_of_trip(session: AsyncSession, trip_id: int) -> list[Waybill]:
    q = select(Waybill).where(Waybill.trip_id == trip_id).order_by(Waybill.id)
    return list(await session.scalars(q))


async def lots_on_board(session: AsyncSession, vehicle_id: str) -> list[LotOnBoard]:
    return [
        LotOnBoard(x["gtin"], x["lot"], wb.id, wb.number, wb.destination_id)
        for wb in await waybills_on_vehicle(session, vehicle_id)
        for x in wb.lots
    ]
