"""``dehong bench commerce``: order import from CSV, rows per second, beside a plain
bulk insert of the same rows in the same run (goal: >= 20,000 rows/s).

The import is :func:`cloud.commerce.imports.import_file` on a Taobao export (one row
per order line, the buyer's name, phone and address in it as platforms write them):
decode, check every row, look for duplicates, resolve SKUs, drop the buyer's data and
write orders and lines in one transaction (PostgreSQL: COPY), committed. Beside it,
in the same run, each on fresh order ids: ``baseline_bulk_insert``, the same rows
parsed beforehand and inserted plainly (multi-row INSERTs, orders then lines, no
checks); ``baseline_writer_only``, the same rows parsed beforehand through the
import's own writer: what the database alone costs.

The relational store is a fresh PostgreSQL database when one is reachable (else
SQLite in a temporary directory), dropped afterwards. ``--short``: 20,000 rows
instead of 100,000.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

BEIJING = timezone(timedelta(hours=8))
GOAL_ROWS_S = 20_000
HEADER = (
    "订单编号,买家会员名,收货人姓名,联系手机,收货地址,订单创建时间,订单状态,商家编码,宝贝标题,"
    "购买数量,实付金额\n"
)
CITIES = ("云南省 昆明市 五华区 青年路 1 号", "上海市 浦东新区 世纪大道 2 号",
          "广东省 深圳市 南山区 科技园 3 号", "云南省 德宏傣族景颇族自治州 芒市 勐焕路 4 号")  # fmt: skip
SKUS = (("MS-COF-500", "德宏小粒咖啡豆 500g", "68.00"), ("MS-COF-DRIP", "挂耳咖啡 10 袋", "39.00"),
        ("GEN-SOAP", "洗衣皂", "9.90"))  # fmt: skip


def export(rows: int, prefix: str, start: datetime) -> bytes:
    """A Taobao export of ``rows`` lines (orders of one or two lines), fresh ids."""
    out = [HEADER]
    i = n = 0
    while n < rows:
        at = (start + timedelta(seconds=37 * i)).astimezone(BEIJING)
        city = CITIES[i % len(CITIES)]
        for k in range(1 if i % 5 else 2):
            if n == rows:
                break
            sku, title, price = SKUS[(i + k) % len(SKUS)]
            out.append(f'="{prefix}{i:09d}",buyer{i},张{i % 97},139{i:08d},{city},'
                       f"{at:%Y-%m-%d %H:%M:%S},交易成功,{sku},{title},1,{price}\n")  # fmt: skip
            n += 1
        i += 1
    return "".join(out).encode("utf-8")


async def _shop(db: Any) -> Any:
    from sqlalchemy import select

    from cloud.commerce.sim import ensure_world
    from cloud.commerce.storage import Shop

    world = await ensure_world(db)
    async with db.session() as s:
        return await s.scalar(
            select(Shop).where(Shop.channel == "taobao", Shop.id.in_([x.id for x in world.shops]))
        )


async def _import(db: Any, shop: Any, data: bytes) -> tuple[float, Any]:
    from cloud.commerce.imports import import_file

    t = time.perf_counter()
    async with db.transaction() as s:
        report = await import_file(s, shop, "taobao", data, fmt="csv", dry_run=False,
                                   actor="bench")  # fmt: skip
    return time.perf_counter() - t, report


def _parsed(shop: Any, data: bytes) -> list[Any]:
    from cloud.commerce.filedecode import read
    from cloud.commerce.imports import parse_sheet
    from cloud.commerce.templates import TEMPLATES

    parsed = parse_sheet(read(data, "csv"), TEMPLATES["taobao"], shop, datetime.now(UTC))
    assert not parsed.errors, parsed.errors[:3]
    return [(shop, d) for d in parsed.drafts]


async def _baseline_copy(db: Any, shop: Any, data: bytes) -> float:
    """The same rows, parsed beforehand (not timed), through the import's own writer
    (PostgreSQL: COPY): what the database costs, nothing checked."""
    from cloud.commerce.drafts import Catalogue, write_orders

    items = _parsed(shop, data)
    async with db.session() as s:
        cat = await Catalogue.load(s, [shop.id])
    t = time.perf_counter()
    async with db.transaction() as s:
        await write_orders(s, items, cat, source="bench", actor="bench")
    return time.perf_counter() - t


async def _baseline_insert(db: Any, shop: Any, data: bytes) -> float:
    """The same rows, parsed beforehand, as a plain bulk INSERT: orders (their ids
    back) then lines, multi-row INSERT statements (SQLAlchemy executemany)."""
    from sqlalchemy import insert

    from cloud.commerce.drafts import LINE_COLUMNS, ORDER_COLUMNS
    from cloud.commerce.storage import Order, OrderLine

    items = _parsed(shop, data)
    now = datetime.now(UTC)
    orders, lines = [], []
    for _shop, d in items:
        local = d.ordered_at.astimezone(BEIJING)
        amount = sum(ln.amount_fen for ln in d.lines)
        orders.append(dict(zip(ORDER_COLUMNS, (
            shop.id, shop.channel, shop.county, shop.org_id, d.platform_order_id, d.ordered_at,
            f"{local:%Y-%m}", local.date(), d.status, amount, 0, d.ordered_at, d.dest_city, None,
            d.digest(), "bench", now, "bench"), strict=True)))  # fmt: skip
    t = time.perf_counter()
    async with db.transaction() as s:
        table = Order.__table__
        got = await s.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), orders
        )
        for oid, (_shop, d), o in zip([r[0] for r in got], items, orders, strict=True):
            for n, ln in enumerate(d.lines, 1):
                lines.append(dict(zip(LINE_COLUMNS, (
                    oid, n, None, None, ln.sku, ln.title, ln.quantity, ln.amount_fen, 0,
                    "unmapped", False, False, shop.county, o["month"], shop.channel, shop.id,
                    True), strict=True)))  # fmt: skip
        await s.execute(insert(OrderLine.__table__), lines)
    return time.perf_counter() - t


async def _run(short: bool) -> dict[str, Any]:
    from bench.ingest import _drop_pg, _fresh_pg
    from cloud.db import Database
    from cloud.db.migrate import upgrade

    rows = 20_000 if short else 100_000
    pg = _fresh_pg()
    tmp = Path(tempfile.mkdtemp(prefix="dehong-bench-commerce-"))
    url = pg or f"sqlite:///{tmp / 'rel.db'}"
    db = None
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        shop = await _shop(db)
        start = datetime.now(UTC) - timedelta(days=60)
        run = secrets.token_hex(3)
        # warm-up (connections, statement caches), not measured
        await _import(db, shop, export(500, f"W{run}", start))
        imp_data = export(rows, f"I{run}", start)
        imp_s, report = await _import(db, shop, imp_data)
        copy_s = await _baseline_copy(db, shop, export(rows, f"C{run}", start))
        insert_s = await _baseline_insert(db, shop, export(rows, f"B{run}", start))
    finally:
        if db is not None:
            await db.dispose()
        if pg:
            _drop_pg(pg)
    imp_rate = rows / imp_s
    ok = bool(report.imported and report.lines == rows)
    return {
        "bench": "commerce",
        "short": short,
        "relational": "postgresql" if pg else "sqlite",
        "rows": rows,
        "orders": report.orders,
        "import": {
            "seconds": round(imp_s, 3),
            "rows_per_s": round(imp_rate),
            "bytes": len(imp_data),
        },
        "baseline_bulk_insert": {
            "seconds": round(insert_s, 3),
            "rows_per_s": round(rows / insert_s),
        },
        "baseline_writer_only": {"seconds": round(copy_s, 3), "rows_per_s": round(rows / copy_s)},
        "import_vs_bulk_insert": round(insert_s / imp_s, 3),
        "import_vs_writer_only": round(copy_s / imp_s, 3),
        "load": os.getloadavg()[0],
        "goal": f">= {GOAL_ROWS_S:,} rows/s from CSV, every row imported",
        "goal_met": bool(ok and imp_rate >= GOAL_ROWS_S),
    }


def run(short: bool = False) -> dict[str, Any]:
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return asyncio.run(_run(short))
