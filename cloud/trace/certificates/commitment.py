"""承诺达标合格证 (commitment certificates): issued per lot, kept at least two years.

- **Issue**: the promising entity is the lot's organisation; product name, quantity
  and unit, origin and contact default to the catalog's and the lot's records. Each
  certificate gets a number ``HGZ-{county}-{yyyymmdd}-{id:06d}`` (Beijing date of
  issue). There is no change and no delete: a wrong certificate is followed by a
  right one, and both stay on record until at least ``retain_until``.
- **Own certificate**: a lot made by merging or splitting lots (it has registered
  parent lots, or it is an output of a TransformationEvent) needs a certificate of its
  own: certificates are looked up by the lot alone, never inherited from its parents.
- **Required** for the categories of the 2026 rule
  (:data:`cloud.catalog.categories.CERTIFICATE_REQUIRED`: vegetables, fruit, fresh tea
  leaves, livestock, eggs, aquatic products); allowed for every other lot.
- **Selling or shipping without one** (decision): a captured EPCIS event is the record
  of something that happened, so it is stored and **flagged**, never refused: a
  ``shipping``, ``departing`` or ``retail_selling`` event of a lot that needs a
  certificate, with none issued at or before its eventTime, is listed in the lot's
  ``flags``. Our own sell and ship operations refuse instead: they call
  :func:`require_certificate` before they write the event (422 naming the lot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.catalog.categories import CERTIFICATE_REQUIRED
from cloud.catalog.storage import Organisation, Product, ProductionBase
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.trace.certificates.kinds import beijing_date, retain_until
from cloud.trace.certificates.schemas import CommitmentCreate
from cloud.trace.certificates.storage import TraceCommitmentCertificate
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lots.storage import TraceLot, TraceLotParent

#: bizSteps that sell or ship a lot (CBV 2.0)
SELL_OR_SHIP = ("shipping", "departing", "retail_selling")
#: how far in the future an issue time may lie (clock skew of the phone that issued it)
FUTURE_SKEW = timedelta(minutes=5)
#: events of a lot looked at for flags, newest first
FLAG_SCAN_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Requirement:
    """Whether ``lot`` needs a 合格证 and whether it is derived from other lots."""

    category: str | None
    required: bool
    derived: bool


async def product_of(session: AsyncSession, lot: TraceLot) -> Product | None:
    if lot.product_id is not None:
        found = await session.get(Product, lot.product_id)
        if found is not None:
            return found
    return await session.scalar(select(Product).where(Product.gtin == lot.gtin))


async def is_derived(session: AsyncSession, lot: TraceLot) -> bool:
    """Made by merging or splitting lots: registered parents, or an output of a
    TransformationEvent (not one declared in error)."""
    if await session.scalar(select(exists().where(TraceLotParent.lot_id == lot.id))):
        return True
    q = (
        select(TraceEventObject.id)
        .join(TraceEvent, TraceEvent.seq == TraceEventObject.event_seq)
        .where(
            TraceEventObject.gtin == lot.gtin,
            TraceEventObject.lot == lot.lot,
            TraceEventObject.role.in_(("output_epc", "output_quantity")),
            TraceEvent.event_type == "TransformationEvent",
            TraceEvent.error_declaration.is_(None),
        )
        .limit(1)
    )
    return await session.scalar(q) is not None


async def requirement(session: AsyncSession, lot: TraceLot) -> Requirement:
    product = await product_of(session, lot)
    category = None if product is None else product.category
    return Requirement(category, category in CERTIFICATE_REQUIRED, await is_derived(session, lot))


def _number(county: str, issued_at: datetime, ident: int) -> str:
    return f"HGZ-{county}-{beijing_date(issued_at):%Y%m%d}-{ident:06d}"


async def issue(
    session: AsyncSession, lot: TraceLot, body: CommitmentCreate, principal: Principal
) -> TraceCommitmentCertificate:
    """Issue a 合格证 for ``lot`` in the name of its organisation (audited
    ``commitment_certificate.issued``). The caller commits."""
    principal.require_write(lot.county, str(lot.org_id))
    org = await session.get_one(Organisation, lot.org_id)
    now = utcnow()
    issued_at = body.issued_at or now
    if issued_at > now + FUTURE_SKEW:
        raise ApiError(
            422,
            f"issued_at: {issued_at.isoformat()} is in the future; a certificate is issued "
            "when it is handed over",
            field="body.issued_at",
        )
    product = await product_of(session, lot)
    product_name = body.product_name or (None if product is None else product.name)
    if product_name is None:
        raise ApiError(
            422,
            f"product_name: GTIN {lot.gtin} is not in the catalog; give the product name",
            field="body.product_name",
        )
    quantity = body.quantity if body.quantity is not None else lot.quantity
    unit = body.unit or lot.unit
    if quantity is None or unit is None:
        raise ApiError(
            422,
            "quantity: the lot has no registered quantity and unit; give quantity and unit "
            "(数量或重量)",
            field="body.quantity",
        )
    origin = body.origin
    if origin is None and lot.origin_base_id is not None:
        base = await session.get(ProductionBase, lot.origin_base_id)
        origin = None if base is None else base.name
    if origin is None:
        raise ApiError(
            422, "origin: the lot has no origin base; give the origin (产地)", field="body.origin"
        )
    contact = body.contact or org.contact_phone
    if not contact:
        raise ApiError(
            422,
            f"contact: organisation {org.id} has no contact phone; give the contact (联系方式)",
            field="body.contact",
        )
    quantity = Decimal(quantity).quantize(Decimal("0.000001"))  # as the column keeps it
    cert = TraceCommitmentCertificate(
        number=f"pending-{lot.id}-{now.timestamp()}",
        lot_id=lot.id,
        gtin=lot.gtin,
        lot=lot.lot,
        county=lot.county,
        org_id=org.id,
        product_name=product_name,
        quantity=quantity,
        unit=unit,
        origin=origin,
        contact=contact,
        basis=body.basis,
        basis_ref=body.basis_ref,
        issued_at=issued_at,
        retain_until=retain_until(issued_at),
        created_at=now,
        created_by=principal.actor,
    )
    session.add(cert)
    await session.flush()
    cert.number = _number(lot.county, issued_at, cert.id)
    await session.flush()
    await record(
        session,
        principal.actor,
        "commitment_certificate.issued",
        f"lot:{lot.gtin}/{lot.lot}",
        lot.county,
        {"number": cert.number, "basis": cert.basis, "issued_at": issued_at.isoformat()},
    )
    return cert


async def of_lot(session: AsyncSession, lot_id: int) -> list[TraceCommitmentCertificate]:
    """The lot's own certificates, oldest first (never its parents')."""
    q = (
        select(TraceCommitmentCertificate)
        .where(TraceCommitmentCertificate.lot_id == lot_id)
        .order_by(TraceCommitmentCertificate.issued_at, TraceCommitmentCertificate.id)
    )
    return list(await session.scalars(q))


async def of_lots(
    session: AsyncSession, lot_ids: Sequence[int]
) -> dict[int, list[TraceCommitmentCertificate]]:
    out: dict[int, list[TraceCommitmentCertificate]] = {i: [] for i in lot_ids}
    for start in range(0, len(lot_ids), 500):
        q = (
            select(TraceCommitmentCertificate)
            .where(TraceCommitmentCertificate.lot_id.in_(lot_ids[start : start + 500]))
            .order_by(TraceCommitmentCertificate.issued_at, TraceCommitmentCertificate.id)
        )
        for cert in await session.scalars(q):
            out[cert.lot_id].append(cert)
    return out


@dataclass(frozen=True, slots=True)
class Flag:
    event_id: str
    event_time: datetime
    biz_step: str | None
    reason: str


async def flags(
    session: AsyncSession,
    lot: TraceLot,
    need: Requirement,
    certs: Sequence[TraceCommitmentCertificate],
) -> list[Flag]:
    """The lot's sale and shipping events with no 合格证 issued at or before them (only
    when its category needs one); newest first."""
    if not need.required:
        return []
    first = min((c.issued_at for c in certs), default=None)
    q = (
        select(TraceEvent.event_id, TraceEvent.event_time, TraceEvent.biz_step)
        .join(TraceEventObject, TraceEventObject.event_seq == TraceEvent.seq)
        .where(
            TraceEventObject.gtin == lot.gtin,
            TraceEventObject.lot == lot.lot,
            TraceEvent.biz_step.in_(SELL_OR_SHIP),
            TraceEvent.error_declaration.is_(None),
        )
        .distinct()
        .order_by(TraceEvent.event_time.desc())
        .limit(FLAG_SCAN_LIMIT)
    )
    out: list[Flag] = []
    for event_id, event_time, biz_step in await session.execute(q):
        if first is None or event_time < first:
            out.append(
                Flag(
                    event_id,
                    event_time,
                    biz_step,
                    f"{biz_step} of a lot of category {need.category}, which needs a 承诺达标合格证"
                    ", with none issued at or before it",
                )
            )
    return out


async def require_certificate(session: AsyncSession, lot: TraceLot, at: datetime) -> None:
    """For our own sell and ship operations: 422 unless the lot has a 合格证 issued at
    or before ``at`` when its category needs one."""
    need = await requirement(session, lot)
    if not need.required:
        return
    issued = await session.scalar(
        select(TraceCommitmentCertificate.id)
        .where(
            TraceCommitmentCertificate.lot_id == lot.id,
            TraceCommitmentCertificate.issued_at <= at,
        )
        .limit(1)
    )
    if issued is None:
        own = " of its own (its parents' do not carry over)" if need.derived else ""
        raise ApiError(
            422,
            f"lot {lot.lot!r} of GTIN {lot.gtin} is of category {need.category}, which needs a "
            f"承诺达标合格证{own} before it is sold or shipped: issue one "
            f"(POST /api/v1/trace/lots/{lot.gtin}/{lot.lot}/commitment-certificates)",
            field="lot",
        )
