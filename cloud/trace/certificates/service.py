"""三品一标 certificates: register, read, list; which certificates cover a lot, and
which of them are valid at a given time.

A certificate covers a lot when it lists the lot's product (GTIN) and, if it lists
bases, the lot's origin base too (a certificate that lists only bases covers every lot
from them). It is a record of its holder's county and covers only lots of that county.
Validity is by Beijing date (:func:`cloud.trace.certificates.kinds.valid_at`): each
event of a lot is judged at its own eventTime.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.catalog.service import get_product_by_gtin
from cloud.catalog.storage import Organisation, ProductionBase
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.trace.certificates.kinds import valid_at
from cloud.trace.certificates.schemas import CertificateCreate
from cloud.trace.certificates.storage import (
    TraceCertificate,
    TraceCertificateBase,
    TraceCertificateProduct,
)
from cloud.trace.lots.storage import TraceLot
from protocol.ids import COUNTY_CODES


@dataclass(frozen=True, slots=True)
class Coverage:
    """A certificate with what it covers."""

    certificate: TraceCertificate
    products: tuple[str, ...]
    base_ids: tuple[int, ...]

    def covers(self, lot: TraceLot) -> bool:
        if self.certificate.county != lot.county:
            return False
        if self.products and lot.gtin not in self.products:
            return False
        return not self.base_ids or lot.origin_base_id in self.base_ids

    def valid_at(self, t: datetime) -> bool:
        return valid_at(self.certificate, t)


async def _holder(
    session: AsyncSession, body: CertificateCreate, principal: Principal
) -> tuple[Organisation | None, str, str]:
    """(registered holder or None, county, holder name); checks who may write it."""
    org = await session.scalar(select(Organisation).where(Organisation.uscc == body.holder_uscc))
    if org is not None:
        if body.county is not None and body.county != org.county:
            raise ApiError(
                422,
                f"county: the holder {org.uscc} is a registered organisation of county "
                f"{org.county}; its certificates are of that county (leave county out)",
                field="body.county",
            )
        if not principal.can_see(org.county):
            raise ApiError(
                403,
                f"holder_uscc: {org.uscc} is an organisation of another county; that "
                "county's admins enter its certificates",
                field="body.holder_uscc",
            )
        principal.require_write(org.county, str(org.id))
        return org, org.county, body.holder_name or org.name
    county = body.county or principal.county
    if county not in COUNTY_CODES:
        raise ApiError(
            422,
            f"county: the holder {body.holder_uscc} is not a registered organisation, so "
            f"give the county the certificate belongs to ({', '.join(COUNTY_CODES)})",
            field="body.county",
        )
    if not principal.can_see(county):
        raise ApiError(403, f"county: you may not write in county {county}", field="body.county")
    principal.require_write(county, None)
    if body.holder_name is None:
        raise ApiError(
            422,
            "holder_name: the holder is not a registered organisation; give its name as "
            "the certificate shows it",
            field="body.holder_name",
        )
    return None, county, body.holder_name


async def _check_covered(session: AsyncSession, body: CertificateCreate, county: str) -> None:
    for i, gtin in enumerate(body.products):
        product = await get_product_by_gtin(session, gtin)
        if product is not None and product.county != county:
            raise ApiError(
                422,
                f"products[{i}]: GTIN {gtin} is a product of another county; a certificate "
                f"of county {county} covers that county's products",
                field=f"body.products[{i}]",
            )
    if body.base_ids:
        bases = {
            b.id: b
            for b in await session.scalars(
                select(ProductionBase).where(ProductionBase.id.in_(body.base_ids))
            )
        }
        for i, base_id in enumerate(body.base_ids):
            base = bases.get(base_id)
            if base is None or base.county != county:
                raise ApiError(
                    422,
                    f"base_ids[{i}]: production base {base_id} is not a base of county {county}",
                    field=f"body.base_ids[{i}]",
                )


async def create_certificate(
    session: AsyncSession, body: CertificateCreate, principal: Principal
) -> Coverage:
    """Register a certificate (audited ``certificate.created``). The caller commits."""
    org, county, holder_name = await _holder(session, body, principal)
    await _check_covered(session, body, county)
    taken = await session.scalar(
        select(TraceCertificate.id).where(
            TraceCertificate.type == body.type, TraceCertificate.number == body.number
        )
    )
    if taken is not None:
        raise ApiError(
            409,
            f"number: a {body.type} certificate numbered {body.number!r} is registered",
            field="body.number",
        )
    cert = TraceCertificate(
        type=body.type,
        number=body.number,
        holder_uscc=body.holder_uscc,
        holder_org_id=None if org is None else org.id,
        holder_name=holder_name,
        county=county,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        issuer=body.issuer,
        created_at=utcnow(),
        created_by=principal.actor,
    )
    session.add(cert)
    await session.flush()
    session.add_all(TraceCertificateProduct(certificate_id=cert.id, gtin=g) for g in body.products)
    session.add_all(TraceCertificateBase(certificate_id=cert.id, base_id=b) for b in body.base_ids)
    await session.flush()
    await record(
        session,
        principal.actor,
        "certificate.created",
        f"certificate:{cert.id}",
        county,
        {
            "type": cert.type,
            "number": cert.number,
            "holder_uscc": cert.holder_uscc,
            "valid_from": cert.valid_from.isoformat(),
            "valid_to": cert.valid_to.isoformat(),
            "products": list(body.products),
            "base_ids": list(body.base_ids),
        },
    )
    return Coverage(cert, tuple(body.products), tuple(body.base_ids))


async def with_coverage(session: AsyncSession, certs: Sequence[TraceCertificate]) -> list[Coverage]:
    """The certificates with their products and bases (two queries)."""
    ids = [c.id for c in certs]
    products: dict[int, list[str]] = {i: [] for i in ids}
    bases: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        for cid, gtin in await session.execute(
            select(TraceCertificateProduct.certificate_id, TraceCertificateProduct.gtin)
            .where(TraceCertificateProduct.certificate_id.in_(ids))
            .order_by(TraceCertificateProduct.gtin)
        ):
            products[cid].append(gtin)
        for cid, base_id in await session.execute(
            select(TraceCertificateBase.certificate_id, TraceCertificateBase.base_id)
            .where(TraceCertificateBase.certificate_id.in_(ids))
            .order_by(TraceCertificateBase.base_id)
        ):
            bases[cid].append(base_id)
    return [Coverage(c, tuple(products[c.id]), tuple(bases[c.id])) for c in certs]


async def get_certificate(
    session: AsyncSession, certificate_id: int, principal: Principal
) -> Coverage | None:
    """The certificate, or None when there is none or it is of a county not seen."""
    cert = await session.get(TraceCertificate, certificate_id)
    if cert is None or not principal.can_see(cert.county):
        return None
    return (await with_coverage(session, [cert]))[0]


def certificates_query(
    counties: list[str] | None,
    *,
    type: str | None = None,
    holder_uscc: str | None = None,
    gtin: str | None = None,
    valid_on: date | None = None,
) -> Select[Any]:
    """Certificates of ``counties`` (None: all) matching the filters; unordered."""
    q = select(TraceCertificate)
    if counties is not None:
        q = q.where(TraceCertificate.county.in_(counties))
    if type is not None:
        q = q.where(TraceCertificate.type == type)
    if holder_uscc is not None:
        q = q.where(TraceCertificate.holder_uscc == holder_uscc)
    if gtin is not None:
        q = q.where(
            TraceCertificate.id.in_(
                select(TraceCertificateProduct.certificate_id).where(
                    TraceCertificateProduct.gtin == gtin
                )
            )
        )
    if valid_on is not None:
        q = q.where(TraceCertificate.valid_from <= valid_on, TraceCertificate.valid_to >= valid_on)
    return q


async def covering(session: AsyncSession, lots: Iterable[TraceLot]) -> dict[int, list[Coverage]]:
    """Every certificate covering each lot (valid or not), by lot id: one query for the
    candidates (by GTIN or origin base), then the exact rule of :meth:`Coverage.covers`."""
    lots = list(lots)
    out: dict[int, list[Coverage]] = {lot.id: [] for lot in lots}
    if not lots:
        return out
    gtins = {lot.gtin for lot in lots}
    bases = {lot.origin_base_id for lot in lots if lot.origin_base_id is not None}
    by_product = select(TraceCertificateProduct.certificate_id).where(
        TraceCertificateProduct.gtin.in_(gtins)
    )
    conditions = [TraceCertificate.id.in_(by_product)]
    if bases:
        by_base = select(TraceCertificateBase.certificate_id).where(
            TraceCertificateBase.base_id.in_(bases)
        )
        conditions.append(TraceCertificate.id.in_(by_base))
    certs = list(
        await session.scalars(
            select(TraceCertificate)
            .where(TraceCertificate.county.in_({lot.county for lot in lots}), or_(*conditions))
            .order_by(TraceCertificate.type, TraceCertificate.number)
        )
    )
    for cov in await with_coverage(session, certs):
        for lot in lots:
            if cov.covers(lot):
                out[lot.id].append(cov)
    return out


async def certificates_for(
    session: AsyncSession, lot: TraceLot, t: datetime | None = None
) -> list[Coverage]:
    """The certificates covering ``lot`` that are valid at ``t`` (default: now)."""
    at = t or utcnow()
    return [c for c in (await covering(session, [lot]))[lot.id] if c.valid_at(at)]


def lots_covered(cov: Coverage) -> Select[Any]:
    """The registered lots a certificate covers (a query: for re-evaluating the brand of
    those that were evaluated before)."""
    q = select(TraceLot).where(TraceLot.county == cov.certificate.county)
    if cov.products:
        q = q.where(TraceLot.gtin.in_(cov.products))
    if cov.base_ids:
        q = q.where(TraceLot.origin_base_id.in_(cov.base_ids))
    return q
