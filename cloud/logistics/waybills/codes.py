"""One-time delivery codes: six digits sent to the receiver's phone; the driver types
the code the receiver reads out, which proves the receiver was there. Only a hash is
kept; a code expires (24 h) and allows 5 wrong tries.

Sending is not ours: :class:`CodeSender` is any async callable ``(phone, text)``;
cloud/notify's SMS channel plugs in there (``app.state.delivery_code_sender``). The
default, :func:`log_sender`, only logs that a code would be sent (the phone masked,
never the code): a deployment without an SMS channel gets no codes delivered, which
its logs say.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import utcnow
from cloud.logistics.waybills.storage import DeliveryCode, Waybill

log = logging.getLogger(__name__)

CodeSender = Callable[[str, str], Awaitable[None]]
TTL = timedelta(hours=24)
MAX_ATTEMPTS = 5


def masked_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


async def log_sender(phone: str, text: str) -> None:
    log.warning(
        "delivery code for %s not sent: no SMS channel configured (cloud/notify)",
        masked_phone(phone),
    )


def _hash(wb: Waybill, code: str) -> str:
    return hashlib.sha256(f"{wb.number}:{code}".encode()).hexdigest()


async def issue(
    session: AsyncSession, wb: Waybill, now: datetime | None = None
) -> tuple[str, datetime]:
    """A new code for ``wb`` (replacing any earlier one): ``(code, expires_at)``."""
    now = now or utcnow()
    code = f"{secrets.randbelow(10**6):06d}"
    row = await session.get(DeliveryCode, wb.id)
    if row is None:
        row = DeliveryCode(waybill_id=wb.id)
        session.add(row)
    row.code_hash, row.expires_at, row.attempts = _hash(wb, code), now + TTL, 0
    row.used_at, row.sent_at = None, now
    await session.flush()
    return code, row.expires_at


async def check(
    session: AsyncSession,
    wb: Waybill,
    code: str | None,
    now: datetime | None = None,
    *,
    consume: bool = True,
) -> str:
    """``"none"`` (no code was issued), ``"ok"`` (marked used with ``consume``), or why
    it fails: ``"missing"``, ``"wrong"`` (the attempt counted), ``"expired"``,
    ``"locked"``."""
    now = now or utcnow()
    row = await session.get(DeliveryCode, wb.id, with_for_update=True)
    if row is None or row.used_at is not None:
        return "none" if row is None else "ok"
    if code is None:
        return "missing"
    if row.attempts >= MAX_ATTEMPTS:
        return "locked"
    if now > row.expires_at:
        return "expired"
    if not hmac.compare_digest(row.code_hash, _hash(wb, code)):
        row.attempts += 1
        await session.flush()
        return "wrong"
    if consume:
        row.used_at = now
        await session.flush()
    return "ok"
