"""The statement after a group's write on PostgreSQL (positions/afterwrite.py): the held
windows' check and the series' lazy bump in one round trip, on a connection of its own
that is replaced when PostgreSQL dropped it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from cloud.db import Database, write_generation
from cloud.logistics.positions import dirty
from cloud.logistics.positions.afterwrite import AfterWrite

pytestmark = pytest.mark.postgres

COUNTY = "533103"
HOUR = 3_600_000 * 480_000


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    from tests.support.postgres import fresh_database, migrated_template

    with fresh_database(template=migrated_template()) as url:
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()


async def _writes(db: Database, device: str) -> int | None:
    async with db.session() as s:
        return await s.scalar(
            text("SELECT writes FROM rollup_generation WHERE device = :d"), {"d": device}
        )


async def test_the_check_and_the_bump_are_one_statement(db: Database) -> None:
    async with db.transaction() as s:
        await dirty.mark(s, [("truck-a", COUNTY, HOUR), ("truck-b", COUNTY, HOUR)])
        await dirty.claim(s, "trips", worker="w", limit=100)  # truck-a's and b's, claimed
        await dirty.mark(s, [("truck-c", COUNTY, HOUR)])
    after = AfterWrite(db)
    try:
        held = frozenset({("truck-a", COUNTY, HOUR), ("truck-c", COUNTY, HOUR)})
        generation = write_generation()
        still = await after.run(held, {("vehicle", "truck-c", COUNTY)})
        assert still == {("truck-c", COUNTY, HOUR)}  # truck-a's is claimed: not still marked
        assert after.statements == 1
        assert write_generation() > generation  # a write, as through the engine
        first = await _writes(db, "truck-c")
        assert first is not None and first > 0
        assert await after.run(frozenset(), {("vehicle", "truck-c", COUNTY)}) == set()
        second = await _writes(db, "truck-c")
        assert second is not None and second > first
        assert await after.run(held, None) == {("truck-c", COUNTY, HOUR)}  # the check alone
        assert await _writes(db, "truck-c") == second
        assert after.statements == 3
    finally:
        await after.close()


async def test_a_connection_postgresql_dropped_is_replaced_once(db: Database) -> None:
    async with db.transaction() as s:
        await dirty.mark(s, [("truck-a", COUNTY, HOUR)])
    after = AfterWrite(db)
    held = frozenset({("truck-a", COUNTY, HOUR)})
    try:
        assert await after.run(held, None) == held
        (kept,) = after._idle
        async with db.session() as s:
            await s.execute(text("SELECT pg_terminate_backend(:p)"), {"p": kept.info.backend_pid})
        assert await after.run(held, {("vehicle", "truck-a", COUNTY)}) == held
        assert after._idle[0] is not kept
    finally:
        await after.close()
