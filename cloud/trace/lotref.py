"""The lot a ``/api/v1/trace/lots/{gtin}/{lot}/...`` route names: GTIN (8-14 digits,
check digit verified) and lot number validated (422 naming ``path.gtin`` or
``path.lot``), then found in a county the principal sees (404 otherwise: another
county's lot does not exist for this reader)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.principal import Principal
from cloud.catalog.gs1 import check_gtin
from cloud.errors import ApiError
from cloud.trace.lots.schemas import check_lot_number
from cloud.trace.lots.service import get_lot
from cloud.trace.lots.storage import TraceLot

GtinPath = Annotated[str, Path(description="GTIN-8/12/13/14 of the lot's product")]
LotPath = Annotated[str, Path(description="Lot number (GS1 AI 10)")]


def lot_key(gtin: str, lot: str) -> tuple[str, str]:
    try:
        key_gtin = check_gtin(gtin)
    except ValueError as exc:
        raise ApiError(422, f"path.gtin: {exc}", field="path.gtin") from None
    try:
        key_lot = check_lot_number(lot)
    except ValueError as exc:
        raise ApiError(422, f"path.lot: {exc}", field="path.lot") from None
    return key_gtin, key_lot


async def lot_or_404(session: AsyncSession, gtin: str, lot: str, principal: Principal) -> TraceLot:
    key = lot_key(gtin, lot)
    found = await get_lot(session, *key, principal)
    if found is None:
        raise ApiError(404, f"lot {key[1]!r} of GTIN {key[0]} not found")
    return found
