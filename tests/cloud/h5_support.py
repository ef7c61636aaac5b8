"""A small public world for the H5 site's tests: a shop of HOME with an order of
1000.00 yuan in the last complete Beijing month, a lot ``CF-2026-007`` of GTIN G (in
the catalog) and the same lot number of a second product (a shared lot number)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from cloud.catalog.storage import Product
from cloud.services.h5.service import last_month
from cloud.trace.lots.storage import TraceLot
from tests.cloud.commerce_cases import order_body, world
from tests.cloud.trace_cases import G, _lot, _org
from tests.support.api import HOME, ApiEnv
from tests.support.epcis import add_product, gtin

LOT = "CF-2026-007"
SHARED = "SHARED-1"
G2 = gtin(4242)


async def build(env: ApiEnv, headers: dict[str, str]) -> None:
    w = await world(env, HOME)
    month = last_month(datetime.now(UTC))
    body = order_body(w["shop"], ordered_at=f"{month}-15T10:00:00+08:00")
    r = await env.client.post("/api/v1/commerce/orders", json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    org = await _org(env, HOME)
    await add_product(env, G, org, HOME)
    await add_product(env, G2, org, HOME)
    await _lot(env, HOME, LOT)
    await _lot(env, HOME, SHARED)
    async with env.db.transaction() as s:
        pid = await s.scalar(select(Product.id).where(Product.gtin == G2))
        s.add(TraceLot(gtin=G2, lot=SHARED, county=HOME, org_id=org, product_id=pid,
                       created_by="test"))  # fmt: skip
