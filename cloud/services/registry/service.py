"""Registrations (submit, licence scan, review) and platforms' API keys; the registry's
monthly figures and demo data.

Every write is audited (cloud/audit) in the same transaction; the contact and address
are named in the log, never their values.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal, Role
from cloud.auth.service import create_api_key, revoke_api_key
from cloud.auth.storage import ApiKey, ApiKeyShop
from cloud.catalog import service as catalog
from cloud.catalog.access import api_error
from cloud.catalog.errors import CatalogError
from cloud.catalog.storage import Organisation
from cloud.commerce.storage import Shop
from cloud.db import Database
from cloud.errors import ApiError
from cloud.services.registry.schemas import (
    LicenceOut,
    NewPlatformKey,
    PlatformKeyIn,
    PlatformKeyOut,
    RegistrationIn,
    RegistrationOut,
    RegistrationStatus,
)
from cloud.services.registry.storage import PlatformKey, Registration

BEIJING = timezone(timedelta(hours=8))
#: The largest licence scan taken (PDF, JPEG or PNG).
LICENCE_MAX_BYTES = 10 * 1024 * 1024
#: Who the audit log names for a registrant (it has no account).
REGISTRANT = "public:registrant"
PERSONAL = ("contact_name", "contact_phone", "address")


def month_of(at: datetime) -> str:
    b = at.astimezone(BEIJING)
    return f"{b.year:04d}-{b.month:02d}"


def _hash(receipt: str) -> str:
    return hashlib.sha256(receipt.encode()).hexdigest()


# ------------------------------------------------------------------ registrant


async def submit(
    s: AsyncSession, body: RegistrationIn, *, now: datetime | None = None
) -> tuple[Registration, str]:
    """A new pending registration and its receipt (shown once). 409 when the USCC is a
    catalog organisation's already, or pending in another registration."""
    if await s.scalar(select(Organisation.id).where(Organisation.uscc == body.uscc)) is not None:
        raise ApiError(
            409,
            f"body.uscc: an organisation with unified social credit code "
            f"{body.uscc} is registered already",
            field="body.uscc",
        )
    pending = await s.scalar(
        select(Registration.id).where(
            Registration.uscc == body.uscc, Registration.status == "pending"
        )
    )
    if pending is not None:
        raise ApiError(
            409,
            f"body.uscc: registration {pending} of {body.uscc} awaits review",
            field="body.uscc",
        )
    at = now or datetime.now(UTC)
    receipt = secrets.token_urlsafe(24)
    reg = Registration(
        **body.model_dump(),
        status="pending",
        receipt_hash=_hash(receipt),
        submitted_at=at,
        month=month_of(at),
    )
    s.add(reg)
    await s.flush()
    await record(
        s,
        REGISTRANT,
        "registration.submitted",
        f"registration:{reg.id}",
        reg.county,
        {"kind": reg.kind, "uscc": reg.uscc, "name": reg.name},
        personal_changed=[f for f in PERSONAL if getattr(reg, f)],
    )
    return reg, receipt


async def by_receipt(s: AsyncSession, reg_id: int, receipt: str | None) -> Registration:
    """The registration the receipt is for; 404 otherwise (which one is wrong is not told)."""
    reg = await s.get(Registration, reg_id)
    if reg is None or not receipt or not hmac.compare_digest(reg.receipt_hash, _hash(receipt)):
        raise ApiError(404, f"registration {reg_id} not found (check the id and X-Receipt)")
    return reg


async def set_licence(
    s: AsyncSession, reg: Registration, *, sha256: str, content_type: str, size: int
) -> None:
    if reg.status != "pending":
        raise ApiError(
            409,
            f"registration {reg.id} is {reg.status}; its licence is kept as reviewed",
            field="body",
        )
    previous = reg.licence_sha256
    reg.licence_sha256, reg.licence_content_type, reg.licence_size = sha256, content_type, size
    await record(
        s,
        REGISTRANT,
        "registration.licence_uploaded",
        f"registration:{reg.id}",
        reg.county,
        {"sha256": sha256, "size": size, "previous": previous},
    )


def licence_of(reg: Registration) -> LicenceOut | None:
    if reg.licence_sha256 is None:
        return None
    assert reg.licence_content_type is not None and reg.licence_size is not None
    return LicenceOut(
        sha256=reg.licence_sha256, content_type=reg.licence_content_type, size=reg.licence_size
    )


def status_out(reg: Registration) -> RegistrationStatus:
    return RegistrationStatus(
        id=reg.id,
        kind=reg.kind,
        name=reg.name,
        county=reg.county,  # type: ignore[arg-type]
        status=reg.status,
        reason=reg.reason,
        licence=licence_of(reg),  # type: ignore[arg-type]
        org_id=reg.org_id,
    )


def registration_out(reg: Registration, principal: Principal) -> RegistrationOut:
    return RegistrationOut(
        **status_out(reg).model_dump(),
        uscc=reg.uscc,
        contact_name=policy.mask(principal, reg.contact_name),
        contact_phone=policy.mask(principal, reg.contact_phone),
        address=None if reg.address is None else policy.mask(principal, reg.address),
        submitted_at=reg.submitted_at,
        reviewed_at=reg.reviewed_at,
        reviewed_by=reg.reviewed_by,
    )


# ------------------------------------------------------------------ county review


def registrations_query(counties: list[str] | None, status: str | None) -> Select[Any]:
    q = select(Registration)
    if counties is not None:
        q = q.where(Registration.county.in_(counties))
    if status is not None:
        q = q.where(Registration.status == status)
    return q


async def get(s: AsyncSession, reg_id: int, principal: Principal) -> Registration:
    """Another county's registration is 404."""
    reg = await s.get(Registration, reg_id)
    if reg is None or not principal.can_see(reg.county):
        raise ApiError(404, f"registration {reg_id} not found")
    return reg


def _reviewable(reg: Registration, principal: Principal) -> None:
    principal.require_write(reg.county)
    if reg.status != "pending":
        raise ApiError(409, f"registration {reg.id} was {reg.status} already", field="status")


async def approve(
    s: AsyncSession, reg: Registration, principal: Principal, *, now: datetime | None = None
) -> Registration:
    """Approve: the registration becomes a catalog organisation (same table, same
    services as any other). 409 without a licence scan, or when reviewed before."""
    _reviewable(reg, principal)
    if reg.licence_sha256 is None:
        raise ApiError(
            409,
            "licence: no licence scan was uploaded; refuse with that reason or wait for the scan",
            field="licence",
        )
    try:
        org = await catalog.create_org(
            s,
            kind=reg.kind,
            name=reg.name,
            uscc=reg.uscc,
            county=reg.county,
            actor=principal.actor,
            contact_name=reg.contact_name,
            contact_phone=reg.contact_phone,
            address=reg.address,
        )
    except CatalogError as exc:
        raise api_error(exc) from None
    at = now or datetime.now(UTC)
    reg.status, reg.org_id = "approved", org.id
    reg.reviewed_at, reg.reviewed_by, reg.reviewed_month = at, principal.actor, month_of(at)
    await record(
        s,
        principal.actor,
        "registration.approved",
        f"registration:{reg.id}",
        reg.county,
        {"org_id": org.id, "uscc": reg.uscc},
    )
    return reg


async def refuse(
    s: AsyncSession,
    reg: Registration,
    reason: str,
    principal: Principal,
    *,
    now: datetime | None = None,
) -> Registration:
    _reviewable(reg, principal)
    at = now or datetime.now(UTC)
    reg.status, reg.reason = "refused", reason
    reg.reviewed_at, reg.reviewed_by, reg.reviewed_month = at, principal.actor, month_of(at)
    await record(
        s,
        principal.actor,
        "registration.refused",
        f"registration:{reg.id}",
        reg.county,
        {"reason": reason},
    )
    return reg


# ------------------------------------------------------------------ platform keys


async def _shops_of(s: AsyncSession, key_ids: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {k: [] for k in key_ids}
    rows = await s.execute(
        select(ApiKeyShop.key_id, ApiKeyShop.shop_id)
        .where(ApiKeyShop.key_id.in_(key_ids or [""]))
        .order_by(ApiKeyShop.shop_id)
    )
    for key_id, shop_id in rows:
        out[key_id].append(shop_id)
    return out


async def key_outs(s: AsyncSession, rows: list[PlatformKey]) -> list[PlatformKeyOut]:
    shops = await _shops_of(s, [r.key_id for r in rows])
    keys = {
        k.id: k for k in await s.scalars(select(ApiKey).where(ApiKey.id.in_(list(shops) or [""])))
    }
    return [
        PlatformKeyOut(
            key_id=r.key_id,
            org_id=r.org_id,
            county=r.county,
            name=keys[r.key_id].name,
            shop_ids=shops[r.key_id],
            created_at=r.created_at,
            revoked_at=keys[r.key_id].revoked_at,
        )
        for r in rows
    ]


async def issue_key(s: AsyncSession, body: PlatformKeyIn, principal: Principal) -> NewPlatformKey:
    """An API key of role ``platform`` for an approved platform organisation, acting
    for ``body.shop_ids`` (shops of the platform's county) only."""
    org = await s.get(Organisation, body.org_id)
    if org is None or not principal.can_see(org.county):
        raise ApiError(
            404, f"body.org_id: organisation {body.org_id} not found", field="body.org_id"
        )
    principal.require_write(org.county)
    if org.kind != "platform":
        raise ApiError(
            422,
            f"body.org_id: organisation {org.id} is a {org.kind}, not an "
            "e-commerce platform (register it as kind platform)",
            field="body.org_id",
        )
    found = {sh.id: sh for sh in await s.scalars(select(Shop).where(Shop.id.in_(body.shop_ids)))}
    for i, shop_id in enumerate(body.shop_ids):
        shop = found.get(shop_id)
        if shop is None or shop.county != org.county:
            raise ApiError(
                404,
                f"body.shop_ids.{i}: shop {shop_id} not found in county {org.county}",
                field=f"body.shop_ids.{i}",
            )
    new = await create_api_key(
        s, name=body.name, role=Role.PLATFORM, county=org.county, actor=principal.actor
    )
    row = PlatformKey(
        key_id=new.row.id,
        org_id=org.id,
        county=org.county,
        created_at=new.row.created_at,
        created_by=principal.actor,
    )
    s.add(row)
    for shop_id in sorted(set(body.shop_ids)):
        s.add(ApiKeyShop(key_id=new.row.id, shop_id=shop_id, granted_by=principal.actor))
    await s.flush()
    await record(
        s,
        principal.actor,
        "platform_key.issued",
        f"apikey:{new.row.id}",
        org.county,
        {"org_id": org.id, "shop_ids": sorted(set(body.shop_ids))},
    )
    (out,) = await key_outs(s, [row])
    return NewPlatformKey(**out.model_dump(), key=new.key)


def keys_query(counties: list[str] | None) -> Select[Any]:
    q = select(PlatformKey)
    if counties is not None:
        q = q.where(PlatformKey.county.in_(counties))
    return q


async def revoke_key(s: AsyncSession, key_id: str, principal: Principal) -> PlatformKeyOut:
    row = await s.get(PlatformKey, key_id)
    if row is None or not principal.can_see(row.county):
        raise ApiError(404, f"platform key {key_id} not found")
    principal.require_write(row.county)
    key = await s.get_one(ApiKey, key_id)
    await revoke_api_key(s, key, actor=principal.actor)
    (out,) = await key_outs(s, [row])
    return out


# ------------------------------------------------------------------ figures


async def monthly_figures(
    db_or_session: Database | AsyncSession, county: str, month: str
) -> dict[str, int | str | None]:
    """The registry's figures of ``county`` for ``month`` (``YYYY-MM``, Beijing), for the
    MOFCOM export and the monthly bulletin (keys in README.md)."""
    if isinstance(db_or_session, Database):
        async with db_or_session.session() as s:
            return await _figures(s, county, month)
    return await _figures(db_or_session, county, month)


async def _figures(s: AsyncSession, county: str, month: str) -> dict[str, int | str | None]:
    """The registry's figures of ``county`` for ``month`` (``YYYY-MM``, Beijing):
    registrations received, approved and refused in the month, pending at the time
    of asking, and the organisations approved through self-registration to date."""

    async def count(*where: Any) -> int:
        q = (
            select(func.count())
            .select_from(Registration)
            .where(Registration.county == county, *where)
        )
        return int(await s.scalar(q) or 0)

    return {
        "county": county,
        "month": month,
        "registrations_received": await count(Registration.month == month),
        "registrations_approved": await count(
            Registration.reviewed_month == month, Registration.status == "approved"
        ),
        "registrations_refused": await count(
            Registration.reviewed_month == month, Registration.status == "refused"
        ),
        "registrations_pending": await count(Registration.status == "pending"),
        "organisations_self_registered": await count(
            Registration.status == "approved", Registration.reviewed_month <= month
        ),
    }
