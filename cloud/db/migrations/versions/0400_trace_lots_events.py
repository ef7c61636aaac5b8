"""trace (issue 11): lots (of catalog products and bases), EPCIS events with the identifiers
they name, capture jobs

Revision ID: 0400
Revises: 0303
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0400"
down_revision: str | None = "0303"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trace_lots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("unit", sa.String(length=3), nullable=True),
        sa.Column("origin_base_id", sa.Integer(), nullable=True),
        sa.Column("produced_on", sa.Date(), nullable=True),
        sa.Column("created_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_trace_lots_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_trace_lots_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["origin_base_id"],
            ["production_bases.id"],
            name=op.f("fk_trace_lots_origin_base_id_production_bases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_lots")),
        sa.UniqueConstraint("gtin", "lot", name=op.f("uq_trace_lots_gtin")),
    )
    with op.batch_alter_table("trace_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_lots_county"), ["county"], unique=False)
        batch_op.create_index(batch_op.f("ix_trace_lots_org_id"), ["org_id"], unique=False)

    op.create_table(
        "trace_lot_parents",
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["trace_lots.id"], name=op.f("fk_trace_lot_parents_lot_id_trace_lots")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["trace_lots.id"],
            name=op.f("fk_trace_lot_parents_parent_id_trace_lots"),
        ),
        sa.PrimaryKeyConstraint("lot_id", "parent_id", name=op.f("pk_trace_lot_parents")),
    )
    with op.batch_alter_table("trace_lot_parents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_lot_parents_parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "trace_events",
        sa.Column("seq", SERIAL, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("event_time", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_tz_offset", sa.String(length=6), nullable=False),
        sa.Column("record_time", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=True),
        sa.Column("biz_step", sa.Text(), nullable=True),
        sa.Column("disposition", sa.Text(), nullable=True),
        sa.Column("read_point", sa.Text(), nullable=True),
        sa.Column("biz_location", sa.Text(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("error_declaration", sa.JSON(), nullable=True),
        sa.Column("declared_at", cloud.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error_reason", sa.Text(), nullable=True),
        sa.Column("capture_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_trace_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_trace_events_event_id")),
    )
    with op.batch_alter_table("trace_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trace_events_county_event_time", ["county", "event_time"], unique=False
        )
        batch_op.create_index(
            "ix_trace_events_county_record_time", ["county", "record_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trace_events_biz_step"), ["biz_step"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_trace_events_biz_location"), ["biz_location"], unique=False
        )

    op.create_table(
        "trace_event_objects",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("lot", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["trace_events.seq"],
            name=op.f("fk_trace_event_objects_event_seq_trace_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_event_objects")),
    )
    with op.batch_alter_table("trace_event_objects", schema=None) as batch_op:
        batch_op.create_index("ix_trace_event_objects_uri", ["uri", "event_seq"], unique=False)
        batch_op.create_index(
            "ix_trace_event_objects_gtin_lot", ["gtin", "lot", "event_seq"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trace_event_objects_event_seq"), ["event_seq"], unique=False
        )

    op.create_table(
        "trace_capture_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cloud.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("behaviour", sa.String(length=8), nullable=False),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("event_ids", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_capture_jobs")),
    )
    with op.batch_alter_table("trace_capture_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_capture_jobs_county"), ["county"], unique=False)


def downgrade() -> None:
    op.drop_table("trace_capture_jobs")
    op.drop_table("trace_event_objects")
    op.drop_table("trace_events")
    op.drop_table("trace_lot_parents")
    op.drop_table("trace_lots")
