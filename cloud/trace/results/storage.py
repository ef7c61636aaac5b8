"""``trace_test_results``: the lab or rapid-test results a sampling or inspecting
event carries (its ``dh:testResult`` extension), one row per result, linked to the
event. The lots a result is about are the lots its event names
(``trace_event_objects``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime

#: A 64-bit serial on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is 64 bits.
Serial = BigInteger().with_variant(Integer(), "sqlite")


class TraceTestResult(Base):
    """One result of one test: ``test`` (pesticide_residue, moisture, ...), the
    ``analyte``, the measured ``value`` in ``unit`` against the limits, and whether it
    passed. ``tested_at`` is the event's time."""

    __tablename__ = "trace_test_results"
    __table_args__ = (
        Index("ix_trace_test_results_event", "event_seq", "position"),
        Index("ix_trace_test_results_county_test", "county", "test", "tested_at"),
    )

    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("trace_events.seq"))
    event_id: Mapped[str] = mapped_column(Text)
    #: the result's place in the event's dh:testResult list
    position: Mapped[int] = mapped_column(Integer)
    county: Mapped[str] = mapped_column(String(6))
    tested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    test: Mapped[str] = mapped_column(String(48))
    analyte: Mapped[str | None] = mapped_column(String(100), nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: the largest value that passes (a residue limit, a moisture maximum)
    limit_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: the smallest value that passes (a moisture minimum)
    limit_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    #: rapid (速测) or lab (实验室)
    method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    lab: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the standard the limit comes from (GB 2763-2021, ...)
    standard: Mapped[str | None] = mapped_column(String(100), nullable=True)
    report: Mapped[str | None] = mapped_column(String(100), nullable=True)
