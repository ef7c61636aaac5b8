"""``/api/v1/orgs`` and ``/api/v1/mobile-devices``: organisations and who owns each
BLE tag or vehicle; county-scoped. The bases, locations, products and profiles routes
(:mod:`cloud.catalog.bases_router`, :mod:`cloud.catalog.places_router`,
:mod:`cloud.catalog.products_router`) are included here, so the app includes the
catalog once.

Permissions (docs/roles.md): ``catalog:read`` (every signed-in role) reads its own
county's organisations and registrations (the prefecture every county's); another
county's record is 404; an organisation's contact is personal data, masked for roles
without ``personal:read``. ``catalog:write`` (admins of the county) creates an
organisation; ``catalog:write`` or ``org_records:write`` (an organisation role, for
its own organisation) changes its contact, address and 主体码; ``mobile_devices:write``
registers a BLE tag or vehicle: admins to any organisation of their county,
organisation roles (operator, carrier, operating company) only to their own
organisation (``Principal.org_id``), never taking a device from another organisation.
Lists page by the one convention (``cloud/pagination.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from cloud.auth import policy
from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog import bases_router, places_router, products_router, service
from cloud.catalog.access import masked
from cloud.catalog.params import CatalogRead, CatalogWrite, CountyQuery, RecordsWrite
from cloud.catalog.params import Ident as OrgId
from cloud.catalog.schemas import (
    DeviceId,
    MobileDeviceOut,
    MobileDevicePage,
    MobileDeviceRegister,
    OrgCreate,
    OrgKind,
    OrgOut,
    OrgPage,
    OrgUpdate,
)
from cloud.catalog.storage import MobileDevice, Organisation
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(tags=["catalog"])

MobileDevicesWrite = Annotated[Principal, require("mobile_devices:write")]

#: Keyset orders (cloud/pagination.py).
ORG_KEYS = (Key(Organisation.id, kind=int),)
MOBILE_DEVICE_KEYS = (Key(MobileDevice.device_id),)


def _error(exc: service.CatalogError) -> ApiError:
    return ApiError(exc.status, str(exc), field=exc.field)


def org_out(org: Organisation, principal: Principal) -> OrgOut:
    """The organisation as this principal may read it: the contact masked for roles
    without ``personal:read``."""
    out = OrgOut.model_validate(org)
    for name in service.PERSONAL:
        setattr(out, name, masked(principal, getattr(out, name)))
    return out


@router.get(
    "/orgs",
    response_model=OrgPage,
    summary="Organisations of the counties you can see, by id (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_orgs(
    principal: CatalogRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
    kind: Annotated[OrgKind | None, Query()] = None,
) -> OrgPage:
    q = service.orgs_query(principal.counties(county), kind=kind)
    found = await fetch_page(session, q, ORG_KEYS, page)
    link_next(request, response, found.next_cursor)
    return OrgPage(items=[org_out(o, principal) for o in found.rows])


@router.post(
    "/orgs",
    response_model=OrgOut,
    status_code=201,
    summary="Create an organisation (admins of its county)",
    responses=responses(401, 403, 409, 422),
)
async def create_org(body: OrgCreate, principal: CatalogWrite, db: DatabaseDep) -> OrgOut:
    principal.require_write(body.county)
    try:
        async with db.transaction() as s:
            org = await service.create_org(s, **body.model_dump(), actor=principal.actor)
            return org_out(org, principal)
    except service.CatalogError as exc:
        raise _error(exc) from None


async def _org(session: SessionDep, principal: Principal, org_id: int, field: str) -> Organisation:
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
async def get_org(org_id: OrgId, principal: CatalogRead, session: SessionDep) -> OrgOut:
    return org_out(await _org(session, principal, org_id, "path.org_id"), principal)


@router.patch(
    "/orgs/{org_id}",
    response_model=OrgOut,
    summary="Change an organisation's name, contact, address or 主体码 (admins of its county; "
    "organisation roles their own)",
    responses=responses(401, 403, 404, 409, 422),
)
async def update_org(
    org_id: OrgId, body: OrgUpdate, principal: RecordsWrite, db: DatabaseDep
) -> OrgOut:
    try:
        async with db.transaction() as s:
            org = await _org(s, principal, org_id, "path.org_id")
            principal.require_write(org.county, str(org.id))
            changes = body.model_dump(exclude_unset=True)
            org = await service.update_org(s, org, changes, actor=principal.actor)
            return org_out(org, principal)
    except service.CatalogError as exc:
        raise _error(exc) from None


@router.get(
    "/mobile-devices",
    response_model=MobileDevicePage,
    summary="BLE tags and vehicles registered to organisations of the counties you can see, "
    "by device id (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_mobile_devices(
    principal: CatalogRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
    org_id: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> MobileDevicePage:
    q = service.registrations_query(principal.counties(county), org_id=org_id)
    found = await fetch_page(session, q, MOBILE_DEVICE_KEYS, page)
    link_next(request, response, found.next_cursor)
    return MobileDevicePage(items=[MobileDeviceOut.model_validate(r) for r in found.rows])


@router.get(
    "/mobile-devices/{device_id}",
    response_model=MobileDeviceOut,
    summary="Who owns a BLE tag or vehicle",
    responses=responses(401, 404),
)
async def get_mobile_device(
    device_id: str, principal: CatalogRead, session: SessionDep
) -> MobileDeviceOut:
    reg = await session.get(MobileDevice, device_id)
    if reg is None or not principal.can_see(reg.county):
        raise ApiError(404, f"mobile device {device_id!r} not found")
    return MobileDeviceOut.model_validate(reg)


@router.put(
    "/mobile-devices/{device_id}",
    response_model=MobileDeviceOut,
    summary="Register a BLE tag or vehicle to its owner organisation (admins of its county; "
    "organisation roles to their own); its readings are stored under the owner's county "
    "from then on",
    responses=responses(401, 403, 404, 409, 422),
)
async def register_mobile_device(
    device_id: Annotated[DeviceId, Path()],
    body: MobileDeviceRegister,
    principal: MobileDevicesWrite,
    session: SessionDep,
    db: DatabaseDep,
) -> MobileDeviceOut:
    org = await _org(session, principal, body.org_id, "body.org_id")
    principal.require_write(org.county, str(org.id))
    may_take_from = None if principal.is_prefecture else {principal.county}
    # an organisation role never takes a device from another organisation
    own_org = org.id if policy.ROLES[principal.role].org_scoped else None
    try:
        async with db.transaction() as s:
            reg = await service.register_device(
                s,
                device_id,
                kind=body.kind,
                org=await s.get_one(Organisation, org.id),
                may_take_from=may_take_from,
                own_org=own_org,
                actor=principal.actor,
            )
            return MobileDeviceOut.model_validate(reg)
    except service.CatalogError as exc:
        raise _error(exc) from None


router.include_router(bases_router.router)
router.include_router(places_router.router)
router.include_router(products_router.router)
