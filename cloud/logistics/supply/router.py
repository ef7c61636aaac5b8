"""``/api/v1/logistics/supply`` and ``/capacity``: supply posts (货源), the capacity board
and matches. County-scoped. Posting: ``supply:write`` (cooperatives for their own
goods) or ``logistics:write``; the board and matches: ``logistics:read``."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep
from cloud.errors import responses
from cloud.logistics.fleet.schemas import TempClass
from cloud.logistics.supply import service
from cloud.logistics.supply.schemas import CapacityDay, Match, SupplyIn, SupplyOut
from cloud.logistics.supply.storage import SupplyPost
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(tags=["logistics"], responses=responses(401, 403, 404, 409, 422))
BEIJING = timezone(timedelta(hours=8))

Read = Annotated[Principal, require("logistics:read")]
Post = Annotated[Principal, require("logistics:write", "supply:write")]
ReadPosts = Annotated[Principal, require("logistics:read", "supply:write")]
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]


def today() -> date:
    return datetime.now(BEIJING).date()


@router.post("/logistics/supply", status_code=201, summary="Post goods ready to ship (货源)")
async def post_supply(body: SupplyIn, principal: Post, db: DatabaseDep) -> SupplyOut:
    async with db.transaction() as s:
        return service.post_out(await service.create_post(s, body, principal))


@router.get("/logistics/supply", summary="Supply posts, by id (an organisation role: its own)")
async def list_supply(
    principal: ReadPosts,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    status: Literal["open", "booked", "closed"] | None = None,
) -> list[SupplyOut]:
    q = service.posts_query(principal, principal.counties(county), status)
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(SupplyPost.id, kind=int),), page)
    link_next(request, response, got.next_cursor)
    return [service.post_out(p) for p in got.rows]


@router.get("/logistics/supply/{post_id}/matches", summary="Vehicles free in the post's "
            "window, of its temperature class, with room for it (best fit first)")  # fmt: skip
async def supply_matches(
    post_id: Annotated[int, Path(ge=1, le=2**31 - 1)], principal: Read, db: DatabaseDep
) -> list[Match]:
    async with db.session() as s:
        post = await service.get_post(s, post_id, principal)
        return await service.matches(s, post, principal, today())


@router.get("/logistics/capacity", summary="The capacity board: vehicles free by day and by "
            "temperature class")  # fmt: skip
async def capacity(
    principal: Read,
    db: DatabaseDep,
    county: CountyQ = None,
    start: date | None = None,
    days: Annotated[int, Query(ge=1, le=service.MAX_DAYS)] = 7,
    temp_class: TempClass | None = None,
) -> list[CapacityDay]:
    async with db.session() as s:
        return await service.capacity_board(
            s, principal, principal.counties(county), start or today(), days, temp_class
        )
