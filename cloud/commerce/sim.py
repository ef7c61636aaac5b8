"""``dehong sim commerce``: a plausible year of orders for the four counties.

The world: two or three enterprises and cooperatives per county, their products
(Mangshi's small-bean arabica coffee, tea and mango; Longchuan's rice and lemons;
Yingjiang's lychee and lemons; Lianghe's tea and dendrobium), their shops on every
channel and a service station per county. Each is made once, on natural keys (USCC,
GTIN, channel and shop id), so a second run reuses them.

Seasonality, by month (Beijing): the coffee harvest from November to March; lychee in
May and June; mango from June to August; lemon from August to December; spring tea in
March to May; rice after the October harvest. On top: the 618 and Double 11 sales, a dip
at the Spring Festival, and more orders at weekends. 5 % of lines are goods of no
product of the catalogue (resold groceries: 网络零售额 but not 农产品); a tenth of the
parcels go to Dehong's own towns (express parcels in).

Orders go through the one bulk writer (:func:`cloud.commerce.drafts.write_orders`),
a month per transaction; platform order ids are deterministic, so a run again writes
only the orders that are not there yet.
"""

from __future__ import annotations

import calendar
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from cloud.catalog.gs1 import gs1_check_digit
from cloud.catalog.storage import Organisation, Product
from cloud.catalog.uscc import check_char
from cloud.commerce.drafts import BEIJING, Catalogue, LineDraft, OrderDraft, write_orders
from cloud.commerce.storage import Order, Shop, SkuMap
from cloud.db import Database

ACTOR = "sim:commerce"


@dataclass(frozen=True)
class SimProduct:
    sku: str
    name: str
    category: str
    #: unit price, fen
    price: int
    #: relative demand
    weight: float


#: county -> [(organisation kind, name, [products])]
WORLD: dict[str, list[tuple[str, str, list[SimProduct]]]] = {
    "533103": [
        ("cooperative", "芒市小粒咖啡合作社", [
            SimProduct("MS-COF-500", "德宏小粒咖啡豆 500g", "coffee", 6800, 3.0),
            SimProduct("MS-COF-DRIP", "挂耳咖啡 10 袋", "coffee", 3900, 2.0),
        ]),
        ("enterprise", "芒市热带水果有限公司", [
            SimProduct("MS-MANGO-5KG", "芒市芒果 5 斤装", "fruit_mango", 5990, 2.5),
            SimProduct("MS-TEA-250", "德宏红茶 250g", "tea", 8800, 1.0),
        ]),
    ],
    "533124": [
        ("cooperative", "陇川米业合作社", [
            SimProduct("LC-RICE-5KG", "陇川软米 5kg", "grain", 4500, 2.0),
        ]),
        ("enterprise", "陇川柠檬农业有限公司", [
            SimProduct("LC-LEMON-3KG", "德宏柠檬 3kg", "fruit_lemon", 2990, 1.5),
        ]),
    ],
    "533123": [
        ("cooperative", "盈江荔枝合作社", [
            SimProduct("YJ-LYCHEE-2KG", "盈江荔枝 2kg 冷链", "fruit_lychee", 8900, 2.0),
            SimProduct("YJ-LEMON-2KG", "盈江柠檬 2kg", "fruit_lemon", 2390, 1.0),
        ]),
    ],
    "533122": [
        ("cooperative", "梁河回龙茶合作社", [
            SimProduct("LH-TEA-200", "回龙茶 200g", "tea", 12800, 1.5),
        ]),
        ("enterprise", "梁河石斛有限公司", [
            SimProduct("LH-DEN-100", "铁皮石斛枫斗 100g", "dendrobium", 19800, 0.8),
        ]),
    ],
}  # fmt: skip
#: Resold goods with no product of the catalogue (unmapped SKUs).
GROCERIES = [("GEN-SOAP", "洗衣皂", 990), ("GEN-NOODLE", "方便面 整箱", 4590)]
#: Channel mix of each organisation's online shops, and relative volume.
CHANNELS = (("taobao", 3.0), ("pinduoduo", 2.5), ("douyin", 2.5), ("jd", 1.2), ("wechat", 1.0))
#: Destinations: mostly China's big cities, a tenth Dehong's own towns.
CITIES = (
    ("昆明市", 10), ("上海市", 8), ("北京市", 8), ("广州市", 7), ("深圳市", 7), ("杭州市", 5),
    ("成都市", 5), ("重庆市", 4), ("南京市", 4), ("武汉市", 4), ("西安市", 3), ("大理市", 2),
    ("芒市", 4), ("陇川县", 2), ("盈江县", 2), ("梁河县", 1),
)  # fmt: skip
#: category -> demand factor by month (index 0 = January).
SEASON: dict[str, tuple[float, ...]] = {
    "coffee": (2.2, 2.0, 1.6, 0.7, 0.5, 0.5, 0.5, 0.5, 0.6, 0.8, 2.0, 2.4),
    "fruit_mango": (0.05, 0.05, 0.05, 0.1, 0.6, 2.5, 3.0, 2.0, 0.3, 0.05, 0.05, 0.05),
    "fruit_lychee": (0.02, 0.02, 0.02, 0.2, 2.8, 3.2, 0.6, 0.02, 0.02, 0.02, 0.02, 0.02),
    "fruit_lemon": (0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.7, 1.4, 1.6, 1.6, 1.5, 1.3),
    "tea": (0.8, 0.7, 1.8, 2.2, 1.8, 0.9, 0.7, 0.7, 0.8, 0.9, 0.9, 1.0),
    "grain": (1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 1.6, 1.4, 1.2),
    "dendrobium": (1.2, 1.3, 1.0, 0.9, 0.9, 0.9, 0.9, 1.0, 1.2, 1.1, 1.2, 1.3),
}


def _uscc(county: str, n: int) -> str:
    body = f"91{county}MA7{n:06d}"
    return body + check_char(body)


def _gtin(n: int) -> str:
    body = f"0692{n:09d}"
    return body + gs1_check_digit(body)


@dataclass
class World:
    shops: list[Shop]
    #: shop id -> [(SimProduct, product id)]
    offer: dict[int, list[tuple[SimProduct, int]]]


async def ensure_world(db: Database) -> World:
    """The organisations, products, shops and SKU mappings of the simulation."""
    shops: list[Shop] = []
    offer: dict[int, list[tuple[SimProduct, int]]] = {}
    n = 0
    async with db.transaction() as s:
        for county, orgs in WORLD.items():
            station_products: list[tuple[SimProduct, int]] = []
            org_ids: list[int] = []
            for kind, name, products in orgs:
                n += 1
                uscc = _uscc(county, n)
                org = await s.scalar(select(Organisation).where(Organisation.uscc == uscc))
                if org is None:
                    org = Organisation(kind=kind, name=name, uscc=uscc, county=county,
                                       created_by=ACTOR)  # fmt: skip
                    s.add(org)
                    await s.flush()
                org_ids.append(org.id)
                pids = []
                for p in products:
                    n += 1
                    gtin = _gtin(n)
                    pid = await s.scalar(select(Product.id).where(Product.gtin == gtin))
                    if pid is None:
                        row = Product(gtin=gtin, name=p.name, category=p.category, org_id=org.id,
                                      county=county, created_by=ACTOR)  # fmt: skip
                        s.add(row)
                        await s.flush()
                        pid = row.id
                    pids.append((p, pid))
                station_products += pids
                for channel, _w in CHANNELS:
                    shop = await _shop(s, channel, f"sim-{county}-{n}-{channel}", f"{name} {channel}",
                                       org.id, county)  # fmt: skip
                    shops.append(shop)
                    offer[shop.id] = pids
                    await _map(s, shop, pids)
            # the county's service station sells every organisation's goods (O2O)
            shop = await _shop(s, "station", f"sim-station-{county}", f"{county} 服务站",
                               org_ids[0], county)  # fmt: skip
            shops.append(shop)
            offer[shop.id] = station_products
            await _map(s, shop, station_products)
    return World(shops, offer)


async def _shop(s: Any, channel: str, ident: str, name: str, org_id: int, county: str) -> Shop:
    shop = await s.scalar(
        select(Shop).where(Shop.channel == channel, Shop.platform_shop_id == ident)
    )
    if shop is None:
        shop = Shop(channel=channel, platform_shop_id=ident, name=name[:200], org_id=org_id,
                    county=county, created_by=ACTOR)  # fmt: skip
        s.add(shop)
        await s.flush()
    return shop  # type: ignore[no-any-return]


async def _map(s: Any, shop: Shop, pids: list[tuple[SimProduct, int]]) -> None:
    have = set(await s.scalars(select(SkuMap.sku).where(SkuMap.shop_id == shop.id)))
    for p, pid in pids:
        if p.sku not in have:
            s.add(SkuMap(shop_id=shop.id, sku=p.sku, product_id=pid, created_by=ACTOR))


def _day_factor(d: date) -> float:
    f = 1.25 if d.weekday() >= 5 else 1.0
    if (d.month, d.day) == (11, 11):
        f *= 6.0
    elif d.month == 11 and 1 <= d.day <= 10:
        f *= 1.6
    elif (d.month, d.day) == (6, 18):
        f *= 4.0
    elif d.month == 6 and 1 <= d.day <= 17:
        f *= 1.4
    if d.month == 2 and d.day <= 12:
        f *= 0.5  # the Spring Festival: couriers rest
    return f


def orders_for_day(
    world: World, d: date, *, per_day: float, rng: random.Random, now: datetime
) -> Iterator[tuple[Shop, OrderDraft]]:
    """The simulated orders of Beijing day ``d`` (none after ``now``)."""
    shop_w = [
        (shop, 1.5 if shop.channel == "station" else dict(CHANNELS)[shop.channel])
        for shop in world.shops
    ]
    total_w = sum(w for _s, w in shop_w)
    cities = [c for c, _ in CITIES]
    city_w = [w for _, w in CITIES]
    df = _day_factor(d)
    for shop, w in shop_w:
        offer = world.offer[shop.id]
        season = sum(SEASON[p.category][d.month - 1] * p.weight for p, _ in offer) / max(
            1e-9, sum(p.weight for p, _ in offer)
        )
        lam = per_day * w / total_w * season * df
        n = _poisson(rng, lam)
        for k in range(n):
            sec = int(rng.betavariate(2.2, 1.8) * 86_399)  # more in the evening
            at = datetime(d.year, d.month, d.day, tzinfo=BEIJING) + timedelta(seconds=sec)
            if at > now:
                continue
            lines = []
            for _ in range(1 if rng.random() < 0.8 else 2):
                if rng.random() < 0.05:
                    sku, title, price = rng.choice(GROCERIES)
                else:
                    weights = [SEASON[p.category][d.month - 1] * p.weight for p, _ in offer]
                    p, _pid = rng.choices(offer, weights=weights)[0]
                    sku, title, price = p.sku, p.name, p.price
                qty = 1 if rng.random() < 0.75 else rng.randint(2, 4)
                disc = rng.choice((100, 100, 100, 95, 90))
                lines.append(LineDraft(quantity=qty, amount_fen=price * qty * disc // 100,
                                       sku=sku, title=title))  # fmt: skip
            age = now - at
            r = rng.random()
            if r < 0.03:
                status = "cancelled"
            elif r < 0.05 and age > timedelta(days=3):
                status = "refunded"
            elif age > timedelta(days=10):
                status = "completed"
            elif age > timedelta(days=4):
                status = "delivered"
            elif age > timedelta(days=1):
                status = "shipped"
            else:
                status = "paid"
            oid = f"S{shop.id:04d}{d:%Y%m%d}{k:05d}"
            city = rng.choices(cities, weights=city_w)[0]
            yield shop, OrderDraft(oid, at.astimezone(UTC), status, city, lines)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def months_back(end: date, months: int) -> list[tuple[int, int]]:
    y, m = end.year, end.month
    out = []
    for _ in range(months):
        out.append((y, m))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


async def simulate(
    db: Database,
    *,
    months: int = 12,
    end: date | None = None,
    per_day: float = 300.0,
    seed: int = 1,
    now: datetime | None = None,
) -> dict[str, int]:
    """Write ``months`` months of orders ending with ``end``'s month (default: this
    Beijing month, up to now). Returns counts of what was written."""
    now = now or datetime.now(UTC)
    end = end or now.astimezone(BEIJING).date()
    world = await ensure_world(db)
    async with db.session() as s:
        cat = await Catalogue.load(s, [sh.id for sh in world.shops])
    written = orders = lines = 0
    for y, m in months_back(end, months):
        rng = random.Random(f"{seed}-{y}-{m}")
        batch: list[tuple[Shop, OrderDraft]] = []
        for day in range(1, calendar.monthrange(y, m)[1] + 1):
            batch.extend(orders_for_day(world, date(y, m, day), per_day=per_day, rng=rng, now=now))
        orders += len(batch)
        async with db.transaction() as s:
            have = set(
                await s.scalars(
                    select(Order.platform_order_id).where(
                        Order.source == "sim", Order.month == f"{y:04d}-{m:02d}"
                    )
                )
            )
            new = [(sh, d) for sh, d in batch if d.platform_order_id not in have]
            if new:
                await write_orders(s, new, cat, source="sim", actor=ACTOR)
        written += len(new)
        lines += sum(len(d.lines) for _, d in new)
    return {"shops": len(world.shops), "orders": orders, "written": written, "lines": lines}


async def live(
    db: Database, *, per_day: float = 300.0, seed: int = 1, interval_s: float = 10.0
) -> None:
    """Keep writing today's orders as their (simulated) times pass, every
    ``interval_s``: the demo's wall screen moves. Runs until cancelled."""
    import asyncio

    world = await ensure_world(db)
    async with db.session() as s:
        cat = await Catalogue.load(s, [sh.id for sh in world.shops])
    while True:
        now = datetime.now(UTC)
        today = now.astimezone(BEIJING).date()
        rng = random.Random(f"{seed}-{today}")
        todays = list(orders_for_day(world, today, per_day=per_day, rng=rng, now=now))
        async with db.transaction() as s:
            have = set(
                await s.scalars(
                    select(Order.platform_order_id).where(Order.source == "sim", Order.day == today)
                )
            )
            new = [(sh, d) for sh, d in todays if d.platform_order_id not in have]
            if new:
                await write_orders(s, new, cat, source="sim", actor=ACTOR)
        await asyncio.sleep(interval_s)
