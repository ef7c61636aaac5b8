"""auth (issue 10): token version and organisation on users, organisation on API keys,
login throttling

- ``users.token_version``: every token carries it; a password change increments it,
  which revokes every token issued before.
- ``users.org_id`` / ``api_keys.org_id``: the organisation of an org-scoped role
  (enterprise or cooperative operator, carrier, driver, station operator, trainer,
  operating company); NULL for county and prefecture roles. No foreign key here: the
  organisations table belongs to cloud/catalog (a higher floor), which adds it.
- ``login_throttle``: failed logins per client address and per username, with the
  lockout they earned (shared by every API process).

Role names are unchanged (prefecture_admin, county_admin, operator, dispatcher keep
their meaning), so no stored role needs rewriting.

Revision ID: 0220
Revises: 0001
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0220"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("org_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_org_id"), ["org_id"], unique=False)
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_id", sa.String(length=64), nullable=True))
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", cloud.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_throttle_window_start"), ["window_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_window_start"))
    op.drop_table("login_throttle")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("org_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_org_id"))
        batch_op.drop_column("org_id")
        batch_op.drop_column("token_version")
