"""The printable waybill of a stored waybill: its names looked up, drawn by :mod:`.pdf`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.storage import Location, Organisation
from cloud.logistics.fleet.storage import VehicleInfo
from cloud.logistics.waybills import states
from cloud.logistics.waybills.pdf import WaybillSheet, waybill_pdf
from cloud.logistics.waybills.storage import Trip, Waybill


async def render(session: AsyncSession, wb: Waybill, base_url: str) -> bytes:
    orgs = await session.scalars(
        select(Organisation).where(Organisation.id.in_([wb.shipper_id, wb.carrier_id or 0]))
    )
    names = {o.id: o.name for o in orgs}
    locs = await session.scalars(
        select(Location).where(Location.id.in_([wb.origin_id, wb.destination_id]))
    )
    places = {loc.id: loc.name for loc in locs}
    vehicle = None if wb.vehicle_id is None else await session.get(VehicleInfo, wb.vehicle_id)
    trip = None if wb.trip_id is None else await session.get(Trip, wb.trip_id)
    sheet = WaybillSheet(
        number=wb.number,
        status_zh=f"{states.NAMES_ZH[wb.status]} {wb.status}",
        shipper=names.get(wb.shipper_id, ""),
        carrier=names.get(wb.carrier_id or 0, "—"),
        plate=vehicle.plate if vehicle else "—",
        origin=places.get(wb.origin_id, ""),
        destination=places.get(wb.destination_id, ""),
        temp_class=wb.temp_class,
        weight_kg=wb.weight_kg,
        volume_m3=wb.volume_m3,
        lots=[
            (x["gtin"], x["lot"], f"{x.get('quantity', '')} {x.get('unit', '')}".strip())
            for x in wb.lots
        ],
        created_at=wb.created_at,
        day=trip.day.isoformat() if trip else "—",
        uri=f"{base_url}/m/driver#waybill={wb.number}",
    )
    return waybill_pdf(sheet)
