"""``/api/v1/orgs`` and ``/api/v1/mobile-devices``: organisations and who owns each
BLE tag or vehicle; county-scoped.

Any signed-in role reads its own county's organisations and registrations (a
prefecture admin every county's); another county's record is 404. Only admins of
the county write: create an organisation, register a mobile device to one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from cloud.auth.deps import PrincipalDep
from cloud.catalog import service
from cloud.catalog.schemas import (
    DeviceId,
    MobileDeviceOut,
    MobileDevicePage,
    MobileDeviceRegister,
    OrgCreate,
    OrgKind,
    OrgOut,
    OrgPage,
)
from cloud.catalog.storage import MobileDevice, Organisation
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep
from cloud.errors import ApiError, responses

router = APIRouter(tags=["catalog"])

OrgId = Annotated[int, Path(ge=1, le=MAX_INT32)]
CountyQuery = Annotated[
    str | None, Query(description="Only this county (GB/T 2260 code); must be one you can see")
]
Limit = Annotated[int, Query(ge=1, le=500)]


def _error(exc: service.CatalogError) -> ApiError:
    return ApiError(exc.status, str(exc), field=exc.field)


@router.get(
    "/orgs",
    response_model=OrgPage,
    summary="Organisations of the counties you can see, by id",
    responses=responses(401, 403, 422),
)
async def list_orgs(
    principal: PrincipalDep,
    session: SessionDep,
    county: CountyQuery = None,
    kind: Annotated[OrgKind | None, Query()] = None,
    after: Annotated[int, Query(ge=0, le=MAX_INT32, description="next_after of the last page")] = 0,
    limit: Limit = 100,
) -> OrgPage:
    rows = await service.list_orgs(
        session, principal.counties(county), kind=kind, after=after, limit=limit
    )
    return OrgPage(
        items=[OrgOut.model_validate(o) for o in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@router.post(
    "/orgs",
    response_model=OrgOut,
    status_code=201,
    summary="Create an organisation (admins of its county)",
    responses=responses(401, 403, 409, 422),
)
async def create_org(body: OrgCreate, principal: PrincipalDep, db: DatabaseDep) -> OrgOut:
    principal.require_admin(body.county)
    try:
        async with db.transaction() as s:
            org = await service.create_org(
                s,
                kind=body.kind,
                name=body.name,
                uscc=body.uscc,
                county=body.county,
                actor=principal.actor,
            )
            return OrgOut.model_validate(org)
    except service.CatalogError as exc:
        raise _error(exc) from None


async def _org(
    session: SessionDep, principal: PrincipalDep, org_id: int, field: str
) -> Organisation:
    org = await session.get(Organisation, org_id)
    if org is None or not principal.can_see(org.county):
        raise ApiError(404, f"organisation {org_id} not found", field=field)
    return org


@router.get(
    "/orgs/{org_id}",
    response_model=OrgOut,
    summary="One organisation",
    responses=responses(401, 404),
)
async def get_org(org_id: OrgId, principal: PrincipalDep, session: SessionDep) -> OrgOut:
    return OrgOut.model_validate(await _org(session, principal, org_id, "path.org_id"))


@router.get(
    "/mobile-devices",
    response_model=MobileDevicePage,
    summary="BLE tags and vehicles registered to organisations of the counties you can see",
    responses=responses(401, 403, 422),
)
async def list_mobile_devices(
    principal: PrincipalDep,
    session: SessionDep,
    county: CountyQuery = None,
    org_id: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
    after: Annotated[str, Query(max_length=128, description="next_after of the last page")] = "",
    limit: Limit = 100,
) -> MobileDevicePage:
    rows = await service.list_registrations(
        session, principal.counties(county), org_id=org_id, after=after, limit=limit
    )
    return MobileDevicePage(
        items=[MobileDeviceOut.model_validate(r) for r in rows],
        next_after=rows[-1].device_id if len(rows) == limit else None,
    )


@router.get(
    "/mobile-devices/{device_id}",
    response_model=MobileDeviceOut,
    summary="Who owns a BLE tag or vehicle",
    responses=responses(401, 404),
)
async def get_mobile_device(
    device_id: str, principal: PrincipalDep, session: SessionDep
) -> MobileDeviceOut:
    reg = await session.get(MobileDevice, device_id)
    if reg is None or not principal.can_see(reg.county):
        raise ApiError(404, f"mobile device {device_id!r} not found")
    return MobileDeviceOut.model_validate(reg)


@router.put(
    "/mobile-devices/{device_id}",
    response_model=MobileDeviceOut,
    summary="Register a BLE tag or vehicle to its owner organisation (admins of its county); "
    "its readings are stored under the owner's county from then on",
    responses=responses(401, 403, 404, 409, 422),
)
async def register_mobile_device(
    device_id: Annotated[DeviceId, Path()],
    body: MobileDeviceRegister,
    principal: PrincipalDep,
    session: SessionDep,
    db: DatabaseDep,
) -> MobileDeviceOut:
    org = await _org(session, principal, body.org_id, "body.org_id")
    principal.require_admin(org.county)
    may_take_from = None if principal.is_prefecture else {principal.county}
    try:
        async with db.transaction() as s:
            reg = await service.register_device(
                s,
                device_id,
                kind=body.kind,
                org=await s.get_one(Organisation, org.id),
                may_take_from=may_take_from,
                actor=principal.actor,
            )
            return MobileDeviceOut.model_validate(reg)
    except service.CatalogError as exc:
        raise _error(exc) from None
