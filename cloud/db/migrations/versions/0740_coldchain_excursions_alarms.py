"""coldchain (issue 13): excursions (derived, recomputed) and alarms (lifecycle)

Revision ID: 0740
Revises: 0303
Create Date: 2026-12-04 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0740"
down_revision: str | None = "0303"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = cloud.db.base.UTCDateTime(timezone=True)
MS = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "coldchain_excursions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("start_ms", MS, nullable=False),
        sa.Column("end_ms", MS, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("peak_c", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("door", sa.Boolean(), nullable=False),
        sa.Column("single_breach_ms", MS, nullable=True),
        sa.Column("cumulative_breach_ms", MS, nullable=True),
        sa.Column("confirmed_ms", MS, nullable=False),
        sa.Column("low_c", sa.Float(), nullable=True),
        sa.Column("high_c", sa.Float(), nullable=True),
        sa.Column("alarm_id", sa.Integer(), nullable=True),
        sa.Column("cumulative_alarm_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coldchain_excursions")),
        sa.UniqueConstraint(
            "device", "metric", "start_ms",
            name=op.f("uq_coldchain_excursions_device"),
        ),  # fmt: skip
    )
    op.create_index(
        op.f("ix_coldchain_excursions_county"), "coldchain_excursions", ["county"]
    )
    op.create_index(
        op.f("ix_coldchain_excursions_location_id"), "coldchain_excursions", ["location_id"]
    )
    op.create_index(
        op.f("ix_coldchain_excursions_alarm_id"), "coldchain_excursions", ["alarm_id"]
    )
    op.create_index(
        "ix_coldchain_excursions_device_start", "coldchain_excursions", ["device", "start_ms"]
    )
    op.create_table(
        "coldchain_alarms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_ms", MS, nullable=False),
        sa.Column("last_ms", MS, nullable=False),
        sa.Column("peak_c", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", UTC_TIME, nullable=False),
        sa.Column("acknowledged_at", UTC_TIME, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("ack_comment", sa.String(length=1000), nullable=True),
        sa.Column("cleared_at", UTC_TIME, nullable=True),
        sa.Column("cleared_reason", sa.String(length=200), nullable=True),
        sa.Column("escalation_step", sa.Integer(), nullable=False),
        sa.Column("escalated_at", UTC_TIME, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coldchain_alarms")),
    )
    op.create_index(op.f("ix_coldchain_alarms_county"), "coldchain_alarms", ["county"])
    op.create_index(op.f("ix_coldchain_alarms_location_id"), "coldchain_alarms", ["location_id"])
    op.create_index(op.f("ix_coldchain_alarms_device"), "coldchain_alarms", ["device"])
    op.create_index(op.f("ix_coldchain_alarms_status"), "coldchain_alarms", ["status"])
    op.create_index(
        "ix_coldchain_alarms_key", "coldchain_alarms", ["device", "metric", "rule", "status"]
    )


def downgrade() -> None:
    op.drop_table("coldchain_alarms")
    op.drop_table("coldchain_excursions")
