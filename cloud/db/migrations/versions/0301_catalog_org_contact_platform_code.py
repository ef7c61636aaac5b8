"""catalog (issue 11): organisations gain a contact, an address and the national
platform's 主体码 with its issuer (unique per issuer)

Revision ID: 0301
Revises: 0300
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0301"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("platform_code", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("platform_issuer", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("updated_at", cloud.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_organisations_platform_issuer"), ["platform_issuer", "platform_code"]
        )


def downgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_organisations_platform_issuer"), type_="unique")
        for column in (
            "updated_at",
            "platform_issuer",
            "platform_code",
            "address",
            "contact_phone",
            "contact_name",
        ):
            batch_op.drop_column(column)
