"""``serial_ranges``: the serials (GS1 AI 21) issued to a lot, in ranges.

A range is the decimal serials ``first`` .. ``first + count - 1``, written without
leading zeros (serial ``"007"`` is not serial 7: only the written form is issued).
Ranges of one lot never overlap. Nothing else is stored: each serial's code is
recomputed from the key (cloud/resolver/serials/codes.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class SerialRange(Base):
    __tablename__ = "serial_ranges"
    __table_args__ = (Index("ix_serial_ranges_lot_first", "lot_id", "first"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("trace_lots.id"))
    #: the lot's county (the range's readers and writers)
    county: Mapped[str] = mapped_column(String(6), index=True)
    first: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))

    @property
    def last(self) -> int:
        return self.first + self.count - 1
