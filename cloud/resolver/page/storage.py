"""``trace_page_generation``: one row whose ``n`` grows with every committed write to a
table the trace page reads (:data:`WATCHED`), bumped by database triggers (migration
0605), so that a write made by any process or by hand (``psql``, ``sqlite3``) is seen.

The page's cache (:mod:`.cache`) reads ``n`` once per view (one primary-key read): a
cached page is served only while ``n`` is the one it was built under. PostgreSQL: a
statement-level trigger on each watched table notes the transaction once (a
transaction-local flag) as a row of ``trace_page_pending``, whose deferred constraint
trigger bumps ``n`` at commit and deletes the row: one cheap call per statement, one
bump per writing transaction, visible exactly with the write, the row locked only at
commit, nothing when rolled back. SQLite (one writer at a time): an ``AFTER`` trigger per
table and operation (per row).

Tables the page reads that are **not** watched (:data:`UNWATCHED`) change what it shows
only through time (the charts' devices and roll-ups, written by ingest all the time):
a cached page lives at most until the end of its UTC minute, and says "as of".
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base

TABLE = "trace_page_generation"

#: every table whose rows the trace page (or the resolver before it) shows or proves
WATCHED: tuple[str, ...] = (
    "trace_lots", "trace_lot_parents", "trace_events", "trace_event_objects",
    "trace_log_leaves", "trace_log_nodes", "trace_log_state", "trace_log_heads",
    "trace_certificates", "trace_certificate_products", "trace_certificate_bases",
    "trace_commitment_certificates", "trace_test_results", "trace_brand_rulesets",
    "trace_brand_decisions", "trace_custody_evidence", "inspections",
    "organisations", "products", "production_bases", "locations", "location_devices",
    "commodity_profiles",
)  # fmt: skip

#: tables the page reads but does not watch, and why (tests/cloud/test_trace_page_cache.py
#: fails on a table read by the page that is in neither list)
UNWATCHED: dict[str, str] = {
    "devices": "a device's kind names the chart's measurement; ingest writes the row "
    "(last seen) all the time; the charts are as of the page's minute",
    "rollup_generation": "the roll-ups' state: the charts' windows, as of the minute",
    "rollup_pending": "the roll-ups' state: the charts' windows, as of the minute",
    "rollup_pending_minute": "the roll-ups' state: the charts' windows, as of the minute",
    "trace_page_generation": "the generation itself",
    "trace_page_pending": "the generation's bookkeeping (PostgreSQL)",
    "serial_ranges": "the serial's code check runs on every view, never cached",
    "scans": "the scan is recorded and counted on every view, never cached",
}


class PageGeneration(Base):
    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
