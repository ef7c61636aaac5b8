"""Request and response bodies of ``/api/v1/supervision`` and the public disclosure API.

Money is yuan as :class:`~decimal.Decimal` (two decimals; JSON strings), never a float.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from protocol.ids import COUNTIES


def _no_float(v: object) -> object:
    if isinstance(v, float):
        raise ValueError("give yuan as a decimal string ('1300000.00'), never a float")
    return v


Yuan = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(gt=0, le=Decimal("9999999999.99"), max_digits=12, decimal_places=2),
]
Month = Annotated[
    str, Field(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM (2000-2099)")
]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Text500 = Annotated[str, Field(min_length=1, max_length=500)]
Owner = Annotated[str, Field(min_length=1, max_length=128)]


def _county(v: str) -> str:
    if v not in COUNTIES:
        raise ValueError(f"unknown county code {v!r}; use one of {', '.join(COUNTIES)}")
    return v


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ------------------------------------------------------------------------ budget


class LineIn(_In):
    county: str = Field(description="GB/T 2260; the programme's own lines are 533100's")
    code: Annotated[str, Field(min_length=1, max_length=8)]
    name: Text200
    name_en: Annotated[str, Field(max_length=100)] = ""
    amount: Yuan
    systems: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20, description="the systems and deliverables it funds"
    )

    _c = field_validator("county")(_county)


class LineOut(_Out):
    id: int
    county: str
    code: str
    name: str
    name_en: str
    amount: Decimal
    systems: list[str]
    contracted: Decimal
    disbursed: Decimal
    remaining: Decimal
    execution_rate: Decimal = Field(description="disbursed / amount, 4 decimals")


class ContractIn(_In):
    line_id: int = Field(ge=1, le=2**31 - 1)
    number: Annotated[str, Field(min_length=1, max_length=64)]
    title: Text200
    counterparty: Text200
    amount: Yuan
    signed_on: date
    contact_person: Annotated[str, Field(max_length=64)] = ""
    contact_phone: Annotated[str, Field(max_length=32, pattern=r"^[0-9+\- ]*$")] = ""


class ContractPatch(_In):
    title: Text200 | None = None
    counterparty: Text200 | None = None
    contact_person: Annotated[str, Field(max_length=64)] | None = None
    contact_phone: Annotated[str, Field(max_length=32, pattern=r"^[0-9+\- ]*$")] | None = None


class ContractOut(_Out):
    id: int
    line_id: int
    county: str
    number: str
    title: str
    counterparty: str
    amount: Decimal
    signed_on: date
    contact_person: str
    contact_phone: str
    disbursed: Decimal


class DisbursementIn(_In):
    contract_id: int = Field(ge=1, le=2**31 - 1)
    amount: Yuan
    paid_on: date
    voucher: Annotated[str, Field(min_length=1, max_length=64, description="凭证号")]


class DisbursementOut(_Out):
    id: int
    contract_id: int
    line_id: int
    county: str
    amount: Decimal
    paid_on: date
    month: str
    voucher: str
    created_by: str


class ExecutionRow(BaseModel):
    line_id: int
    code: str
    name: str
    county: str
    month: str
    disbursed: Decimal
    cumulative: Decimal
    cumulative_rate: Decimal


# -------------------------------------------------------------------- milestones

MilestoneStatus = Literal["planned", "in_progress", "done", "cancelled"]


class MilestoneIn(_In):
    line_id: int = Field(ge=1, le=2**31 - 1)
    title: Text200
    deliverable: Text200
    due_on: date
    status: MilestoneStatus = "planned"


class MilestonePatch(_In):
    status: MilestoneStatus | None = None
    due_on: date | None = None


class EvidenceIn(_In):
    kind: Literal["document", "link"]
    title: Text200
    url: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^(https?://|/)\S+$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class EvidenceOut(_Out):
    id: int
    kind: str
    title: str
    url: str
    sha256: str | None
    added_at: datetime
    added_by: str


class MilestoneOut(_Out):
    id: int
    line_id: int
    county: str
    title: str
    deliverable: str
    due_on: date
    status: str
    done_on: date | None
    overdue: bool
    evidence: list[EvidenceOut]


# ------------------------------------------------------------------------ rhythm

ScheduleKind = Literal[
    "weekly_dispatch",
    "monthly_bulletin",
    "quarterly_inspection",
    "half_year_evaluation",
    "annual_review",
    "monthly_report",
]


class ScheduleIn(_In):
    county: str
    kind: ScheduleKind
    ref: Annotated[str, Field(min_length=1, max_length=64)]
    title: Text200
    owner: Owner
    org_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    due_on: date
    remind_on: date

    _c = field_validator("county")(_county)


class PlanIn(_In):
    county: str
    year: int = Field(ge=2020, le=2100)
    owner: Owner = Field(description="who runs the rhythm (the commerce bureau's office)")
    report_org_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="the operating company whose monthly reports are due the 25th",
    )

    _c = field_validator("county")(_county)


class ScheduleOut(_Out):
    id: int
    county: str
    kind: str
    ref: str
    title: str
    owner: str
    org_id: int | None
    due_on: date
    remind_on: date
    status: str
    reminded_at: datetime | None
    overdue_at: datetime | None
    done_at: datetime | None
    overdue: bool


class PlanOut(BaseModel):
    created: int
    existing: int


class ActionIn(_In):
    text: Text500
    owner: Owner
    due_on: date


class MeetingIn(_In):
    county: str
    held_on: date
    title: Text200
    minutes: Annotated[str, Field(min_length=1, max_length=20000)]
    schedule_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    actions: list[ActionIn] = Field(default_factory=list, max_length=100)

    _c = field_validator("county")(_county)


class ActionOut(_Out):
    id: int
    meeting_id: int
    text: str
    owner: str
    due_on: date
    status: str
    closed_at: datetime | None


class MeetingOut(_Out):
    id: int
    county: str
    schedule_id: int | None
    held_on: date
    title: str
    minutes: str
    created_by: str
    actions: list[ActionOut]


class Figure(BaseModel):
    key: str
    zh: str
    en: str
    value: str | None = Field(
        description="None when its source is not connected (未接入) or the figure is "
        "suppressed, a small cell (已抑制)"
    )
    unit: str
    source: str
    status: Literal["ok", "未接入", "已抑制"]


class BulletinIn(_In):
    county: str
    month: Month

    _c = field_validator("county")(_county)


class BulletinOut(_Out):
    id: int
    county: str
    month: str
    figures: list[Figure]
    assembled_at: datetime
    assembled_by: str


# ----------------------------------------------------------------------- reports


class ReportIn(_In):
    org_id: int = Field(ge=1, le=2**31 - 1, description="the operating company filing it")
    month: Month
    title: Text200
    body: Annotated[str, Field(min_length=1, max_length=100_000)]
    submit: bool = Field(default=True, description="false: keep it a draft")


class ReviewIn(_In):
    note: Annotated[str, Field(max_length=500)] = ""


class RejectIn(_In):
    note: Text500


class PublishReportIn(_In):
    reason: Annotated[str, Field(max_length=500)] = Field(
        default="", description="required when the report was published before (a correction)"
    )


class ReportVersionOut(_Out):
    version: int
    title: str
    body: str
    filed_at: datetime
    filed_by: str


class ReportOut(_Out):
    id: int
    county: str
    org_id: int
    month: str
    status: str
    version: int
    due_on: date
    submitted_at: datetime | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str
    publication_id: int | None
    late: bool = Field(description="submitted after the due date, or not submitted by then")


class ReportDetail(ReportOut):
    versions: list[ReportVersionOut]


# ------------------------------------------------------------------- inspections


class RectificationIn(_In):
    action: Text500
    owner: Owner
    deadline: date


class FindingIn(_In):
    text: Text500
    severity: Literal["minor", "major"]
    rectifications: list[RectificationIn] = Field(default_factory=list, max_length=50)


class InspectionIn(_In):
    county: str
    title: Text200
    kind: Literal["quarterly", "special"]
    inspected_on: date
    inspectors: Text200
    findings: list[FindingIn] = Field(default_factory=list, max_length=100)

    _c = field_validator("county")(_county)


class RectificationOut(_Out):
    id: int
    finding_id: int
    action: str
    owner: str
    deadline: date
    status: str
    closed_at: datetime | None
    closure_note: str
    overdue: bool


class FindingOut(_Out):
    id: int
    text: str
    severity: str
    rectifications: list[RectificationOut]


class InspectionOut(_Out):
    id: int
    county: str
    title: str
    kind: str
    inspected_on: date
    inspectors: str
    status: str
    open_rectifications: int
    overdue_rectifications: int


class InspectionDetail(InspectionOut):
    findings: list[FindingOut]


class CloseIn(_In):
    note: Text500


# ------------------------------------------------------------------- evaluations


class EvaluationIn(_In):
    county: str
    period: Annotated[str, Field(pattern=r"^20\d{2}(-H[12])?$", description="2026-H1 or 2026")]
    narrative: Annotated[str, Field(max_length=20000)] = ""

    _c = field_validator("county")(_county)


class TargetFigure(Figure):
    target: str | None
    attainment: str | None = Field(description="value / target, 4 decimals; None when 未接入")


class EvaluationOut(_Out):
    id: int
    county: str
    period: str
    figures: list[TargetFigure]
    narrative: str
    created_at: datetime
    created_by: str


# -------------------------------------------------------------------- disclosure

PublicationKind = Literal["plan", "projects", "report", "decision"]


class PublicationIn(_In):
    county: str
    kind: Literal["plan", "projects", "decision"] = Field(
        description="monthly reports are published from their approval "
        "(POST /supervision/reports/{id}/publish); 'projects' carries the live fund "
        "allocation, assembled at publication"
    )
    title: Text200
    title_en: Annotated[str, Field(max_length=200)] = ""
    body: Annotated[str, Field(max_length=100_000)] = ""
    corrects: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="the publication this one corrects (a new version of its series)",
    )
    reason: Annotated[str, Field(max_length=500)] = Field(
        default="", description="why: required for a correction"
    )

    _c = field_validator("county")(_county)


class PublicationOut(_Out):
    id: int
    county: str
    series: str
    version: int
    kind: str
    title: str
    title_en: str
    body: str
    data: dict[str, Any]
    reason: str
    supersedes_id: int | None
    sha256: str
    published_at: datetime
    published_by: str
