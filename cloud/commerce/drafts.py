"""Orders on their way in: the drafts every path builds (API, file import, simulator),
the catalogue their lines resolve against, and the one bulk writer.

A draft is validated before it gets here; the writer only computes the stored columns
(Beijing month and day, fen, category, farm and local flags, destination county) and
inserts orders, lines and their first status event, many at a time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.storage import Product
from cloud.commerce.places import county_of
from cloud.commerce.storage import (
    SHIPPED,
    UNMAPPED,
    Order,
    OrderEvent,
    OrderLine,
    Shop,
    SkuMap,
)

BEIJING = timezone(timedelta(hours=8))
#: How far ahead of our clock an order's time may be (platform clocks drift a little).
FUTURE_SKEW = timedelta(minutes=5)
#: Not a farm product: the catalogue's ``other`` and lines of no product.
NOT_FARM = frozenset({"other", UNMAPPED})


def fen_of(amount: Decimal) -> int:
    """Whole fen of a yuan amount that has at most two decimals (checked before)."""
    return int(amount * 100)


@dataclass(slots=True)
class LineDraft:
    quantity: int
    amount_fen: int
    product_id: int | None = None
    gtin: str | None = None
    sku: str | None = None
    title: str | None = None


@dataclass(slots=True)
class OrderDraft:
    platform_order_id: str
    ordered_at: datetime
    status: str
    dest_city: str | None
    lines: list[LineDraft] = field(default_factory=list)

    def digest(self) -> str:
        """SHA-256 of the canonical body (UTC time, fen): what idempotency compares."""
        body = {
            "id": self.platform_order_id,
            "at": self.ordered_at.astimezone(UTC).isoformat(),
            "status": self.status,
            "city": self.dest_city,
            "lines": [
                [ln.product_id, ln.gtin, ln.sku, ln.title, ln.quantity, ln.amount_fen]
                for ln in self.lines
            ],
        }
        return hashlib.sha256(orjson.dumps(body)).hexdigest()


@dataclass(slots=True, frozen=True)
class ProductInfo:
    id: int
    gtin: str
    category: str
    county: str


@dataclass
class Catalogue:
    """Products and the platform-SKU mappings lines resolve against."""

    products: dict[int, ProductInfo] = field(default_factory=dict)
    by_gtin: dict[str, int] = field(default_factory=dict)
    #: (shop id, sku) -> product id
    skus: dict[tuple[int, str], int] = field(default_factory=dict)

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        shop_ids: list[int],
        *,
        gtins: set[str] | None = None,
        product_ids: set[int] | None = None,
    ) -> Catalogue:
        cat = cls()
        for sid, sku, pid in await session.execute(
            select(SkuMap.shop_id, SkuMap.sku, SkuMap.product_id).where(
                SkuMap.shop_id.in_(shop_ids or [0])
            )
        ):
            cat.skus[(sid, sku)] = pid
        wanted = set(cat.skus.values()) | (product_ids or set())
        q = select(Product.id, Product.gtin, Product.category, Product.county)
        conds = []
        if wanted:
            conds.append(Product.id.in_(wanted))
        if gtins:
            conds.append(Product.gtin.in_(gtins))
        if conds:
            from sqlalchemy import or_

            for pid, gtin, category, county in await session.execute(q.where(or_(*conds))):
                cat.products[pid] = ProductInfo(pid, gtin, category, county)
                cat.by_gtin[gtin] = pid
        return cat

    def resolve(self, shop_id: int, line: LineDraft) -> ProductInfo | None:
        """The line's product: its id, else its GTIN, else its SKU's mapping."""
        pid = line.product_id
        if pid is None and line.gtin is not None:
            pid = self.by_gtin.get(line.gtin)
        if pid is None and line.sku is not None:
            pid = self.skus.get((shop_id, line.sku))
        return None if pid is None else self.products.get(pid)


def beijing_month_day(at: datetime) -> tuple[str, Any]:
    local = at.astimezone(BEIJING)
    return f"{local.year:04d}-{local.month:02d}", local.date()


async def write_orders(
    session: AsyncSession,
    items: list[tuple[Shop, OrderDraft]],
    catalogue: Catalogue,
    *,
    source: str,
    actor: str,
) -> list[int]:
    """Insert ``items`` (orders not yet stored) with their lines and first status
    events, in the caller's transaction; their ids, in order. Executemany on both
    databases: SQLAlchemy's insertmanyvalues batches the rows into multi-row INSERTs."""
    if not items:
        return []
    now = datetime.now(UTC)
    order_rows: list[dict[str, Any]] = []
    keys: list[tuple[str, str, int]] = []
    for shop, d in items:
        month, day = beijing_month_day(d.ordered_at)
        amount = sum(ln.amount_fen for ln in d.lines)
        at = d.ordered_at.astimezone(UTC)
        order_rows.append(
            {
                "shop_id": shop.id,
                "channel": shop.channel,
                "county": shop.county,
                "org_id": shop.org_id,
                "platform_order_id": d.platform_order_id,
                "ordered_at": at,
                "month": month,
                "day": day,
                "status": d.status,
                "amount_fen": amount,
                "refunded_fen": amount if d.status == "refunded" else 0,
                "shipped_at": at if d.status in SHIPPED else None,
                "dest_city": d.dest_city,
                "dest_county": county_of(d.dest_city),
                "body_hash": d.digest(),
                "source": source,
                "created_at": now,
                "created_by": actor,
                "updated_at": None,
            }
        )
        keys.append((month, shop.county, shop.id))
    table = Order.__table__
    got = await session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), order_rows
    )
    ids = [r[0] for r in got]
    line_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for oid, (shop, d), (month, county, shop_id), row in zip(
        ids, items, keys, order_rows, strict=True
    ):
        counted = d.status != "cancelled"
        refunded = d.status == "refunded"
        for n, ln in enumerate(d.lines, 1):
            p = catalogue.resolve(shop_id, ln)
            category = p.category if p else UNMAPPED
            line_rows.append(
                {
                    "order_id": oid,
                    "line_no": n,
                    "product_id": p.id if p else None,
                    "gtin": p.gtin if p else ln.gtin,
                    "sku": ln.sku,
                    "title": ln.title,
                    "quantity": ln.quantity,
                    "amount_fen": ln.amount_fen,
                    "refunded_fen": ln.amount_fen if refunded else 0,
                    "category": category,
                    "farm": category not in NOT_FARM,
                    "local": p is not None and p.county == county,
                    "county": county,
                    "month": month,
                    "channel": shop.channel,
                    "shop_id": shop_id,
                    "counted": counted,
                }
            )
        event_rows.append(
            {
                "order_id": oid,
                "kind": "status",
                "status": d.status,
                "refund_fen": None,
                "line_no": None,
                "refund_id": None,
                "at": row["ordered_at"],
                "recorded_at": now,
                "recorded_by": actor,
            }
        )
    await session.execute(insert(OrderLine.__table__), line_rows)
    await session.execute(insert(OrderEvent.__table__), event_rows)
    return ids
