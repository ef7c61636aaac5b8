"""Shops, platform-SKU mappings, orders, their status changes and refunds.

Who sees what: county roles their county (the prefecture: all); organisation roles
(an operator, a station, the operating company) only their own organisation's shops
and orders. A platform's API key (role ``platform``, cloud/services/registry) only the
shops granted to it and their orders; it registers no shop. Another county's record,
another organisation's, or a shop not granted to a platform is 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.policy import shop_scope
from cloud.auth.principal import Principal
from cloud.catalog.access import own_org
from cloud.catalog.storage import Organisation, Product
from cloud.commerce.drafts import (
    FUTURE_SKEW,
    Catalogue,
    LineDraft,
    OrderDraft,
    fen_of,
    write_orders,
)
from cloud.commerce.indicators import yuan
from cloud.commerce.schemas import (
    EventOut,
    LineOut,
    OrderIn,
    OrderOut,
    RefundIn,
    ShopIn,
    ShopOut,
    SkuMapIn,
    SkuMapOut,
    StatusIn,
)
from cloud.commerce.storage import (
    SHIPPED,
    TRANSITIONS,
    Order,
    OrderEvent,
    OrderLine,
    Shop,
    SkuMap,
)
from cloud.errors import ApiError


def not_found(what: str, ident: object, field: str | None = None) -> ApiError:
    prefix = f"{field}: " if field else ""
    return ApiError(404, f"{prefix}{what} {ident} not found", field=field)


def sees(principal: Principal, county: str, org_id: int, shop_id: int | None = None) -> bool:
    """``shop_id``: the shop of the record (a platform's key sees only its shops)."""
    if not principal.can_see(county):
        return False
    shops = shop_scope(principal)
    if shops is not None and shop_id not in shops:
        return False
    mine = own_org(principal)
    return mine is None or mine == org_id


# ------------------------------------------------------------------ shops


async def create_shop(s: AsyncSession, body: ShopIn, principal: Principal) -> Shop:
    org = await s.get(Organisation, body.org_id)
    # a platform's key sees its granted shops, no organisation: it registers no shop
    if org is None or not sees(principal, org.county, org.id) or shop_scope(principal) is not None:
        raise not_found("organisation", body.org_id, "body.org_id")
    principal.require_write(org.county, str(org.id))
    taken = await s.scalar(
        select(Shop.id).where(
            Shop.channel == body.channel, Shop.platform_shop_id == body.platform_shop_id
        )
    )
    if taken is not None:
        raise ApiError(409, f"body.platform_shop_id: the {body.channel} shop "
                       f"{body.platform_shop_id} is already registered",
                       field="body.platform_shop_id")  # fmt: skip
    shop = Shop(**body.model_dump(), county=org.county, created_by=principal.actor)
    s.add(shop)
    await s.flush()
    await record(s, principal.actor, "shop.created", f"shop:{shop.id}", org.county,
                 {"channel": body.channel, "org_id": org.id})  # fmt: skip
    return shop


def shop_out(shop: Shop) -> ShopOut:
    return ShopOut.model_validate(shop, from_attributes=True)


def shops_query(principal: Principal, counties: list[str] | None) -> Select[Any]:
    q = select(Shop)
    if counties is not None:
        q = q.where(Shop.county.in_(counties))
    org = own_org(principal)
    if org is not None:
        q = q.where(Shop.org_id == org)
    shops = shop_scope(principal)
    if shops is not None:
        q = q.where(Shop.id.in_(sorted(shops)))
    return q


async def get_shop(
    s: AsyncSession, shop_id: int, principal: Principal, field: str | None = None
) -> Shop:
    shop = await s.get(Shop, shop_id)
    if shop is None or not sees(principal, shop.county, shop.org_id, shop.id):
        raise not_found("shop", shop_id, field)
    return shop


async def writable_shop(
    s: AsyncSession, shop_id: int, principal: Principal, field: str | None = None
) -> Shop:
    shop = await get_shop(s, shop_id, principal, field)
    principal.require_write(shop.county, str(shop.org_id))
    return shop


async def map_skus(
    s: AsyncSession, shop: Shop, body: list[SkuMapIn], principal: Principal
) -> list[SkuMapOut]:
    """Map platform SKUs of ``shop`` to products (a product of any organisation of the
    shop's county, or its own organisation's); a mapping given again is replaced."""
    ids = {m.product_id for m in body}
    products = {p.id: p for p in await s.scalars(select(Product).where(Product.id.in_(ids or [0])))}
    for i, m in enumerate(body):
        p = products.get(m.product_id)
        if p is None or not principal.can_see(p.county):
            raise not_found("product", m.product_id, f"body.{i}.product_id")
    existing = {
        m.sku: m
        for m in await s.scalars(
            select(SkuMap).where(SkuMap.shop_id == shop.id, SkuMap.sku.in_([m.sku for m in body]))
        )
    }
    for m in body:
        row = existing.get(m.sku)
        if row is None:
            s.add(SkuMap(shop_id=shop.id, sku=m.sku, product_id=m.product_id,
                         created_by=principal.actor))  # fmt: skip
        else:
            row.product_id = m.product_id
    await s.flush()
    await record(s, principal.actor, "shop.skus_mapped", f"shop:{shop.id}", shop.county,
                 {"skus": len(body)})  # fmt: skip
    return [SkuMapOut(shop_id=shop.id, sku=m.sku, product_id=m.product_id) for m in body]


async def list_skus(s: AsyncSession, shop: Shop) -> list[SkuMapOut]:
    rows = await s.scalars(select(SkuMap).where(SkuMap.shop_id == shop.id).order_by(SkuMap.sku))
    return [SkuMapOut(shop_id=r.shop_id, sku=r.sku, product_id=r.product_id) for r in rows]


# ------------------------------------------------------------------ orders


def draft_of(body: OrderIn) -> OrderDraft:
    return OrderDraft(
        platform_order_id=body.platform_order_id,
        ordered_at=body.ordered_at.astimezone(UTC),
        status=body.status,
        dest_city=body.dest_city,
        lines=[
            LineDraft(
                quantity=ln.quantity,
                amount_fen=fen_of(ln.amount),
                product_id=ln.product_id,
                gtin=ln.gtin,
                sku=ln.sku,
                title=ln.title,
            )
            for ln in body.lines
        ],
    )


def check_not_future(at: datetime, field: str) -> None:
    if at > datetime.now(UTC) + FUTURE_SKEW:
        raise ApiError(422, f"{field}: {at.isoformat()} is in the future", field=field)


async def create_order(s: AsyncSession, body: OrderIn, principal: Principal) -> tuple[Order, bool]:
    """The order, and whether it was made now (False: the same body was recorded
    before, a retry). Another body under the same (channel, platform order id): 409."""
    shop = await writable_shop(s, body.shop_id, principal, "body.shop_id")
    check_not_future(body.ordered_at, "body.ordered_at")
    for i, ln in enumerate(body.lines):
        if ln.product_id is None and ln.gtin is None and ln.sku is None:
            raise ApiError(422, f"body.lines.{i}: give product_id, gtin or sku",
                           field=f"body.lines.{i}")  # fmt: skip
    draft = draft_of(body)
    found = await _same_key(s, shop.channel, body.platform_order_id, draft)
    if found is not None:
        return found, False
    pids = {ln.product_id for ln in body.lines if ln.product_id is not None}
    cat = await Catalogue.load(s, [shop.id], gtins={ln.gtin for ln in body.lines if ln.gtin},
                               product_ids=pids)  # fmt: skip
    for i, ln in enumerate(body.lines):
        if ln.product_id is not None and (
            ln.product_id not in cat.products
            or not principal.can_see(cat.products[ln.product_id].county)
        ):
            raise not_found("product", ln.product_id, f"body.lines.{i}.product_id")
    try:
        async with s.begin_nested():
            (oid,) = await write_orders(s, [(shop, draft)], cat, source="api",
                                        actor=principal.actor)  # fmt: skip
    except IntegrityError:
        # a concurrent retry of the same order won the race
        found = await _same_key(s, shop.channel, body.platform_order_id, draft)
        if found is None:
            raise
        return found, False
    order = await s.get(Order, oid)
    assert order is not None
    return order, True


async def _same_key(
    s: AsyncSession, channel: str, platform_order_id: str, draft: OrderDraft
) -> Order | None:
    existing = await s.scalar(
        select(Order).where(Order.channel == channel, Order.platform_order_id == platform_order_id)
    )
    if existing is None:
        return None
    if existing.body_hash != draft.digest():
        raise ApiError(
            409,
            f"body.platform_order_id: {channel} order {platform_order_id} was recorded with "
            "another body; a retry must send the same body",
            field="body.platform_order_id",
        )
    return existing


def orders_query(
    principal: Principal,
    counties: list[str] | None,
    shop_id: int | None,
    month: str | None,
    status: str | None,
) -> Select[Any]:
    q = select(Order)
    if counties is not None:
        q = q.where(Order.county.in_(counties))
    org = own_org(principal)
    if org is not None:
        q = q.where(Order.org_id == org)
    shops = shop_scope(principal)
    if shops is not None:
        q = q.where(Order.shop_id.in_(sorted(shops)))
    if shop_id is not None:
        q = q.where(Order.shop_id == shop_id)
    if month is not None:
        q = q.where(Order.month == month)
    if status is not None:
        q = q.where(Order.status == status)
    return q


async def get_order(s: AsyncSession, order_id: int, principal: Principal) -> Order:
    order = await s.get(Order, order_id)
    if order is None or not sees(principal, order.county, order.org_id, order.shop_id):
        raise not_found("order", order_id)
    return order


async def order_out(s: AsyncSession, order: Order) -> OrderOut:
    lines = await s.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
    )
    events = await s.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
    )
    return OrderOut(
        id=order.id, shop_id=order.shop_id, channel=order.channel, county=order.county,
        platform_order_id=order.platform_order_id, ordered_at=order.ordered_at,
        month=order.month, status=order.status, amount=yuan(order.amount_fen),
        refunded=yuan(order.refunded_fen), dest_city=order.dest_city,
        dest_county=order.dest_county, source=order.source,
        lines=[
            LineOut(line_no=ln.line_no, product_id=ln.product_id, gtin=ln.gtin, sku=ln.sku,
                    title=ln.title, quantity=ln.quantity, amount=yuan(ln.amount_fen),
                    refunded=yuan(ln.refunded_fen), category=ln.category)
            for ln in lines
        ],
        events=[
            EventOut(kind=e.kind, status=e.status,
                     refund=None if e.refund_fen is None else yuan(e.refund_fen),
                     line_no=e.line_no, refund_id=e.refund_id, at=e.at)
            for e in events
        ],
    )  # fmt: skip


async def writable_order(s: AsyncSession, order_id: int, principal: Principal) -> Order:
    order = await get_order(s, order_id, principal)
    principal.require_write(order.county, str(order.org_id))
    return order


async def change_status(
    s: AsyncSession, order: Order, body: StatusIn, principal: Principal
) -> Order:
    """Move ``order`` to ``body.status`` (its status already: nothing changes)."""
    if body.status == order.status:
        return order
    check_not_future(body.at, "body.at")
    allowed = TRANSITIONS[order.status]
    if body.status not in allowed:
        to = ", ".join(sorted(allowed)) or "nothing (final)"
        raise ApiError(409, f"body.status: a {order.status} order moves to {to}, "
                       f"not {body.status}", field="body.status")  # fmt: skip
    at = body.at.astimezone(UTC)
    if body.status in SHIPPED and order.shipped_at is None:
        order.shipped_at = at
    if body.status == "cancelled":
        await s.execute(
            update(OrderLine).where(OrderLine.order_id == order.id).values(counted=False)
        )
    if body.status == "refunded":
        await s.execute(
            update(OrderLine)
            .where(OrderLine.order_id == order.id)
            .values(refunded_fen=OrderLine.amount_fen)
        )
        order.refunded_fen = order.amount_fen
    order.status = body.status
    order.updated_at = datetime.now(UTC)
    s.add(OrderEvent(order_id=order.id, kind="status", status=body.status, at=at,
                     recorded_by=principal.actor))  # fmt: skip
    await s.flush()
    return order


def spread(amount: int, remaining: list[int]) -> list[int]:
    """``amount`` fen over lines in proportion to what each has left to refund, whole
    fen, the rounding to the largest remainders; never more than a line has left."""
    total = sum(remaining)
    shares = [amount * r // total for r in remaining]
    rest = amount - sum(shares)
    order = sorted(range(len(remaining)), key=lambda i: -((amount * remaining[i]) % total))
    for i in order:
        if rest == 0:
            break
        if shares[i] < remaining[i]:
            shares[i] += 1
            rest -= 1
    return shares


async def refund(s: AsyncSession, order: Order, body: RefundIn, principal: Principal) -> Order:
    """Record a refund (idempotent on its ``refund_id``); a refund that brings the
    refunded total to the order's amount makes the order ``refunded``."""
    fen = fen_of(body.amount)
    seen = await s.scalar(
        select(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.refund_id == body.refund_id
        )
    )
    if seen is not None:
        if seen.refund_fen != fen or seen.line_no != body.line_no:
            raise ApiError(409, f"body.refund_id: refund {body.refund_id} was recorded with "
                           "another amount or line", field="body.refund_id")  # fmt: skip
        return order
    if order.status == "cancelled":
        raise ApiError(409, "body.refund_id: a cancelled order was never paid",
                       field="body.refund_id")  # fmt: skip
    check_not_future(body.at, "body.at")
    lines = list(
        await s.scalars(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
        )
    )
    left = [ln.amount_fen - ln.refunded_fen for ln in lines]
    if body.line_no is not None:
        if body.line_no > len(lines):
            raise ApiError(422, f"body.line_no: the order has {len(lines)} lines",
                           field="body.line_no")  # fmt: skip
        i = body.line_no - 1
        if fen > left[i]:
            raise ApiError(422, f"body.amount: line {body.line_no} has {yuan(left[i])} yuan "
                           "left to refund", field="body.amount")  # fmt: skip
        shares = [fen if j == i else 0 for j in range(len(lines))]
    else:
        if fen > sum(left):
            raise ApiError(422, f"body.amount: the order has {yuan(sum(left))} yuan left to "
                           "refund", field="body.amount")  # fmt: skip
        shares = spread(fen, left)
    for ln, share in zip(lines, shares, strict=True):
        ln.refunded_fen += share
    order.refunded_fen += fen
    at = body.at.astimezone(UTC)
    s.add(OrderEvent(order_id=order.id, kind="refund", refund_fen=fen, line_no=body.line_no,
                     refund_id=body.refund_id, at=at, recorded_by=principal.actor))  # fmt: skip
    if order.refunded_fen == order.amount_fen and order.status != "refunded":
        order.status = "refunded"
        s.add(OrderEvent(order_id=order.id, kind="status", status="refunded", at=at,
                         recorded_by=principal.actor))  # fmt: skip
    order.updated_at = datetime.now(UTC)
    await s.flush()
    return order
