"""The programme's indicators (definitions: cloud/commerce/README.md), top products and
orders per day. Months and days are Beijing's (stored on each order and line).

``db`` is a :class:`cloud.db.Database` or an open :class:`AsyncSession`. ``counties``
None means every county (the caller has already scoped it to what its principal sees).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.storage import Product
from cloud.commerce.schemas import DayCount, IndicatorRow, TopProduct, check_month
from cloud.commerce.storage import Order, OrderLine
from cloud.db import Database
from cloud.errors import ApiError

GroupBy = Literal["county", "month", "category", "channel"]
GROUP_KEYS: tuple[GroupBy, ...] = ("county", "month", "category", "channel")
#: The longest period one query may span (months).
MAX_MONTHS = 60
MEASURES = (
    "online_retail_sales",
    "farm_online_retail_sales",
    "order_count",
    "parcels_out",
    "parcels_in",
    "local_produce_share",
    "active_shops",
)
FEN = Decimal("0.01")
RATIO = Decimal("0.0001")


def yuan(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) * FEN).quantize(FEN)


def month_index(month: str) -> int:
    check_month(month)
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def month_of(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def shift_month(month: str, by: int) -> str:
    return month_of(month_index(month) + by)


def check_period(start_month: str, end_month: str) -> int:
    """The number of months of the period; a 422 naming the field when it is bad."""
    for name, m in (("start_month", start_month), ("end_month", end_month)):
        try:
            check_month(m)
        except ValueError as exc:
            raise ApiError(422, f"query.{name}: {exc}", field=f"query.{name}") from None
    n = month_index(end_month) - month_index(start_month) + 1
    if n < 1:
        raise ApiError(422, "query.end_month: before start_month", field="query.end_month")
    if n > MAX_MONTHS:
        raise ApiError(
            422, f"query.end_month: at most {MAX_MONTHS} months", field="query.end_month"
        )
    return n


@asynccontextmanager
async def _session(db: Database | AsyncSession) -> AsyncIterator[AsyncSession]:
    if isinstance(db, AsyncSession):
        yield db
    else:
        async with db.session() as s:
            yield s


@dataclass
class _Acc:
    sales: int = 0
    farm: int = 0
    local: int = 0
    orders: int = 0
    shops: int = 0
    parcels_out: int = 0
    parcels_in: int = 0
    touched: bool = field(default=False)

    def values(self) -> dict[str, Decimal | int | None]:
        return {
            "online_retail_sales": yuan(self.sales),
            "farm_online_retail_sales": yuan(self.farm),
            "order_count": self.orders,
            "parcels_out": self.parcels_out,
            "parcels_in": self.parcels_in,
            "local_produce_share": (Decimal(self.local) / Decimal(self.sales)).quantize(RATIO)
            if self.sales > 0
            else None,
            "active_shops": self.shops,
        }


Key = tuple[str | None, ...]


async def _measure(
    s: AsyncSession,
    counties: list[str] | None,
    first: str,
    last: str,
    group_by: Sequence[GroupBy],
) -> dict[Key, _Acc]:
    """Every measure of the months ``first``..``last`` grouped by ``group_by``."""
    L, Od = OrderLine, Order
    out: dict[Key, _Acc] = {}

    def key(row: Any) -> Key:
        return tuple(getattr(row, k) for k in group_by)

    # Sales, farm sales, local sales, orders, active shops: the counted lines.
    cols = [getattr(L, k).label(k) for k in group_by]
    net = L.amount_fen - L.refunded_fen
    q = select(
        *cols,
        func.sum(net).label("sales"),
        func.sum(case((L.farm, net), else_=0)).label("farm"),
        func.sum(case((L.local, net), else_=0)).label("local"),
        func.count(distinct(L.order_id)).label("orders"),
        func.count(distinct(L.shop_id)).label("shops"),
    ).where(L.counted, L.month >= first, L.month <= last)
    if counties is not None:
        q = q.where(L.county.in_(counties))
    if group_by:
        q = q.group_by(*cols)
    for row in await s.execute(q):
        if row.orders == 0:
            continue
        acc = out.setdefault(key(row), _Acc())
        acc.sales, acc.farm, acc.local = int(row.sales), int(row.farm), int(row.local)
        acc.orders, acc.shops, acc.touched = int(row.orders), int(row.shops), True

    # Express parcels out (by the shop's county) and in (by the destination county):
    # shipped orders, one parcel each.
    for direction in ("out", "in"):
        county_col = Od.county if direction == "out" else Od.dest_county
        pcols = []
        for k in group_by:
            if k == "category":
                pcols.append(L.category.label(k))
            elif k == "county":
                pcols.append(county_col.label(k))
            else:
                pcols.append(getattr(Od, k).label(k))
        src = (
            Od
            if "category" not in group_by
            else Od.__table__.join(L.__table__, and_(L.order_id == Od.id, L.counted))
        )
        pq = (
            select(*pcols, func.count(distinct(Od.id)).label("n"))
            .select_from(src)
            .where(Od.shipped_at.is_not(None), Od.month >= first, Od.month <= last)
        )
        if counties is not None:
            pq = pq.where(county_col.in_(counties))
        elif direction == "in":
            pq = pq.where(Od.dest_county.is_not(None))
        if group_by:
            pq = pq.group_by(*pcols)
        for row in await s.execute(pq):
            if not row.n:
                continue
            acc = out.setdefault(key(row), _Acc())
            acc.touched = True
            if direction == "out":
                acc.parcels_out = int(row.n)
            else:
                acc.parcels_in = int(row.n)
    return out


def _change(
    cur: dict[str, Decimal | int | None], base: dict[str, Decimal | int | None] | None
) -> dict[str, Decimal | None]:
    out: dict[str, Decimal | None] = {}
    for m in MEASURES:
        a = cur[m]
        b = None if base is None else base[m]
        if a is None or b is None:
            out[m] = None
        elif m == "local_produce_share":
            out[m] = (Decimal(a) - Decimal(b)).quantize(RATIO)
        elif b == 0:
            out[m] = None
        else:
            out[m] = ((Decimal(a) - Decimal(b)) / Decimal(b)).quantize(RATIO)
    return out


def _shifted(table: dict[Key, _Acc], group_by: Sequence[GroupBy], by: int) -> dict[Key, _Acc]:
    """``table`` with its month keys moved ``by`` months later (a base lined up)."""
    if "month" not in group_by:
        return table
    i = list(group_by).index("month")
    moved = {}
    for k, v in table.items():
        kk = list(k)
        kk[i] = shift_month(str(kk[i]), by)
        moved[tuple(kk)] = v
    return moved


async def indicators(
    db: Database | AsyncSession,
    *,
    counties: list[str] | None,
    start_month: str,
    end_month: str,
    group_by: list[GroupBy],
) -> list[IndicatorRow]:
    """The indicators of the months ``start_month``..``end_month`` (inclusive, Beijing),
    one row per group that has any activity (no group: one row, zeros when idle).

    ``yoy``: against the same months a year before. ``mom``: grouped by month, against
    the month before; otherwise against the period of the same length just before.
    """
    n = check_period(start_month, end_month)
    for k in group_by:
        if k not in GROUP_KEYS:
            raise ApiError(422, f"query.group_by: {k!r} is not one of {', '.join(GROUP_KEYS)}",
                           field="query.group_by")  # fmt: skip
    gb = [k for k in GROUP_KEYS if k in group_by]  # a stable order, no repeats
    mom_by = 1 if "month" in gb else n
    async with _session(db) as s:
        cur = await _measure(s, counties, start_month, end_month, gb)
        last_year = _shifted(
            await _measure(
                s, counties, shift_month(start_month, -12), shift_month(end_month, -12), gb
            ),
            gb,
            12,
        )
        before = _shifted(
            await _measure(
                s,
                counties,
                shift_month(start_month, -mom_by),
                shift_month(end_month, -mom_by),
                gb,
            ),
            gb,
            mom_by,
        )
    if not gb and not cur:
        cur = {(): _Acc()}
    rows = []
    for k in sorted(cur, key=lambda t: tuple("" if x is None else str(x) for x in t)):
        values = cur[k].values()
        yb, mb = last_year.get(k), before.get(k)
        rows.append(
            IndicatorRow(
                **dict(zip(gb, k, strict=True)),
                **values,  # type: ignore[arg-type]
                yoy=_change(values, yb.values() if yb else None),
                mom=_change(values, mb.values() if mb else None),
            )
        )
    return rows


async def top_products(
    db: Database | AsyncSession,
    *,
    counties: list[str] | None,
    start: str,
    end: str,
    limit: int = 10,
) -> list[TopProduct]:
    """The products with the highest net online retail sales in the months
    ``start``..``end`` (``YYYY-MM``, Beijing), best first."""
    check_period(start, end)
    L = OrderLine
    net = func.sum(L.amount_fen - L.refunded_fen)
    q = (
        select(
            L.product_id,
            net.label("sales"),
            func.sum(L.quantity).label("quantity"),
            func.count(distinct(L.order_id)).label("orders"),
        )
        .where(L.counted, L.product_id.is_not(None), L.month >= start, L.month <= end)
        .group_by(L.product_id)
        .order_by(net.desc(), L.product_id)
        .limit(max(1, min(limit, 100)))
    )
    if counties is not None:
        q = q.where(L.county.in_(counties))
    async with _session(db) as s:
        got = (await s.execute(q)).all()
        ids = [r.product_id for r in got]
        products = {
            p.id: p for p in await s.scalars(select(Product).where(Product.id.in_(ids or [0])))
        }
    out = []
    for r in got:
        p = products.get(r.product_id)
        if p is None:
            continue
        out.append(
            TopProduct(
                product_id=p.id,
                gtin=p.gtin,
                name=p.name,
                category=p.category,
                county=p.county,
                sales=yuan(r.sales),
                quantity=int(r.quantity),
                order_count=int(r.orders),
            )
        )
    return out


#: The longest orders-per-day series one query may ask for.
MAX_DAYS = 400


async def orders_per_day(
    db: Database | AsyncSession,
    *,
    counties: list[str] | None,
    start: date,
    end: date,
) -> list[DayCount]:
    """Orders placed and their gross amount each Beijing day ``start``..``end``
    (inclusive; cancelled orders not counted); every day present, zero when idle."""
    days = (end - start).days + 1
    if days < 1:
        raise ApiError(422, "query.end: before start", field="query.end")
    if days > MAX_DAYS:
        raise ApiError(422, f"query.end: at most {MAX_DAYS} days", field="query.end")
    Od = Order
    q = (
        select(Od.day, func.count(Od.id).label("n"),
               func.sum(Od.amount_fen - Od.refunded_fen).label("fen"))
        .where(Od.day >= start, Od.day <= end, Od.status != "cancelled")
        .group_by(Od.day)
    )  # fmt: skip
    if counties is not None:
        q = q.where(Od.county.in_(counties))
    async with _session(db) as s:
        got = {r.day: (int(r.n), int(r.fen or 0)) for r in await s.execute(q)}

    out = []
    for i in range(days):
        d = start + timedelta(days=i)
        n, fen = got.get(d, (0, 0))
        out.append(DayCount(day=d, order_count=n, sales=yuan(fen)))
    return out
