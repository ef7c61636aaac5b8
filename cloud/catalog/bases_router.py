"""``/api/v1/bases``: production bases (farms, gardens, processing sites) with their
GeoJSON geometry.

County-scoped: another county's base is 404. Reads: ``catalog:read``. Writes:
``catalog:write`` (admins of the county: any organisation's bases) or
``org_records:write`` (organisation roles: their own organisation's only).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from cloud.catalog import places
from cloud.catalog.access import check_county, visible
from cloud.catalog.params import CatalogRead, CountyQuery, Ident, IdQuery, RecordsWrite
from cloud.catalog.places_schemas import BaseCreate, BaseKind, BaseOut, BasePage, BaseUpdate
from cloud.catalog.storage import Organisation, ProductionBase
from cloud.deps import DatabaseDep, SessionDep
from cloud.errors import responses
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(tags=["catalog"])


BASE_KEYS = (Key(ProductionBase.id, kind=int),)


@router.get(
    "/bases",
    response_model=BasePage,
    summary="Production bases of the counties you can see, by id (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_bases(
    principal: CatalogRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
    org_id: IdQuery = None,
    kind: Annotated[BaseKind | None, Query()] = None,
) -> BasePage:
    q = places.bases_query(principal.counties(county), org_id=org_id, kind=kind)
    found = await fetch_page(session, q, BASE_KEYS, page)
    link_next(request, response, found.next_cursor)
    return BasePage(items=[BaseOut.model_validate(b) for b in found.rows])


@router.get(
    "/bases/{base_id}", response_model=BaseOut, summary="One base", responses=responses(401, 404)
)
async def get_base(base_id: Ident, principal: CatalogRead, session: SessionDep) -> BaseOut:
    base = await visible(session, principal, ProductionBase, base_id, "base", "path.base_id")
    return BaseOut.model_validate(base)


@router.post(
    "/bases",
    response_model=BaseOut,
    status_code=201,
    summary="Register a production base (admins of its county; organisation roles their own)",
    responses=responses(401, 403, 404, 422),
)
async def create_base(body: BaseCreate, principal: RecordsWrite, db: DatabaseDep) -> BaseOut:
    async with db.transaction() as s:
        org = await visible(s, principal, Organisation, body.org_id, "organisation", "body.org_id")
        check_county(body.county, org)
        principal.require_write(org.county, str(org.id))
        base = await places.create_base(
            s, org=org, name=body.name, kind=body.kind, geometry=body.geometry,
            area_ha=body.area_ha, actor=principal.actor,
        )  # fmt: skip
        return BaseOut.model_validate(base)


@router.patch(
    "/bases/{base_id}",
    response_model=BaseOut,
    summary="Change a base's name, kind, geometry or area",
    responses=responses(401, 403, 404, 422),
)
async def update_base(
    base_id: Ident, body: BaseUpdate, principal: RecordsWrite, db: DatabaseDep
) -> BaseOut:
    async with db.transaction() as s:
        base = await visible(s, principal, ProductionBase, base_id, "base", "path.base_id")
        principal.require_write(base.county, str(base.org_id))
        changes = {k: getattr(body, k) for k in body.model_fields_set}
        base = await places.update_base(s, base, changes, actor=principal.actor)
        return BaseOut.model_validate(base)
