"""``/api/v1/services/poverty`` (poverty:read / poverty:write / poverty:personal) and
the public aggregates ``/api/v1/public/poverty/aggregates``.

Personal fields are unmasked only for the poverty-alleviation officer of the
household's own county (each read audited by cloud/pii); every other role that reads
households (county admins, the auditor) sees ``***``. Reads that may reveal run in a
transaction: the audit entry commits with the answer.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, KeyringDep
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.services.poverty import service
from cloud.services.poverty.schemas import (
    EraseIn,
    HouseholdIn,
    HouseholdOut,
    IncomeIn,
    LinkIn,
    Month,
    SweepOut,
)
from cloud.services.poverty.storage import Household
from cloud.web.etag import cached_json
from cloud.web.ratelimit import rate_limit
from protocol.ids import COUNTY_CODES

router = APIRouter(prefix="/services/poverty", tags=["services: poverty alleviation"],
                   responses=responses(401, 403, 404, 409, 422))  # fmt: skip
public = APIRouter(prefix="/public/poverty", tags=["public"])
BEIJING = timezone(timedelta(hours=8))

Read = Annotated[Principal, require("poverty:read")]
Write = Annotated[Principal, require("poverty:write")]
Personal = Annotated[Principal, require("poverty:personal")]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]


def today() -> date:
    return datetime.now(BEIJING).date()


@router.post("/households", status_code=201, summary="Record a household with its consent "
             "(PIPL basis, purpose, retention); personal fields sealed")  # fmt: skip
async def create_household(
    body: HouseholdIn, principal: Write, db: DatabaseDep, keyring: KeyringDep
) -> HouseholdOut:
    async with db.transaction() as s:
        hh = await service.create_household(s, body, principal, keyring)
        return await service.household_out(s, hh, principal, keyring)


@router.get("/households", summary="Households, by id (personal data masked except for the "
            "county's poverty-alleviation officer; each reveal audited)")  # fmt: skip
async def list_households(
    principal: Read,
    db: DatabaseDep,
    keyring: KeyringDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    village_code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
) -> list[HouseholdOut]:
    q = service.households_query(principal, principal.counties(county), village_code)
    async with db.transaction() as s:
        got = await fetch_page(s, q, (Key(Household.id, kind=int),), page)
        out = [await service.household_out(s, h, principal, keyring) for h in got.rows]
    link_next(request, response, got.next_cursor)
    return out


@router.get("/households/{household_id}", summary="One household with its links and income")
async def get_household(
    household_id: Ident, principal: Read, db: DatabaseDep, keyring: KeyringDep
) -> HouseholdOut:
    async with db.transaction() as s:
        hh = await service.get_household(s, household_id, principal)
        return await service.household_out(s, hh, principal, keyring)


@router.post("/households/{household_id}/links", status_code=201,
             summary="Link the household to an enterprise, cooperative or station")  # fmt: skip
async def add_link(
    household_id: Ident, body: LinkIn, principal: Write, db: DatabaseDep, keyring: KeyringDep
) -> HouseholdOut:
    async with db.transaction() as s:
        hh = await service.writable(s, household_id, principal)
        await service.add_link(s, hh, body, principal)
        return await service.household_out(s, hh, principal, keyring)


@router.put("/links/{link_id}/income/{month}", summary="The income a link brought in a month")
async def set_income(
    link_id: Ident,
    month: Annotated[Month, Path()],
    body: IncomeIn,
    principal: Write,
    db: DatabaseDep,
    keyring: KeyringDep,
) -> HouseholdOut:
    async with db.transaction() as s:
        link = await service.set_income(s, link_id, month, body, principal)
        hh = await service.get_household(s, link.household_id, principal)
        return await service.household_out(s, hh, principal, keyring)


@router.get("/households/{household_id}/export", summary="Everything held about the "
            "household, on its request (PIPL art. 45; audited)")  # fmt: skip
async def export_household(
    household_id: Ident, principal: Personal, db: DatabaseDep, keyring: KeyringDep
) -> dict[str, Any]:
    async with db.transaction() as s:
        hh = await service.get_household(s, household_id, principal)
        return await service.export(s, hh, principal, keyring)


@router.post("/households/{household_id}/erase", summary="Erase the household's personal "
             "data on a valid request or at retention end (PIPL art. 47; audited)")  # fmt: skip
async def erase_household(
    household_id: Ident, body: EraseIn, principal: Write, db: DatabaseDep, keyring: KeyringDep
) -> HouseholdOut:
    async with db.transaction() as s:
        hh = await service.writable(s, household_id, principal)
        await service.erase(s, hh, body, principal, today())
        return await service.household_out(s, hh, principal, keyring)


@router.post("/retention/sweep", summary="Erase every household of the caller's counties "
             "whose retention period has ended (each audited)")  # fmt: skip
async def retention_sweep(principal: Write, db: DatabaseDep, county: CountyQ = None) -> SweepOut:
    counties = principal.counties(county)
    async with db.transaction() as s:
        return SweepOut(erased=await service.erase_expired(s, counties, today(), principal.actor))


@public.get("/aggregates", dependencies=[require("public"), Depends(rate_limit)],
            summary="Households linked and income brought, by village, township or county; "
            "counts under 5 and their complements suppressed (ETag, cached 300 s)")  # fmt: skip
async def public_aggregates(
    request: Request,
    db: DatabaseDep,
    level: Literal["village", "township", "county"] = "county",
    county: CountyQ = None,
    month: Month | None = None,
) -> Response:
    if county is not None and county not in COUNTY_CODES:
        raise ApiError(422, f"unknown county code {county!r}", field="query.county")
    m = month or f"{today():%Y-%m}"
    async with db.session() as s:
        data = await service.aggregates(s, m, level, county)
    return cached_json(request, data, max_age=300)
