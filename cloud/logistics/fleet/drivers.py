"""Drivers: personal fields sealed by cloud/pii, revealed (and each read audited) only
to the driver's carrier, the county dispatcher and admins, and the driver itself;
``***`` to everyone else who may list them (an auditor). Never on a public endpoint."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.auth.storage import User
from cloud.catalog.storage import Organisation
from cloud.errors import ApiError
from cloud.logistics.access import not_found, org_of, sees
from cloud.logistics.fleet.schemas import DriverIn, DriverOut
from cloud.logistics.fleet.storage import Driver
from cloud.pii import Keyring, blind_index, blind_indexes, reveal, seal

TABLE = "logistics_drivers"
FIELDS = ("name", "phone", "id_number")


def context(driver_ref: str, field: str) -> str:
    return f"{TABLE}.{field}:{driver_ref}"


async def _carrier(session: AsyncSession, carrier_id: int, principal: Principal) -> Organisation:
    org = await session.get(Organisation, carrier_id)
    if org is None or not sees(principal, org.county, org.id):
        raise not_found("organisation", carrier_id, "body.carrier_id")
    if org.kind != "carrier":
        raise ApiError(
            422, f"body.carrier_id: organisation {carrier_id} is a {org.kind}, not a carrier",
            field="body.carrier_id",
        )  # fmt: skip
    return org


async def create_driver(
    session: AsyncSession, body: DriverIn, principal: Principal, keyring: Keyring
) -> Driver:
    org = await _carrier(session, body.carrier_id, principal)
    principal.require_write(org.county, str(org.id))
    phone_ix = blind_indexes(keyring, "phone", body.phone)
    dup = await session.scalar(
        select(Driver.id).where(Driver.carrier_id == org.id, Driver.phone_index.in_(phone_ix))
    )
    if dup is not None:
        raise ApiError(409, f"body.phone: carrier {org.id} has a driver with this phone (driver {dup})",
                       field="body.phone")  # fmt: skip
    if body.username is not None:
        user = await session.scalar(select(User).where(User.username == body.username))
        if (
            user is None
            or user.role != policy.Role.DRIVER.value
            or user.county != org.county
            or user.org_id != str(org.id)
        ):
            raise ApiError(
                422, f"body.username: no driver user {body.username!r} of carrier {org.id} "
                "(create the user with role driver and org_id of the carrier first)",
                field="body.username",
            )  # fmt: skip
        if await session.scalar(select(Driver.id).where(Driver.username == body.username)):
            raise ApiError(409, f"body.username: {body.username!r} is another driver's login",
                           field="body.username")  # fmt: skip
    ref = secrets.token_hex(8)
    row = Driver(
        ref=ref, carrier_id=org.id, county=org.county, username=body.username,
        name_sealed=seal(keyring, body.name, context(ref, "name")),
        phone_sealed=seal(keyring, body.phone, context(ref, "phone")),
        phone_index=blind_index(keyring, "phone", body.phone),
        id_number_sealed=None if body.id_number is None
        else seal(keyring, body.id_number, context(ref, "id_number")),
        created_by=principal.actor,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    await record(
        session, principal.actor, "driver.created", f"driver:{row.id}", org.county,
        {"carrier_id": org.id},
        personal_changed=["full_name", "phone"] + (["id_number"] if body.id_number else []),
    )  # fmt: skip
    return row


def may_read_personal(principal: Principal, driver: Driver) -> bool:
    """Their carrier; the county dispatcher and admins; the driver itself."""
    if not principal.can_see(driver.county):
        return False
    if principal.role is policy.Role.DRIVER:
        return principal.kind == "user" and principal.name == driver.username
    mine = org_of(principal)
    if mine is not None:
        return principal.role is policy.Role.CARRIER and mine == driver.carrier_id
    return policy.allows(principal.role, "personal:read") and policy.allows(
        principal.role, "logistics:write"
    )


async def driver_out(
    session: AsyncSession, row: Driver, principal: Principal, keyring: Keyring
) -> DriverOut:
    """The driver, its personal fields revealed (audited) or masked."""
    if not may_read_personal(principal, row):
        return DriverOut(
            id=row.id, ref=row.ref, carrier_id=row.carrier_id, county=row.county,
            username=row.username, name=policy.MASK, phone=policy.MASK,
            id_number=None if row.id_number_sealed is None else policy.MASK,
        )  # fmt: skip
    values: dict[str, str | None] = {}
    for field in FIELDS:
        values[field] = await reveal(
            session, keyring, getattr(row, f"{field}_sealed"), context=context(row.ref, field),
            actor=principal.actor, county=row.county, target=f"driver:{row.id}", field=field,
        )  # fmt: skip
    return DriverOut(
        id=row.id, ref=row.ref, carrier_id=row.carrier_id, county=row.county,
        username=row.username, name=values["name"] or "", phone=values["phone"] or "",
        id_number=values["id_number"],
    )  # fmt: skip


def _visible(principal: Principal, row: Driver) -> bool:
    if not principal.can_see(row.county):
        return False
    if principal.role is policy.Role.DRIVER:
        return principal.kind == "user" and principal.name == row.username
    mine = org_of(principal)
    return mine is None or mine == row.carrier_id


async def get_driver(session: AsyncSession, driver_id: int, principal: Principal) -> Driver:
    row = await session.get(Driver, driver_id)
    if row is None or not _visible(principal, row):
        raise not_found("driver", driver_id)
    return row


def drivers_query(
    principal: Principal, counties: list[str] | None, keyring: Keyring, phone: str | None = None
) -> Select[Any]:
    """The drivers ``principal`` sees: a driver itself, a carrier its own, county roles
    their county's. ``phone``: only for those who read personal data (a search by phone
    reveals who has it): the others find nobody."""
    q = select(Driver)
    if counties is not None:
        q = q.where(Driver.county.in_(counties))
    if principal.role is policy.Role.DRIVER:
        q = q.where(Driver.username == (principal.name if principal.kind == "user" else None))
    else:
        mine = org_of(principal)
        if mine is not None:
            q = q.where(Driver.carrier_id == mine)
    if phone is not None:
        q = q.where(Driver.phone_index.in_(blind_indexes(keyring, "phone", phone)))
        if not (principal.role is policy.Role.CARRIER or (
            org_of(principal) is None and policy.allows(principal.role, "personal:read")
            and policy.allows(principal.role, "logistics:write")
        )):  # fmt: skip
            q = q.where(Driver.id < 0)
    return q


async def driver_by_username(session: AsyncSession, username: str) -> Driver | None:
    return await session.scalar(select(Driver).where(Driver.username == username))
