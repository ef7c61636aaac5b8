"""The dead-letter store: every refused message, or refused part of one, with its reason.

A letter refers to its payload by SHA-256 (``dead_letter_payloads``): the refused
parts of one batch, and every resend of a refused batch, store its bytes once.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database, utcnow
from cloud.db.upsert import dialect_insert
from cloud.ingest.storage import DeadLetter, DeadLetterPayload

log = logging.getLogger(__name__)


class DeadLetters:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        """Store a letter (its payload once); return its id."""
        log.warning("dead letter %s [%s] %s: %s", topic, code, field or "-", reason)
        digest = hashlib.sha256(payload).hexdigest()
        async with self.db.transaction() as s:
            await s.execute(
                dialect_insert(s, DeadLetterPayload)
                .values(sha256=digest, size=len(payload), data=payload, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["sha256"])
            )
            letter = DeadLetter(
                topic=topic[:255],
                county=county,
                gateway_id=gateway[:64],
                code=code,
                field=field[:255],
                reason=reason,
                payload_sha256=digest,
            )
            s.add(letter)
            await s.flush()
            return letter.id


async def payload_of(session: AsyncSession, letter: DeadLetter) -> bytes:
    """The bytes a letter refers to."""
    data = await session.scalar(
        select(DeadLetterPayload.data).where(DeadLetterPayload.sha256 == letter.payload_sha256)
    )
    if data is None:  # the foreign key forbids it
        raise LookupError(f"dead letter {letter.id}: payload {letter.payload_sha256} missing")
    return bytes(data)
