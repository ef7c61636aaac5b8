"""dead letters: payloads stored once (content-addressed), replay jobs (issue 10, item 15)

Each rejection used to store the whole batch payload again (every refused part of
a batch, every resend of a refused batch). Payloads move to
``dead_letter_payloads`` keyed by their SHA-256; a letter refers to its payload.
Replays run as background jobs with their progress in ``dead_letter_replays``.

Revision ID: 0211
Revises: 0210
Create Date: 2026-12-03 19:10:00
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = "0211"
down_revision: str | None = "0210"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_payloads = sa.table(
    "dead_letter_payloads",
    sa.column("sha256", sa.String),
    sa.column("size", sa.Integer),
    sa.column("data", sa.LargeBinary),
    sa.column("created_at", cloud.db.base.UTCDateTime(timezone=True)),
)
_letters = sa.table(
    "dead_letters",
    sa.column("id", sa.Integer),
    sa.column("received_at", cloud.db.base.UTCDateTime(timezone=True)),
    sa.column("payload", sa.LargeBinary),
    sa.column("payload_sha256", sa.String),
)


def upgrade() -> None:
    op.create_table(
        "dead_letter_payloads",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_dead_letter_payloads")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_sha256", sa.String(length=64), nullable=True))

    # move each distinct payload once (in pages: a letter's payload may be 256 KiB)
    conn = op.get_bind()
    seen: set[str] = set()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(_letters.c.id, _letters.c.received_at, _letters.c.payload)
            .where(_letters.c.id > last)
            .order_by(_letters.c.id)
            .limit(500)
        ).all()
        if not rows:
            break
        for letter_id, received_at, payload in rows:
            data = bytes(payload)
            digest = hashlib.sha256(data).hexdigest()
            if digest not in seen:
                seen.add(digest)
                conn.execute(
                    _payloads.insert().values(
                        sha256=digest, size=len(data), data=data, created_at=received_at
                    )
                )
            conn.execute(
                _letters.update()
                .where(_letters.c.id == letter_id)
                .values(payload_sha256=digest)
            )
            last = letter_id

    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.alter_column("payload_sha256", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("payload")
        batch_op.create_index(
            batch_op.f("ix_dead_letters_payload_sha256"), ["payload_sha256"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_dead_letters_payload_sha256_dead_letter_payloads"),
            "dead_letter_payloads",
            ["payload_sha256"],
            ["sha256"],
        )

    op.create_table(
        "dead_letter_replays",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("letter_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("replayed", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cloud.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cloud.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter_replays")),
    )
    with op.batch_alter_table("dead_letter_replays", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dead_letter_replays_county"), ["county"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dead_letter_replays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letter_replays_county"))
    op.drop_table("dead_letter_replays")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    conn.execute(
        _letters.update().values(
            payload=sa.select(_payloads.c.data)
            .where(_payloads.c.sha256 == _letters.c.payload_sha256)
            .scalar_subquery()
        )
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_dead_letters_payload_sha256_dead_letter_payloads"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_dead_letters_payload_sha256"))
        batch_op.drop_column("payload_sha256")
        batch_op.alter_column("payload", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table("dead_letter_payloads")
