"""Reads other packages make of the catalog (trace, cold chain): by key, no principal.

The caller scopes by county itself (each record carries its ``county``). Import them
from :mod:`cloud.catalog.service`, which re-exports them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.gln import location_key
from cloud.catalog.gs1 import check_gtin
from cloud.catalog.storage import CommodityProfile, Location, LocationDevice, Product


async def get_product_by_gtin(session: AsyncSession, gtin: str) -> Product | None:
    """The product of ``gtin`` (GTIN-8/12/13/14; normalised to the GTIN-14), or None when
    it is not in our catalog (or not a valid GTIN)."""
    try:
        key = check_gtin(gtin)
    except ValueError:
        return None
    return await session.scalar(select(Product).where(Product.gtin == key))


async def get_location(session: AsyncSession, location_id: int) -> Location | None:
    return await session.get(Location, location_id)


async def get_location_by_gln(session: AsyncSession, gln_or_sgln: str) -> Location | None:
    """The location of a GLN, an SGLN URN or a Digital Link (``/414/{gln}[/254/{ext}]``),
    matched exactly on (GLN, extension); None when unknown or not a valid key."""
    try:
        key = location_key(gln_or_sgln)
    except ValueError:
        return None
    return await session.scalar(
        select(Location).where(Location.gln == key.gln, Location.gln_extension == key.extension)
    )


async def devices_of_location(
    session: AsyncSession,
    location_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """The time-series device ids measuring the location: now (no ``start``/``end``),
    or at any time within ``[start, end)`` (a custody interval; ``end`` None: until now)."""
    q = select(LocationDevice.device_id).where(LocationDevice.location_id == location_id)
    if start is None and end is None:
        q = q.where(LocationDevice.until.is_(None))
    else:
        if start is not None:
            q = q.where((LocationDevice.until.is_(None)) | (LocationDevice.until > start))
        if end is not None:
            q = q.where(LocationDevice.since < end)
    rows = await session.scalars(q.order_by(LocationDevice.device_id))
    return list(dict.fromkeys(rows))


async def device_links(session: AsyncSession, location_id: int) -> list[LocationDevice]:
    """Every device link of the location, oldest first (``since``, ``until``)."""
    rows = await session.scalars(
        select(LocationDevice)
        .where(LocationDevice.location_id == location_id)
        .order_by(LocationDevice.since, LocationDevice.id)
    )
    return list(rows)


async def get_profile(session: AsyncSession, profile_id: int) -> CommodityProfile | None:
    return await session.get(CommodityProfile, profile_id)
