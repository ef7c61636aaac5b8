"""``/api/v1/dead-letters``: what ingest refused, with the reason; replay after a fix.

Admins only. A county admin sees its county's dead letters; letters whose topic
named no valid county are visible to prefecture admins only.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from cloud.audit.service import record
from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep, TsdbDep
from cloud.errors import ApiError, responses
from cloud.ingest.replay import replay
from cloud.ingest.schemas import DeadLetterDetail, DeadLetterOut, ReplayOutcome, ReplayRequest
from cloud.ingest.storage import DeadLetter
from cloud.pagination import Key, PageDep, fetch_page, link_next
from protocol.ids import PREFECTURE

router = APIRouter(tags=["dead letters"])

DeadLettersRead = Annotated[Principal, require("dead_letters:read")]
DeadLettersReplay = Annotated[Principal, require("dead_letters:replay")]


#: Newest first (cloud/pagination.py).
DEAD_LETTER_KEYS = (Key(DeadLetter.id, desc=True, kind=int),)


def _out(d: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=d.id,
        received_at=d.received_at,
        topic=d.topic,
        county=d.county,
        gateway_id=d.gateway_id,
        code=d.code,
        field=d.field,
        reason=d.reason,
        size=len(d.payload),
        replayed_at=d.replayed_at,
    )


def _visible(principal: Principal, d: DeadLetter) -> bool:
    return principal.is_prefecture or (d.county != "" and principal.can_see(d.county))


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterOut],
    summary="Refused messages (or parts), newest first (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_dead_letters(
    principal: DeadLettersRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: Annotated[str | None, Query(description="GB/T 2260 code you can see")] = None,
    code: Annotated[str | None, Query(max_length=32, description="e.g. invalid")] = None,
    gateway: Annotated[str | None, Query(max_length=64)] = None,
    replayed: Annotated[bool | None, Query(description="false: only not yet replayed")] = None,
) -> list[DeadLetterOut]:
    counties = principal.counties(county)
    q = select(DeadLetter)
    if counties is not None:  # None: a prefecture admin, every letter
        q = q.where(DeadLetter.county.in_(counties))
    if code is not None:
        q = q.where(DeadLetter.code == code)
    if gateway is not None:
        q = q.where(DeadLetter.gateway_id == gateway)
    if replayed is not None:
        q = q.where(
            DeadLetter.replayed_at.is_not(None) if replayed else DeadLetter.replayed_at.is_(None)
        )
    found = await fetch_page(session, q, DEAD_LETTER_KEYS, page)
    link_next(request, response, found.next_cursor)
    return [_out(d) for d in found.rows]


async def _letter(session: SessionDep, principal: Principal, letter_id: int) -> DeadLetter:
    d = await session.get(DeadLetter, letter_id)
    if d is None or not _visible(principal, d):
        raise ApiError(404, f"dead letter {letter_id} not found")
    return d


@router.get(
    "/dead-letters/{letter_id}",
    response_model=DeadLetterDetail,
    summary="One dead letter with its payload",
    responses=responses(401, 403, 404, 422),
)
async def get_dead_letter(
    letter_id: Annotated[int, Path(ge=1, le=MAX_INT32)],
    principal: DeadLettersRead,
    session: SessionDep,
) -> DeadLetterDetail:
    d = await _letter(session, principal, letter_id)
    return DeadLetterDetail(
        **_out(d).model_dump(),
        payload_text=d.payload.decode("utf-8", errors="replace"),
        payload_b64=base64.b64encode(d.payload).decode(),
    )


@router.post(
    "/dead-letters/replay",
    response_model=list[ReplayOutcome],
    summary="Run dead letters through ingest again (after a fix); stored ones are marked",
    responses=responses(401, 403, 404, 422, 503),
)
async def replay_dead_letters(
    body: ReplayRequest,
    principal: DeadLettersReplay,
    session: SessionDep,
    db: DatabaseDep,
    tsdb: TsdbDep,
) -> list[ReplayOutcome]:
    letters = [await _letter(session, principal, i) for i in dict.fromkeys(body.ids)]
    try:
        results = await replay(db, tsdb, letters)
    except TimeoutError:
        raise ApiError(
            503, "the time-series store did not take the replay in time; retry later"
        ) from None
    async with db.transaction() as s:
        for r in results:
            letter = next(x for x in letters if x.id == r.id)
            await record(
                s,
                principal.actor,
                "dead_letter.replayed" if r.replayed else "dead_letter.replay_refused",
                f"dead_letter:{r.id}",
                letter.county or PREFECTURE,
                {"code": r.code} if r.code else {},
            )
    return [
        ReplayOutcome(id=r.id, replayed=r.replayed, code=r.code, field=r.field, reason=r.reason)
        for r in results
    ]
