"""Records and cases of the commerce API (cloud/commerce): a shop with a mapped SKU and
an order per county, ``COMMERCE_CASES`` (tests/cloud/test_api_isolation.py: a county
admin of HOME sees nothing of OTHER's), ``COMMERCE_REQUESTS`` (tests/cloud/
test_api_roles.py: one request per route on HOME's records) and ``seed_paged``
(tests/cloud/test_pagination.py)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.auth.principal import Role
from cloud.commerce.drafts import Catalogue, LineDraft, OrderDraft, write_orders
from cloud.commerce.storage import Order, OrderEvent, OrderLine, Shop, SkuMap
from tests.cloud.catalog_support import ean13
from tests.support.api import HOME, OTHER, ApiEnv
from tests.support.trace_records import Org, add_org, add_product

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
API = "/api/v1/commerce"
V = "/api/v1/commerce"
#: The world's order: 15 March 2026, Beijing.
ORDERED = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
MONTH = {"start_month": "2026-03", "end_month": "2026-03"}
TABLES = (Shop, SkuMap, Order, OrderLine, OrderEvent)


async def world(env: ApiEnv, county: str) -> dict[str, int]:
    """A taobao shop of ``county`` (HOME's: of the organisation the roles table's
    organisation roles belong to), its coffee product mapped from SKU ``COF-1``, and
    an order of 128.50 yuan (made once per API under test)."""
    cache: dict[str, Any] = env.__dict__.setdefault("_commerce_worlds", {})
    if county in cache:
        return cache[county]  # type: ignore[no-any-return]
    if county == HOME:
        from tests.cloud.test_api_roles import _home_org

        org_id = await _home_org(env)
    else:
        org_id = (await add_org(env, county, 800)).id
    product = await add_product(env, Org(org_id, "", county), "0" + ean13(800_000 + int(county[-3:])),
                                "coffee", f"咖啡 {county}")  # fmt: skip
    async with env.db.transaction() as s:
        shop = Shop(channel="taobao", platform_shop_id=f"tb-{county}", name=f"小店 {county}",
                    org_id=org_id, county=county, created_by="test")  # fmt: skip
        s.add(shop)
        await s.flush()
        s.add(SkuMap(shop_id=shop.id, sku="COF-1", product_id=product, created_by="test"))
        await s.flush()
        cat = await Catalogue.load(s, [shop.id])
        draft = OrderDraft(f"W-{county}", ORDERED, "paid", "上海市",
                           [LineDraft(quantity=2, amount_fen=12850, sku="COF-1")])  # fmt: skip
        (order,) = await write_orders(s, [(shop, draft)], cat, source="api", actor="test")
    cache[county] = {"shop": shop.id, "order": order, "product": product, "org": org_id}
    return cache[county]  # type: ignore[no-any-return]


async def _both(env: ApiEnv) -> tuple[dict[str, int], dict[str, int]]:
    return await world(env, HOME), await world(env, OTHER)


async def counts(env: ApiEnv) -> list[int]:
    async with env.db.session() as s:
        return [int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES]


def order_body(shop: int, oid: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "shop_id": shop,
        "platform_order_id": oid or f"T{secrets.token_hex(6)}",
        "ordered_at": "2026-03-20T10:00:00+08:00",
        "dest_city": "昆明市",
        "lines": [{"sku": "COF-1", "quantity": 1, "amount": "1000.00"}],
        **extra,
    }


def csv_file(oid: str | None = None, county: str = HOME) -> bytes:
    oid = oid or f"I{secrets.token_hex(6)}"
    return (
        "order_id,ordered_at,status,county,sku,gtin,title,quantity,amount,dest_city\n"
        f"{oid},2026-03-21 09:00:00,已完成,{county},COF-1,,咖啡,1,68.00,北京市\n"
    ).encode()


# ------------------------------------------------------------------- county isolation


def _nf(r: httpx.Response) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert "not found" in r.json()["detail"], r.text


def _unchanged(f: Callable[[ApiEnv, Headers, dict[str, int]], Awaitable[httpx.Response]]) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        _, theirs = await _both(env)
        before = await counts(env)
        _nf(await f(env, h, theirs))
        assert await counts(env) == before

    return case


async def shops_list(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    r = await env.client.get(f"{API}/shops", headers=h)
    ids = {x["id"] for x in r.json()}
    # an organisation role of no organisation sees none; county roles see HOME's
    assert theirs["shop"] not in ids and {x["county"] for x in r.json()} <= {HOME}, r.text
    assert mine["shop"] in ids or not ids
    r = await env.client.get(f"{API}/shops", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def orders_list(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    r = await env.client.get(f"{API}/orders", headers=h)
    ids = {x["id"] for x in r.json()}
    assert theirs["order"] not in ids and {x["county"] for x in r.json()} <= {HOME}, r.text
    assert mine["order"] in ids or not ids
    r = await env.client.get(f"{API}/orders", params={"county": OTHER}, headers=h)
    assert r.status_code == 403
    r = await env.client.get(f"{API}/orders", params={"shop_id": theirs["shop"]}, headers=h)
    assert r.json() == []


async def indicators_case(env: ApiEnv, h: Headers) -> None:
    await _both(env)
    r = await env.client.get(f"{API}/indicators", headers=h,
                             params={**MONTH, "group_by": ["county", "channel"]})  # fmt: skip
    assert r.status_code == 200, r.text
    rows = r.json()
    assert rows and {x["county"] for x in rows} == {HOME}, rows
    assert sum(x["order_count"] for x in rows if x["channel"] == "taobao") >= 1
    r = await env.client.get(f"{API}/indicators", params={**MONTH, "county": OTHER}, headers=h)
    assert r.status_code == 403


async def top_case(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    r = await env.client.get(f"{API}/top-products", params=MONTH, headers=h)
    ids = {x["product_id"] for x in r.json()}
    assert mine["product"] in ids and theirs["product"] not in ids, r.text


async def per_day_case(env: ApiEnv, h: Headers) -> None:
    await _both(env)
    day = {"start": "2026-03-15", "end": "2026-03-15"}
    mine = (await env.client.get(f"{API}/orders-per-day", params=day, headers=h)).json()
    prefecture = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    everyone = (await env.client.get(f"{API}/orders-per-day", params=day,
                                     headers=prefecture)).json()  # fmt: skip
    assert mine[0]["order_count"] < everyone[0]["order_count"], (mine, everyone)
    r = await env.client.get(f"{API}/orders-per-day", params={**day, "county": OTHER}, headers=h)
    assert r.status_code == 403


async def shop_post(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    before = await counts(env)
    r = await env.client.post(f"{API}/shops", headers=h, json={
        "channel": "jd", "platform_shop_id": "x-1", "name": "x", "org_id": theirs["org"]})  # fmt: skip
    _nf(r)
    assert r.json()["field"] == "body.org_id" and await counts(env) == before


async def order_post(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    before = await counts(env)
    r = await env.client.post(f"{API}/orders", json=order_body(theirs["shop"]), headers=h)
    _nf(r)
    assert r.json()["field"] == "body.shop_id" and await counts(env) == before


COMMERCE_CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{V}/shops"): shops_list,
    ("POST", f"{V}/shops"): shop_post,
    ("GET", f"{V}/shops/{{shop_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/shops/{t['shop']}", headers=h)
    ),
    ("PUT", f"{V}/shops/{{shop_id}}/skus"): _unchanged(
        lambda e, h, t: e.client.put(
            f"{API}/shops/{t['shop']}/skus",
            headers=h,
            json=[{"sku": "X", "product_id": t["product"]}],
        )
    ),
    ("GET", f"{V}/shops/{{shop_id}}/skus"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/shops/{t['shop']}/skus", headers=h)
    ),
    ("POST", f"{V}/shops/{{shop_id}}/imports"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/shops/{t['shop']}/imports",
            headers=h,
            params={"template": "standard"},
            content=csv_file(county=OTHER),
        )
    ),
    ("POST", f"{V}/orders"): order_post,
    ("GET", f"{V}/orders"): orders_list,
    ("GET", f"{V}/orders/{{order_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/orders/{t['order']}", headers=h)
    ),
    ("POST", f"{V}/orders/{{order_id}}/status"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/orders/{t['order']}/status",
            headers=h,
            json={"status": "shipped", "at": "2026-03-16T10:00:00+08:00"},
        )
    ),
    ("POST", f"{V}/orders/{{order_id}}/refunds"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/orders/{t['order']}/refunds",
            headers=h,
            json={"refund_id": "R1", "amount": "1.00", "at": "2026-03-16T10:00:00+08:00"},
        )
    ),
    ("GET", f"{V}/indicators"): indicators_case,
    ("GET", f"{V}/top-products"): top_case,
    ("GET", f"{V}/orders-per-day"): per_day_case,
}


# ---------------------------------------------------------------- roles x endpoints


async def _home(env: ApiEnv) -> dict[str, int]:
    return await world(env, HOME)


def _call(f: Callable[[ApiEnv, Headers, dict[str, int]], Awaitable[httpx.Response]]) -> Call:
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        return await f(env, h, await _home(env))

    return call


COMMERCE_REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", f"{V}/shops"): _call(lambda e, h, w: e.client.get(f"{API}/shops", headers=h)),
    ("POST", f"{V}/shops"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/shops",
            headers=h,
            json={
                "channel": "douyin",
                "platform_shop_id": f"dy-{secrets.token_hex(4)}",
                "name": "抖店",
                "org_id": w["org"],
            },
        )
    ),
    ("GET", f"{V}/shops/{{shop_id}}"): _call(
        lambda e, h, w: e.client.get(f"{API}/shops/{w['shop']}", headers=h)
    ),
    ("PUT", f"{V}/shops/{{shop_id}}/skus"): _call(
        lambda e, h, w: e.client.put(
            f"{API}/shops/{w['shop']}/skus",
            headers=h,
            json=[{"sku": "COF-1", "product_id": w["product"]}],
        )
    ),
    ("GET", f"{V}/shops/{{shop_id}}/skus"): _call(
        lambda e, h, w: e.client.get(f"{API}/shops/{w['shop']}/skus", headers=h)
    ),
    ("POST", f"{V}/shops/{{shop_id}}/imports"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/shops/{w['shop']}/imports",
            headers=h,
            params={"template": "standard"},
            content=csv_file(),
        )
    ),
    ("POST", f"{V}/orders"): _call(
        lambda e, h, w: e.client.post(f"{API}/orders", json=order_body(w["shop"]), headers=h)
    ),
    ("GET", f"{V}/orders"): _call(lambda e, h, w: e.client.get(f"{API}/orders", headers=h)),
    ("GET", f"{V}/orders/{{order_id}}"): _call(
        lambda e, h, w: e.client.get(f"{API}/orders/{w['order']}", headers=h)
    ),
    ("POST", f"{V}/orders/{{order_id}}/status"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/orders/{w['order']}/status",
            headers=h,
            json={"status": "paid", "at": "2026-03-16T10:00:00+08:00"},
        )
    ),
    ("POST", f"{V}/orders/{{order_id}}/refunds"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/orders/{w['order']}/refunds",
            headers=h,
            json={
                "refund_id": f"R{secrets.token_hex(4)}",
                "amount": "0.01",
                "at": "2026-03-16T10:00:00+08:00",
            },
        )
    ),
    ("GET", f"{V}/indicators"): _call(
        lambda e, h, w: e.client.get(f"{API}/indicators", params=MONTH, headers=h)
    ),
    ("GET", f"{V}/top-products"): _call(
        lambda e, h, w: e.client.get(f"{API}/top-products", params=MONTH, headers=h)
    ),
    ("GET", f"{V}/orders-per-day"): _call(
        lambda e, h, w: e.client.get(
            f"{API}/orders-per-day", headers=h, params={"start": "2026-03-01", "end": "2026-03-31"}
        )
    ),
}


# ------------------------------------------------------------------------ pagination


async def seed_paged(s: Any, county: str, i: int, org_id: int) -> None:
    """A shop of ``county`` with an order (one per call), for the list walks."""
    shop = Shop(channel="jd", platform_shop_id=f"jd-{county}-{i}", name=f"京东店 {i}",
                org_id=org_id, county=county, created_by="test")  # fmt: skip
    s.add(shop)
    await s.flush()
    draft = OrderDraft(f"P-{county}-{i}", ORDERED, "paid", None,
                       [LineDraft(quantity=1, amount_fen=100, sku="X")])  # fmt: skip
    await write_orders(s, [(shop, draft)], Catalogue(), source="api", actor="test")
