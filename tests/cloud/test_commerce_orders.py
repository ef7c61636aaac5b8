"""Commerce orders through the API (cloud/commerce), on SQLite and PostgreSQL: shops and
SKU mappings, idempotent orders (a retry is the same order, another body 409), yuan as
decimals, status changes, refunds spread over lines to the fen, and the indicators'
definitions (cloud/commerce/README.md) on hand-made orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloud.auth.principal import Role
from cloud.commerce.indicators import indicators, orders_per_day, top_products
from tests.cloud.catalog_support import ean13
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.trace_records import add_org, add_product

API = "/api/v1/commerce"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def _shop(env: ApiEnv, h: dict[str, str], channel: str = "taobao", county: str = HOME,
                n: int = 1) -> dict[str, Any]:  # fmt: skip
    org = await add_org(env, county, 810 + n)
    coffee = await add_product(env, org, "0" + ean13(810_000 + n), "coffee", "咖啡")
    other = await add_product(env, org, "0" + ean13(820_000 + n), "other", "杯子")
    r = await env.client.post(f"{API}/shops", headers=h, json={
        "channel": channel, "platform_shop_id": f"{channel}-{county}-{n}", "name": "小店",
        "org_id": org.id})  # fmt: skip
    assert r.status_code == 201, r.text
    shop = r.json()
    assert shop["county"] == county
    r = await env.client.put(f"{API}/shops/{shop['id']}/skus", headers=h,
                             json=[{"sku": "COF", "product_id": coffee},
                                   {"sku": "CUP", "product_id": other}])  # fmt: skip
    assert r.status_code == 200, r.text
    return {"id": shop["id"], "org": org.id, "coffee": coffee, "other": other}


def _order(shop: int, oid: str, at: str, lines: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"shop_id": shop, "platform_order_id": oid, "ordered_at": at, "lines": lines, **kw}


async def test_an_order_is_idempotent_on_channel_and_platform_id(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    shop = await _shop(env, h)
    body = _order(shop["id"], "TB1001", "2026-03-01T10:00:00+08:00",
                  [{"sku": "COF", "quantity": 2, "amount": "136.00"},
                   {"gtin": "06920000000000", "quantity": 1, "amount": 0.1}],
                  dest_city="昆明市")  # fmt: skip
    r = await env.client.post(f"{API}/orders", json=body, headers=h)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["amount"] == "136.10" and first["lines"][0]["category"] == "coffee"
    assert first["lines"][1]["category"] == "unmapped"  # a GTIN of no product: counted
    again = await env.client.post(f"{API}/orders", json=body, headers=h)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    # the same instant in another offset is the same body
    same = {**body, "ordered_at": "2026-03-01T02:00:00Z"}
    assert (await env.client.post(f"{API}/orders", json=same, headers=h)).status_code == 200
    changed = {**body, "lines": [{"sku": "COF", "quantity": 2, "amount": "130.00"}]}
    r = await env.client.post(f"{API}/orders", json=changed, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "body.platform_order_id", r.text
    # the key is the channel's: another taobao shop cannot reuse it either
    shop2 = await _shop(env, h, n=2)
    r = await env.client.post(f"{API}/orders", json={**changed, "shop_id": shop2["id"]}, headers=h)
    assert r.status_code == 409
    r = await env.client.get(f"{API}/orders", headers=h)
    assert [o["platform_order_id"] for o in r.json()] == ["TB1001"]


BAD_ORDERS: list[tuple[dict[str, Any], str, str]] = [
        ({"ordered_at": "2099-01-01T00:00:00+08:00"}, "body.ordered_at", "future"),
        ({"ordered_at": "2026-03-01T10:00:00"}, "body.ordered_at", "offset"),
    # was a 500: the year-1 time has no UTC (OverflowError in astimezone)
    ({"ordered_at": "0001-01-01T00:00:00+01:00"}, "body.ordered_at", "off the calendar"),
        ({"lines": [{"sku": "COF", "quantity": 1, "amount": "-1.00"}]}, "body.lines.0.amount",
         "greater than or equal"),
        ({"lines": [{"sku": "COF", "quantity": 1, "amount": "1.001"}]}, "body.lines.0.amount",
         "decimal"),
        ({"lines": [{"quantity": 1, "amount": "1"}]}, "body.lines.0", "product_id, gtin or sku"),
        ({"lines": [{"product_id": 999999, "quantity": 1, "amount": "1"}]},
         "body.lines.0.product_id", "not found"),
        ({"shop_id": 999999}, "body.shop_id", "not found"),
        ({"buyer_phone": "13900001111"}, "body.buyer_phone", ""),
]  # fmt: skip


async def test_bad_orders_name_the_field(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    shop = await _shop(env, h)
    for patch, field, says in BAD_ORDERS:
        body = {**_order(shop["id"], "TB2", "2026-03-01T10:00:00+08:00",
                         [{"sku": "COF", "quantity": 1, "amount": "1"}]), **patch}  # fmt: skip
        r = await env.client.post(f"{API}/orders", json=body, headers=h)
        assert r.status_code in (404, 422), r.text
        assert r.json()["field"].startswith(field) and says in r.json()["detail"], r.json()
    assert (await env.client.get(f"{API}/orders", headers=h)).json() == []


async def test_status_changes_and_refunds(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    shop = await _shop(env, h)
    body = _order(shop["id"], "TB3", "2026-03-02T10:00:00+08:00",
                  [{"sku": "COF", "quantity": 1, "amount": "10.00"},
                   {"sku": "CUP", "quantity": 1, "amount": "20.00"}])  # fmt: skip
    oid = (await env.client.post(f"{API}/orders", json=body, headers=h)).json()["id"]
    at = "2026-03-03T10:00:00+08:00"
    r = await env.client.post(f"{API}/orders/{oid}/status", json={"status": "shipped", "at": at},
                              headers=h)  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "shipped"
    r = await env.client.post(f"{API}/orders/{oid}/status", json={"status": "cancelled", "at": at},
                              headers=h)  # fmt: skip
    assert r.status_code == 409 and r.json()["field"] == "body.status", r.text
    # 1.00 over 10.00 and 20.00: 0.33 and 0.67, to the fen
    refund = {"refund_id": "RF1", "amount": "1.00", "at": at}
    r = await env.client.post(f"{API}/orders/{oid}/refunds", json=refund, headers=h)
    assert r.status_code == 200, r.text
    assert [ln["refunded"] for ln in r.json()["lines"]] == ["0.33", "0.67"]
    r = await env.client.post(f"{API}/orders/{oid}/refunds", json=refund, headers=h)
    assert r.json()["refunded"] == "1.00"  # a retry: once
    r = await env.client.post(f"{API}/orders/{oid}/refunds", json={**refund, "amount": "2"},
                              headers=h)  # fmt: skip
    assert r.status_code == 409 and r.json()["field"] == "body.refund_id"
    r = await env.client.post(f"{API}/orders/{oid}/refunds", headers=h,
                              json={"refund_id": "RF2", "amount": "9.68", "line_no": 1, "at": at})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.amount", r.text
    r = await env.client.post(f"{API}/orders/{oid}/refunds", headers=h,
                              json={"refund_id": "RF3", "amount": "29.00", "at": at})  # fmt: skip
    got = r.json()
    assert got["status"] == "refunded" and got["refunded"] == "30.00", got
    assert [e["kind"] for e in got["events"]] == ["status", "refund", "refund", "status"]


async def test_indicators_follow_their_definitions(env: ApiEnv) -> None:
    """Hand-made orders whose indicators are known (cloud/commerce/README.md)."""
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    admin = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    tb = await _shop(env, h, "taobao", n=1)
    dy = await _shop(env, h, "douyin", n=3)
    far = await _shop(env, admin, "jd", OTHER, n=4)

    async def order(shop: dict[str, Any], oid: str, at: str, lines: list[Any], status: str = "paid",
                    city: str | None = None, who: dict[str, str] = h) -> int:  # fmt: skip
        r = await env.client.post(f"{API}/orders", headers=who, json=_order(
            shop["id"], oid, at, lines, status=status, dest_city=city))  # fmt: skip
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    coffee = [{"sku": "COF", "quantity": 1, "amount": "100.00"}]
    # March 2025 (a year before): 50 yuan
    await order(tb, "A0", "2025-03-10T12:00:00+08:00", [{"sku": "COF", "quantity": 1, "amount": "50"}],
                "completed")  # fmt: skip
    # February 2026: 80 yuan
    await order(tb, "A1", "2026-02-10T12:00:00+08:00", [{"sku": "COF", "quantity": 1, "amount": "80"}],
                "completed")  # fmt: skip
    # March 2026 in Beijing (00:30 on the 1st: still February in UTC)
    cup = {"sku": "CUP", "quantity": 1, "amount": "20.00"}
    await order(tb, "A2", "2026-02-28T16:30:00Z", [*coffee, cup], "shipped", "上海市")
    await order(dy, "A3", "2026-03-05T12:00:00+08:00", [{"sku": "NOPE", "quantity": 3,
                "amount": "30.00"}], "completed", "芒市")  # fmt: skip
    await order(dy, "A4", "2026-03-06T12:00:00+08:00", coffee, "cancelled")
    a5 = await order(tb, "A5", "2026-03-07T12:00:00+08:00", coffee, "paid")
    r = await env.client.post(f"{API}/orders/{a5}/refunds", headers=h, json={
        "refund_id": "R", "amount": "40.00", "at": "2026-03-08T12:00:00+08:00"})  # fmt: skip
    assert r.status_code == 200
    # Longchuan's shop ships to Mangshi: a parcel into HOME
    await order(far, "B1", "2026-03-09T12:00:00+08:00", [{"sku": "COF", "quantity": 1,
                "amount": "10"}], "delivered", "芒市", who=admin)  # fmt: skip

    rows = await indicators(env.db, counties=[HOME], start_month="2026-03", end_month="2026-03",
                            group_by=[])  # fmt: skip
    (m,) = rows
    # A2 120 + A3 30 + A5 (100 - 40) = 210; farm: coffee of A2 and A5 = 100 + 60 = 160
    assert m.online_retail_sales == Decimal("210.00")
    assert m.farm_online_retail_sales == Decimal("160.00")
    # parcels in: B1 from Longchuan, and A3 (a Mangshi shop's parcel to Mangshi: out and in)
    assert (m.order_count, m.parcels_out, m.parcels_in, m.active_shops) == (3, 2, 2, 2)
    # local: the coffee and the cup (HOME organisation's products) = 180 of 210
    assert m.local_produce_share == Decimal("0.8571")
    assert m.mom["online_retail_sales"] == Decimal("1.6250")  # 210 / 80 - 1
    assert m.yoy["online_retail_sales"] == Decimal("3.2000")  # 210 / 50 - 1
    assert m.yoy["parcels_out"] == Decimal("1.0000")  # A0 left as a parcel: 1 -> 2
    assert m.yoy["parcels_in"] is None  # none a year before
    by = await indicators(env.db, counties=[HOME], start_month="2026-02", end_month="2026-03",
                          group_by=["month", "channel", "category"])  # fmt: skip
    got = {(r.month, r.channel, r.category): r.online_retail_sales for r in by}
    assert got == {
        ("2026-02", "taobao", "coffee"): Decimal("80.00"),
        ("2026-03", "taobao", "coffee"): Decimal("160.00"),
        ("2026-03", "taobao", "other"): Decimal("20.00"),
        ("2026-03", "douyin", "unmapped"): Decimal("30.00"),
        ("2026-03", "jd", "coffee"): Decimal("0.00"),  # B1: a parcel in, no sale of HOME's
    }
    feb = next(r for r in by if r.month == "2026-02")
    assert feb.mom["online_retail_sales"] is None  # January had nothing
    # the API: the same, in strings; and the prefecture sees both counties
    r = await env.client.get(f"{API}/indicators", headers=admin, params={
        "start_month": "2026-03", "end_month": "2026-03", "group_by": "county"})  # fmt: skip
    assert {x["county"]: x["online_retail_sales"] for x in r.json()} == {
        HOME: "210.00", OTHER: "10.00"}  # fmt: skip
    r = await env.client.get(f"{API}/indicators", headers=h,
                             params={"start_month": "2026-04", "end_month": "2026-03"})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "query.end_month"
    r = await env.client.get(f"{API}/indicators", headers=h, params={"start_month": "2026-13"})
    assert r.status_code == 422 and r.json()["field"] == "query.start_month"
    top = await top_products(env.db, counties=[HOME], start="2026-03", end="2026-03", limit=5)
    assert [(t.product_id, t.sales) for t in top] == [(tb["coffee"], Decimal("160.00")),
                                                       (tb["other"], Decimal("20.00"))]  # fmt: skip
    from datetime import date

    days = await orders_per_day(env.db, counties=[HOME], start=date(2026, 3, 1),
                                end=date(2026, 3, 7))  # fmt: skip
    assert [d.order_count for d in days] == [1, 0, 0, 0, 1, 0, 1]
    assert days[6].sales == Decimal("60.00")
