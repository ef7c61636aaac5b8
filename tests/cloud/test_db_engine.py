"""The relational engine: a PostgreSQL connection dropped while pooled is replaced,
the next transaction does not fail."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import text

from cloud.db import Database


@pytest.mark.postgres
async def test_a_dropped_postgres_connection_is_replaced(pg_url: str) -> None:
    from tests.support.postgres import ADMIN_URL

    db = Database(pg_url)
    try:
        async with db.transaction() as s:
            before = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # the server drops the pooled connection (a restart, an idle timeout)
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (before,))
            for _ in range(50):
                gone = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (before,)
                ).fetchone()
                if gone == (0,):
                    break
                await asyncio.sleep(0.05)
        async with db.transaction() as s:
            after = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert after != before
    finally:
        await db.dispose()


async def test_sqlite_needs_no_ping(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert db.is_sqlite and not db.engine.pool._pre_ping
        async with db.transaction() as s:
            assert (await s.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()
