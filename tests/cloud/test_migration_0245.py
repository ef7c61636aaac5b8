"""Migration 0245 marks the hours marked before it whole (every minute read raw until
the job recomputes them, as before), adds the minute marks and gives each series a
minute generation; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from cloud.db.engine import sync_url
from cloud.db.migrate import alembic_config, upgrade

HOUR = 1_767_225_600_000


def _round_trip(url: str) -> None:
    upgrade(url, "0310")
    upgrade(url, "0240")
    engine = sa.create_engine(sync_url(url))
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO rollup_pending (measurement, device, county, hour_ms, site, "
                "marked_at) VALUES ('cold_room', 'gw.room-1', '533103', :h, 's', "
                "CURRENT_TIMESTAMP)"
            ),
            {"h": HOUR},
        )
        c.execute(
            sa.text(
                "INSERT INTO rollup_generation (measurement, device, county, generation) "
                "VALUES ('cold_room', 'gw.room-1', '533103', 4)"
            )
        )
    upgrade(url, "heads")
    with engine.connect() as c:
        marks = c.execute(sa.text("SELECT hour_ms, whole FROM rollup_pending")).all()
        minutes = c.execute(sa.text("SELECT count(*) FROM rollup_pending_minute")).scalar()
        gens = c.execute(sa.text("SELECT generation, minutes FROM rollup_generation")).all()
    assert [(h, bool(w)) for h, w in marks] == [(HOUR, True)] and minutes == 0
    assert [tuple(g) for g in gens] == [(4, 0)]
    command.downgrade(alembic_config(url), "0310")
    with engine.connect() as c:
        tables = sa.inspect(c).get_table_names()
        columns = [col["name"] for col in sa.inspect(c).get_columns("rollup_generation")]
        marked = [col["name"] for col in sa.inspect(c).get_columns("rollup_pending")]
    assert "rollup_pending_minute" not in tables and "whole" not in marked
    assert "minutes" not in columns
    engine.dispose()


async def test_hours_marked_before_are_marked_whole_on_sqlite(tmp_path: Path) -> None:
    await asyncio.to_thread(_round_trip, f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
async def test_hours_marked_before_are_marked_whole_on_postgres(pg_url: str) -> None:
    await asyncio.to_thread(_round_trip, pg_url)
