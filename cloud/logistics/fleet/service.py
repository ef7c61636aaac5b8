"""Vehicles and cold stores: attribute rows keyed by the catalog's mobile devices and
locations. Every write is audited in the caller's transaction; the caller commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.catalog.links import link_device
from cloud.catalog.storage import Location, LocationDevice, MobileDevice
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.logistics.access import not_found, org_of, sees
from cloud.logistics.fleet.schemas import ColdStoreIn, ColdStoreOut, VehicleIn, VehicleOut
from cloud.logistics.fleet.storage import (
    TEMP_CLASSES,
    ColdStoreInfo,
    VehicleCompartment,
    VehicleInfo,
)

STORE_KINDS = ("cold_room", "warehouse")


async def _vehicle_device(
    session: AsyncSession, device_id: str, principal: Principal
) -> MobileDevice:
    dev = await session.get(MobileDevice, device_id)
    if dev is None or not sees(principal, dev.county, dev.org_id):
        raise not_found("vehicle", repr(device_id), "path.device_id")
    if dev.kind != "vehicle":
        raise ApiError(
            422,
            f"path.device_id: device {device_id!r} is registered as a {dev.kind}; register it "
            "as a vehicle (PUT /api/v1/mobile-devices/{id}, kind vehicle) first",
            field="path.device_id",
        )
    return dev


async def _compartments(session: AsyncSession, ids: list[int], device_id: str, county: str) -> None:
    if len(set(ids)) != len(ids):
        raise ApiError(
            422, "body.compartments: a compartment is listed twice", field="body.compartments"
        )
    for i, loc_id in enumerate(ids):
        field = f"body.compartments[{i}]"
        loc = await session.get(Location, loc_id)
        if loc is None or loc.county != county:
            raise not_found("location", loc_id, field)
        if loc.kind != "vehicle_compartment":
            raise ApiError(
                422, f"{field}: location {loc_id} is a {loc.kind}, not a vehicle_compartment",
                field=field,
            )  # fmt: skip
        other = await session.get(VehicleCompartment, loc_id)
        if other is not None and other.device_id != device_id:
            raise ApiError(
                409, f"{field}: compartment {loc_id} belongs to vehicle {other.device_id!r}",
                field=field,
            )  # fmt: skip


async def put_vehicle(
    session: AsyncSession, device_id: str, body: VehicleIn, principal: Principal
) -> tuple[VehicleInfo, bool]:
    """Create or replace a vehicle's attributes; ``(row, created)``."""
    dev = await _vehicle_device(session, device_id, principal)
    principal.require_write(dev.county, str(dev.org_id))
    plate_owner = await session.scalar(
        select(VehicleInfo.device_id).where(VehicleInfo.plate == body.plate)
    )
    if plate_owner is not None and plate_owner != device_id:
        raise ApiError(
            409, f"body.plate: plate {body.plate} is vehicle {plate_owner!r}'s", field="body.plate"
        )
    await _compartments(session, body.compartments, device_id, dev.county)
    classes = body.temp_classes or (list(TEMP_CLASSES) if body.refrigerated else ["ambient"])
    if not body.refrigerated and set(classes) - {"ambient"}:
        raise ApiError(
            422, "body.temp_classes: a vehicle that is not refrigerated carries ambient goods only",
            field="body.temp_classes",
        )  # fmt: skip
    row = await session.get(VehicleInfo, device_id)
    created = row is None
    if row is None:
        row = VehicleInfo(device_id=device_id, created_by=principal.actor)
        session.add(row)
    else:
        row.updated_at = utcnow()
    row.county, row.carrier_id = dev.county, dev.org_id
    row.plate, row.vehicle_type, row.refrigerated = body.plate, body.vehicle_type, body.refrigerated
    row.temp_classes = sorted(set(classes), key=TEMP_CLASSES.index)
    row.capacity_kg, row.capacity_m3 = body.capacity_kg, body.capacity_m3
    await session.flush()
    await session.execute(
        delete(VehicleCompartment).where(VehicleCompartment.device_id == device_id)
    )
    for pos, loc_id in enumerate(body.compartments):
        session.add(VehicleCompartment(location_id=loc_id, device_id=device_id, position=pos))
    await session.flush()
    await _link_to_compartment(session, dev, body.compartments[:1], principal.actor)
    await record(
        session, principal.actor, "vehicle.saved", f"vehicle:{device_id}", dev.county,
        {"plate": body.plate, "created": created, "compartments": body.compartments},
    )  # fmt: skip
    return row, created


async def _link_to_compartment(
    session: AsyncSession, dev: MobileDevice, first: list[int], actor: str
) -> None:
    """The vehicle's device measures its first compartment (``location_devices``), so
    the cold chain judges its probes (``temp1``...) by the compartment's profile and
    trace reads the lots' custody evidence in the compartment from them. A link to a
    former compartment is ended now (the history stays); a link to a place that is
    not a compartment is the catalog's to end first (409)."""
    link = await session.scalar(
        select(LocationDevice).where(
            LocationDevice.device_id == dev.device_id, LocationDevice.until.is_(None)
        )
    )
    if link is not None and first and link.location_id == first[0]:
        return
    if link is not None:
        where = await session.get(Location, link.location_id)
        if where is None or where.kind != "vehicle_compartment":
            raise ApiError(
                409, f"body.compartments: device {dev.device_id!r} measures location "
                f"{link.location_id} ({where.kind if where else '?'}) now; end that link "
                f"first (DELETE /api/v1/locations/{link.location_id}/devices/{dev.device_id})",
                field="body.compartments",
            )  # fmt: skip
        link.until, link.ended_by = utcnow(), actor
        await session.flush()
        await record(
            session, actor, "location.device_unlinked", f"location:{link.location_id}",
            dev.county, {"device_id": dev.device_id, "until": link.until.isoformat(),
                         "reason": "vehicle compartments changed"},
        )  # fmt: skip
    if first:
        loc = await session.get_one(Location, first[0])
        await link_device(
            session, loc, dev.device_id, since=None, can_see=lambda c: c == dev.county,
            own_org=None, actor=actor,
        )  # fmt: skip


async def compartments_of(session: AsyncSession, device_id: str) -> list[int]:
    rows = await session.scalars(
        select(VehicleCompartment.location_id)
        .where(VehicleCompartment.device_id == device_id)
        .order_by(VehicleCompartment.position)
    )
    return list(rows)


async def vehicle_out(session: AsyncSession, row: VehicleInfo) -> VehicleOut:
    return VehicleOut(
        device_id=row.device_id, county=row.county, carrier_id=row.carrier_id, plate=row.plate,
        vehicle_type=row.vehicle_type, refrigerated=row.refrigerated,
        temp_classes=row.temp_classes, capacity_kg=row.capacity_kg, capacity_m3=row.capacity_m3,
        compartments=await compartments_of(session, row.device_id), updated_at=row.updated_at,
    )  # fmt: skip


async def get_vehicle(session: AsyncSession, device_id: str, principal: Principal) -> VehicleInfo:
    row = await session.get(VehicleInfo, device_id)
    if row is None or not sees(principal, row.county, row.carrier_id):
        raise not_found("vehicle", repr(device_id))
    return row


def vehicles_query(principal: Principal, counties: list[str] | None) -> Select[Any]:
    """The vehicles ``principal`` sees (no order: the caller pages it)."""
    q = select(VehicleInfo)
    if counties is not None:
        q = q.where(VehicleInfo.county.in_(counties))
    mine = org_of(principal)
    if mine is not None:
        q = q.where(VehicleInfo.carrier_id == mine)
    return q


# ------------------------------------------------------------------------- cold stores


async def put_cold_store(
    session: AsyncSession, location_id: int, body: ColdStoreIn, principal: Principal
) -> ColdStoreOut:
    loc = await session.get(Location, location_id)
    if loc is None or not sees(principal, loc.county, loc.org_id):
        raise not_found("location", location_id, "path.location_id")
    if loc.kind not in STORE_KINDS:
        raise ApiError(
            422, f"path.location_id: location {location_id} is a {loc.kind}; a cold store is a "
            "cold_room or warehouse", field="path.location_id",
        )  # fmt: skip
    principal.require_write(loc.county, None if loc.org_id is None else str(loc.org_id))
    if body.occupied_kg > body.capacity_kg:
        raise ApiError(
            422, f"body.occupied_kg: {body.occupied_kg} kg is more than the capacity "
            f"{body.capacity_kg} kg", field="body.occupied_kg",
        )  # fmt: skip
    row = await session.get(ColdStoreInfo, location_id)
    if row is None:
        row = ColdStoreInfo(location_id=location_id)
        session.add(row)
    row.county = loc.county
    row.capacity_kg, row.capacity_m3 = body.capacity_kg, body.capacity_m3
    row.occupied_kg, row.temp_class = body.occupied_kg, body.temp_class
    row.updated_at, row.updated_by = utcnow(), principal.actor
    await session.flush()
    await record(
        session, principal.actor, "cold_store.saved", f"location:{location_id}", loc.county,
        {"capacity_kg": body.capacity_kg, "occupied_kg": body.occupied_kg},
    )  # fmt: skip
    return cold_store_out(row, loc)


def cold_store_out(row: ColdStoreInfo, loc: Location) -> ColdStoreOut:
    return ColdStoreOut(
        location_id=row.location_id, name=loc.name, kind=loc.kind, county=row.county,
        capacity_kg=row.capacity_kg, capacity_m3=row.capacity_m3, occupied_kg=row.occupied_kg,
        free_kg=row.capacity_kg - row.occupied_kg,
        occupancy=round(row.occupied_kg / row.capacity_kg, 4), temp_class=row.temp_class,
        updated_at=row.updated_at,
    )  # fmt: skip


def cold_stores_query(principal: Principal, counties: list[str] | None) -> Select[Any]:
    q = select(ColdStoreInfo).join(Location, Location.id == ColdStoreInfo.location_id)
    if counties is not None:
        q = q.where(ColdStoreInfo.county.in_(counties))
    mine = org_of(principal)
    if mine is not None:
        q = q.where(Location.org_id == mine)
    return q


async def cold_stores_out(session: AsyncSession, rows: list[ColdStoreInfo]) -> list[ColdStoreOut]:
    locs = {
        loc.id: loc
        for loc in await session.scalars(
            select(Location).where(Location.id.in_([r.location_id for r in rows] or [0]))
        )
    }
    return [cold_store_out(r, locs[r.location_id]) for r in rows]
