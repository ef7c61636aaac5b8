"""``/api/v1/logistics/vehicles``, ``/drivers``, ``/cold-stores``: the fleet's attributes,
keyed by the catalog. County-scoped (another county's record is 404); organisation
roles see and write their own organisation's. Reads ``logistics:read``; writes
``logistics:write``. Driver personal data: see :mod:`cloud.logistics.fleet.drivers`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, KeyringDep
from cloud.errors import responses
from cloud.logistics.fleet import drivers, service
from cloud.logistics.fleet.schemas import (
    ColdStoreIn,
    ColdStoreOut,
    DriverIn,
    DriverOut,
    VehicleIn,
    VehicleOut,
)
from cloud.logistics.fleet.storage import ColdStoreInfo, Driver, VehicleInfo
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(tags=["logistics"], responses=responses(401, 403, 404, 409, 422))

Read = Annotated[Principal, require("logistics:read")]
Write = Annotated[Principal, require("logistics:write")]
DeviceId = Annotated[str, Path(min_length=1, max_length=128)]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]


@router.put("/logistics/vehicles/{device_id}", summary="Set a vehicle's attributes (plate, "
            "type, refrigerated, capacity kg and m³, compartments)")  # fmt: skip
async def put_vehicle(
    device_id: DeviceId, body: VehicleIn, principal: Write, db: DatabaseDep, response: Response
) -> VehicleOut:
    async with db.transaction() as s:
        row, created = await service.put_vehicle(s, device_id, body, principal)
        out = await service.vehicle_out(s, row)
    response.status_code = 201 if created else 200
    return out


@router.get("/logistics/vehicles", summary="Vehicles of the counties you can see, by device id")
async def list_vehicles(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
) -> list[VehicleOut]:
    q = service.vehicles_query(principal, principal.counties(county))
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(VehicleInfo.device_id),), page)
        out = [await service.vehicle_out(s, r) for r in got.rows]
    link_next(request, response, got.next_cursor)
    return out


@router.get("/logistics/vehicles/{device_id}", summary="One vehicle")
async def get_vehicle(device_id: DeviceId, principal: Read, db: DatabaseDep) -> VehicleOut:
    async with db.session() as s:
        return await service.vehicle_out(s, await service.get_vehicle(s, device_id, principal))


@router.post("/logistics/drivers", status_code=201, summary="Register a driver of a carrier "
             "(name, phone, ID number: encrypted at rest)")  # fmt: skip
async def create_driver(
    body: DriverIn, principal: Write, db: DatabaseDep, keyring: KeyringDep
) -> DriverOut:
    async with db.transaction() as s:
        row = await drivers.create_driver(s, body, principal, keyring)
        return await drivers.driver_out(s, row, principal, keyring)


@router.get("/logistics/drivers", summary="Drivers, by id; personal fields for their carrier "
            "and the county dispatcher only (each read audited)")  # fmt: skip
async def list_drivers(
    principal: Read,
    db: DatabaseDep,
    keyring: KeyringDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    phone: Annotated[str | None, Query(min_length=6, max_length=20)] = None,
) -> list[DriverOut]:
    q = drivers.drivers_query(principal, principal.counties(county), keyring, phone)
    async with db.transaction() as s:
        got = await fetch_page(s, q, (Key(Driver.id, kind=int),), page)
        out = [await drivers.driver_out(s, r, principal, keyring) for r in got.rows]
    link_next(request, response, got.next_cursor)
    return out


@router.get("/logistics/drivers/{driver_id}", summary="One driver")
async def get_driver(
    driver_id: Ident, principal: Read, db: DatabaseDep, keyring: KeyringDep
) -> DriverOut:
    async with db.transaction() as s:
        row = await drivers.get_driver(s, driver_id, principal)
        return await drivers.driver_out(s, row, principal, keyring)


@router.put("/logistics/cold-stores/{location_id}", summary="Capacity and occupancy of a cold "
            "room or warehouse (a catalog location)")  # fmt: skip
async def put_cold_store(
    location_id: Ident, body: ColdStoreIn, principal: Write, db: DatabaseDep
) -> ColdStoreOut:
    async with db.transaction() as s:
        return await service.put_cold_store(s, location_id, body, principal)


@router.get("/logistics/cold-stores", summary="Cold stores with capacity and occupancy, by "
            "location id")  # fmt: skip
async def list_cold_stores(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
) -> list[ColdStoreOut]:
    q = service.cold_stores_query(principal, principal.counties(county))
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(ColdStoreInfo.location_id, kind=int),), page)
        out = await service.cold_stores_out(s, got.rows)
    link_next(request, response, got.next_cursor)
    return out
