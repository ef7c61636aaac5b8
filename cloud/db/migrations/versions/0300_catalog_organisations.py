"""catalog (issue 10, item 11): organisations and mobile devices registered to them

Revision ID: 0300
Revises: 0001
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0300"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("created_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("uscc", name=op.f("uq_organisations_uscc")),
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisations_county"), ["county"], unique=False)

    op.create_table(
        "mobile_devices",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("registered_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_mobile_devices_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_mobile_devices")),
    )
    with op.batch_alter_table("mobile_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mobile_devices_county"), ["county"], unique=False)
        batch_op.create_index(batch_op.f("ix_mobile_devices_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mobile_devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mobile_devices_org_id"))
        batch_op.drop_index(batch_op.f("ix_mobile_devices_county"))
    op.drop_table("mobile_devices")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisations_county"))
    op.drop_table("organisations")
