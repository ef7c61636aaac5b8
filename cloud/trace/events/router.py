"""The EPCIS 2.0 REST binding: ``/api/v1/epcis/capture`` and ``/api/v1/epcis/events``.

Permissions (docs/roles.md): ``trace:write`` captures (organisation roles: events of
their own organisation's lots); ``trace:read`` reads capture jobs and events of one's
county (the prefecture: every county's). Another county's event or job is 404.

- ``POST /epcis/capture``: an EPCISDocument (``application/json`` or
  ``application/ld+json``); 202 with ``Location: /api/v1/epcis/capture/{captureID}``.
  Over the size limit: 413 before the document is read whole. Header
  ``GS1-Capture-Error-Behaviour``: ``rollback`` (default) or ``proceed``.
- ``GET /epcis/capture/{captureID}``: the job (running, success, errors each with its
  field).
- ``GET /epcis/events``: SimpleEventQuery parameters (:mod:`cloud.trace.events.query`),
  an EPCISQueryDocument, paged by ``perPage``/``nextPageToken`` and ``Link: rel="next"``.
- ``GET /epcis/events/{eventID}``: one event (URL-encode the id), in an
  EPCISQueryDocument.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import JSONResponse

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, SessionDep, SettingsDep
from cloud.errors import ApiError, Error, responses
from cloud.trace.epcis import query_document
from cloud.trace.events import capture
from cloud.trace.events.query import EventPage, QueryError, fetch_event, parse_query, run_query
from cloud.trace.events.schemas import CAPTURE_BODY, QUERY_DOCUMENT, CaptureJobOut
from cloud.trace.events.storage import TraceCaptureJob

router = APIRouter(tags=["trace: EPCIS"])

TraceRead = Annotated[Principal, require("trace:read")]
TraceWrite = Annotated[Principal, require("trace:write")]

#: The versions this binding speaks (response headers of the binding).
VERSION_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
MEDIA_TYPES = ("application/json", "application/ld+json")
#: POST /capture answers once the job is done or after this long, whichever is first
#: (always 202 with the job's Location; a large document goes on in the background).
ANSWER_WITHIN_S = 2.0


def _limits(settings: Any) -> dict[str, str]:
    return {
        "GS1-EPCIS-Capture-Limit": str(settings.epcis_capture_max_events),
        "GS1-EPCIS-Capture-File-Size-Limit": str(settings.epcis_capture_max_bytes),
    }


def _too_large(settings: Any, what: str) -> ApiError:
    limit = settings.epcis_capture_max_bytes
    return ApiError(
        413,
        f"the document {what}; the capture limit is {limit} bytes "
        f"(GS1-EPCIS-Capture-File-Size-Limit: {limit}): split it into smaller documents",
        field="body",
        headers=_limits(settings),
    )


async def _read_limited(request: Request, settings: Any) -> bytes:
    """The request body, refused (413) as soon as it passes the size limit: a declared
    length over it is refused before reading a byte, a streamed body at the chunk that
    passes it."""
    limit = settings.epcis_capture_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ApiError(
                400, "Content-Length is not a number", field="header.Content-Length"
            ) from None
        if length > limit:
            raise _too_large(settings, f"is {length} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(settings, f"passes {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _behaviour(value: str | None) -> capture.Behaviour:
    if value is None or value == "rollback":
        return "rollback"
    if value == "proceed":
        return "proceed"
    raise ApiError(
        422,
        f"GS1-Capture-Error-Behaviour is rollback (the default) or proceed, not {value!r}",
        field="header.GS1-Capture-Error-Behaviour",
    )


def job_out(job: TraceCaptureJob) -> CaptureJobOut:
    return CaptureJobOut(
        captureID=job.id,
        createdAt=job.created_at,
        finishedAt=job.finished_at,
        running=capture.job_running(job),
        success=job.success and not capture.job_errors(job),
        captureErrorBehaviour=job.behaviour,  # type: ignore[arg-type]
        events=job.events,
        eventIDs=list(job.event_ids),
        errors=capture.job_errors(job),  # type: ignore[arg-type]
    )


@router.post(
    "/epcis/capture",
    status_code=202,
    response_model=CaptureJobOut,
    summary="Capture an EPCIS document (all events or none by default); 202 with the "
    "capture job's Location",
    responses={
        **responses(401, 403, 422),
        413: {
            "model": Error,
            "description": "Over GS1-EPCIS-Capture-File-Size-Limit or GS1-EPCIS-Capture-Limit",
        },
        415: {"model": Error, "description": "Not application/json or application/ld+json"},
    },
    openapi_extra=CAPTURE_BODY,
)
async def capture_document(
    request: Request,
    response: Response,
    principal: TraceWrite,
    db: DatabaseDep,
    settings: SettingsDep,
    error_behaviour: Annotated[
        str | None,
        Header(
            alias="GS1-Capture-Error-Behaviour",
            description="rollback (default): all events or none; proceed: the events "
            "without an error are stored, the others reported",
        ),
    ] = None,
) -> CaptureJobOut:
    behaviour = _behaviour(error_behaviour)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise ApiError(
            415,
            f"send the document as application/json or application/ld+json, not "
            f"{media or 'no Content-Type'}",
            field="header.Content-Type",
        )
    raw = await _read_limited(request, settings)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(422, f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(doc, dict) or doc.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        raise ApiError(
            422,
            "the body is an EPCISDocument (or EPCISQueryDocument): a JSON object with "
            '"type": "EPCISDocument"',
            field="body.type",
        )
    _, events = capture.event_list(doc)
    if len(events) > settings.epcis_capture_max_events:
        raise ApiError(
            413,
            f"the document has {len(events)} events; the capture limit is "
            f"{settings.epcis_capture_max_events} (GS1-EPCIS-Capture-Limit): split it",
            field="body.epcisBody.eventList",
            headers=_limits(settings),
        )
    job = await capture.create_job(db, principal, behaviour, len(events))
    tasks: set[asyncio.Task[None]] = request.app.state.__dict__.setdefault("capture_jobs", set())
    task = asyncio.create_task(
        capture.run_job(db, job.id, doc, principal, behaviour), name=f"epcis-capture-{job.id}"
    )
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    await asyncio.wait({task}, timeout=ANSWER_WITHIN_S)
    async with db.session() as s:
        job = await s.get_one(TraceCaptureJob, job.id)
    response.headers["Location"] = f"/api/v1/epcis/capture/{job.id}"
    response.headers.update({**VERSION_HEADERS, "GS1-Capture-Error-Behaviour": behaviour})
    return job_out(job)


@router.get(
    "/epcis/capture/{capture_id}",
    response_model=CaptureJobOut,
    summary="A capture job: running, then success or each error with its field",
    responses=responses(401, 403, 404),
)
async def get_capture_job(
    capture_id: Annotated[str, Path(max_length=64)],
    principal: TraceRead,
    session: SessionDep,
    response: Response,
) -> CaptureJobOut:
    job = await session.get(TraceCaptureJob, capture_id)
    if job is None or not principal.can_see(job.county):
        raise ApiError(404, f"capture job {capture_id!r} not found")
    response.headers.update({**VERSION_HEADERS, "GS1-Capture-Error-Behaviour": job.behaviour})
    return job_out(job)


def _document(request: Request, page: EventPage) -> JSONResponse:
    doc = query_document(page.events, context=page.context)
    accept = request.headers.get("accept", "")
    media = "application/ld+json" if "application/ld+json" in accept else "application/json"
    headers = dict(VERSION_HEADERS)
    if page.next_token is not None:
        url = request.url.include_query_params(nextPageToken=page.next_token)
        headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return JSONResponse(doc, media_type=media, headers=headers)


@router.get(
    "/epcis/events",
    summary="EPCIS events matching the query's parameters (SimpleEventQuery), as an "
    "EPCISQueryDocument; pages by perPage and nextPageToken (Link rel=next)",
    responses={
        **QUERY_DOCUMENT,
        **responses(401, 403, 422),
        413: {"model": Error, "description": "More events match than maxEventCount"},
        501: {
            "model": Error,
            "description": "A standard query parameter this repository does not answer",
        },
    },
)
async def query_events(request: Request, principal: TraceRead, session: SessionDep) -> Response:
    try:
        q = parse_query(list(request.query_params.multi_items()))
        page = await run_query(session, q, principal.counties())
    except QueryError as exc:
        raise ApiError(exc.status, str(exc), field=exc.field) from None
    return _document(request, page)


@router.get(
    "/epcis/events/{event_id:path}",
    summary="One event by its eventID (URL-encoded), with any error declaration, in an "
    "EPCISQueryDocument",
    responses={**QUERY_DOCUMENT, **responses(401, 404)},
)
async def get_event(
    event_id: Annotated[str, Path(max_length=2048, description="The eventID, URL-encoded")],
    request: Request,
    principal: TraceRead,
    session: SessionDep,
) -> Response:
    page = await fetch_event(session, event_id, principal.counties())
    if page is None:
        raise ApiError(404, f"event {event_id!r} not found")
    return _document(request, page)
