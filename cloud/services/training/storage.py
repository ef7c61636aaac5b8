"""Training tables: courses, trainers, sessions, enrolments, attendance, certificates.

A trainee's name and phone are personal data: stored sealed by :mod:`cloud.pii`
(``*_sealed``, context ``training_enrolments.<field>:<ref>``) with a blind index of the
phone (a trainee checks in by typing it; a session refuses the same phone twice).
A session carries its Beijing month (``YYYY-MM``) and its course's county and type so
that totals are one ``GROUP BY`` without time-zone arithmetic in SQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: Course types (code -> Chinese, English): the programme's talent-training figures are
#: counted by them.
COURSE_TYPES: dict[str, tuple[str, str]] = {
    "basics": ("电商基础", "E-commerce basics"),
    "store": ("网店运营", "Online shop operation"),
    "live": ("直播电商", "Live-stream selling"),
    "marketing": ("营销推广", "Marketing and promotion"),
    "logistics": ("物流与供应链", "Logistics and supply chain"),
    "brand": ("品牌与溯源", "Brand and traceability"),
}
#: Session statuses.
SESSION_STATUSES = ("scheduled", "cancelled")


class Course(Base):
    __tablename__ = "training_courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    title_zh: Mapped[str] = mapped_column(String(120))
    title_en: Mapped[str] = mapped_column(String(160), default="")
    course_type: Mapped[str] = mapped_column(String(16))
    hours: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Trainer(Base):
    """A trainer (讲师): staff, not a trainee; ``username`` links the login of role
    ``trainer`` that sees and edits this trainer's own sessions."""

    __tablename__ = "training_trainers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(String(60))
    speciality: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class TrainingSession(Base):
    __tablename__ = "training_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), index=True)
    trainer_id: Mapped[int] = mapped_column(ForeignKey("training_trainers.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    course_type: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Beijing month of ``starts_at`` (``YYYY-MM``)
    month: Mapped[str] = mapped_column(String(7), index=True)
    place: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Enrolment(Base):
    __tablename__ = "training_enrolments"
    __table_args__ = (UniqueConstraint("session_id", "phone_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: the record's own reference in the sealed fields' context
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    name_sealed: Mapped[str] = mapped_column(Text)
    #: what the public certificate check shows (``岩*``, ``欧**明``): made once at
    #: enrolment, so that no public path ever opens a sealed field
    name_masked: Mapped[str] = mapped_column(String(60))
    phone_sealed: Mapped[str] = mapped_column(Text)
    phone_index: Mapped[str] = mapped_column(String(32))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Attendance(Base):
    """One check-in per enrolment; ``nonce`` is the check-in code's (a replay of the same
    code is refused)."""

    __tablename__ = "training_attendance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("training_enrolments.id"), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id"), index=True)
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    nonce: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(8), default="qr")


class Certificate(Base):
    """A certificate of completion. ``ref`` names it in public; ``code`` (random, in the
    QR's URL) proves the URL was printed by us: a URL with another code is a forgery."""

    __tablename__ = "training_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    code: Mapped[str] = mapped_column(String(32))
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("training_enrolments.id"), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: Beijing month it was issued (``YYYY-MM``)
    month: Mapped[str] = mapped_column(String(7), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
