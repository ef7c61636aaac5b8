"""The devices that measure a location over time (``location_devices``).

A device measures one location at a time (its links never overlap); the history is
kept, so trace finds the devices of a room for any custody interval
(:func:`cloud.catalog.lookup.devices_of_location`). Which devices may be linked:

- a device wired to a gateway (``{gateway}.{local}``, a room's sensor): the gateway
  is of the location's county; only county roles (admins, who provision gateways)
  link or unlink it: nothing says which organisation a gateway's room belongs to;
- a registered BLE tag or vehicle (``/mobile-devices``): registered in the
  location's county; an organisation role links only its own organisation's.

Every function writes in the caller's transaction and audits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.catalog.errors import CatalogError
from cloud.catalog.storage import Location, LocationDevice, MobileDevice
from cloud.db import utcnow
from cloud.devices.storage import Device, Gateway


async def _classify(
    s: AsyncSession,
    loc: Location,
    device_id: str,
    *,
    can_see: Callable[[str], bool],
    own_org: int | None,
) -> str | None:
    """The gateway of a wired device (None: a registered mobile device), or CatalogError
    saying why this device may not measure ``loc`` for this caller."""
    prefix, dot, _ = device_id.partition(".")
    gateway = await s.get(Gateway, prefix) if dot else None
    registration = None if gateway else await s.get(MobileDevice, device_id)
    county = gateway.county if gateway else registration.county if registration else None
    if county is not None and county != loc.county:
        if not can_see(county):
            raise CatalogError(404, f"device {device_id!r} not found", "body.device_id")
        raise CatalogError(
            409,
            f"device {device_id!r} is of county {county}; a location of {loc.county} is "
            "measured by its own county's devices",
            "body.device_id",
        )
    if gateway is not None:
        if own_org is not None:
            raise CatalogError(
                403,
                f"device {device_id!r} is wired to gateway {gateway.id}: the county's admins, "
                "who provision gateways, link wired devices to locations",
                "body.device_id",
            )
        return gateway.id
    if registration is not None:
        if own_org is not None and registration.org_id != own_org:
            raise CatalogError(
                403,
                f"device {device_id!r} is registered to another organisation",
                "body.device_id",
            )
        return None
    heard = await s.get(Device, device_id)
    if heard is not None and can_see(heard.county) and heard.kind in ("ble_tag", "vehicle"):
        raise CatalogError(
            409,
            f"{heard.kind} {device_id!r} is not registered to an organisation; register it "
            f"first (PUT /api/v1/mobile-devices/{device_id})",
            "body.device_id",
        )
    raise CatalogError(
        422,
        f"unknown device {device_id!r}: give a device wired to one of your county's gateways "
        "('{gateway}.{local}') or a registered BLE tag or vehicle",
        "body.device_id",
    )


async def link_device(
    s: AsyncSession,
    loc: Location,
    device_id: str,
    *,
    since: datetime | None,
    can_see: Callable[[str], bool],
    own_org: int | None,
    actor: str,
) -> tuple[LocationDevice, str | None]:
    """Record that ``device_id`` measures ``loc`` from ``since`` (default now); the link
    and the gateway to push to (a wired device's), or CatalogError."""
    gateway_id = await _classify(s, loc, device_id, can_see=can_see, own_org=own_org)
    now = utcnow()
    start = since or now
    if start > now:
        raise CatalogError(422, "since: must not be in the future", "body.since")
    clash = await s.scalar(
        select(LocationDevice)
        .where(
            LocationDevice.device_id == device_id,
            (LocationDevice.until.is_(None)) | (LocationDevice.until > start),
        )
        .limit(1)
    )
    if clash is not None:
        when = "now" if clash.until is None else f"until {clash.until.isoformat()}"
        raise CatalogError(
            409,
            f"device {device_id!r} measures location {clash.location_id} {when}; a device "
            "measures one location at a time: end that link first (DELETE "
            f"/api/v1/locations/{clash.location_id}/devices/{device_id})",
            "body.device_id",
        )
    link = LocationDevice(
        location_id=loc.id, device_id=device_id, since=start, until=None, created_by=actor
    )
    s.add(link)
    await s.flush()
    await record(
        s, actor, "location.device_linked", f"location:{loc.id}", loc.county,
        {"device_id": device_id, "since": start.isoformat()},
    )  # fmt: skip
    return link, gateway_id


async def end_device(
    s: AsyncSession,
    loc: Location,
    device_id: str,
    *,
    until: datetime | None,
    own_org: int | None,
    actor: str,
) -> tuple[LocationDevice, str | None]:
    """End the device's open link to ``loc`` at ``until`` (default now); the history
    stays. A wired device is unlinked by county roles only, as it is linked."""
    link = await s.scalar(
        select(LocationDevice).where(
            LocationDevice.location_id == loc.id,
            LocationDevice.device_id == device_id,
            LocationDevice.until.is_(None),
        )
    )
    if link is None:
        raise CatalogError(
            404, f"device {device_id!r} does not measure location {loc.id} now", "path.device_id"
        )
    prefix, dot, _ = device_id.partition(".")
    gateway = await s.get(Gateway, prefix) if dot else None
    if gateway is not None and own_org is not None:
        raise CatalogError(
            403,
            f"device {device_id!r} is wired to gateway {gateway.id}: the county's admins "
            "link and unlink wired devices",
            "path.device_id",
        )
    now = utcnow()
    end = until or now
    if end > now:
        raise CatalogError(422, "until: must not be in the future", "query.until")
    if end < link.since:
        raise CatalogError(
            422, f"until: before the link began ({link.since.isoformat()})", "query.until"
        )
    link.until = end
    link.ended_by = actor
    await s.flush()
    await record(
        s, actor, "location.device_unlinked", f"location:{loc.id}", loc.county,
        {"device_id": device_id, "until": end.isoformat()},
    )  # fmt: skip
    return link, gateway.id if gateway else None


def links_query(location_id: int, *, current: bool | None) -> Select[Any]:
    q = select(LocationDevice).where(LocationDevice.location_id == location_id)
    if current is True:
        q = q.where(LocationDevice.until.is_(None))
    elif current is False:
        q = q.where(LocationDevice.until.is_not(None))
    return q
