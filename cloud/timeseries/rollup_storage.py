"""Windows that late (or any) data touched and whose roll-ups must be recomputed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, String, false
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow


class RollupPending(Base):
    """One hour of one series to recompute (its 1-min and 1-h roll-ups)."""

    __tablename__ = "rollup_pending"

    measurement: Mapped[str] = mapped_column(String(32), primary_key=True)
    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: the county the readings are stored under (a device that moved has one per county)
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    hour_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: marked as a whole (a restore, ``--all-since``): every minute is read raw until the
    #: job recomputes the hour, whatever its minutes' marks (:class:`RollupPendingMinute`)
    whole: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RollupGeneration(Base):
    """How many times the roll-up job has rewritten roll-ups of one series (a device's
    readings under one county, as :class:`RollupPending`): cached roll-ups of an older
    generation are stale."""

    __tablename__ = "rollup_generation"

    measurement: Mapped[str] = mapped_column(String(32), primary_key=True)
    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    #: How many times the job has rewritten 1-min roll-ups of the series' marked hours
    #: alone (:class:`RollupPendingMinute`), leaving the hours marked.
    minutes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: How many writes to the series' raw points were marked (every writer marks what
    #: it wrote, after storing it; :func:`cloud.timeseries.rollup.bump_writes`): the
    #: raw points of marked minutes cached by an older one are stale.
    writes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RollupPendingMinute(Base):
    """One minute of one series whose 1-min roll-up is to recompute.

    Written with its hour's mark (:class:`RollupPending`, in the same transaction and
    with the same ``marked_at``), so every minute mark has an hour mark at least as new.
    The job recomputes a settled minute's 1-min roll-up alone while its hour is still
    marked (the live hour), so a read of a marked hour takes its other minutes from the
    1-min roll-ups and only the marked ones raw."""

    __tablename__ = "rollup_pending_minute"

    measurement: Mapped[str] = mapped_column(String(32), primary_key=True)
    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    minute_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
