"""firmware (issue 16): signed node images, staged rollouts, per-node state

Revision ID: 0900
Revises: 0001
Create Date: 2026-12-04 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0900"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = cloud.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "firmware_images",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_images")),
        sa.UniqueConstraint(
            "county", "kind", "target", "version", name=op.f("uq_firmware_images_county")
        ),
    )
    op.create_index(op.f("ix_firmware_images_county"), "firmware_images", ["county"])
    op.create_table(
        "firmware_rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("percentage", sa.Integer(), nullable=False),
        sa.Column("failure_threshold", sa.Float(), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["firmware_images.id"],
            name=op.f("fk_firmware_rollouts_image_id_firmware_images"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_rollouts")),
    )
    op.create_index(op.f("ix_firmware_rollouts_county"), "firmware_rollouts", ["county"])
    op.create_index(op.f("ix_firmware_rollouts_image_id"), "firmware_rollouts", ["image_id"])
    op.create_table(
        "firmware_rollout_nodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.String(length=48), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["firmware_rollouts.id"],
            name=op.f("fk_firmware_rollout_nodes_rollout_id_firmware_rollouts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_rollout_nodes")),
        sa.UniqueConstraint(
            "rollout_id", "gateway_id", "node_id", name=op.f("uq_firmware_rollout_nodes_rollout_id")
        ),
    )
    op.create_index(
        op.f("ix_firmware_rollout_nodes_rollout_id"), "firmware_rollout_nodes", ["rollout_id"]
    )
    op.create_index(
        op.f("ix_firmware_rollout_nodes_gateway_id"), "firmware_rollout_nodes", ["gateway_id"]
    )


def downgrade() -> None:
    op.drop_table("firmware_rollout_nodes")
    op.drop_table("firmware_rollouts")
    op.drop_table("firmware_images")
