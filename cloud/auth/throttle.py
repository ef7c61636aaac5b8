"""Login throttling: failed attempts counted per client address and per username in
the database (so every API process shares them), with a lockout once a key reaches
its limit within the window.

A locked key is refused before the password is checked (no argon2 work, no oracle);
the caller answers 429 with ``Retry-After``. A successful login clears its username's
count, never its address's (one good password must not unlock an address that is
guessing others').
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.storage import LoginThrottle
from cloud.db.upsert import upsert


@dataclass(frozen=True, slots=True)
class Limits:
    window_s: float
    lockout_s: float


def ip_key(address: str) -> str:
    return f"ip:{address}"[:128]


def user_key(username: str) -> str:
    return f"user:{username}"[:128]


async def retry_after(session: AsyncSession, keys: list[str], now: datetime) -> int | None:
    """Seconds until every key in ``keys`` is unlocked; None when none is locked."""
    rows = (
        await session.execute(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    ).scalars()
    waits = [
        (row.locked_until - now).total_seconds()
        for row in rows
        if row.locked_until is not None and row.locked_until > now
    ]
    return max(1, math.ceil(max(waits))) if waits else None


async def failed(
    session: AsyncSession, limits: Mapping[str, int], rules: Limits, now: datetime
) -> list[str]:
    """Count one failure for each key (``key -> max failures``); the keys now locked."""
    window = timedelta(seconds=rules.window_s)
    await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_start < now - window,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            and_(LoginThrottle.key.not_in(list(limits))),
        )
    )
    locked: list[str] = []
    for key, limit in limits.items():
        # concurrent failures of one key: insert-if-absent, then count under a row lock
        await upsert(
            session,
            LoginThrottle,
            {"key": key, "failures": 0, "window_start": now, "locked_until": None},
            keys=["key"],
        )
        row = (
            await session.execute(
                select(LoginThrottle)
                .where(LoginThrottle.key == key)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        if row.window_start < now - window:
            row.failures, row.window_start = 0, now
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + timedelta(seconds=rules.lockout_s)
            row.failures, row.window_start = 0, now
            locked.append(key)
    await session.flush()
    return locked


async def succeeded(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
