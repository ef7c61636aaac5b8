"""positions (issue 13): the cold chain consumes the windows phones' fixes touched

Registers the ``coldchain`` consumer of ``position_dirty_windows``: every accepted fix
marks its hour for it, so a process that stops before its engine evaluated a phone's
``temp1`` leaves the window to be evaluated later (cloud/logistics/positions/coldchain.py).

Revision ID: 0711
Revises: 0700
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0711"
down_revision: str | None = "0700"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_consumers = sa.table(
    "position_window_consumers",
    sa.column("name", sa.String),
    sa.column("registered_at", cloud.db.base.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    op.bulk_insert(_consumers, [{"name": "coldchain", "registered_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.execute(sa.delete(_consumers).where(_consumers.c.name == "coldchain"))
    op.execute(sa.text("DELETE FROM position_dirty_windows WHERE consumer = 'coldchain'"))
