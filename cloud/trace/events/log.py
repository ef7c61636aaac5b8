"""The seam to the tamper-evident log (``cloud/trace/log``, helper h/tlog): every
stored event, and every error declaration added, is appended in the transaction that
stores it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


def declaration_leaf_id(event_id: str) -> str:
    """The log's key for the error declaration of ``event_id`` (a leaf of its own: the
    event as returned once declared; the event's own leaf is never changed)."""
    return f"{event_id}#errorDeclaration"


async def append_to_log(
    session: AsyncSession, entries: list[tuple[str, dict[str, Any]]]
) -> list[int] | None:
    """Append (key, event as returned) pairs to the log, in the caller's transaction;
    their leaf indexes, or None while the log is not built.

    THE call site of ``cloud.trace.log.service.append_events(session, entries)``.
    TODO(h/tlog): call it here once it lands on main (merge h/tlog).
    """
    if not entries:
        return []
    return None
