"""catalog (issue 11): production bases, locations (GLN/SGLN) and the devices that
measure them, products (GTIN-14)

Revision ID: 0303
Revises: 0302
Create Date: 2026-12-04 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0303"
down_revision: str | None = "0302"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Stamp = cloud.db.base.UTCDateTime


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", Stamp(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", Stamp(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "production_bases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("area_ha", sa.Float(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_production_bases_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_production_bases")),
    )
    with op.batch_alter_table("production_bases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_production_bases_county"), ["county"], unique=False)
        batch_op.create_index(batch_op.f("ix_production_bases_org_id"), ["org_id"], unique=False)

    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("base_id", sa.Integer(), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("gln", sa.String(length=13), nullable=False),
        sa.Column("gln_extension", sa.String(length=20), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_locations_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["base_id"], ["production_bases.id"],
            name=op.f("fk_locations_base_id_production_bases"),
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["profile_id"], ["commodity_profiles.id"],
            name=op.f("fk_locations_profile_id_commodity_profiles"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("gln", "gln_extension", name=op.f("uq_locations_gln")),
    )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_locations_county"), ["county"], unique=False)
        batch_op.create_index(batch_op.f("ix_locations_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_locations_base_id"), ["base_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_locations_profile_id"), ["profile_id"], unique=False)

    op.create_table(
        "location_devices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("since", Stamp(timezone=True), nullable=False),
        sa.Column("until", Stamp(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("ended_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_location_devices_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location_devices")),
    )
    with op.batch_alter_table("location_devices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_location_devices_device_id"), ["device_id"], unique=False
        )
        batch_op.create_index(
            "ix_location_devices_location_since", ["location_id", "since"], unique=False
        )

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_products_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["commodity_profiles.id"],
            name=op.f("fk_products_profile_id_commodity_profiles"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("gtin", name=op.f("uq_products_gtin")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_county"), ["county"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_profile_id"), ["profile_id"], unique=False)


def downgrade() -> None:
    op.drop_table("products")
    op.drop_table("location_devices")
    op.drop_table("locations")
    op.drop_table("production_bases")
