"""``/api/v1/products`` and ``/api/v1/profiles``: products (GTIN-14) and commodity profiles.

County-scoped: another county's record is 404; a profile of the prefecture (533100)
is every county's to read and use. Reads: ``catalog:read``. Products: ``catalog:write``
(admins of the county) or ``org_records:write`` (organisation roles: their own
organisation's). Profiles are the admins' (``catalog:write``): a prefecture admin
writes the prefecture's, a county admin its county's; a change of a profile is pushed
to the gateways of every room it is assigned to (the response lists the commands).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from cloud.catalog import products, push
from cloud.catalog.access import api_error, check_county, visible, visible_profile
from cloud.catalog.categories import CategoryCode
from cloud.catalog.errors import CatalogError
from cloud.catalog.gs1 import check_gtin
from cloud.catalog.params import (
    CatalogRead,
    CatalogWrite,
    CountyQuery,
    Ident,
    IdQuery,
    RecordsWrite,
)
from cloud.catalog.products_schemas import (
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductUpdate,
    ProfileCreate,
    ProfileOut,
    ProfilePage,
    ProfileUpdate,
)
from cloud.catalog.schemas import PushOut
from cloud.catalog.storage import CommodityProfile, Organisation, Product
from cloud.deps import DatabaseDep, SessionDep
from cloud.devices.commands import app_publisher
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(tags=["catalog"])


PRODUCT_KEYS = (Key(Product.id, kind=int),)
PROFILE_KEYS = (Key(CommodityProfile.id, kind=int),)


# -------------------------------------------------------------------------- products


@router.get(
    "/products",
    response_model=ProductPage,
    summary="Products of the counties you can see, by id (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_products(
    principal: CatalogRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
    org_id: IdQuery = None,
    profile_id: IdQuery = None,
    category: Annotated[CategoryCode | None, Query()] = None,
    gtin: Annotated[
        str | None, Query(max_length=14, description="GTIN-8/12/13/14: that product")
    ] = None,
) -> ProductPage:
    key = None
    if gtin is not None:
        try:
            key = check_gtin(gtin)
        except ValueError as exc:
            raise ApiError(422, str(exc), field="query.gtin") from None
    q = products.products_query(
        principal.counties(county), org_id=org_id, category=category, gtin=key,
        profile_id=profile_id,
    )  # fmt: skip
    found = await fetch_page(session, q, PRODUCT_KEYS, page)
    link_next(request, response, found.next_cursor)
    return ProductPage(items=[ProductOut.model_validate(p) for p in found.rows])


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    summary="One product",
    responses=responses(401, 404),
)
async def get_product(product_id: Ident, principal: CatalogRead, session: SessionDep) -> ProductOut:
    product = await visible(session, principal, Product, product_id, "product", "path.product_id")
    return ProductOut.model_validate(product)


@router.post(
    "/products",
    response_model=ProductOut,
    status_code=201,
    summary="Register a product by its GTIN (admins of its county; organisation roles their own)",
    responses=responses(401, 403, 404, 409, 422),
)
async def create_product(
    body: ProductCreate, principal: RecordsWrite, db: DatabaseDep
) -> ProductOut:
    try:
        async with db.transaction() as s:
            org = await visible(
                s, principal, Organisation, body.org_id, "organisation", "body.org_id"
            )
            check_county(body.county, org)
            principal.require_write(org.county, str(org.id))
            profile = None
            if body.profile_id is not None:
                profile = await visible_profile(s, principal, body.profile_id, "body.profile_id")
            product = await products.create_product(
                s, gtin=body.gtin, name=body.name, name_en=body.name_en,
                category=body.category, org=org, profile=profile, actor=principal.actor,
            )  # fmt: skip
            return ProductOut.model_validate(product)
    except CatalogError as exc:
        raise api_error(exc) from None


@router.patch(
    "/products/{product_id}",
    response_model=ProductOut,
    summary="Change a product's names, category or commodity profile",
    responses=responses(401, 403, 404, 422),
)
async def update_product(
    product_id: Ident, body: ProductUpdate, principal: RecordsWrite, db: DatabaseDep
) -> ProductOut:
    try:
        async with db.transaction() as s:
            product = await visible(s, principal, Product, product_id, "product", "path.product_id")
            principal.require_write(product.county, str(product.org_id))
            changes = {k: getattr(body, k) for k in body.model_fields_set}
            profile = None
            if changes.get("profile_id") is not None:
                profile = await visible_profile(
                    s, principal, changes["profile_id"], "body.profile_id"
                )
            product = await products.update_product(
                s, product, changes, profile=profile, actor=principal.actor
            )
            return ProductOut.model_validate(product)
    except CatalogError as exc:
        raise api_error(exc) from None


# -------------------------------------------------------------------------- profiles


@router.get(
    "/profiles",
    response_model=ProfilePage,
    summary="Commodity profiles: the prefecture's and those of the counties you can see, by "
    "id (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_profiles(
    principal: CatalogRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQuery = None,
) -> ProfilePage:
    q = products.profiles_query(principal.counties(county))
    found = await fetch_page(session, q, PROFILE_KEYS, page)
    link_next(request, response, found.next_cursor)
    return ProfilePage(items=[ProfileOut.model_validate(p) for p in found.rows])


@router.get(
    "/profiles/{profile_id}",
    response_model=ProfileOut,
    summary="One commodity profile",
    responses=responses(401, 404),
)
async def get_profile(profile_id: Ident, principal: CatalogRead, session: SessionDep) -> ProfileOut:
    return ProfileOut.model_validate(
        await visible_profile(session, principal, profile_id, "path.profile_id")
    )


@router.post(
    "/profiles",
    response_model=ProfileOut,
    status_code=201,
    summary="Define a commodity profile (prefecture admins the prefecture's, county admins "
    "their county's)",
    responses=responses(401, 403, 409, 422),
)
async def create_profile(
    body: ProfileCreate, principal: CatalogWrite, db: DatabaseDep
) -> ProfileOut:
    principal.require_write(body.county)
    try:
        async with db.transaction() as s:
            profile = await products.create_profile(s, body.model_dump(), actor=principal.actor)
            return ProfileOut.model_validate(profile)
    except CatalogError as exc:
        raise api_error(exc) from None


@router.patch(
    "/profiles/{profile_id}",
    response_model=ProfileOut,
    summary="Change a commodity profile; pushed to the gateways of every room it is assigned to",
    responses=responses(401, 403, 404, 409, 422),
)
async def update_profile(
    profile_id: Ident,
    body: ProfileUpdate,
    principal: CatalogWrite,
    request: Request,
    db: DatabaseDep,
) -> ProfileOut:
    try:
        async with db.transaction() as s:
            profile = await visible_profile(s, principal, profile_id, "path.profile_id")
            principal.require_write(profile.county)
            changes = {k: getattr(body, k) for k in body.model_fields_set}
            enforced = await products.update_profile(s, profile, changes, actor=principal.actor)
            gateways = await push.gateways_of_profile(s, profile.id) if enforced else set()
    except CatalogError as exc:
        raise api_error(exc) from None
    out = ProfileOut.model_validate(profile)
    if gateways:
        sent = await push.push_profiles(
            db, app_publisher(request.app.state), gateways, actor=principal.actor
        )
        out.pushes = [PushOut.model_validate(p, from_attributes=True) for p in sent]
    return out
