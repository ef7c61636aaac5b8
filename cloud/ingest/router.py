"""``/api/v1/dead-letters``: what ingest refused, with the reason; replay after a fix.

Permissions ``dead_letters:read`` and ``dead_letters:replay`` (docs/roles.md). A
county principal sees its county's dead letters; letters whose topic named no valid
county are visible to the prefecture only.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep, TsdbDep
from cloud.errors import ApiError, responses
from cloud.ingest.deadletter import payload_of
from cloud.ingest.replay import create_job, job_status, run_job
from cloud.ingest.schemas import (
    DeadLetterDetail,
    DeadLetterOut,
    IngestAlertOut,
    ReplayJobOut,
    ReplayOutcome,
    ReplayRequest,
)
from cloud.ingest.storage import DeadLetter, DeadLetterPayload, IngestAlert, ReplayJob
from cloud.pagination import Key, PageDep, fetch_page, link_next

router = APIRouter(tags=["dead letters"])

DeadLettersRead = Annotated[Principal, require("dead_letters:read")]
DeadLettersReplay = Annotated[Principal, require("dead_letters:replay")]
IngestRead = Annotated[Principal, require("ingest:read")]


#: Newest first (cloud/pagination.py).
DEAD_LETTER_KEYS = (Key(DeadLetter.id, desc=True, kind=int),)


def _out(d: DeadLetter, size: int) -> DeadLetterOut:
    return DeadLetterOut(
        id=d.id,
        received_at=d.received_at,
        topic=d.topic,
        county=d.county,
        gateway_id=d.gateway_id,
        code=d.code,
        field=d.field,
        reason=d.reason,
        size=size,
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
    # each payload is stored once (dead_letter_payloads); its size, one query per page
    shas = {d.payload_sha256 for d in found.rows}
    sizes: dict[str, int] = {
        sha: size
        for sha, size in await session.execute(
            select(DeadLetterPayload.sha256, DeadLetterPayload.size).where(
                DeadLetterPayload.sha256.in_(shas)
            )
        )
    }
    return [_out(d, sizes[d.payload_sha256]) for d in found.rows]


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
    payload = await payload_of(session, d)
    return DeadLetterDetail(
        **_out(d, len(payload)).model_dump(),
        payload_text=payload.decode("utf-8", errors="replace"),
        payload_b64=base64.b64encode(payload).decode(),
    )


@router.post(
    "/dead-letters/replay",
    response_model=ReplayJobOut,
    status_code=202,
    summary="Run dead letters through ingest again (after a fix), as a background job",
    responses=responses(401, 403, 404, 422),
)
async def replay_dead_letters(
    body: ReplayRequest,
    request: Request,
    response: Response,
    principal: DeadLettersReplay,
    session: SessionDep,
    db: DatabaseDep,
    tsdb: TsdbDep,
) -> ReplayJobOut:
    """Answers at once with the job; follow it at ``Location``
    (``GET /api/v1/dead-letters/replays/{job_id}``). Stored letters are marked
    ``replayed_at``; every outcome is audited."""
    ids = list(dict.fromkeys(body.ids))
    found = {
        letter_id: county
        for letter_id, county in await session.execute(
            select(DeadLetter.id, DeadLetter.county).where(DeadLetter.id.in_(ids))
        )
    }
    for letter_id in ids:
        county = found.get(letter_id)
        if county is None or not (
            principal.is_prefecture or (county and principal.can_see(county))
        ):
            raise ApiError(404, f"dead letter {letter_id} not found")
    job = await create_job(db, principal.actor, principal.county, ids)
    tasks: set[asyncio.Task[None]] = request.app.state.__dict__.setdefault("replay_jobs", set())
    task = asyncio.create_task(run_job(db, tsdb, job.id), name=f"dead-letter-replay-{job.id}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    response.headers["Location"] = f"/api/v1/dead-letters/replays/{job.id}"
    return _job_out(job)


@router.get(
    "/dead-letters/replays/{job_id}",
    response_model=ReplayJobOut,
    summary="A replay job: its progress, then each letter's outcome",
    responses=responses(401, 403, 404, 422),
)
async def get_replay_job(
    job_id: Annotated[int, Path(ge=1, le=MAX_INT32)],
    principal: DeadLettersRead,
    session: SessionDep,
) -> ReplayJobOut:
    job = await session.get(ReplayJob, job_id)
    if job is None or not principal.can_see(job.county):
        raise ApiError(404, f"replay job {job_id} not found")
    return _job_out(job)


def _job_out(job: ReplayJob) -> ReplayJobOut:
    return ReplayJobOut(
        id=job.id,
        status=job_status(job),  # type: ignore[arg-type]
        total=job.total,
        done=job.done,
        replayed=job.replayed,
        refused=job.refused,
        created_at=job.created_at,
        finished_at=job.finished_at,
        error=job.error,
        results=[ReplayOutcome(**r) for r in job.results],
    )


@router.get(
    "/ingest/alerts",
    response_model=list[IngestAlertOut],
    summary="Alerts about the time-series store (ingest holds the data and retries)",
    responses=responses(401, 403),
)
async def list_ingest_alerts(_principal: IngestRead, session: SessionDep) -> list[IngestAlertOut]:
    """Active alerts first. They concern the shared store, not one county's records."""
    rows = (await session.execute(select(IngestAlert))).scalars()
    out = [
        IngestAlertOut(
            kind=a.kind,
            active=a.cleared_at is None,
            message=a.message,
            worker=a.worker,
            raised_at=a.raised_at,
            cleared_at=a.cleared_at,
        )
        for a in rows
    ]
    return sorted(out, key=lambda a: (not a.active, a.kind))
