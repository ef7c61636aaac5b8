"""Write and read the audit log. :func:`record` joins the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.storage import AuditEntry
from cloud.db.base import utcnow


async def record(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str,
    county: str,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction, so it commits (or not) with the change.

    ``actor`` is ``user:alice``, ``apikey:<id>`` or ``cli:<unix user>``; ``action`` a
    dotted verb such as ``gateway.provisioned``; ``target`` what was acted on.
    """
    entry = AuditEntry(
        at=utcnow(),
        actor=actor[:128],
        action=action,
        target=target[:255],
        county=county,
        detail=dict(detail or {}),
    )
    session.add(entry)
    await session.flush()
    return entry


async def list_entries(
    session: AsyncSession,
    counties: list[str] | None,
    *,
    action: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEntry]:
    """Newest first; page with ``before_id`` (the smallest id of the previous page)."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if counties is not None:
        q = q.where(AuditEntry.county.in_(counties))
    if action is not None:
        q = q.where(AuditEntry.action == action)
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    return list((await session.execute(q)).scalars())
