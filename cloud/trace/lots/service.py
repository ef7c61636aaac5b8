"""Lots: create, read, list; which GTINs are ours.

A lot belongs to its producing organisation and that organisation's county. We are
authoritative for the GTINs of our catalog and for any GTIN we have registered lots
of: an event naming such a GTIN with a lot that is not registered is refused
(:mod:`cloud.trace.events.service`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, bindparam, exists, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.catalog.service import get_product_by_gtin
from cloud.catalog.storage import Organisation, ProductionBase
from cloud.db import utcnow
from cloud.trace.lots.schemas import LotCreate
from cloud.trace.lots.storage import TraceLot, TraceLotParent


class LotError(Exception):
    """``status`` (403, 404, 409, 422) and the input at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def _postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def key_in(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
    """``(trace_lots.gtin, trace_lots.lot)`` is one of ``keys``. PostgreSQL: the keys
    travel as two arrays (one statement text whatever their number, so the driver
    parses and prepares it once, instead of a new ``IN (...)`` of 2n parameters per
    call); other databases: a tuple ``IN``."""
    if _postgres(session):
        pairs = (
            func.unnest(
                bindparam("key_gtins", [k[0] for k in keys], type_=ARRAY(Text)),
                bindparam("key_lots", [k[1] for k in keys], type_=ARRAY(Text)),
            )
            .table_valued("gtin", "lot")
            .render_derived()
        )
        return tuple_(TraceLot.gtin, TraceLot.lot).in_(select(pairs.c.gtin, pairs.c.lot))
    return tuple_(TraceLot.gtin, TraceLot.lot).in_(list(keys))


def key_chunks(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> Iterable[Sequence[tuple[str, str]]]:
    """``keys`` in the chunks one :func:`key_in` takes: all at once on PostgreSQL (two
    array parameters), 500 at a time elsewhere (SQLite's parameter limit)."""
    step = (len(keys) or 1) if _postgres(session) else 500
    return (keys[start : start + step] for start in range(0, len(keys), step))


async def our_gtins(session: AsyncSession, gtins: Iterable[str]) -> set[str]:
    """The GTINs among ``gtins`` we are authoritative for: in our catalog, or with a
    registered lot."""
    wanted = set(gtins)
    if not wanted:
        return set()
    if _postgres(session):
        # one index probe per GTIN (not every lot of it), the GTINs as one array
        given = func.unnest(bindparam("gtins", sorted(wanted), type_=ARRAY(Text)))
        g = given.table_valued("gtin").render_derived()
        q = select(g.c.gtin).where(exists().where(TraceLot.gtin == g.c.gtin))
    else:
        q = select(TraceLot.gtin).where(TraceLot.gtin.in_(wanted)).distinct()
    ours = set(await session.scalars(q))
    for gtin in wanted - ours:
        if await get_product_by_gtin(session, gtin) is not None:
            ours.add(gtin)
    return ours


async def lots_by_key(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], TraceLot]:
    """The registered lots among ``keys`` ((gtin, lot) pairs), one query (per 500 keys
    but on PostgreSQL, where they travel as arrays)."""
    found: dict[tuple[str, str], TraceLot] = {}
    for chunk in key_chunks(session, list(set(keys))):
        for lot in await session.scalars(select(TraceLot).where(key_in(session, chunk))):
            found[(lot.gtin, lot.lot)] = lot
    return found


@dataclass(frozen=True, slots=True)
class LotOwner:
    """Who a lot belongs to: what the event store checks of each lot an event names."""

    gtin: str
    lot: str
    county: str
    org_id: int


async def lot_owners(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], LotOwner]:
    """:func:`lots_by_key` for the event store: four columns, no ORM objects (a capture
    of 100 events names some hundreds of lots)."""
    cols = (TraceLot.gtin, TraceLot.lot, TraceLot.county, TraceLot.org_id)
    found: dict[tuple[str, str], LotOwner] = {}
    for chunk in key_chunks(session, list(set(keys))):
        for gtin, lot, county, org_id in await session.execute(
            select(*cols).where(key_in(session, chunk))
        ):
            found[(gtin, lot)] = LotOwner(gtin, lot, county, org_id)
    return found


async def create_lot(session: AsyncSession, body: LotCreate, principal: Principal) -> TraceLot:
    """Register a lot of ``body.org_id``'s county; audited. The caller commits."""
    org = await session.get(Organisation, body.org_id)
    if org is None or not principal.can_see(org.county):
        raise LotError(404, f"organisation {body.org_id} not found", "body.org_id")
    principal.require_write(org.county, str(org.id))
    product = await get_product_by_gtin(session, body.gtin)
    if product is None or not principal.can_see(product.county):
        raise LotError(
            422,
            f"GTIN {body.gtin} is not a product of our catalog: register the product "
            "(POST /api/v1/products) before its lots",
            "body.gtin",
        )
    if product.county != org.county:
        raise LotError(
            422,
            f"GTIN {body.gtin} is a product of county {product.county}; its lots are made "
            f"by organisations of that county, not of {org.county}",
            "body.gtin",
        )
    if body.origin_base_id is not None:
        base = await session.get(ProductionBase, body.origin_base_id)
        if base is None or base.county != org.county:
            raise LotError(
                422,
                f"production base {body.origin_base_id} is not a base of county {org.county}",
                "body.origin_base_id",
            )
    taken = await session.scalar(
        select(TraceLot.id).where(TraceLot.gtin == body.gtin, TraceLot.lot == body.lot)
    )
    if taken is not None:
        raise LotError(409, f"lot {body.lot!r} of GTIN {body.gtin} exists", "body.lot")
    parents = await lots_by_key(session, ((p.gtin, p.lot) for p in body.parents))
    for i, p in enumerate(body.parents):
        parent = parents.get((p.gtin, p.lot))
        if parent is None or not principal.can_see(parent.county):
            raise LotError(
                422,
                f"parent lot {p.lot!r} of GTIN {p.gtin} is not registered; register it first",
                f"body.parents[{i}]",
            )
    lot = TraceLot(
        gtin=body.gtin,
        lot=body.lot,
        county=org.county,
        org_id=org.id,
        product_id=product.id,
        quantity=body.quantity,
        unit=body.unit,
        origin_base_id=body.origin_base_id,
        produced_on=body.produced_on,
        created_at=utcnow(),
        created_by=principal.actor,
    )
    session.add(lot)
    await session.flush()
    for parent_id in dict.fromkeys(parents[(p.gtin, p.lot)].id for p in body.parents):
        session.add(TraceLotParent(lot_id=lot.id, parent_id=parent_id))
    await session.flush()
    await record(
        session,
        principal.actor,
        "lot.created",
        f"lot:{lot.gtin}/{lot.lot}",
        lot.county,
        {"org_id": org.id, "parents": len(parents)},
    )
    return lot


async def get_lot(
    session: AsyncSession, gtin: str, lot: str, principal: Principal
) -> TraceLot | None:
    """The lot, or None when it is not registered or of a county ``principal`` cannot see."""
    found = await session.scalar(select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == lot))
    if found is None or not principal.can_see(found.county):
        return None
    return found


async def parents_of(
    session: AsyncSession, lot_ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """Each lot's parents as (gtin, lot), one query."""
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in lot_ids}
    if not lot_ids:
        return out
    q = (
        select(TraceLotParent.lot_id, TraceLot.gtin, TraceLot.lot)
        .join(TraceLot, TraceLot.id == TraceLotParent.parent_id)
        .where(TraceLotParent.lot_id.in_(lot_ids))
        .order_by(TraceLotParent.lot_id, TraceLot.gtin, TraceLot.lot)
    )
    for lot_id, gtin, number in await session.execute(q):
        out[lot_id].append((gtin, number))
    return out


def lots_query(
    counties: list[str] | None,
    *,
    gtin: str | None = None,
    lot: str | None = None,
    org_id: int | None = None,
) -> Select[Any]:
    """Lots of ``counties`` (None: every county), unordered (the router pages)."""
    q = select(TraceLot)
    if counties is not None:
        q = q.where(TraceLot.county.in_(counties))
    if gtin is not None:
        q = q.where(TraceLot.gtin == gtin)
    if lot is not None:
        q = q.where(TraceLot.lot == lot)
    if org_id is not None:
        q = q.where(TraceLot.org_id == org_id)
    return q
