"""Replaying dead letters after a fix (a gateway registered, a conflicting field
dropped, a clock corrected): each one goes through the same pipeline again.

A letter that passes now is marked ``replayed_at``; one that is refused again
stays as it is, and the new reason is returned (no second dead letter is made).
Write-acks are not published: the gateway was answered when the letter was made.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from cloud.db import Database, utcnow
from cloud.ingest.deadletter import DeadLetters
from cloud.ingest.pipeline import Ingest
from cloud.ingest.storage import DeadLetter
from cloud.timeseries import TimeSeriesStore


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
    ) -> None:
        self.refusals.append((code, field, reason))


async def _no_ack(_topic: str, _payload: bytes) -> None:
    return None


async def replay(
    db: Database, tsdb: TimeSeriesStore, letters: Sequence[DeadLetter], *, timeout_s: float = 60
) -> list[ReplayResult]:
    collecting = _Collecting(db)
    ingest = Ingest(db, tsdb, _no_ack, dead_letters=collecting, linger_s=0.01, retry_max_s=2.0)
    writer = asyncio.create_task(ingest.run_writer())
    results: list[ReplayResult] = []
    try:
        for letter in letters:
            collecting.refusals.clear()
            error = await ingest.handle(letter.topic, letter.payload)
            await asyncio.wait_for(ingest.drained(), timeout_s)
            if error is None and not collecting.refusals:
                results.append(ReplayResult(letter.id, True))
                continue
            code, field, reason = (
                (error.code, error.field, error.reason)
                if error is not None
                else collecting.refusals[0]
            )
            results.append(ReplayResult(letter.id, False, code, field, reason))
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    done = {r.id for r in results if r.replayed}
    if done:
        now = utcnow()
        async with db.transaction() as s:
            for letter_id in done:
                row = await s.get(DeadLetter, letter_id)
                if row is not None:
                    row.replayed_at = now
    return results
