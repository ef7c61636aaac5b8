"""The scheduled push of the monthly export to a configurable HTTPS endpoint, with
retry and backoff, every attempt written to the delivery log (``mofcom_deliveries``).

- ``push(db, settings, month, ...)``: builds the export of ``month``, logs a ``pending``
  delivery, POSTs the JSON document (FORMAT.md, "Push") and retries connection errors,
  timeouts, 408, 425, 429 and 5xx, waiting ``protocol.backoff.Backoff`` delays (a 429's
  ``Retry-After`` when longer), at most ``mofcom_push_attempts`` attempts. Another 4xx
  is final. The row ends ``sent`` (a 2xx) or ``failed``.
- ``due_month(now, day)``: the month the schedule pushes on ``now`` — the previous
  Beijing month, from its ``mofcom_push_day`` on.
- ``run_due(...)``: pushes the due month unless a delivery of it was ``sent``.
- ``scheduler(...)``: ``run_due`` every ``mofcom_push_check_s`` until ``stop`` is set
  (``dehong report mofcom-scheduler``). ``sleep`` and ``clock`` are injected in tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import select

from cloud.db import Database, utcnow
from cloud.services.mofcom.export import beijing_today, build_export, previous_month, to_json
from cloud.services.mofcom.fields import FORMAT_NAME, FORMAT_VERSION
from cloud.services.mofcom.storage import MofcomDelivery
from cloud.settings import Settings
from protocol.backoff import Backoff

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]
RETRIED = frozenset({408, 425, 429})


class PushNotConfigured(RuntimeError):
    """``mofcom_push_url`` is empty."""


def endpoint_of(url: str) -> str:
    """The URL without its query and fragment (what the delivery log keeps)."""
    u = urlsplit(url)
    return urlunsplit((u.scheme, u.netloc, u.path, "", ""))


def due_month(now: datetime, push_day: int) -> str | None:
    """The previous Beijing month once the Beijing day of the month is ``push_day`` or
    later; None before it."""
    today = beijing_today(now)
    return previous_month(today) if today.day >= push_day else None


def _retry_after(r: httpx.Response) -> float | None:
    v = r.headers.get("retry-after", "")
    return float(v) if v.isdigit() else None


async def push(
    db: Database,
    settings: Settings,
    month: str,
    *,
    trigger: str,
    actor: str,
    sleep: Sleep = asyncio.sleep,
    now: datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    delivery_id: int | None = None,
) -> MofcomDelivery:
    """Push ``month``'s export; the delivery row as it ended. MonthError for a bad
    month, PushNotConfigured without an endpoint. ``delivery_id``: a ``pending`` row
    made by :func:`start` (the API answers with it before the push ends)."""
    if not settings.mofcom_push_url:
        raise PushNotConfigured("mofcom_push_url is not set (DEHONG_MOFCOM_PUSH_URL)")
    try:
        doc = await build_export(db, month, now=now)
    except Exception as exc:
        if delivery_id is not None:  # the API's pending row says why, not pending forever
            await _fail(db, delivery_id, f"export: {type(exc).__name__}: {exc}")
        raise
    body = to_json(doc)
    digest = hashlib.sha256(body).hexdigest()
    async with db.transaction() as s:
        row = await s.get(MofcomDelivery, delivery_id) if delivery_id is not None else None
        if row is None:
            row = MofcomDelivery(month=month, trigger=trigger, actor=actor, attempts=0,
                                 status="pending", format_version=FORMAT_VERSION,
                                 endpoint=endpoint_of(settings.mofcom_push_url),
                                 body_sha256=digest, body_bytes=len(body))  # fmt: skip
            s.add(row)
        row.body_sha256, row.body_bytes = digest, len(body)
        await s.flush()
        ident = row.id
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Dehong-Format": f"{FORMAT_NAME}/{FORMAT_VERSION}",
        "X-Dehong-Month": month,
        "X-Content-SHA256": digest,
        "Idempotency-Key": f"dehong-mofcom-{month}-{digest[:16]}",
    }
    token = settings.mofcom_push_token.get_secret_value()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    verify: bool | str = str(settings.mofcom_push_ca_file) if settings.mofcom_push_ca_file else True
    backoff = Backoff(settings.mofcom_push_backoff_s, settings.mofcom_push_backoff_max_s)
    status, code, error = "failed", None, None
    async with httpx.AsyncClient(timeout=settings.mofcom_push_timeout_s, verify=verify,
                                 transport=transport) as client:  # fmt: skip
        for attempt in range(1, settings.mofcom_push_attempts + 1):
            wait: float | None = None
            try:
                r = await client.post(settings.mofcom_push_url, content=body, headers=headers)
                code, error = r.status_code, None if r.is_success else r.text[:500]
                if r.is_success:
                    status = "sent"
                elif r.status_code in RETRIED or r.status_code >= 500:
                    wait = _retry_after(r)
                    status = "retry"
                else:
                    status = "failed"
            except httpx.TransportError as exc:
                code, error, status = None, f"{type(exc).__name__}: {exc}"[:500], "retry"
            final = status != "retry" or attempt == settings.mofcom_push_attempts
            async with db.transaction() as s:
                row = await s.get(MofcomDelivery, ident)
                assert row is not None
                row.attempts = attempt
                row.last_status_code, row.last_error = code, error
                if final:
                    row.status = "sent" if status == "sent" else "failed"
                    row.finished_at = utcnow()
            if final:
                break
            delay = backoff.next()
            await sleep(max(delay, min(wait or 0.0, settings.mofcom_push_backoff_max_s)))
    async with db.session() as s:
        done = await s.get(MofcomDelivery, ident)
        assert done is not None
        log.info("mofcom push of %s: %s after %d attempt(s)", month, done.status, done.attempts)
        return done


async def _fail(db: Database, ident: int, error: str) -> None:
    async with db.transaction() as s:
        row = await s.get(MofcomDelivery, ident)
        if row is not None:
            row.status, row.last_error, row.finished_at = "failed", error[:500], utcnow()


def log_failure(task: asyncio.Task[object]) -> None:
    """A done callback: a background push's exception is logged, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.error("mofcom push failed", exc_info=task.exception())


async def start(
    db: Database, settings: Settings, month: str, *, trigger: str, actor: str
) -> MofcomDelivery:
    """A ``pending`` delivery row for a push about to run (the API's 202 answer)."""
    if not settings.mofcom_push_url:
        raise PushNotConfigured("mofcom_push_url is not set (DEHONG_MOFCOM_PUSH_URL)")
    async with db.transaction() as s:
        row = MofcomDelivery(month=month, trigger=trigger, actor=actor, attempts=0,
                             status="pending", format_version=FORMAT_VERSION,
                             endpoint=endpoint_of(settings.mofcom_push_url),
                             body_sha256="", body_bytes=0)  # fmt: skip
        s.add(row)
        await s.flush()
        return row


async def already_sent(db: Database, month: str) -> bool:
    async with db.session() as s:
        q = select(MofcomDelivery.id).where(
            MofcomDelivery.month == month, MofcomDelivery.status == "sent"
        )
        return (await s.scalar(q.limit(1))) is not None


async def run_due(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    sleep: Sleep = asyncio.sleep,
    transport: httpx.AsyncBaseTransport | None = None,
) -> MofcomDelivery | None:
    """Push the due month (:func:`due_month`) unless it was sent; None when nothing is
    due or configured."""
    month = due_month(now, settings.mofcom_push_day)
    if month is None or not settings.mofcom_push_url or await already_sent(db, month):
        return None
    return await push(db, settings, month, trigger="schedule", actor="scheduler",
                      sleep=sleep, now=now, transport=transport)  # fmt: skip


async def scheduler(
    db: Database,
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock: Clock = lambda: datetime.now(UTC),
    sleep: Sleep = asyncio.sleep,
) -> None:
    """:func:`run_due` every ``mofcom_push_check_s`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await run_due(db, settings, now=clock(), sleep=sleep)
        except Exception:  # a failed round is logged; the next one tries again
            log.exception("mofcom scheduled push failed")
        try:
            await asyncio.wait_for(stop.wait(), settings.mofcom_push_check_s)
        except TimeoutError:
            continue
