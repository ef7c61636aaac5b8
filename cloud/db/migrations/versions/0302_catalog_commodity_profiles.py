"""catalog (issue 11): commodity profiles, seeded with the three of DESIGN.md

Revision ID: 0302
Revises: 0301
Create Date: 2026-12-04 09:10:00

The seed (prefecture-wide, county 533100) is DESIGN.md's: mango 10-12 °C (chilling-
sensitive), lychee 0-2 °C, green coffee 15-20 °C at RH 50-65 %. The excursion limits
are starting values of this platform, to be set by each programme (PATCH the profile):
see cloud/catalog/README.md. The downgrade drops the table, seed and all.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0302"
down_revision: str | None = "0301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOUR = 3600

#: name, name_en, min, max, single, cumulative, rh_min, rh_max, categories, note
SEED = [
    ("芒果", "mango", 10.0, 12.0, 2 * HOUR, 6 * HOUR, None, None, ["fruit_mango"],
     "chilling-sensitive: below 10 °C injures the fruit (DESIGN.md)"),
    ("荔枝", "lychee", 0.0, 2.0, 1 * HOUR, 3 * HOUR, None, None, ["fruit_lychee"],
     "DESIGN.md: 0-2 °C"),
    ("咖啡生豆", "green coffee", 15.0, 20.0, 24 * HOUR, 72 * HOUR, 50.0, 65.0, ["coffee"],
     "DESIGN.md: 15-20 °C, RH 50-65 %"),
]  # fmt: skip


def upgrade() -> None:
    table = op.create_table(
        "commodity_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=True),
        sa.Column("temp_min_c", sa.Float(), nullable=False),
        sa.Column("temp_max_c", sa.Float(), nullable=False),
        sa.Column("single_excursion_max_s", sa.Integer(), nullable=False),
        sa.Column("cumulative_excursion_max_s", sa.Integer(), nullable=False),
        sa.Column("rh_min", sa.Float(), nullable=True),
        sa.Column("rh_max", sa.Float(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", cloud.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commodity_profiles")),
        sa.UniqueConstraint("county", "name", name=op.f("uq_commodity_profiles_county")),
    )
    with op.batch_alter_table("commodity_profiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_commodity_profiles_county"), ["county"], unique=False)
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [
            {
                "county": "533100", "name": name, "name_en": en, "temp_min_c": lo,
                "temp_max_c": hi, "single_excursion_max_s": single,
                "cumulative_excursion_max_s": total, "rh_min": rh_lo, "rh_max": rh_hi,
                "categories": categories, "note": note, "created_at": now,
                "created_by": "migration:0302",
            }  # fmt: skip
            for name, en, lo, hi, single, total, rh_lo, rh_hi, categories, note in SEED
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("commodity_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commodity_profiles_county"))
    op.drop_table("commodity_profiles")
