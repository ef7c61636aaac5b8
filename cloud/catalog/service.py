"""Organisations and the registration of mobile devices to them; and, re-exported, the
reads other packages make of the catalog (:mod:`cloud.catalog.lookup`).

A registration moves the device to its owner's county at once (its registry row);
ingest stores its readings under that county from then on (within the owners
cache's ttl, :mod:`cloud.catalog.owners`). Readings stored before stay where they
were stored: what was published is never rewritten.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.catalog.edits import set_changed
from cloud.catalog.errors import CatalogError
from cloud.catalog.lookup import (
    device_links,
    devices_of_location,
    get_location,
    get_location_by_gln,
    get_product_by_gtin,
    get_profile,
)
from cloud.catalog.storage import MobileDevice, Organisation
from cloud.db import utcnow
from cloud.devices.storage import Device

MOBILE_KINDS = ("ble_tag", "vehicle")


#: Organisation fields that hold a person's data: the audit log names them, never
#: their values (cloud/audit PERSONAL_FIELDS); reads mask them (policy.mask).
PERSONAL = ("contact_name", "contact_phone")
#: Updatable organisation fields whose values the audit log may hold.
_PLAIN = ("name", "platform_code", "platform_issuer")


async def _platform_code_free(
    s: AsyncSession, issuer: str | None, code: str | None, org_id: int | None = None
) -> None:
    if issuer is None or code is None:
        return
    q = select(Organisation.id).where(
        Organisation.platform_issuer == issuer, Organisation.platform_code == code
    )
    if org_id is not None:
        q = q.where(Organisation.id != org_id)
    if await s.scalar(q) is not None:
        raise CatalogError(
            409,
            f"主体码 {code!r} of {issuer!r} is registered to another organisation",
            "body.platform_code",
        )


async def create_org(
    s: AsyncSession,
    *,
    kind: str,
    name: str,
    uscc: str,
    county: str,
    actor: str,
    contact_name: str | None = None,
    contact_phone: str | None = None,
    address: str | None = None,
    platform_code: str | None = None,
    platform_issuer: str | None = None,
) -> Organisation:
    taken = await s.scalar(select(Organisation.id).where(Organisation.uscc == uscc))
    if taken is not None:
        raise CatalogError(
            409, f"an organisation with unified social credit code {uscc} exists", "body.uscc"
        )
    await _platform_code_free(s, platform_issuer, platform_code)
    org = Organisation(
        kind=kind, name=name, uscc=uscc, county=county, created_at=utcnow(), created_by=actor,
        contact_name=contact_name, contact_phone=contact_phone, address=address,
        platform_code=platform_code, platform_issuer=platform_issuer,
    )  # fmt: skip
    s.add(org)
    await s.flush()
    personal = [f for f in (*PERSONAL, "address") if getattr(org, f) is not None]
    await record(
        s, actor, "org.created", f"org:{org.id}", county,
        {"kind": kind, "uscc": uscc, "platform_code": platform_code,
         "platform_issuer": platform_issuer},
        personal_changed=personal,
    )  # fmt: skip
    return org


async def update_org(
    s: AsyncSession, org: Organisation, changes: dict[str, Any], *, actor: str
) -> Organisation:
    """Apply ``changes`` (field -> new value, None clears) and audit them: plain fields
    with their values, contact and address by name only."""
    if "platform_code" in changes or "platform_issuer" in changes:
        await _platform_code_free(
            s,
            changes.get("platform_issuer", org.platform_issuer),
            changes.get("platform_code", org.platform_code),
            org.id,
        )
    changed = set_changed(org, changes)
    if changed:
        await s.flush()
        await record(
            s, actor, "org.updated", f"org:{org.id}", org.county,
            {k: v for k, v in changed.items() if k in _PLAIN},
            personal_changed=[k for k in changed if k not in _PLAIN],
        )  # fmt: skip
    return org


def orgs_query(counties: list[str] | None, *, kind: str | None) -> Select[Any]:
    """Organisations of ``counties`` (None: every county), unordered (the router pages)."""
    q = select(Organisation)
    if counties is not None:
        q = q.where(Organisation.county.in_(counties))
    if kind is not None:
        q = q.where(Organisation.kind == kind)
    return q


async def register_device(
    s: AsyncSession,
    device_id: str,
    *,
    kind: str,
    org: Organisation,
    may_take_from: set[str] | None,
    actor: str,
    own_org: int | None = None,
) -> MobileDevice:
    """Register (or move) a mobile device to ``org``. ``may_take_from``: the counties
    whose devices the caller may register or move (None: every county): a device
    registered elsewhere, or unregistered and last heard elsewhere, is refused.
    ``own_org``: the caller is that organisation (an organisation role); a device
    registered to another organisation is refused (403)."""
    seen = await s.get(Device, device_id)
    if seen is not None and seen.kind not in MOBILE_KINDS:
        raise CatalogError(
            422,
            f"device {device_id!r} reports as {seen.kind}: only ble_tag and vehicle devices "
            "are registered to an owner (a wired device belongs to its gateway's county)",
            "path.device_id",
        )
    reg = await s.get(MobileDevice, device_id, with_for_update=True)
    if may_take_from is not None:
        # a county cannot claim a device (and its future readings) from another county
        if reg is not None and reg.county not in may_take_from:
            raise CatalogError(
                409,
                f"device {device_id!r} is registered to an organisation of another county; "
                "its county admin (or a prefecture admin) must move it",
                "path.device_id",
            )
        if reg is None and seen is not None and seen.county not in may_take_from:
            raise CatalogError(
                409,
                f"device {device_id!r} was last heard in another county; register it once "
                "your county's gateways hear it, or ask a prefecture admin",
                "path.device_id",
            )
    if own_org is not None and reg is not None and reg.org_id != own_org:
        raise CatalogError(
            403,
            f"device {device_id!r} is registered to another organisation; "
            "its organisation or a county admin must move it",
            "path.device_id",
        )
    before = None if reg is None else {"org_id": reg.org_id, "county": reg.county}
    if reg is None:
        reg = MobileDevice(device_id=device_id)
        s.add(reg)
    reg.kind = kind
    reg.org_id = org.id
    reg.county = org.county
    reg.registered_at = utcnow()
    reg.registered_by = actor
    # the device belongs to its owner's county from now on
    await s.execute(update(Device).where(Device.id == device_id).values(county=org.county))
    await s.flush()
    await record(
        s,
        actor,
        "mobile_device.registered",
        f"device:{device_id}",
        org.county,
        {"kind": kind, "org_id": org.id, "before": before},
    )
    if before is not None and before["county"] != org.county:
        # the county it leaves sees the move in its own audit log
        await record(
            s,
            actor,
            "mobile_device.moved_out",
            f"device:{device_id}",
            str(before["county"]),
            {"kind": kind, "to_county": org.county},
        )
    return reg


def registrations_query(counties: list[str] | None, *, org_id: int | None) -> Select[Any]:
    """Registrations of ``counties`` (None: every county), unordered (the router pages)."""
    q = select(MobileDevice)
    if counties is not None:
        q = q.where(MobileDevice.county.in_(counties))
    if org_id is not None:
        q = q.where(MobileDevice.org_id == org_id)
    return q


__all__ = [
    "CatalogError",
    "create_org",
    "device_links",
    "devices_of_location",
    "get_location",
    "get_location_by_gln",
    "get_product_by_gtin",
    "get_profile",
    "orgs_query",
    "register_device",
    "registrations_query",
    "update_org",
]
