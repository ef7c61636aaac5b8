"""Orders on their way in: the drafts every path builds (API, file import, simulator),
the catalogue their lines resolve against, and the one bulk writer.

A draft is validated before it gets here; the writer only computes the stored columns
(Beijing month and day, fen, category, farm and local flags, destination county) and
inserts orders, lines and their first status event, many at a time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
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

    def digest(self, at_utc: str | None = None) -> str:
        """SHA-256 of the canonical body (UTC time, fen): what idempotency compares.
        ``at_utc``: the time's UTC ISO text when the caller has it already."""
        body = {
            "id": self.platform_order_id,
            "at": at_utc or self.ordered_at.astimezone(UTC).isoformat(),
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


ORDER_COLUMNS = (
    "shop_id", "channel", "county", "org_id", "platform_order_id", "ordered_at", "month",
    "day", "status", "amount_fen", "refunded_fen", "shipped_at", "dest_city", "dest_county",
    "body_hash", "source", "created_at", "created_by",
)  # fmt: skip
LINE_COLUMNS = (
    "order_id", "line_no", "product_id", "gtin", "sku", "title", "quantity", "amount_fen",
    "refunded_fen", "category", "farm", "local", "county", "month", "channel", "shop_id",
    "counted",
)  # fmt: skip


async def write_orders(
    session: AsyncSession,
    items: list[tuple[Shop, OrderDraft]],
    catalogue: Catalogue,
    *,
    source: str,
    actor: str,
) -> list[int]:
    """Insert ``items`` (orders not yet stored) with their lines, in the caller's
    transaction; their ids, in order. PostgreSQL, from :data:`COPY_FROM` orders: ids
    from the sequence in one round trip, then COPY (:func:`_pg_write`); otherwise (and
    on SQLite) multi-row INSERTs (SQLAlchemy's insertmanyvalues).

    A status event records a change after the order arrived: the first status is the
    order's own (its ``status`` and ``ordered_at``), so a write adds no event rows."""
    if not items:
        return []
    pg = await pg_connection(session) if len(items) >= COPY_FROM else None
    if pg is not None:
        return await _pg_write(pg, items, catalogue, source=source, actor=actor)
    now = datetime.now(UTC)
    orders: list[tuple[Any, ...]] = []
    months: list[str] = []
    for shop, d in items:
        at = d.ordered_at.astimezone(UTC)
        local = at.astimezone(BEIJING)
        month = f"{local.year:04d}-{local.month:02d}"
        months.append(month)
        amount = sum(ln.amount_fen for ln in d.lines)
        orders.append((
            shop.id, shop.channel, shop.county, shop.org_id, d.platform_order_id, at, month,
            local.date(), d.status, amount, amount if d.status == "refunded" else 0,
            at if d.status in SHIPPED else None, d.dest_city, county_of(d.dest_city),
            d.digest(), source, now, actor,
        ))  # fmt: skip
    table = Order.__table__
    got = await session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [dict(zip(ORDER_COLUMNS, o, strict=True)) for o in orders],
    )
    ids = [r[0] for r in got]
    lines: list[tuple[Any, ...]] = []
    resolve = catalogue.resolve
    for oid, (shop, d), month in zip(ids, items, months, strict=True):
        counted = d.status != "cancelled"
        refunded = d.status == "refunded"
        county, shop_id, channel = shop.county, shop.id, shop.channel
        for n, ln in enumerate(d.lines, 1):
            p = resolve(shop_id, ln)
            if p is None:
                pid, gtin, category, farm, local_ = None, ln.gtin, UNMAPPED, False, False
            else:
                pid, gtin, category = p.id, p.gtin, p.category
                farm, local_ = category not in NOT_FARM, p.county == county
            lines.append((
                oid, n, pid, gtin, ln.sku, ln.title, ln.quantity, ln.amount_fen,
                ln.amount_fen if refunded else 0, category, farm, local_, county, month,
                channel, shop_id, counted,
            ))  # fmt: skip
    await session.execute(
        insert(OrderLine.__table__), [dict(zip(LINE_COLUMNS, ln, strict=True)) for ln in lines]
    )
    return ids


#: Below this many orders, plain INSERTs (a COPY's set-up costs more than it saves).
COPY_FROM = 50
#: Orders per COPY chunk: the server stores one chunk while the next is formatted.
COPY_CHUNK = 1000


async def pg_connection(session: AsyncSession) -> Any | None:
    """The psycopg connection under ``session`` on PostgreSQL (in its transaction)."""
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        return None
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def _pg_ids(pg: Any, n: int) -> list[int]:
    """``n`` new order ids from the table's own sequence, in one round trip."""
    async with pg.cursor() as cur:
        await cur.execute(
            "SELECT nextval(pg_get_serial_sequence('commerce_orders', 'id')) "
            "FROM generate_series(1, %s)",
            (n,),
        )
        return [r[0] for r in await cur.fetchall()]


def _copy_text(v: Any) -> str:
    """One value in COPY's text format."""
    if v is None:
        return "\\N"
    t = v.__class__
    if t is str:
        if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
            return (
                v.replace("\\", "\\\\")
                .replace("\t", "\\t")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )
        return v  # type: ignore[no-any-return]
    if t is bool:
        return "t" if v else "f"
    if t is datetime or t is date:
        return v.isoformat()  # type: ignore[no-any-return]
    return str(v)


class _Memo(dict[Any, str]):
    """``_copy_text`` of values that repeat (times, titles, cities, SKUs): each once."""

    def __missing__(self, v: Any) -> str:
        text = self[v] = _copy_text(v)
        return text


async def _pg_write(
    pg: Any, items: list[tuple[Shop, OrderDraft]], catalogue: Catalogue, *, source: str,
    actor: str,
) -> list[int]:  # fmt: skip
    """:func:`write_orders` on PostgreSQL: ids from the sequence, then orders and lines
    by COPY, each row formatted straight to COPY's text (one escaped text per distinct
    value), in chunks that the server stores while the next is formatted."""
    ids = await _pg_ids(pg, len(items))
    text = _Memo()
    # each shop's columns once (a Shop is an ORM object: every attribute read is a
    # descriptor call)
    shops: dict[int, tuple[int, str, str, int]] = {}
    for shop, _d in items:
        if id(shop) not in shops:
            shops[id(shop)] = (shop.id, text[shop.channel], text[shop.county], shop.org_id)
    tail = f"\t{text[source]}\t{datetime.now(UTC).isoformat()}\t{text[actor]}\n"
    months: list[str] = []
    async with pg.cursor() as cur:
        async with cur.copy(
            f"COPY commerce_orders ({', '.join(('id', *ORDER_COLUMNS))}) FROM STDIN"
        ) as copy:
            for i in range(0, len(items), COPY_CHUNK):
                rows = []
                for oid, (shop, d) in zip(ids[i : i + COPY_CHUNK], items[i : i + COPY_CHUNK],
                                          strict=True):  # fmt: skip
                    at = d.ordered_at
                    if at.tzinfo is not UTC:
                        at = at.astimezone(UTC)
                    local = at.astimezone(BEIJING)
                    month = f"{local.year:04d}-{local.month:02d}"
                    months.append(month)
                    amount = sum(ln.amount_fen for ln in d.lines)
                    status = d.status
                    when = text[at]
                    shop_id, channel, county, org_id = shops[id(shop)]
                    rows.append(
                        f"{oid}\t{shop_id}\t{channel}\t{county}\t"
                        f"{org_id}\t{text[d.platform_order_id]}\t{when}\t{month}\t"
                        f"{local.date().isoformat()}\t{text[status]}\t{amount}\t"
                        f"{amount if status == 'refunded' else 0}\t"
                        f"{when if status in SHIPPED else NULL}\t{text[d.dest_city]}\t"
                        f"{text[county_of(d.dest_city)]}\t{d.digest(when)}{tail}"
                    )
                await copy.write("".join(rows).encode())
        # each line's product columns, once per (shop, GTIN, SKU)
        products: dict[tuple[int, str | None, str | None], tuple[str, str]] = {}
        resolve = catalogue.resolve
        async with cur.copy(
            f"COPY commerce_order_lines ({', '.join(LINE_COLUMNS)}) FROM STDIN"
        ) as copy:
            for i in range(0, len(items), COPY_CHUNK):
                rows = []
                for oid, (shop, d), month in zip(ids[i : i + COPY_CHUNK],
                                                 items[i : i + COPY_CHUNK],
                                                 months[i : i + COPY_CHUNK], strict=True):  # fmt: skip
                    status = d.status
                    refunded = status == "refunded"
                    shop_id, channel, county, _org = shops[id(shop)]
                    end = (
                        f"\t{county}\t{month}\t{channel}\t{shop_id}\t"
                        f"{'f' if status == 'cancelled' else 't'}\n"
                    )
                    for n, ln in enumerate(d.lines, 1):
                        if ln.product_id is None:
                            key = (shop_id, ln.gtin, ln.sku)
                            cols = products.get(key)
                            if cols is None:
                                cols = products[key] = _product_cols(resolve(shop_id, ln), ln,
                                                                     shop, text)  # fmt: skip
                        else:
                            cols = _product_cols(resolve(shop_id, ln), ln, shop, text)
                        head, mid = cols
                        rows.append(
                            f"{oid}\t{n}\t{head}\t{text[ln.sku]}\t{text[ln.title]}\t"
                            f"{ln.quantity}\t{ln.amount_fen}\t"
                            f"{ln.amount_fen if refunded else 0}\t{mid}{end}"
                        )
                await copy.write("".join(rows).encode())
    return ids  # type: ignore[no-any-return]


NULL = "\\N"


def _product_cols(p: ProductInfo | None, ln: LineDraft, shop: Shop, text: _Memo) -> tuple[str, str]:
    """A line's (product_id, gtin) and (category, farm, local) columns as COPY text."""
    if p is None:
        return f"{NULL}\t{text[ln.gtin]}", f"{UNMAPPED}\tf\tf"
    farm = "t" if p.category not in NOT_FARM else "f"
    local = "t" if p.county == shop.county else "f"
    return f"{p.id}\t{text[p.gtin]}", f"{text[p.category]}\t{farm}\t{local}"
