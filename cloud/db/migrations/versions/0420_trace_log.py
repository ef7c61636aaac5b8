"""trace log (issue 11): leaves, perfect-subtree hashes, the size, signed tree heads

Revision ID: 0420
Revises: 0001
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0420"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trace_log_leaves",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_trace_log_leaves")),
        sa.UniqueConstraint("event_id", name=op.f("uq_trace_log_leaves_event_id")),
    )
    op.create_table(
        "trace_log_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_trace_log_nodes")),
    )
    state = op.create_table(
        "trace_log_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_log_state")),
    )
    op.bulk_insert(state, [{"id": 1, "size": 0}])
    op.create_table(
        "trace_log_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_trace_log_heads")),
    )


def downgrade() -> None:
    op.drop_table("trace_log_heads")
    op.drop_table("trace_log_state")
    op.drop_table("trace_log_nodes")
    op.drop_table("trace_log_leaves")
