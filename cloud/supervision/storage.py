"""Supervision tables (Alembic branch ``supervision``, revisions 1050-1069).

Money is whole fen (``BigInteger``), exact on SQLite and PostgreSQL; the API speaks
yuan as :class:`~decimal.Decimal` strings. Every record carries its ``county``
(GB/T 2260; the programme's own records belong to the prefecture, 533100), so reads
are scoped like every other domain's.

``supervision_publications`` has no UPDATE or DELETE path: database triggers (both
dialects, migration 1051) refuse them; a correction is a new row (``version`` + 1,
``reason``, ``supersedes_id``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: The four lines of the programme (code, 中文, English, 万元 -> fen, systems they fund).
PROGRAMME_LINES: tuple[tuple[str, str, str, int, list[str]], ...] = (
    (
        "1",
        "电子商务公共服务中心",
        "E-commerce public-service centre",
        130_0000_00,
        ["cloud/services (公共服务中心场地、服务站、培训)", "/h5 公共服务 H5 站点"],
    ),
    (
        "2",
        "农村电子商务信息系统",
        "Rural e-commerce information systems",
        240_0000_00,
        [
            "cloud/commerce 大数据 (网络零售额、包裹、活跃网店)",
            "cloud/services 公共服务信息系统",
            "cloud/logistics 物流信息系统",
        ],
    ),
    (
        "3",
        "区域公共品牌及质量溯源系统",
        "Regional public brand and quality traceability",
        180_0000_00,
        ["cloud/trace 质量溯源 (批次、EPCIS、合格证、品牌)", "cloud/resolver 扫码页"],
    ),
    (
        "4",
        "项目监督审核机制",
        "Programme supervision and review",
        50_0000_00,
        ["cloud/supervision 监督审核 (预算、里程碑、月报、督查、信息公开)"],
    ),
)

MILESTONE_STATUSES = ("planned", "in_progress", "done", "cancelled")
SCHEDULE_KINDS = (
    "weekly_dispatch",  # 周调度
    "monthly_bulletin",  # 月通报
    "quarterly_inspection",  # 季督导
    "half_year_evaluation",  # 半年自评
    "annual_review",  # 年终考核
    "monthly_report",  # 运营公司月报 (due the 25th)
)
REPORT_STATUSES = ("draft", "submitted", "approved", "rejected", "published")
PUBLICATION_KINDS = ("plan", "projects", "report", "decision")


class BudgetLine(Base):
    __tablename__ = "supervision_lines"
    __table_args__ = (UniqueConstraint("county", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    code: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    #: the systems and deliverables the line funds
    systems: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Contract(Base):
    __tablename__ = "supervision_contracts"
    __table_args__ = (UniqueConstraint("county", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("supervision_lines.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    number: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    counterparty: Mapped[str] = mapped_column(String(200))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    signed_on: Mapped[date] = mapped_column(Date)
    #: personal fields: masked for roles without personal:read, audited by name only
    contact_person: Mapped[str] = mapped_column(String(64), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Disbursement(Base):
    __tablename__ = "supervision_disbursements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("supervision_contracts.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("supervision_lines.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    #: YYYY-MM of paid_on (execution per month is one GROUP BY)
    month: Mapped[str] = mapped_column(String(7), index=True)
    voucher: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Milestone(Base):
    __tablename__ = "supervision_milestones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("supervision_lines.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    title: Mapped[str] = mapped_column(String(200))
    deliverable: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    done_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Evidence(Base):
    __tablename__ = "supervision_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("supervision_milestones.id"), index=True)
    county: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(16))  # document | link
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by: Mapped[str] = mapped_column(String(128))


class ScheduleItem(Base):
    """One item of the rhythm (周调度、月通报、季督导、半年自评、年终考核, monthly reports)."""

    __tablename__ = "supervision_schedule"
    __table_args__ = (UniqueConstraint("county", "kind", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: what the item is about: "2026-W47", "2026-11", "2026-Q4", "2026-H1", "2026",
    #: "2026-11:org:7" (a monthly report of an organisation)
    ref: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(128))
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    due_on: Mapped[date] = mapped_column(Date, index=True)
    remind_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Meeting(Base):
    """A weekly dispatch meeting (周调度) and its minutes."""

    __tablename__ = "supervision_meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("supervision_schedule.id"), nullable=True
    )
    held_on: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    minutes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class ActionItem(Base):
    __tablename__ = "supervision_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("supervision_meetings.id"), index=True)
    county: Mapped[str] = mapped_column(String(6))
    text: Mapped[str] = mapped_column(String(500))
    owner: Mapped[str] = mapped_column(String(128))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Bulletin(Base):
    """A monthly bulletin (月通报): figures assembled from the live systems."""

    __tablename__ = "supervision_bulletins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    month: Mapped[str] = mapped_column(String(7))
    figures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    assembled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assembled_by: Mapped[str] = mapped_column(String(128))


class Report(Base):
    """The operating company's monthly work report (due the 25th)."""

    __tablename__ = "supervision_reports"
    __table_args__ = (UniqueConstraint("county", "org_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    due_on: Mapped[date] = mapped_column(Date)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_note: Mapped[str] = mapped_column(String(500), default="")
    publication_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportVersion(Base):
    __tablename__ = "supervision_report_versions"
    __table_args__ = (UniqueConstraint("report_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("supervision_reports.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    filed_by: Mapped[str] = mapped_column(String(128))


class Inspection(Base):
    """An inspection (督查) of projects and funds."""

    __tablename__ = "supervision_inspections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # quarterly | special
    inspected_on: Mapped[date] = mapped_column(Date)
    inspectors: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Finding(Base):
    __tablename__ = "supervision_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("supervision_inspections.id"), index=True)
    county: Mapped[str] = mapped_column(String(6))
    text: Mapped[str] = mapped_column(String(500))
    severity: Mapped[str] = mapped_column(String(16))  # minor | major


class Rectification(Base):
    __tablename__ = "supervision_rectifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("supervision_findings.id"), index=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("supervision_inspections.id"))
    county: Mapped[str] = mapped_column(String(6), index=True)
    action: Mapped[str] = mapped_column(String(500))
    owner: Mapped[str] = mapped_column(String(128))
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closure_note: Mapped[str] = mapped_column(String(500), default="")


class Evaluation(Base):
    """A half-year self-evaluation (半年自评) or annual review (年终考核)."""

    __tablename__ = "supervision_evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    period: Mapped[str] = mapped_column(String(8))  # 2026-H1 | 2026
    figures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    narrative: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Publication(Base):
    """One published disclosure (信息公开). Immutable: no UPDATE, no DELETE (triggers)."""

    __tablename__ = "supervision_publications"
    __table_args__ = (UniqueConstraint("series", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    #: the publication and its corrections share a series ("decision-3", "report-7")
    series: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: why this version corrects the one before (empty for a first version)
    reason: Mapped[str] = mapped_column(String(500), default="")
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("supervision_publications.id"), nullable=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str] = mapped_column(String(128))
