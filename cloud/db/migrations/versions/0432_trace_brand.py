"""trace (issue 11): 德宏品牌 admission rule sets (version 1 seeded) and the decisions,
append-only

Revision ID: 0432
Revises: 0431
Create Date: 2026-12-05 09:20:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0432"
down_revision: str | None = "0431"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = cloud.db.base.UTCDateTime(timezone=True)

#: Version 1 as it was seeded (a copy: cloud.trace.brand.rules.DEFAULT_RULES may move on).
RULES_V1 = [
    {"kind": "certificate", "type": ["green_food", "organic", "geographical_indication"]},
    {"kind": "commitment_certificate"},
    {"kind": "test_passed_within_days", "test": "pesticide_residue", "days": 30},
    {"kind": "cold_chain_compliant"},
    {"kind": "camera_grade_at_least", "grade": "premium", "scale": "sca",
     "categories": ["coffee"]},
]  # fmt: skip


def upgrade() -> None:
    rulesets = op.create_table(
        "trace_brand_rulesets",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_trace_brand_rulesets")),
    )
    op.create_table(
        "trace_brand_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("ruleset_version", sa.Integer(), nullable=False),
        sa.Column("states", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("decided_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["trace_lots.id"], name=op.f("fk_trace_brand_decisions_lot_id_trace_lots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_brand_decisions")),
    )
    with op.batch_alter_table("trace_brand_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_trace_brand_decisions_lot", ["lot_id", "id"])
        batch_op.create_index(batch_op.f("ix_trace_brand_decisions_county"), ["county"])
    op.bulk_insert(
        rulesets,
        [
            {
                "version": 1,
                "rules": RULES_V1,
                "note": "first rule set (migration 0432)",
                "created_at": datetime(2026, 12, 5, 1, 20, tzinfo=UTC),
                "created_by": "migration:0432",
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("trace_brand_decisions")
    op.drop_table("trace_brand_rulesets")
