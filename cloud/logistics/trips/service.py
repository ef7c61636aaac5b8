"""Geofence records (create, change, delete; audited) and the reads of the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.db import utcnow
from cloud.logistics.trips.schemas import Circle, Polygon
from cloud.logistics.trips.storage import Geofence


def geometry_json(g: Circle | Polygon) -> dict[str, Any]:
    return g.model_dump()


async def create(
    s: AsyncSession,
    *,
    county: str,
    name: str,
    location_id: int | None,
    base_id: int | None,
    geometry: Circle | Polygon,
    actor: str,
) -> Geofence:
    fence = Geofence(
        county=county, name=name, location_id=location_id, base_id=base_id,
        geometry=geometry_json(geometry), created_by=actor, created_at=utcnow(),
    )  # fmt: skip
    s.add(fence)
    await s.flush()
    await record(s, actor, "geofence.created", f"geofence:{fence.id}", county,
                 {"location_id": location_id, "base_id": base_id, "type": geometry.type})  # fmt: skip
    return fence


async def update(s: AsyncSession, fence: Geofence, changes: dict[str, Any], actor: str) -> Geofence:
    if changes.get("name") is not None:
        fence.name = changes["name"]
    if changes.get("geometry") is not None:
        fence.geometry = geometry_json(changes["geometry"])
    fence.updated_at = utcnow()
    await record(s, actor, "geofence.updated", f"geofence:{fence.id}", fence.county,
                 {"changed": sorted(k for k, v in changes.items() if v is not None)})  # fmt: skip
    return fence


async def remove(s: AsyncSession, fence: Geofence, actor: str) -> None:
    await record(s, actor, "geofence.deleted", f"geofence:{fence.id}", fence.county, {})
    await s.delete(fence)


async def taken(s: AsyncSession, location_id: int | None, base_id: int | None) -> bool:
    q = select(Geofence.id).where(
        Geofence.location_id == location_id
        if location_id is not None
        else Geofence.base_id == base_id
    )
    return (await s.scalar(q)) is not None
