"""Migration 0260 marks every hour raw data still holds for recomputation (the roll-ups
gain the duration-weighted sums): per registered device, from the start of raw
retention (or 90 days before it was first seen) to its newest reading; marks already
there are kept; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from cloud.db.base import UTCDateTime
from cloud.db.engine import sync_url
from cloud.db.migrate import upgrade

HOUR = 3_600_000
DAY = 86_400_000


DEVICES = sa.table(
    "devices",
    *(sa.column(c, sa.String) for c in ("id", "county", "kind", "site", "gateway_id")),
    sa.column("metrics", sa.JSON),
    sa.column("first_seen_at", UTCDateTime()),
    sa.column("last_seen_at", UTCDateTime()),
    sa.column("last_reading_ms", sa.BigInteger),
    sa.column("readings", sa.BigInteger),
)
PENDING = sa.table(
    "rollup_pending",
    *(sa.column(c, sa.String) for c in ("measurement", "device", "county", "site")),
    sa.column("hour_ms", sa.BigInteger),
    sa.column("marked_at", UTCDateTime()),
)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _round_trip(url: str) -> None:
    upgrade(url, "0310")
    now = int(time.time() * 1000)
    engine = sa.create_engine(sync_url(url))
    # id, first seen (ms ago), newest reading (ms ago; None: no reading)
    devices = [("gw-a.new", 2 * HOUR, 30 * 60_000), ("gw-a.old", 300 * DAY, 1)]
    devices.append(("gw-a.silent", HOUR, None))
    live_hour = (now - 30 * 60_000) // HOUR * HOUR
    with engine.begin() as c:
        for dev, seen_ago, reading_ago in devices:
            c.execute(
                DEVICES.insert().values(
                    id=dev,
                    county="533103",
                    kind="cold_room",
                    site="s",
                    gateway_id="gw-a",
                    metrics=[],
                    first_seen_at=_at(now - seen_ago),
                    last_seen_at=_at(now),
                    last_reading_ms=now - reading_ago if reading_ago else 0,
                    readings=0,
                )
            )
        c.execute(  # a mark already there is kept, not refused
            PENDING.insert().values(
                measurement="cold_room",
                device="gw-a.new",
                county="533103",
                site="s",
                hour_ms=live_hour,
                marked_at=_at(now),
            )
        )
    upgrade(url, "0260")
    with engine.connect() as c:
        rows = c.execute(
            sa.select(
                PENDING.c.device,
                sa.func.min(PENDING.c.hour_ms),
                sa.func.max(PENDING.c.hour_ms),
                sa.func.count(),
            ).group_by(PENDING.c.device)
        ).all()
    engine.dispose()
    got = {d: (lo, hi, n) for d, lo, hi, n in rows}
    assert set(got) == {"gw-a.new", "gw-a.old"}  # a device with no reading: nothing
    lo, hi, n = got["gw-a.new"]  # from 90 days before it was first seen
    assert (lo, hi) == ((now - 2 * HOUR - 90 * DAY) // HOUR * HOUR, live_hour)
    assert n == (hi - lo) // HOUR + 1
    lo, hi, n = got["gw-a.old"]  # from the start of raw retention
    assert (lo, hi) == ((now - 100 * DAY) // HOUR * HOUR, (now - 1) // HOUR * HOUR)
    assert n == (hi - lo) // HOUR + 1


async def test_marks_on_sqlite(tmp_path: Path) -> None:
    await asyncio.to_thread(_round_trip, f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
async def test_marks_on_postgres(pg_url: str) -> None:
    await asyncio.to_thread(_round_trip, pg_url)
