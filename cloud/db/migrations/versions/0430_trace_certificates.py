"""trace (issue 11): 三品一标 certificates with the products and bases they cover, and
the 承诺达标合格证 issued per lot

Revision ID: 0430
Revises: 0400
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0430"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
#: production bases (catalog)
depends_on: str | Sequence[str] | None = "0303"

UTC = cloud.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trace_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("holder_uscc", sa.String(length=18), nullable=False),
        sa.Column("holder_org_id", sa.Integer(), nullable=True),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("scan_sha256", sa.String(length=64), nullable=True),
        sa.Column("scan_content_type", sa.String(length=32), nullable=True),
        sa.Column("scan_size", sa.Integer(), nullable=True),
        sa.Column("scan_uploaded_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["holder_org_id"],
            ["organisations.id"],
            name=op.f("fk_trace_certificates_holder_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_certificates")),
        sa.UniqueConstraint("type", "number", name=op.f("uq_trace_certificates_type")),
    )
    with op.batch_alter_table("trace_certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_certificates_county"), ["county"])
        batch_op.create_index(batch_op.f("ix_trace_certificates_holder_uscc"), ["holder_uscc"])
        batch_op.create_index(batch_op.f("ix_trace_certificates_holder_org_id"), ["holder_org_id"])

    op.create_table(
        "trace_certificate_products",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["trace_certificates.id"],
            name=op.f("fk_trace_certificate_products_certificate_id_trace_certificates"),
        ),
        sa.PrimaryKeyConstraint(
            "certificate_id", "gtin", name=op.f("pk_trace_certificate_products")
        ),
    )
    with op.batch_alter_table("trace_certificate_products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_certificate_products_gtin"), ["gtin"])

    op.create_table(
        "trace_certificate_bases",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("base_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["trace_certificates.id"],
            name=op.f("fk_trace_certificate_bases_certificate_id_trace_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["base_id"],
            ["production_bases.id"],
            name=op.f("fk_trace_certificate_bases_base_id_production_bases"),
        ),
        sa.PrimaryKeyConstraint(
            "certificate_id", "base_id", name=op.f("pk_trace_certificate_bases")
        ),
    )
    with op.batch_alter_table("trace_certificate_bases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_certificate_bases_base_id"), ["base_id"])

    op.create_table(
        "trace_commitment_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("unit", sa.String(length=3), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("contact", sa.String(length=100), nullable=False),
        sa.Column("basis", sa.String(length=24), nullable=False),
        sa.Column("basis_ref", sa.String(length=300), nullable=True),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["trace_lots.id"],
            name=op.f("fk_trace_commitment_certificates_lot_id_trace_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_trace_commitment_certificates_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_commitment_certificates")),
        sa.UniqueConstraint("number", name=op.f("uq_trace_commitment_certificates_number")),
    )
    with op.batch_alter_table("trace_commitment_certificates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trace_commitment_certificates_lot", ["lot_id", "issued_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trace_commitment_certificates_county"), ["county"])
        batch_op.create_index(batch_op.f("ix_trace_commitment_certificates_org_id"), ["org_id"])


def downgrade() -> None:
    op.drop_table("trace_commitment_certificates")
    op.drop_table("trace_certificate_bases")
    op.drop_table("trace_certificate_products")
    op.drop_table("trace_certificates")
