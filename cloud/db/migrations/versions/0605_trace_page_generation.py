"""resolver: the trace page's generation, bumped by triggers on the tables it reads

Revision ID: 0605
Revises: 0600
Create Date: 2026-12-04 09:00:00

The list of tables is frozen here (cloud/resolver/page/storage.py ``WATCHED`` is the
living one; a later change to it is a new migration).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0605"
down_revision: str | None = "0600"
branch_labels: str | Sequence[str] | None = None
# the log, the brand (certificates, results, lots before it), custody, inspections
depends_on: str | Sequence[str] | None = ("0420", "0432", "0450", "0100")

WATCHED = (
    "trace_lots", "trace_lot_parents", "trace_events", "trace_event_objects",
    "trace_log_leaves", "trace_log_nodes", "trace_log_state", "trace_log_heads",
    "trace_certificates", "trace_certificate_products", "trace_certificate_bases",
    "trace_commitment_certificates", "trace_test_results", "trace_brand_rulesets",
    "trace_brand_decisions", "trace_custody_evidence", "inspections",
    "organisations", "products", "production_bases", "locations", "location_devices",
    "commodity_profiles",
)  # fmt: skip

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION trace_page_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- once per transaction: the flag is transaction-local (set_config(..., true))
    IF current_setting('dehong.trace_page_bumped', true) = '1' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('dehong.trace_page_bumped', '1', true);
    UPDATE trace_page_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "trace_page_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_page_generation")),
    )
    op.execute("INSERT INTO trace_page_generation (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in WATCHED:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER trace_page_bump AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                f"EXECUTE FUNCTION trace_page_bump()"
            )
    else:
        for table in WATCHED:
            for operation in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER trace_page_bump_{table}_{operation.lower()} "
                    f"AFTER {operation} ON {table} BEGIN "
                    f"UPDATE trace_page_generation SET n = n + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS trace_page_bump ON {table}")
        op.execute("DROP FUNCTION IF EXISTS trace_page_bump()")
    else:
        for table in WATCHED:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trace_page_bump_{table}_{operation}")
    op.drop_table("trace_page_generation")
