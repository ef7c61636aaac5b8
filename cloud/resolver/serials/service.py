"""Serial ranges: issue, list, export; check a scanned serial's code.

A lot's serials are issued in ranges of decimal numbers that never overlap; each
serial's code ``c`` is its MAC (cloud/resolver/serials/codes.py), recomputed when
printed and when scanned, never stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.resolver.serials.codes import code_matches, make_code
from cloud.resolver.serials.keys import SerialKeySettings, load_key
from cloud.resolver.serials.schemas import MAX_SERIAL, CodeCheck, RangeCreate
from cloud.resolver.serials.storage import SerialRange
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.lots.storage import TraceLot

#: where a session finds the app's settings (set by cloud/app.py on its sessions)
SETTINGS_INFO = "dehong.settings"


class SerialError(Exception):
    """``status`` (403, 404, 409, 422) and the input at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def session_settings(session: AsyncSession) -> SerialKeySettings:
    """The app's settings, as cloud/app.py put them on its sessions; else the
    process's (``DEHONG_*`` environment)."""
    found = session.info.get(SETTINGS_INFO)
    if found is not None:
        return found  # type: ignore[no-any-return]
    from cloud.settings import get_settings

    return get_settings()


async def lot_of(session: AsyncSession, gtin: str, lot: str) -> TraceLot | None:
    return await session.scalar(select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == lot))


async def issue_range(
    session: AsyncSession, lot: TraceLot, body: RangeCreate, principal: Principal
) -> SerialRange:
    """A new range of ``lot``'s serials; audited. The caller commits."""
    principal.require_write(lot.county, str(lot.org_id))
    top = await session.scalar(
        select(func.max(SerialRange.first + SerialRange.count - 1)).where(
            SerialRange.lot_id == lot.id
        )
    )
    first = body.first if body.first is not None else int(top or 0) + 1
    last = first + body.count - 1
    if last > MAX_SERIAL:
        raise SerialError(
            422, f"the range would end at {last}, past the largest serial {MAX_SERIAL}",
            "body.count" if body.first is None else "body.first",
        )  # fmt: skip
    clash = await session.scalar(
        select(SerialRange).where(
            SerialRange.lot_id == lot.id,
            SerialRange.first <= last,
            SerialRange.first + SerialRange.count - 1 >= first,
        )
    )
    if clash is not None:
        raise SerialError(
            409,
            f"serials {first}-{last} overlap range {clash.id} ({clash.first}-{clash.last}) "
            f"of lot {lot.lot!r}; a serial is issued once",
            "body.first",
        )
    rng = SerialRange(
        lot_id=lot.id, county=lot.county, first=first, count=body.count,
        created_by=principal.actor,
    )  # fmt: skip
    session.add(rng)
    await session.flush()
    await record(
        session, principal.actor, "serials.issued", f"lot:{lot.gtin}/{lot.lot}", lot.county,
        {"range_id": rng.id, "first": first, "count": body.count},
    )  # fmt: skip
    return rng


def ranges_query(lot_id: int) -> Select[Any]:
    """The lot's ranges, unordered (the router pages them by first serial)."""
    return select(SerialRange).where(SerialRange.lot_id == lot_id)


async def get_range(
    session: AsyncSession, range_id: int, principal: Principal
) -> tuple[SerialRange, TraceLot] | None:
    """The range and its lot; None when absent or of a county ``principal`` cannot see."""
    rng = await session.get(SerialRange, range_id)
    if rng is None or not principal.can_see(rng.county):
        return None
    lot = await session.get_one(TraceLot, rng.lot_id)
    return rng, lot


async def audit_codes_out(
    db: Any, principal: Principal, lot: TraceLot, what: str, first: int, count: int
) -> None:
    """Audit that valid codes left the platform (a CSV export, a label sheet, one QR):
    who took which serials of which lot. Its own transaction, before the codes go."""
    async with db.transaction() as s:
        await record(
            s, principal.actor, f"serials.{what}", f"lot:{lot.gtin}/{lot.lot}", lot.county,
            {"first": first, "count": count},
        )  # fmt: skip


def serial_uri(key: bytes, base: str, gtin: str, lot: str, serial: str) -> str:
    """The serial's canonical Digital Link with its code: ``{base}/01/../10/../21/..?c=..``."""
    return f"{dl_uri(gtin, lot, serial, base=base)}?c={make_code(key, gtin, lot, serial)}"


def range_uris(
    key: bytes, base: str, lot: TraceLot, first: int, count: int
) -> Iterator[tuple[str, str]]:
    """(serial, URI) of serials ``first`` .. ``first + count - 1``."""
    for n in range(first, first + count):
        serial = str(n)
        yield serial, serial_uri(key, base, lot.gtin, lot.lot, serial)


def _issued_number(serial: str) -> int | None:
    """The serial's number if it is written as we issue them (decimal, no leading 0)."""
    if not serial.isascii() or not serial.isdigit() or serial != str(int(serial)):
        return None
    n = int(serial)
    return n if 1 <= n <= MAX_SERIAL else None


async def is_issued(session: AsyncSession, gtin: str, lot: str, serial: str) -> bool:
    """Whether ``serial`` was issued to the lot (in one of its ranges, written as issued)."""
    n = _issued_number(serial)
    if n is None:
        return False
    found = await session.scalar(
        select(SerialRange.id)
        .join(TraceLot, TraceLot.id == SerialRange.lot_id)
        .where(
            TraceLot.gtin == gtin,
            TraceLot.lot == lot,
            SerialRange.first <= n,
            SerialRange.first + SerialRange.count - 1 >= n,
        )
        .limit(1)
    )
    return found is not None


#: What a page says of a ``forged`` code, before its reason (the reasons say why only).
FORGED_ZH = "此码非本平台发放"
FORGED_EN = "This code was not issued by us"


async def check_code(
    session: AsyncSession,
    gtin: str,
    lot: str,
    serial: str | None,
    c: str | None,
    *,
    key: bytes | None = None,
) -> CodeCheck:
    """Whether a scanned (GTIN, lot, serial, ``c``) is one we issued.

    No serial: ``no_serial`` (the lot's own code). A serial outside every range issued
    to the lot (or the lot unknown), or a missing or wrong ``c``: ``forged``; the page
    says 此码非本平台发放 (:data:`FORGED_ZH`) and then the reason. ``key``
    defaults to the key file of the session's settings (:func:`session_settings`); it
    is read only for a serial that was issued. Raises SerialKeyError when that key
    is missing.
    """
    if serial is None or serial == "":
        return CodeCheck(
            "no_serial",
            "此码为批次码，不含单件序列号，无法验证单件真伪",
            "This is the lot's code: it has no unit serial to authenticate",
        )
    issued = await is_issued(session, gtin, lot, serial)
    if not issued:
        return CodeCheck(
            "forged", "该序列号未由本平台发放", "no such serial was issued for this lot"
        )
    if not c:
        return CodeCheck("forged", "缺少防伪验证码", "the authentication code is missing")
    if key is None:
        key = load_key(session_settings(session))
    if not code_matches(key, gtin, lot, serial, c):
        return CodeCheck("forged", "防伪验证码不符", "the authentication code is wrong")
    return CodeCheck("valid", "正品：此码由本平台发放", "Genuine: this code was issued by us")
