"""``/api/v1/locations``: locations (GLN/SGLN), the devices that measure each location,
and the commodity profile of a room (the bases: :mod:`cloud.catalog.bases_router`).

County-scoped: another county's record is 404. Reads: ``catalog:read``. Writes:
``catalog:write`` (admins of the county: any organisation's records) or
``org_records:write`` (organisation roles: their own organisation's locations only; a location without an organisation, such as a county's station, is
the admins'). Linking a device wired to a gateway is the admins' (they provision the
gateways); an organisation role links its own registered BLE tags and vehicles.
Assigning a profile to a location, or linking or unlinking a device of a location
with a profile, pushes the profiles to the gateways concerned (:mod:`cloud.catalog.push`):
the response lists the commands sent.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from cloud.catalog import links, places, push
from cloud.catalog.access import api_error, check_county, own_org, visible, visible_profile
from cloud.catalog.errors import CatalogError
from cloud.catalog.gln import LocationKey, digital_link, location_key
from cloud.catalog.params import CatalogRead, CountyQuery, Ident, IdQuery, RecordsWrite
from cloud.catalog.places_schemas import (
    DeviceId,
    DeviceLink,
    Instant,
    LocationCreate,
    LocationDeviceOut,
    LocationDevicePage,
    LocationKind,
    LocationOut,
    LocationPage,
    LocationUpdate,
    ProfileAssign,
    Tier,
)
from cloud.catalog.schemas import PushOut
from cloud.catalog.storage import (
    Location,
    LocationDevice,
    Organisation,
    ProductionBase,
)
from cloud.deps import DatabaseDep, SessionDep
from cloud.devices.commands import app_publisher
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(tags=["catalog"])


LOCATION_KEYS = (Key(Location.id, kind=int),)
LINK_KEYS = (Key(LocationDevice.id, kind=int),)


def _org_of(record: Location) -> str | None:
    return None if record.org_id is None else str(record.org_id)


def _pushes(found: list[push.Push]) -> list[PushOut]:
    return [PushOut.model_validate(p, from_attributes=True) for p in found]


# ------------------------------------------------------------------------- locations


def _location_out(
    loc: Location, devices: list[str], pushes: list[PushOut] | None = None
) -> LocationOut:
    return LocationOut(
        id=loc.id, kind=loc.kind, name=loc.name, county=loc.county,  # type: ignore[arg-type]
        org_id=loc.org_id, base_id=loc.base_id, tier=loc.tier,  # type: ignore[arg-type]
        gln=loc.gln, gln_extension=loc.gln_extension,
        digital_link=digital_link(LocationKey(loc.gln, loc.gln_extension)),
        profile_id=loc.profile_id, devices=devices, created_at=loc.created_at,
        updated_at=loc.updated_at, pushes=pushes or [],
    )  # fmt: skip


@router.get(
    "/locations",
    response_model=LocationPage,
    summary="Locations of the counties you can see, by id (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_locations(
    principal: CatalogRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
    org_id: IdQuery = None,
    base_id: IdQuery = None,
    kind: Annotated[LocationKind | None, Query()] = None,
    tier: Annotated[Tier | None, Query(description="Stations of this tier")] = None,
    gln: Annotated[
        str | None,
        Query(max_length=300, description="A GLN, SGLN URN or Digital Link: that location"),
    ] = None,
) -> LocationPage:
    key = None
    if gln is not None:
        try:
            key = location_key(gln)
        except ValueError as exc:
            raise ApiError(422, str(exc), field="query.gln") from None
    q = places.locations_query(
        principal.counties(county), org_id=org_id, kind=kind, key=key, base_id=base_id, tier=tier
    )
    found = await fetch_page(session, q, LOCATION_KEYS, page)
    link_next(request, response, found.next_cursor)
    devices = await places.current_devices(session, [loc.id for loc in found.rows])
    return LocationPage(items=[_location_out(loc, devices[loc.id]) for loc in found.rows])


@router.get(
    "/locations/{location_id}",
    response_model=LocationOut,
    summary="One location, with the devices measuring it now",
    responses=responses(401, 404),
)
async def get_location(
    location_id: Ident, principal: CatalogRead, session: SessionDep
) -> LocationOut:
    loc = await visible(session, principal, Location, location_id, "location", "path.location_id")
    devices = await places.current_devices(session, [loc.id])
    return _location_out(loc, devices[loc.id])


@router.post(
    "/locations",
    response_model=LocationOut,
    status_code=201,
    summary="Register a location with its GLN or SGLN (admins of its county; organisation "
    "roles their own organisation's)",
    responses=responses(401, 403, 404, 409, 422),
)
async def create_location(
    body: LocationCreate, principal: RecordsWrite, db: DatabaseDep
) -> LocationOut:
    try:
        async with db.transaction() as s:
            org = None
            if body.org_id is not None:
                org = await visible(
                    s, principal, Organisation, body.org_id, "organisation", "body.org_id"
                )
                check_county(body.county, org)
            county = org.county if org else str(body.county)
            principal.require_write(county, str(org.id) if org else None)
            base = None
            if body.base_id is not None:
                base = await visible(
                    s, principal, ProductionBase, body.base_id, "base", "body.base_id"
                )
            loc = await places.create_location(
                s, kind=body.kind, name=body.name, key=body.key(), county=county, org=org,
                base=base, tier=body.tier, actor=principal.actor,
            )  # fmt: skip
            return _location_out(loc, [])
    except CatalogError as exc:
        raise api_error(exc) from None


@router.patch(
    "/locations/{location_id}",
    response_model=LocationOut,
    summary="Change a location's name, base or (a station's) tier",
    responses=responses(401, 403, 404, 422),
)
async def update_location(
    location_id: Ident, body: LocationUpdate, principal: RecordsWrite, db: DatabaseDep
) -> LocationOut:
    try:
        async with db.transaction() as s:
            loc = await visible(s, principal, Location, location_id, "location", "path.location_id")
            principal.require_write(loc.county, _org_of(loc))
            changes = {k: getattr(body, k) for k in body.model_fields_set}
            base = None
            if changes.get("base_id") is not None:
                base = await visible(
                    s, principal, ProductionBase, changes["base_id"], "base", "body.base_id"
                )
            loc = await places.update_location(s, loc, changes, base=base, actor=principal.actor)
            devices = await places.current_devices(s, [loc.id])
            return _location_out(loc, devices[loc.id])
    except CatalogError as exc:
        raise api_error(exc) from None


@router.put(
    "/locations/{location_id}/profile",
    response_model=LocationOut,
    summary="Assign a commodity profile to a location (a room), or remove it (null); pushed "
    "to the gateways of its wired devices with set-config. PUT again to resend",
    responses=responses(401, 403, 404, 422),
)
async def assign_profile(
    location_id: Ident,
    body: ProfileAssign,
    principal: RecordsWrite,
    request: Request,
    db: DatabaseDep,
) -> LocationOut:
    try:
        async with db.transaction() as s:
            loc = await visible(s, principal, Location, location_id, "location", "path.location_id")
            principal.require_write(loc.county, _org_of(loc))
            profile = None
            if body.profile_id is not None:
                profile = await visible_profile(s, principal, body.profile_id, "body.profile_id")
            await places.assign_profile(s, loc, profile, actor=principal.actor)
            devices = await places.current_devices(s, [loc.id])
            gateways = await push.gateways_of_location(s, loc.id)
    except CatalogError as exc:
        raise api_error(exc) from None
    sent = await push.push_profiles(
        db, app_publisher(request.app.state), gateways, actor=principal.actor
    )
    return _location_out(loc, devices[loc.id], _pushes(sent))


@router.get(
    "/locations/{location_id}/devices",
    response_model=LocationDevicePage,
    summary="The devices that measure or measured a location, with since/until (keyset "
    "pages: Link rel=next)",
    responses=responses(401, 404, 422),
)
async def list_location_devices(
    location_id: Ident,
    principal: CatalogRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    current: Annotated[
        bool | None, Query(description="true: measuring now; false: ended; omit: all")
    ] = None,
) -> LocationDevicePage:
    loc = await visible(session, principal, Location, location_id, "location", "path.location_id")
    found = await fetch_page(session, links.links_query(loc.id, current=current), LINK_KEYS, page)
    link_next(request, response, found.next_cursor)
    return LocationDevicePage(items=[LocationDeviceOut.model_validate(r) for r in found.rows])


@router.post(
    "/locations/{location_id}/devices",
    response_model=LocationDeviceOut,
    status_code=201,
    summary="A device begins measuring a location (admins; organisation roles their own "
    "registered tags and vehicles)",
    responses=responses(401, 403, 404, 409, 422),
)
async def link_device(
    location_id: Ident,
    body: DeviceLink,
    principal: RecordsWrite,
    request: Request,
    db: DatabaseDep,
) -> LocationDeviceOut:
    try:
        async with db.transaction() as s:
            loc = await visible(s, principal, Location, location_id, "location", "path.location_id")
            principal.require_write(loc.county, _org_of(loc))
            link, gateway = await links.link_device(
                s, loc, body.device_id, since=body.since, can_see=principal.can_see,
                own_org=own_org(principal), actor=principal.actor,
            )  # fmt: skip
            profiled = loc.profile_id is not None
    except CatalogError as exc:
        raise api_error(exc) from None
    out = LocationDeviceOut.model_validate(link)
    if gateway is not None and profiled:
        sent = await push.push_profiles(
            db, app_publisher(request.app.state), [gateway], actor=principal.actor
        )
        out.pushes = _pushes(sent)
    return out


@router.delete(
    "/locations/{location_id}/devices/{device_id}",
    response_model=LocationDeviceOut,
    summary="A device stops measuring a location (the link ends; its history is kept)",
    responses=responses(401, 403, 404, 422),
)
async def unlink_device(
    location_id: Ident,
    device_id: Annotated[DeviceId, Path()],
    principal: RecordsWrite,
    request: Request,
    db: DatabaseDep,
    until: Annotated[
        Instant | None, Query(description="When it stopped (default now; not future)")
    ] = None,
) -> LocationDeviceOut:
    try:
        async with db.transaction() as s:
            loc = await visible(s, principal, Location, location_id, "location", "path.location_id")
            principal.require_write(loc.county, _org_of(loc))
            link, gateway = await links.end_device(
                s, loc, device_id, until=until, own_org=own_org(principal), actor=principal.actor
            )
            profiled = loc.profile_id is not None
    except CatalogError as exc:
        raise api_error(exc) from None
    out = LocationDeviceOut.model_validate(link)
    if gateway is not None and profiled:
        sent = await push.push_profiles(
            db, app_publisher(request.app.state), [gateway], actor=principal.actor
        )
        out.pushes = _pushes(sent)
    return out
