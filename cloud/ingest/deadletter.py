"""The dead-letter store: every refused message, or refused part of one, with its reason."""

from __future__ import annotations

import logging

from cloud.db import Database
from cloud.ingest.storage import DeadLetter

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
    ) -> None:
        log.warning("dead letter %s [%s] %s: %s", topic, code, field or "-", reason)
        async with self.db.transaction() as s:
            s.add(
                DeadLetter(
                    topic=topic[:255],
                    county=county,
                    gateway_id=gateway[:64],
                    code=code,
                    field=field[:255],
                    reason=reason,
                    payload=payload,
                )
            )
