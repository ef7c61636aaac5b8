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

# PostgreSQL: a statement-level trigger on each watched table notes, once per
# transaction (a transaction-local flag), a row in trace_page_pending; that row's
# deferred constraint trigger bumps the generation at commit and deletes it. Cost: one
# cheap call per statement (not per row), one row and one update per writing
# transaction; the generation's row is locked only for the instant of the commit (no
# lock taken early: no deadlock with the writers' own locks); nothing if rolled back.
PG_FUNCTIONS = (
    """
CREATE OR REPLACE FUNCTION trace_page_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('dehong.trace_page_touched', true) IS DISTINCT FROM '1' THEN
        PERFORM set_config('dehong.trace_page_touched', '1', true);
        INSERT INTO trace_page_pending DEFAULT VALUES;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION trace_page_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE trace_page_generation SET n = n + 1 WHERE id = 1;
    DELETE FROM trace_page_pending WHERE id = NEW.id;
    RETURN NULL;
END
$$
""",
)


def upgrade() -> None:
    op.create_table(
        "trace_page_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_page_generation")),
    )
    op.execute("INSERT INTO trace_page_generation (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE trace_page_pending (id BIGSERIAL PRIMARY KEY) "
            "WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000)"
        )
        for function in PG_FUNCTIONS:
            op.execute(function)
        op.execute(
            "CREATE CONSTRAINT TRIGGER trace_page_bump AFTER INSERT ON trace_page_pending "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trace_page_bump()"
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER trace_page_touch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION trace_page_touch()"
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
            op.execute(f"DROP TRIGGER IF EXISTS trace_page_touch ON {table}")
        op.execute("DROP TABLE IF EXISTS trace_page_pending")
        op.execute("DROP FUNCTION IF EXISTS trace_page_touch()")
        op.execute("DROP FUNCTION IF EXISTS trace_page_bump()")
    else:
        for table in WATCHED:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trace_page_bump_{table}_{operation}")
    op.drop_table("trace_page_generation")
