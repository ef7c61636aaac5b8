"""The seam to helper ``serials`` (RESOLVER.md): the serial's authentication code
(``check_code``) and the scan record (``record_scan``). Imported when called, so the
page works before those packages are merged; until then a code is reported
``unchecked`` (never as valid) and no scan is recorded."""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

FORGED = ("此码非本平台发放", "this code was not issued by us")


def _function(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


async def check(
    session: AsyncSession, gtin: str, lot: str, serial: str | None, code: str | None
) -> dict[str, Any] | None:
    """The code check for the page: None when the link names no serial and no code."""
    if serial is None and code is None:
        return None
    check_code = _function("cloud.resolver.serials.service", "check_code")
    if check_code is None:
        return {
            "status": "unchecked",
            "serial": serial,
            "reason": {"zh": "本平台暂不能核验此码", "en": "codes cannot be checked here yet"},
        }
    try:
        got = await check_code(session, gtin, lot, serial, code)
    except RuntimeError as exc:  # the serials key missing or unreadable (SerialKeyError)
        return {
            "status": "unchecked",
            "serial": serial,
            "reason": {"zh": "暂时无法核验此码", "en": f"the code cannot be checked now: {exc}"},
        }
    # a forged code: the page heads it with FORGED; the reason says why
    return {
        "status": got.status,
        "serial": serial,
        "reason": {"zh": got.reason_zh, "en": got.reason_en},
    }


async def record(
    session: AsyncSession,
    gtin: str,
    lot: str,
    serial: str,
    *,
    user_agent: str | None,
    at: datetime,
) -> dict[str, Any] | None:
    """Record one scan of a serial (only for a valid code; the caller commits)."""
    record_scan = _function("cloud.resolver.scans.service", "record_scan")
    if record_scan is None:
        return None
    s = await record_scan(session, gtin, lot, serial, user_agent=user_agent, at=at)
    # the scan's token: the page's opt-in "share your city" (scan-place.js) posts to it;
    # the HTML view only (no-store), never the JSON
    return {
        "scan_id": s.scan_id,
        "first": s.first,
        "count": s.count,
        "first_at": s.first_at.isoformat(),
    }
