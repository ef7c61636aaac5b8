"""The capture interface's jobs (EPCIS 2.0 REST binding, ``/capture``).

``POST /epcis/capture`` reads the document (refusing one over the size limit before
reading it all), records a job, and stores the document's events in a background
task: validation (the whole document, :func:`cloud.trace.epcis.validate_document`),
then :func:`cloud.trace.events.store.store` in one transaction, which also marks the
job finished. ``GS1-Capture-Error-Behaviour``: ``rollback`` (the default) stores all
events or none; ``proceed`` stores the events without an error and reports the others.

A job whose task ended with its process (a restart) never committed anything: it is
reported as failed once it is older than :data:`STALE_AFTER_S`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from cloud.auth.principal import Principal
from cloud.db import Database, utcnow
from cloud.trace.epcis import document_context, validate_document
from cloud.trace.events.log import append_to_log
from cloud.trace.events.storage import TraceCaptureJob
from cloud.trace.events.store import Behaviour, EventError, EventsRefused, store

log = logging.getLogger(__name__)

#: A job not finished after this long is no longer running (its process ended).
STALE_AFTER_S = 900.0
#: A document of at most this many events is validated on the event loop (~40 us an
#: event: a few ms); a larger one in a worker thread, so that the loop answers meanwhile.
#: Validation is pure Python holding the GIL: in a thread it made every database call of
#: the loop wait for the GIL (up to the 5 ms switch interval each), which cost more than
#: the few ms it blocks the loop (bench.trace_capture).
VALIDATE_INLINE_EVENTS = 500
_EVENT_PATH = re.compile(r"^(epcisBody(?:\.queryResults\.resultsBody)?\.eventList)\[(\d+)\]")

#: RFC 7807 problem types of the binding, by status
PROBLEM_TYPES = {
    403: "epcisException:SecurityException",
    409: "epcisException:ValidationException",
    422: "epcisException:ValidationException",
    500: "epcisException:ImplementationException",
}
TITLES = {
    403: "Not yours to capture",
    409: "Conflicts with a stored event",
    422: "Invalid EPCIS document",
    500: "Capture failed",
}


def event_list(doc: dict[str, Any]) -> tuple[str, list[Any]]:
    """(path, events) of an EPCISDocument or EPCISQueryDocument; ([] if absent)."""
    body = doc.get("epcisBody")
    if not isinstance(body, dict):
        return "epcisBody.eventList", []
    if doc.get("type") == "EPCISQueryDocument":
        results = body.get("queryResults")
        inner = results.get("resultsBody") if isinstance(results, dict) else None
        events = inner.get("eventList") if isinstance(inner, dict) else None
        return "epcisBody.queryResults.resultsBody.eventList", (
            events if isinstance(events, list) else []
        )
    events = body.get("eventList")
    return "epcisBody.eventList", events if isinstance(events, list) else []


def problem(error: EventError) -> dict[str, Any]:
    """An error of the job (RFC 7807, with the ``field`` at fault)."""
    out: dict[str, Any] = {
        "type": PROBLEM_TYPES.get(error.status, PROBLEM_TYPES[422]),
        "title": TITLES.get(error.status, TITLES[422]),
        "status": error.status,
        "detail": error.reason,
        "field": error.field,
    }
    if error.event_id is not None:
        out["eventID"] = error.event_id
    return out


async def create_job(
    db: Database, principal: Principal, behaviour: Behaviour, events: int
) -> TraceCaptureJob:
    async with db.transaction() as s:
        job = TraceCaptureJob(
            id=uuid.uuid4().hex,
            county=principal.county,
            created_by=principal.actor[:128],
            created_at=utcnow(),
            behaviour=behaviour,
            running=True,
            success=True,
            events=events,
            event_ids=[],
            errors=[],
        )
        s.add(job)
    return job


def job_running(job: TraceCaptureJob) -> bool:
    return job.running and utcnow() - job.created_at <= timedelta(seconds=STALE_AFTER_S)


def job_errors(job: TraceCaptureJob) -> list[dict[str, Any]]:
    if job.running and not job_running(job):
        return [
            problem(
                EventError(
                    None,
                    "body",
                    "the capture stopped with the server before it finished; nothing of it "
                    "was stored: capture the document again",
                    500,
                )
            )
        ]
    return list(job.errors)


async def _finish(
    db: Database, job_id: str, errors: Iterable[EventError], event_ids: list[str]
) -> None:
    problems = [problem(e) for e in errors]
    async with db.transaction() as s:
        await s.execute(
            update(TraceCaptureJob)
            .where(TraceCaptureJob.id == job_id)
            .values(
                running=False,
                success=not problems,
                errors=problems,
                event_ids=event_ids,
                finished_at=utcnow(),
            )
        )


def _index_of(path: str, prefix: str) -> int | None:
    m = _EVENT_PATH.match(path)
    return int(m.group(2)) if m and m.group(1) == prefix else None


async def run_job(
    db: Database,
    job_id: str,
    doc: dict[str, Any],
    principal: Principal,
    behaviour: Behaviour,
) -> None:
    """Validate and store the document; the outcome goes on the job. Never raises."""
    try:
        await _run(db, job_id, doc, principal, behaviour)
    except Exception:
        log.exception("EPCIS capture job %s failed", job_id)
        error = EventError(None, "body", "the capture failed in the server; see its log", 500)
        await _finish(db, job_id, [error], [])


async def _run(
    db: Database,
    job_id: str,
    doc: dict[str, Any],
    principal: Principal,
    behaviour: Behaviour,
) -> None:
    path, events = event_list(doc)
    if len(events) <= VALIDATE_INLINE_EVENTS:
        found = validate_document(doc)
    else:
        found = await asyncio.to_thread(validate_document, doc)
    errors: list[EventError] = []
    refused: set[int] = set()
    for e in found:
        index = _index_of(e.path, path)
        errors.append(EventError(index, e.path, e.reason))
        if index is None:
            behaviour = "rollback"  # the document itself is wrong: nothing is stored
        else:
            refused.add(index)
    if errors and behaviour == "rollback":
        await _finish(db, job_id, errors, [])
        return
    for attempt in range(3):
        try:
            async with db.transaction() as s:
                outcome = await store(
                    s,
                    events,
                    principal,
                    path=path,
                    context=document_context(doc),
                    validate=False,
                    behaviour=behaviour,
                    capture_id=job_id,
                    refused=refused,
                    defer_log=True,
                )
                all_errors = sorted(
                    [*errors, *outcome.errors], key=lambda e: -1 if e.index is None else e.index
                )
                if all_errors and behaviour == "rollback":
                    raise EventsRefused(all_errors)
                ids = [x.event_id for x in outcome.stored if x.outcome != "unchanged"]
                problems = [problem(e) for e in all_errors]
                await s.execute(
                    update(TraceCaptureJob)
                    .where(TraceCaptureJob.id == job_id)
                    .values(
                        running=False,
                        success=not problems,
                        errors=problems,
                        event_ids=ids,
                        finished_at=utcnow(),
                    )
                )
                # last, just before the commit: the append holds the log's lock until then
                await append_to_log(s, outcome.log_entries)
            return
        except EventsRefused as exc:
            await _finish(db, job_id, exc.errors, [])
            return
        except IntegrityError:
            # a concurrent capture stored one of these events first: the next attempt
            # decides against it (same event: unchanged; another: 409)
            if attempt == 2:
                raise
            log.info("capture job %s raced another capture; retrying", job_id)
