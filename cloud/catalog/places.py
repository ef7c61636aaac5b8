"""Production bases and locations (the devices measuring a location: :mod:`links`).

Every function writes in the caller's transaction and audits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geojson_pydantic import Point, Polygon
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.catalog.edits import set_changed
from cloud.catalog.errors import CatalogError
from cloud.catalog.geo import as_geojson, representative_point
from cloud.catalog.gln import LocationKey
from cloud.catalog.storage import (
    CommodityProfile,
    Location,
    LocationDevice,
    Organisation,
    ProductionBase,
)
from cloud.db import utcnow
from protocol.ids import PREFECTURE

# ----------------------------------------------------------------------------- bases


def _shape(base: ProductionBase, geometry: Point | Polygon) -> None:
    base.geometry = as_geojson(geometry)
    base.lon, base.lat = representative_point(geometry)


async def create_base(
    s: AsyncSession,
    *,
    org: Organisation,
    name: str,
    kind: str,
    geometry: Point | Polygon,
    area_ha: float | None,
    actor: str,
) -> ProductionBase:
    base = ProductionBase(
        org_id=org.id, county=org.county, name=name, kind=kind, area_ha=area_ha,
        created_at=utcnow(), created_by=actor,
    )  # fmt: skip
    _shape(base, geometry)
    s.add(base)
    await s.flush()
    await record(
        s, actor, "base.created", f"base:{base.id}", base.county,
        {"org_id": org.id, "name": name, "kind": kind, "geometry": geometry.type},
    )  # fmt: skip
    return base


async def update_base(
    s: AsyncSession, base: ProductionBase, changes: dict[str, Any], *, actor: str
) -> ProductionBase:
    """``changes``: name, kind, geometry (a shape), area_ha (None clears)."""
    done: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "geometry":
            before = base.geometry
            _shape(base, value)
            if base.geometry != before:
                done[key] = value.type
        elif getattr(base, key) != value:
            setattr(base, key, value)
            done[key] = value
    if done:
        base.updated_at = utcnow()
        await s.flush()
        await record(s, actor, "base.updated", f"base:{base.id}", base.county, done)
    return base


def bases_query(counties: list[str] | None, *, org_id: int | None, kind: str | None) -> Select[Any]:
    q = select(ProductionBase)
    if counties is not None:
        q = q.where(ProductionBase.county.in_(counties))
    if org_id is not None:
        q = q.where(ProductionBase.org_id == org_id)
    if kind is not None:
        q = q.where(ProductionBase.kind == kind)
    return q


# ------------------------------------------------------------------------- locations


def _base_fits(base: ProductionBase | None, org_id: int | None, county: str) -> None:
    if base is None:
        return
    if org_id is not None and base.org_id != org_id:
        raise CatalogError(
            422, f"base {base.id} belongs to organisation {base.org_id}, not {org_id}",
            "body.base_id",
        )  # fmt: skip
    if base.county != county:
        raise CatalogError(422, f"base {base.id} is of county {base.county}", "body.base_id")


async def _gln_free(s: AsyncSession, key: LocationKey) -> None:
    taken = await s.scalar(
        select(Location.id).where(Location.gln == key.gln, Location.gln_extension == key.extension)
    )
    if taken is not None:
        raise CatalogError(409, f"GLN {key} is registered to another location", "body.gln")


async def create_location(
    s: AsyncSession,
    *,
    kind: str,
    name: str,
    key: LocationKey,
    county: str,
    org: Organisation | None,
    base: ProductionBase | None,
    tier: str | None,
    actor: str,
) -> Location:
    _base_fits(base, org.id if org else None, county)
    await _gln_free(s, key)
    loc = Location(
        kind=kind, name=name, county=county, org_id=org.id if org else None,
        base_id=base.id if base else None, tier=tier, gln=key.gln, gln_extension=key.extension,
        created_at=utcnow(), created_by=actor,
    )  # fmt: skip
    s.add(loc)
    await s.flush()
    await record(
        s, actor, "location.created", f"location:{loc.id}", county,
        {"kind": kind, "name": name, "gln": key.gln, "gln_extension": key.extension,
         "org_id": loc.org_id, "base_id": loc.base_id, "tier": tier},
    )  # fmt: skip
    return loc


async def update_location(
    s: AsyncSession,
    loc: Location,
    changes: dict[str, Any],
    *,
    base: ProductionBase | None,
    actor: str,
) -> Location:
    """``changes``: name, tier (a station's), base_id (None detaches; ``base`` is it)."""
    if "tier" in changes and loc.kind != "station":
        raise CatalogError(422, f"only a station has a tier, not a {loc.kind}", "body.tier")
    if "base_id" in changes:
        _base_fits(base, loc.org_id, loc.county)
    done = set_changed(loc, changes)
    if done:
        await s.flush()
        await record(s, actor, "location.updated", f"location:{loc.id}", loc.county, done)
    return loc


def locations_query(
    counties: list[str] | None,
    *,
    org_id: int | None = None,
    kind: str | None = None,
    key: LocationKey | None = None,
    base_id: int | None = None,
    tier: str | None = None,
) -> Select[Any]:
    q = select(Location)
    if counties is not None:
        q = q.where(Location.county.in_(counties))
    if org_id is not None:
        q = q.where(Location.org_id == org_id)
    if kind is not None:
        q = q.where(Location.kind == kind)
    if key is not None:
        q = q.where(Location.gln == key.gln, Location.gln_extension == key.extension)
    if base_id is not None:
        q = q.where(Location.base_id == base_id)
    if tier is not None:
        q = q.where(Location.tier == tier)
    return q


async def current_devices(s: AsyncSession, location_ids: Iterable[int]) -> dict[int, list[str]]:
    """``{location id: the devices measuring it now}`` in one query."""
    ids = list(location_ids)
    out: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = await s.execute(
        select(LocationDevice.location_id, LocationDevice.device_id)
        .where(LocationDevice.location_id.in_(ids), LocationDevice.until.is_(None))
        .order_by(LocationDevice.device_id)
    )
    for loc_id, device in rows:
        out[loc_id].append(device)
    return out


async def assign_profile(
    s: AsyncSession, loc: Location, profile: CommodityProfile | None, *, actor: str
) -> None:
    """Assign (or, with None, remove) the location's commodity profile. The caller
    pushes it to the gateways of the location's wired devices once committed."""
    if profile is not None and profile.county not in (PREFECTURE, loc.county):
        raise CatalogError(404, f"commodity profile {profile.id} not found", "body.profile_id")
    before = loc.profile_id
    loc.profile_id = profile.id if profile else None
    loc.updated_at = utcnow()
    await s.flush()
    await record(
        s, actor, "location.profile_assigned", f"location:{loc.id}", loc.county,
        {"profile_id": loc.profile_id, "before": before},
    )  # fmt: skip
