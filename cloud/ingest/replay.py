"""Replaying dead letters after a fix (a gateway registered, a conflicting field
dropped, a clock corrected): each one goes through the same pipeline again.

A letter that passes now is marked ``replayed_at``; one that is refused again
stays as it is, and the new reason is returned (no second dead letter is made).
Write-acks are not published: the gateway was answered when the letter was made.

A replay is a background job (``dead_letter_replays``), not work inside one HTTP
request: :func:`create_job` records it, :func:`run_job` works through its letters
in pages, writing progress, outcomes, ``replayed_at`` marks and audit entries at
least every :data:`PROGRESS_EVERY_S`. A job whose runner stopped writing for
:data:`STALE_AFTER_S` (the API process ended) is reported as ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from types import TracebackType

from sqlalchemy import select

from cloud.audit.service import record
from cloud.db import Database, utcnow
from cloud.ingest.deadletter import DeadLetters
from cloud.ingest.pipeline import Ingest
from cloud.ingest.storage import DeadLetter, DeadLetterPayload, ReplayJob
from cloud.timeseries import TimeSeriesStore
from protocol.ids import PREFECTURE

log = logging.getLogger(__name__)

#: Progress, outcomes and marks are written at least this often while a job runs.
PROGRESS_EVERY_S = 0.5
#: A job not written for this long is no longer running (its process ended).
STALE_AFTER_S = 180.0
#: Letters loaded at a time (with their payloads).
PAGE = 50


@dataclass(frozen=True, slots=True)
class ReplayResult:
    id: int
    replayed: bool
    code: str | None = None
    field: str | None = None
    reason: str | None = None


class _Collecting(DeadLetters):
    """Records refusals in memory instead of storing new dead letters."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.refusals: list[tuple[str, str, str]] = []

    async def put(
        self,
        topic: str,
        payload: bytes,
        code: str,
        field: str,
        reason: str,
        county: str = "",
        gateway: str = "",
    ) -> int:
        self.refusals.append((code, field, reason))
        return 0


async def _no_ack(_topic: str, _payload: bytes) -> None:
    return None


class Replayer:
    """One pipeline for a run of replays; ``async with`` runs its writer."""

    def __init__(self, db: Database, tsdb: TimeSeriesStore, *, timeout_s: float = 60) -> None:
        self.collecting = _Collecting(db)
        self.ingest = Ingest(
            db, tsdb, _no_ack, dead_letters=self.collecting, linger_s=0.01, retry_max_s=2.0
        )
        self.timeout_s = timeout_s
        self._writer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Replayer:
        self._writer = asyncio.create_task(self.ingest.run_writer())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def one(self, letter_id: int, topic: str, payload: bytes) -> ReplayResult:
        """Run one letter through the pipeline; TimeoutError if the store does not take
        it within ``timeout_s``."""
        self.collecting.refusals.clear()
        error = await self.ingest.handle(topic, payload)
        await asyncio.wait_for(self.ingest.drained(), self.timeout_s)
        if error is None and not self.collecting.refusals:
            return ReplayResult(letter_id, True)
        code, field, reason = (
            (error.code, error.field, error.reason)
            if error is not None
            else self.collecting.refusals[0]
        )
        return ReplayResult(letter_id, False, code, field, reason)


async def create_job(db: Database, actor: str, county: str, ids: Sequence[int]) -> ReplayJob:
    now = utcnow()
    async with db.transaction() as s:
        job = ReplayJob(
            actor=actor[:128],
            county=county,
            letter_ids=list(ids),
            status="queued",
            total=len(ids),
            done=0,
            replayed=0,
            refused=0,
            results=[],
            created_at=now,
            updated_at=now,
        )
        s.add(job)
        await s.flush()
    return job


def job_status(job: ReplayJob) -> str:
    """The stored status, or ``interrupted`` for a job nobody is running any more."""
    if job.status in ("queued", "running") and utcnow() - job.updated_at > timedelta(
        seconds=STALE_AFTER_S
    ):
        return "interrupted"
    return job.status


async def run_job(db: Database, tsdb: TimeSeriesStore, job_id: int) -> None:
    """Work through a job's letters; never raises (the outcome is on the job)."""
    async with db.transaction() as s:
        job = await s.get(ReplayJob, job_id)
        if job is None:
            return
        job.status, job.updated_at = "running", utcnow()
        ids, actor = list(job.letter_ids), job.actor
    pending: list[tuple[ReplayResult, str]] = []  # (outcome, the letter's county)
    last = time.monotonic()
    try:
        async with Replayer(db, tsdb) as replayer:
            for start in range(0, len(ids), PAGE):
                page = ids[start : start + PAGE]
                async with db.session() as s:
                    rows = (
                        await s.execute(
                            select(DeadLetter, DeadLetterPayload.data)
                            .join(
                                DeadLetterPayload,
                                DeadLetterPayload.sha256 == DeadLetter.payload_sha256,
                            )
                            .where(DeadLetter.id.in_(page))
                        )
                    ).all()
                letters = {letter.id: (letter, bytes(data)) for letter, data in rows}
                for letter_id in page:
                    if letter_id not in letters:
                        gone = ReplayResult(letter_id, False, "not_found", "", "no such letter")
                        pending.append((gone, PREFECTURE))
                        continue
                    letter, payload = letters[letter_id]
                    result = await replayer.one(letter.id, letter.topic, payload)
                    pending.append((result, letter.county or PREFECTURE))
                    if time.monotonic() - last >= PROGRESS_EVERY_S:
                        await _save(db, job_id, actor, pending)
                        pending, last = [], time.monotonic()
        await _save(db, job_id, actor, pending, status="done")
    except TimeoutError:
        await _save(
            db,
            job_id,
            actor,
            pending,
            status="failed",
            error="the time-series store did not take the replay in time; retry later "
            "(the letters not done are unchanged)",
        )
    except Exception:
        log.exception("dead-letter replay job %d failed", job_id)
        with contextlib.suppress(Exception):
            await _save(
                db, job_id, actor, [], status="failed", error="internal error; see the API log"
            )


async def _save(
    db: Database,
    job_id: int,
    actor: str,
    outcomes: list[tuple[ReplayResult, str]],
    *,
    status: str | None = None,
    error: str | None = None,
) -> None:
    """Progress, outcomes, ``replayed_at`` marks and audit entries, in one transaction."""
    now = utcnow()
    async with db.transaction() as s:
        job = await s.get(ReplayJob, job_id)
        if job is None:
            return
        for r, county in outcomes:
            if r.replayed:
                letter = await s.get(DeadLetter, r.id)
                if letter is not None:
                    letter.replayed_at = now
            await record(
                s,
                actor,
                "dead_letter.replayed" if r.replayed else "dead_letter.replay_refused",
                f"dead_letter:{r.id}",
                county,
                {"code": r.code} if r.code else {},
            )
        job.results = [*job.results, *(asdict(r) for r, _ in outcomes)]
        job.done += len(outcomes)
        job.replayed += sum(1 for r, _ in outcomes if r.replayed)
        job.refused += sum(1 for r, _ in outcomes if not r.replayed)
        job.updated_at = now
        if status is not None:
            job.status = status
            job.finished_at = now
        if error is not None:
            job.error = error
