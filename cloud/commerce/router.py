"""``/api/v1/commerce``: shops and their SKU mappings, orders (by API, idempotent, and
by file import), status changes and refunds, and the programme's indicators.

Reads: ``commerce:read`` (county roles: their county; the prefecture: all), and the
organisation roles that write commerce data read their own organisation's shops and
orders. Writes: ``commerce:write`` (organisation roles: for their own organisation).
Indicators are county figures: ``commerce:read`` only. A platform's API key (role
``platform``, issued by cloud/services/registry) acts for the shops granted to it:
:func:`cloud.commerce.service.sees` confines it to them (any other shop is 404).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.commerce import imports, indicators, service
from cloud.commerce.drafts import BEIJING
from cloud.commerce.schemas import (
    DayCount,
    GroupKey,
    ImportReport,
    IndicatorRow,
    Month,
    OrderIn,
    OrderOut,
    RefundIn,
    ShopIn,
    ShopOut,
    SkuMapIn,
    SkuMapOut,
    Status,
    StatusIn,
    TopProduct,
)
from cloud.commerce.storage import Order, Shop
from cloud.commerce.templates import TEMPLATES
from cloud.deps import DatabaseDep
from cloud.errors import ApiError, Error, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(prefix="/commerce", tags=["commerce"],
                   responses=responses(401, 403, 404, 409, 422))  # fmt: skip

Read = Annotated[Principal, require("commerce:read")]
ReadOwn = Annotated[Principal, require("commerce:read", "commerce:write")]
Write = Annotated[Principal, require("commerce:write")]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]
TemplateName = Literal["taobao", "jd", "pinduoduo", "douyin", "wechat", "standard"]


def this_month() -> str:
    now = datetime.now(BEIJING)
    return f"{now.year:04d}-{now.month:02d}"


# ------------------------------------------------------------------ shops


@router.post("/shops", status_code=201, summary="Register a shop of an enterprise")
async def create_shop(body: ShopIn, principal: Write, db: DatabaseDep) -> ShopOut:
    async with db.transaction() as s:
        return service.shop_out(await service.create_shop(s, body, principal))


@router.get("/shops", summary="Shops, by id (an organisation role: its own)")
async def list_shops(
    principal: ReadOwn,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
) -> list[ShopOut]:
    q = service.shops_query(principal, principal.counties(county))
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Shop.id, kind=int),), page)
    link_next(request, response, got.next_cursor)
    return [service.shop_out(x) for x in got.rows]


@router.get("/shops/{shop_id}", summary="One shop")
async def get_shop(shop_id: Ident, principal: ReadOwn, db: DatabaseDep) -> ShopOut:
    async with db.session() as s:
        return service.shop_out(await service.get_shop(s, shop_id, principal))


@router.put("/shops/{shop_id}/skus", summary="Map the shop's platform SKUs to products")
async def map_skus(
    shop_id: Ident,
    body: Annotated[list[SkuMapIn], Body(min_length=1, max_length=1000)],
    principal: Write,
    db: DatabaseDep,
) -> list[SkuMapOut]:
    async with db.transaction() as s:
        shop = await service.writable_shop(s, shop_id, principal)
        return await service.map_skus(s, shop, body, principal)


@router.get("/shops/{shop_id}/skus", summary="The shop's SKU mappings")
async def list_skus(shop_id: Ident, principal: ReadOwn, db: DatabaseDep) -> list[SkuMapOut]:
    async with db.session() as s:
        return await service.list_skus(s, await service.get_shop(s, shop_id, principal))


# ------------------------------------------------------------------ orders


@router.post("/orders", status_code=201, summary="Record an order (idempotent on channel and "
             "platform order id: the same body again is 200, another body 409)",
             responses={200: {"model": OrderOut, "description": "Recorded before: a retry"}})  # fmt: skip
async def create_order(
    body: OrderIn, principal: Write, db: DatabaseDep, response: Response
) -> OrderOut:
    async with db.transaction() as s:
        order, created = await service.create_order(s, body, principal)
        if not created:
            response.status_code = 200
        return await service.order_out(s, order)


@router.get("/orders", summary="Orders, by id (an organisation role: its own)")
async def list_orders(
    principal: ReadOwn,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    shop_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    month: Month | None = None,
    status: Status | None = None,
) -> list[OrderOut]:
    q = service.orders_query(principal, principal.counties(county), shop_id, month, status)
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Order.id, kind=int),), page)
        out = [await service.order_out(s, o) for o in got.rows]
    link_next(request, response, got.next_cursor)
    return out


@router.get("/orders/{order_id}", summary="One order with its lines and events")
async def get_order(order_id: Ident, principal: ReadOwn, db: DatabaseDep) -> OrderOut:
    async with db.session() as s:
        return await service.order_out(s, await service.get_order(s, order_id, principal))


@router.post("/orders/{order_id}/status", summary="Move an order to a new status")
async def change_status(
    order_id: Ident, body: StatusIn, principal: Write, db: DatabaseDep
) -> OrderOut:
    async with db.transaction() as s:
        order = await service.writable_order(s, order_id, principal)
        await service.change_status(s, order, body, principal)
        return await service.order_out(s, order)


@router.post("/orders/{order_id}/refunds", summary="Record a refund (idempotent on refund_id)")
async def refund(order_id: Ident, body: RefundIn, principal: Write, db: DatabaseDep) -> OrderOut:
    async with db.transaction() as s:
        order = await service.writable_order(s, order_id, principal)
        await service.refund(s, order, body, principal)
        return await service.order_out(s, order)


# ------------------------------------------------------------------ import


async def read_limited(request: Request) -> bytes:
    """The body, refused (413) past :data:`imports.MAX_IMPORT_BYTES`: a declared
    Content-Length over it before a byte is read, a streamed body at the chunk that
    passes it."""
    limit = imports.MAX_IMPORT_BYTES
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number",
                           field="header.Content-Length") from None  # fmt: skip
        if length > limit:
            raise ApiError(413, f"the file is {length} bytes; an import takes at most {limit} "
                           "bytes: split the export by month", field="body")  # fmt: skip
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the file passes {limit} bytes; split the export by month",
                           field="body")  # fmt: skip
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/shops/{shop_id}/imports",
    summary="Import the shop's order export (CSV or XLSX, the raw file as the body); "
    "all or nothing per file; dry_run=true only checks",
    responses={413: {"model": Error, "description": "The file is larger than an import takes."}},
)
async def import_orders(
    shop_id: Ident,
    request: Request,
    principal: Write,
    db: DatabaseDep,
    template: Annotated[TemplateName, Query(description="the platform's export template")],
    dry_run: bool = False,
    fmt: Annotated[Literal["csv", "xlsx"] | None, Query(alias="format")] = None,
) -> ImportReport:
    async with db.transaction() as s:
        shop = await service.writable_shop(s, shop_id, principal)
        if shop.channel not in TEMPLATES[template].channels:
            raise ApiError(422, f"query.template: a {shop.channel} shop's export is not "
                           f"{template}'s", field="query.template")  # fmt: skip
        data = await read_limited(request)
        report = await imports.import_file(s, shop, template, data, fmt=fmt, dry_run=dry_run,
                                           actor=principal.actor)  # fmt: skip
    if report.bad_rows and not dry_run:
        return JSONResponse(  # type: ignore[return-value]
            status_code=422,
            content={
                "detail": f"{report.bad_rows} bad rows; nothing was imported",
                "field": "body",
                "report": report.model_dump(mode="json"),
            },
        )
    return report


# ------------------------------------------------------------------ indicators


@router.get("/indicators", summary="网络零售额, 农产品网络零售额, orders, parcels, local "
            "produce share, active shops, YoY and MoM, by county, month, category, channel")  # fmt: skip
async def get_indicators(
    principal: Read,
    db: DatabaseDep,
    county: CountyQ = None,
    start_month: Month | None = None,
    end_month: Month | None = None,
    group_by: Annotated[list[GroupKey] | None, Query(max_length=4)] = None,
) -> list[IndicatorRow]:
    end = end_month or this_month()
    start = start_month or end
    return await indicators.indicators(db, counties=principal.counties(county), start_month=start,
                                       end_month=end, group_by=list(group_by or []))  # fmt: skip


@router.get("/top-products", summary="Products by net online retail sales, best first")
async def get_top_products(
    principal: Read,
    db: DatabaseDep,
    county: CountyQ = None,
    start_month: Month | None = None,
    end_month: Month | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[TopProduct]:
    end = end_month or this_month()
    return await indicators.top_products(db, counties=principal.counties(county),
                                         start=start_month or end, end=end, limit=limit)  # fmt: skip


@router.get("/orders-per-day", summary="Orders and their amount per Beijing day")
async def get_orders_per_day(
    principal: Read,
    db: DatabaseDep,
    start: date,
    end: date,
    county: CountyQ = None,
) -> list[DayCount]:
    return await indicators.orders_per_day(db, counties=principal.counties(county),
                                           start=start, end=end)  # fmt: skip
