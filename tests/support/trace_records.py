"""Catalog and trace records for the certificate, brand and recall tests: an
organisation, a product of a category, a production base and lots, written directly
(the catalog's and lots' own APIs are tested elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from cloud.catalog.storage import Organisation, Product, ProductionBase
from cloud.db import utcnow
from cloud.trace.lots.storage import TraceLot, TraceLotParent
from tests.cloud.test_api_isolation_mobile import uscc
from tests.support.api import ApiEnv


@dataclass(frozen=True)
class Org:
    id: int
    uscc: str
    county: str


async def add_org(env: ApiEnv, county: str, n: int, *, phone: str | None = "0692-1234567") -> Org:
    """Organisation ``n`` of ``county`` (made once per database)."""
    code = uscc(county, 7000 + n)
    async with env.db.transaction() as s:
        found = await s.scalar(select(Organisation).where(Organisation.uscc == code))
        if found is None:
            found = Organisation(
                kind="cooperative", name=f"德宏合作社 {county}-{n}", uscc=code, county=county,
                created_at=utcnow(), created_by="test", contact_phone=phone,
            )  # fmt: skip
            s.add(found)
            await s.flush()
        return Org(found.id, code, county)


async def add_product(env: ApiEnv, org: Org, gtin: str, category: str, name: str) -> int:
    async with env.db.transaction() as s:
        found = await s.scalar(select(Product.id).where(Product.gtin == gtin))
        if found is not None:
            return int(found)
        product = Product(
            gtin=gtin, name=name, category=category, org_id=org.id, county=org.county,
            created_by="test",
        )  # fmt: skip
        s.add(product)
        await s.flush()
        return product.id


async def add_base(env: ApiEnv, org: Org, name: str) -> int:
    async with env.db.transaction() as s:
        base = ProductionBase(
            org_id=org.id, county=org.county, name=name, kind="farm",
            geometry={"type": "Point", "coordinates": [98.58, 24.43]}, lon=98.58, lat=24.43,
            created_by="test",
        )  # fmt: skip
        s.add(base)
        await s.flush()
        return base.id


async def add_lot(
    env: ApiEnv,
    org: Org,
    gtin: str,
    number: str,
    *,
    base_id: int | None = None,
    quantity: str | None = "1200",
    unit: str | None = "KGM",
    parents: tuple[tuple[str, str], ...] = (),
    product_id: int | None = None,
) -> int:
    async with env.db.transaction() as s:
        lot = TraceLot(
            gtin=gtin, lot=number, county=org.county, org_id=org.id, product_id=product_id,
            quantity=None if quantity is None else Decimal(quantity), unit=unit,
            origin_base_id=base_id, produced_on=date(2026, 11, 1), created_by="test",
        )  # fmt: skip
        s.add(lot)
        await s.flush()
        for g, n in parents:
            parent = await s.scalar(
                select(TraceLot.id).where(TraceLot.gtin == g, TraceLot.lot == n)
            )
            assert parent is not None, (g, n)
            s.add(TraceLotParent(lot_id=lot.id, parent_id=parent))
        return lot.id
