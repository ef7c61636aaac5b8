"""roll-ups: recompute every hour raw data still holds, with the duration-weighted sums

The roll-ups now carry ΣΔt, Σ(value·Δt), Σ(exp(−ΔH/RT)·Δt), the held range and the hold
cap per window (issue 11; ``cloud/timeseries/rollup_sums.py``). Roll-ups written before
have none of these; this marks, for every registered device, each hour from the start
of raw retention (100 days, or 90 days before the device was first seen, whichever is
later) to its newest reading for recomputation, so the roll-up job rewrites them from
the raw data. Hours older than raw retention cannot be recomputed: evidence reads them
as they were documented (equal-interval readings; ``rollup_sums.rollup_window``) and
counts them in ``approx_s``. Series of a device under a county other than the one the
registry holds now (a tag that moved) are not marked here: run
``dehong cloud rollup --all-since`` for them.

Revision ID: 0260
Revises: 0310
Create Date: 2026-12-03 22:00:00
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

from cloud.db.base import UTCDateTime

revision: str = "0260"
down_revision: str | None = "0310"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
RAW_RETENTION_DAYS = 100
BACKLOG_DAYS = 90
BATCH = 1000

devices = sa.table(
    "devices",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("county", sa.String),
    sa.column("site", sa.String),
    sa.column("first_seen_at", UTCDateTime()),
    sa.column("last_reading_ms", sa.BigInteger),
)
pending = sa.table(
    "rollup_pending",
    sa.column("measurement", sa.String),
    sa.column("device", sa.String),
    sa.column("county", sa.String),
    sa.column("hour_ms", sa.BigInteger),
    sa.column("site", sa.String),
    sa.column("marked_at", UTCDateTime()),
)


def upgrade() -> None:
    bind = op.get_bind()
    insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    now = datetime.now(UTC)
    now_ms = int(time.time() * 1000)
    floor = now_ms - RAW_RETENTION_DAYS * DAY_MS
    rows: list[dict[str, object]] = []

    def flush() -> None:
        if rows:
            bind.execute(insert(pending).values(rows).on_conflict_do_nothing())
            rows.clear()

    for d in bind.execute(sa.select(devices)).mappings():
        last = min(int(d["last_reading_ms"] or 0), now_ms)
        if last <= 0:
            continue
        seen = d["first_seen_at"]
        first = floor
        if seen is not None:
            first = max(floor, int(seen.timestamp() * 1000) - BACKLOG_DAYS * DAY_MS)
        for hour in range(first // HOUR_MS * HOUR_MS, last + 1, HOUR_MS):
            rows.append(
                {
                    "measurement": d["kind"],
                    "device": d["id"],
                    "county": d["county"],
                    "hour_ms": hour,
                    "site": d["site"],
                    "marked_at": now,
                }
            )
            if len(rows) >= BATCH:
                flush()
    flush()


def downgrade() -> None:
    # The marks only ask the job to recompute; recomputed roll-ups keep the per-reading
    # fields the older code reads, so there is nothing to undo.
    return None
