"""``/api/v1/services/statforms``: monthly statistics forms of the stations.

``statforms:write``: county admins for the stations of their county; station operators
and the operating company for the stations their organisation operates.
``statforms:read``: county roles their county; organisation roles their stations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep
from cloud.errors import responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.services.statforms import service
from cloud.services.statforms.schemas import KINDS, Board, Month, SubmissionIn, SubmissionOut
from cloud.services.statforms.storage import FormSubmission

router = APIRouter(prefix="/services/statforms", tags=["services: statistics forms"],
                   responses=responses(401, 403, 404, 409, 422))  # fmt: skip
Read = Annotated[Principal, require("statforms:read")]
Write = Annotated[Principal, require("statforms:write")]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]
Kind = Literal["station_monthly"]


async def clock() -> Callable[[], datetime]:
    """The clock (tests override it: ``app.dependency_overrides[clock]``)."""
    return service.now_utc


Clock = Annotated[Callable[[], datetime], Depends(clock)]


@router.get("/kinds", summary="The form kinds, their fields and due day")
async def kinds(principal: Read) -> dict[str, Any]:
    return {"kinds": [asdict(k) for k in KINDS.values()]}


@router.post("/submissions", status_code=201, summary="File (or correct) a station's "
             "monthly form; validated; late when filed after its due day",
             responses={200: {"model": SubmissionOut, "description": "A correction"}})  # fmt: skip
async def submit(
    body: SubmissionIn, principal: Write, db: DatabaseDep, now: Clock, response: Response
) -> SubmissionOut:
    async with db.transaction() as s:
        row, created = await service.submit(s, body, principal, now())
        if not created:
            response.status_code = 200
        return service.out(row)


@router.get("/submissions", summary="Filed forms, by id")
async def list_submissions(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    station_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    month: Month | None = None,
    kind: Kind | None = None,
) -> list[SubmissionOut]:
    q = service.submissions_query(principal, principal.counties(county), station_id, month, kind)
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(FormSubmission.id, kind=int),), page)
    link_next(request, response, got.next_cursor)
    return [service.out(r) for r in got.rows]


@router.get("/submissions/{submission_id}", summary="One filed form")
async def get_submission(submission_id: Ident, principal: Read, db: DatabaseDep) -> SubmissionOut:
    async with db.session() as s:
        return service.out(await service.get_submission(s, submission_id, principal))


@router.get("/board", summary="Who filed a month's form: submitted, late, missing, pending")
async def board(
    principal: Read, db: DatabaseDep, month: Month, now: Clock,
    kind: Kind = "station_monthly", county: CountyQ = None,
) -> Board:  # fmt: skip
    async with db.session() as s:
        return await service.board(s, principal, principal.counties(county), kind, month, now())
