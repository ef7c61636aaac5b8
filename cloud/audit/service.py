"""Write and read the audit log. :func:`record` joins the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.storage import AuditEntry
from cloud.db.base import utcnow
from cloud.pagination import Key, Page, PageParams, fetch_page

#: Fields that hold personal data (households, farmers, drivers, users). The audit log
#: names which of them changed (``personal_changed``), never their values: a detail
#: carrying one of these keys is refused.
PERSONAL_FIELDS = frozenset(
    {
        "display_name",
        "full_name",
        "phone",
        "mobile",
        "id_number",
        "id_card",
        "address",
        "bank_account",
        "email",
        "household",
        "birth_date",
        "licence_number",
    }
)


async def record(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str,
    county: str,
    detail: dict[str, Any] | None = None,
    *,
    personal_changed: Iterable[str] = (),
) -> AuditEntry:
    """Add one entry in the caller's transaction, so it commits (or not) with the change.

    ``actor`` is ``user:alice``, ``apikey:<id>`` or ``cli:<unix user>``; ``action`` a
    dotted verb such as ``gateway.provisioned``; ``target`` what was acted on.
    ``personal_changed`` names the personal fields the action changed; their values
    never enter the log (ValueError if ``detail`` carries one).
    """
    detail = dict(detail or {})
    leaked = PERSONAL_FIELDS.intersection(detail)
    if leaked:
        raise ValueError(
            f"audit detail would hold personal data ({', '.join(sorted(leaked))}); "
            "pass the field names as personal_changed instead"
        )
    changed = sorted(set(personal_changed))
    if changed:
        detail["personal_fields_changed"] = changed
    entry = AuditEntry(
        at=utcnow(),
        actor=actor[:128],
        action=action,
        target=target[:255],
        county=county,
        detail=detail,
    )
    session.add(entry)
    await session.flush()
    return entry


#: Newest first (cloud/pagination.py).
AUDIT_KEYS = (Key(AuditEntry.id, desc=True, kind=int),)


async def list_entries(
    session: AsyncSession,
    counties: list[str] | None,
    page: PageParams,
    *,
    action: str | None = None,
    before_id: int | None = None,
) -> Page[AuditEntry]:
    """Newest first, a keyset page. ``before_id`` (deprecated, the cursor replaces it):
    entries older than this id."""
    q = select(AuditEntry)
    if counties is not None:
        q = q.where(AuditEntry.county.in_(counties))
    if action is not None:
        q = q.where(AuditEntry.action == action)
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    return await fetch_page(session, q, AUDIT_KEYS, page)
