"""The showcase's routes: editors' API (``/api/v1/services/showcase``), public JSON
(``/api/v1/public/showcase/...``) and the H5 pages (``/h5/showcase``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.storage import Organisation, Product
from cloud.deps import DatabaseDep, SettingsDep
from cloud.errors import ApiError, Error, responses
from cloud.inspections.files import FileStoreError, files_for
from cloud.pagination import Key, PageDep, PageParams, fetch_page, link_next
from cloud.services.cms.router import H5Page, html_page
from cloud.services.showcase import service
from cloud.services.showcase.schemas import ItemIn, ItemOut, ItemPatch, Kind, PhotoOut
from cloud.services.showcase.storage import ShowcaseItem
from cloud.trace.certificates import scans
from cloud.web.etag import answer, served
from cloud.web.ratelimit import rate_limit
from protocol.ids import COUNTY_CODES

router = APIRouter(
    prefix="/services/showcase",
    tags=["services: showcase"],
    responses=responses(401, 403, 404, 409, 422),
)
public = APIRouter(
    prefix="/public/showcase", tags=["public: showcase"], responses=responses(404, 422)
)
pages = APIRouter(tags=["h5"])

Read = Annotated[Principal, require("services:read")]
Write = Annotated[Principal, require("showcase:write")]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
PUBLIC = [require("public"), Depends(rate_limit)]
TEMPLATES = FsPath(__file__).resolve().parent / "templates"
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]
_PHOTO = {
    413: {"model": Error, "description": "Larger than 5 MiB (declared or sent)."},
    415: {"model": Error, "description": "Not a JPEG or PNG."},
}


def _county(county: str | None) -> str | None:
    if county is not None and county not in COUNTY_CODES:
        raise ApiError(
            422,
            f"query.county: {county!r} is not one of Dehong's counties ({', '.join(COUNTY_CODES)})",
            field="query.county",
        )
    return county


# ------------------------------------------------------------------ editors


@router.get("/items", summary="Showcase entries of the county, unpublished included")
async def list_items(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    kind: Kind | None = None,
) -> list[ItemOut]:
    async with db.session() as s:
        got = await fetch_page(
            s,
            service.items_query(principal.counties(county), kind),
            (Key(ShowcaseItem.id, kind=int),),
            page,
        )
        out = await service.item_outs(s, got.rows)
    link_next(request, response, got.next_cursor)
    return out


@router.post("/items", status_code=201, summary="Add an enterprise, park or product entry")
async def create_item(body: ItemIn, principal: Write, db: DatabaseDep) -> ItemOut:
    async with db.transaction() as s:
        return (await service.item_outs(s, [await service.create(s, body, principal)]))[0]


@router.get("/items/{item_id}", summary="One showcase entry")
async def get_item(item_id: Ident, principal: Read, db: DatabaseDep) -> ItemOut:
    async with db.session() as s:
        return (await service.item_outs(s, [await service.get(s, item_id, principal)]))[0]


@router.patch("/items/{item_id}", summary="Change an entry; published=true shows it")
async def patch_item(item_id: Ident, body: ItemPatch, principal: Write, db: DatabaseDep) -> ItemOut:
    async with db.transaction() as s:
        item = await service.update(s, await service.get(s, item_id, principal), body, principal)
        return (await service.item_outs(s, [item]))[0]


@router.post(
    "/items/{item_id}/photos",
    status_code=201,
    responses=_PHOTO,  # type: ignore[arg-type]
    summary="Add a photo (the body; JPEG or PNG, at most 5 MiB: a larger declared "
    "Content-Length is refused before reading)",
)
async def add_photo(
    item_id: Ident,
    request: Request,
    principal: Write,
    db: DatabaseDep,
    settings: SettingsDep,
    caption: Annotated[str | None, Query(max_length=200)] = None,
) -> PhotoOut:
    async with db.session() as s:
        service.check_write(principal, (await service.get(s, item_id, principal)).county)
    content_type = scans.media_type(request.headers.get("content-type"))
    if content_type not in service.PHOTO_TYPES:
        raise ApiError(
            415,
            f"Content-Type: a photo is a JPEG or PNG, not {content_type}",
            field="header.Content-Type",
        )
    data = await scans.read_limited(
        request.stream(), request.headers.get("content-length"), service.PHOTO_MAX_BYTES
    )
    stored = await scans.store_scan(files_for(settings), data, content_type)
    async with db.transaction() as s:
        item = await service.get(s, item_id, principal)
        photo = await service.add_photo(
            s,
            item,
            sha256=stored.sha256,
            content_type=content_type,
            size=stored.size,
            caption=caption,
            principal=principal,
        )
        got = await service.photos(s, [item.id], public=False)
    return next(p for p in got[item.id] if p.id == photo.id)


async def _photo_bytes(settings: Any, sha256: str, content_type: str, cache: str) -> Response:
    try:
        data = await scans.load_scan(files_for(settings), sha256)
    except FileStoreError as exc:
        raise ApiError(503, str(exc)) from None
    return Response(
        data,
        media_type=content_type,
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/photos/{photo_id}",
    summary="A photo",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def get_photo(
    photo_id: Ident, principal: Read, db: DatabaseDep, settings: SettingsDep
) -> Response:
    async with db.session() as s:
        p = await service.photo_of(s, photo_id, principal)
    return await _photo_bytes(settings, p.sha256, p.content_type, "private, no-store")


# ------------------------------------------------------------------ public JSON


async def showcase_list(
    db: Any, county: str | None, kind: str | None, page: PageParams
) -> dict[str, Any]:
    async with db.session() as s:
        got = await fetch_page(
            s, service.published_query(county, kind), (Key(ShowcaseItem.id, kind=int),), page
        )
        return {
            "items": await service.public_items(s, got.rows, full=False),
            "next": got.next_cursor,
        }


async def certified_list(db: Any, county: str | None, page: PageParams) -> dict[str, Any]:
    async with db.session() as s:
        got = await fetch_page(
            s, service.certified_query(county, service.today()), (Key(Product.id, kind=int),), page
        )
        return {"items": await service.certified_items(s, got.rows), "next": got.next_cursor}


async def served_page(request: Request, make: Callable[[], Awaitable[dict[str, Any]]]) -> Response:
    """A public page ``{items, next}`` served from its kept body (``cloud.web.etag``:
    recomputed after a write in this process or 10 s), ETag and ``Link: rel="next"``."""
    kept = await served(request, make)
    response = answer(request, kept, 60)
    link_next(request, response, kept.next)
    return response


async def enterprises_list(db: Any, county: str | None, page: PageParams) -> dict[str, Any]:
    async with db.session() as s:
        got = await fetch_page(
            s, service.enterprises_query(county), (Key(Organisation.id, kind=int),), page
        )
        return {"items": await service.enterprise_items(s, got.rows), "next": got.next_cursor}


@public.get(
    "",
    dependencies=PUBLIC,
    summary="Published showcase entries ({items, next}); a "
    "product's lots link to their trace pages and carry brand admission",
)
async def public_showcase(
    request: Request,
    db: DatabaseDep,
    page: PageDep,
    county: CountyQ = None,
    kind: Kind | None = None,
) -> Response:
    c = _county(county)
    return await served_page(request, lambda: showcase_list(db, c, kind, page))


@public.get("/items/{item_id}", dependencies=PUBLIC, summary="One published entry")
async def public_item(item_id: Ident, request: Request, db: DatabaseDep) -> Response:
    async def make() -> Any:
        async with db.session() as s:
            return await service.public_item(s, item_id)

    return answer(request, await served(request, make), 60)


@public.get(
    "/photos/{photo_id}",
    dependencies=PUBLIC,
    summary="A photo of a published entry",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def public_photo(photo_id: Ident, db: DatabaseDep, settings: SettingsDep) -> Response:
    async with db.session() as s:
        p = await service.photo_of(s, photo_id, None)
    return await _photo_bytes(settings, p.sha256, p.content_type, "public, max-age=86400")


@public.get(
    "/certified",
    dependencies=PUBLIC,
    summary="三品一标: products covered today by a "
    "valid green-food, organic or GI certificate ({items, next})",
)
async def public_certified(
    request: Request, db: DatabaseDep, page: PageDep, county: CountyQ = None
) -> Response:
    c = _county(county)
    return await served_page(request, lambda: certified_list(db, c, page))


@public.get(
    "/enterprises",
    dependencies=PUBLIC,
    summary="Participating enterprises, cooperatives, shops, stations and platforms",
)
async def public_enterprises(
    request: Request, db: DatabaseDep, page: PageDep, county: CountyQ = None
) -> Response:
    c = _county(county)
    return await served_page(request, lambda: enterprises_list(db, c, page))


# ------------------------------------------------------------------ H5 pages

Section = Literal["products", "enterprises", "parks", "certified", "participants"]
SECTIONS = {
    "products": ("特色产品", "Products"),
    "enterprises": ("企业", "Enterprises"),
    "parks": ("产业园区", "Industrial parks"),
    "certified": ("三品一标", "Certified"),
    "participants": ("参与主体", "Participants"),
}
ORG_KINDS = {
    "enterprise": ("企业", "enterprise"),
    "cooperative": ("合作社", "cooperative"),
    "shop": ("网店", "shop"),
    "station": ("服务站", "station"),
    "platform": ("电商平台", "e-commerce platform"),
}
KIND_OF = {"products": "product", "enterprises": "enterprise", "parks": "park"}


@pages.get(
    "/h5/showcase",
    dependencies=PUBLIC,
    summary="H5: the showcase (the same data as /api/v1/public/showcase/...)",
)
async def showcase_page(
    request: Request,
    db: DatabaseDep,
    page: H5Page,
    section: Section = "products",
    county: CountyQ = None,
) -> Response:
    county = _county(county)
    if section == "certified":
        data = await certified_list(db, county, page)
    elif section == "participants":
        data = await enterprises_list(db, county, page)
    else:
        data = await showcase_list(db, county, KIND_OF[section], page)
    return html_page(
        request,
        TEMPLATES,
        "showcase.html",
        data=data,
        section=section,
        sections=SECTIONS,
        org_kinds=ORG_KINDS,
        county=county,
    )


@pages.get(
    "/h5/showcase/{item_id}",
    dependencies=PUBLIC,
    summary="H5: one showcase entry",
)
async def item_page(item_id: Ident, request: Request, db: DatabaseDep) -> Response:
    async with db.session() as s:
        item = await service.public_item(s, item_id)
    return html_page(request, TEMPLATES, "item.html", item=item, sections=SECTIONS)
