"""``dehong sim commerce`` (cloud/commerce/sim.py): seasonal orders of the four counties,
written through the bulk writer, a second run adding nothing; and migration 0800 makes
the tables the models declare."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from cloud.commerce.indicators import indicators
from cloud.commerce.sim import simulate
from cloud.db import Database
from protocol.ids import COUNTY_CODES
from tests.support.schema import migrate_async

NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def test_a_seasonal_year_in_every_county(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    await migrate_async(url)
    db = Database(url)
    try:
        # January (coffee harvest) and July (mango, not coffee), few orders a day
        jan = await simulate(db, months=1, end=date(2026, 1, 31), per_day=60, now=NOW)
        jul = await simulate(db, months=1, end=date(2026, 7, 31), per_day=60, now=NOW)
        assert jan["written"] > 500 and jul["written"] > 500, (jan, jul)
        again = await simulate(db, months=1, end=date(2026, 1, 31), per_day=60, now=NOW)
        assert again["written"] == 0 and again["orders"] == jan["orders"]
        rows = await indicators(db, counties=None, start_month="2026-01", end_month="2026-07",
                                group_by=["month", "category", "county"])  # fmt: skip
        sales = {(r.month, r.category, r.county): r.online_retail_sales for r in rows}
        coffee_jan = sales[("2026-01", "coffee", "533103")]
        coffee_jul = sales[("2026-07", "coffee", "533103")]
        assert coffee_jan > 2 * coffee_jul
        mango_jan = sales.get(("2026-01", "fruit_mango", "533103"), 0)
        assert sales[("2026-07", "fruit_mango", "533103")] > 5 * mango_jan
        assert {c for _m, _c, c in sales} == set(COUNTY_CODES)
        total = await indicators(db, counties=None, start_month="2026-01", end_month="2026-01",
                                 group_by=[])  # fmt: skip
        t = total[0]
        assert t.parcels_in > 0 and 0 < t.farm_online_retail_sales < t.online_retail_sales
    finally:
        await db.dispose()


async def test_migration_0800_makes_the_tables_the_models_declare() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base
    from tests.support.schema import sqlite_template

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if "commerce_" in repr(d)] == []
