"""The seam to the tamper-evident log (:mod:`cloud.trace.log`): every stored event,
and every error declaration added, is appended in the transaction that stores it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.trace.log.scope import DECLARATION_SUFFIX
from cloud.trace.log.service import append_events


def declaration_leaf_id(event_id: str) -> str:
    """The log's key for the error declaration of ``event_id``: a leaf of its own (the
    event as returned once declared); the event's own leaf is never changed."""
    return f"{event_id}{DECLARATION_SUFFIX}"


async def append_to_log(
    session: AsyncSession, entries: list[tuple[str, dict[str, Any]]]
) -> list[int]:
    """Append (log key, the event as returned) pairs in the caller's transaction; their
    leaf indexes. The log serialises appends on one row until the transaction ends, so
    the store calls this last."""
    return await append_events(session, entries)
