"""Request and response bodies of ``/api/v1/services/training`` and its public API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

CourseType = Literal["basics", "store", "live", "marketing", "logistics", "brand"]
SessionStatus = Literal["scheduled", "cancelled"]
GroupKey = Literal["county", "course_type", "month"]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
County = Annotated[str, Field(pattern=r"^\d{6}$", description="GB/T 2260 county code")]

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: A mainland mobile number (11 digits, 1[3-9]...); spaces and dashes are dropped first.
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")


def check_month(v: str) -> str:
    if not MONTH_RE.match(v):
        raise ValueError(f"{v!r} is not a month (YYYY-MM)")
    return v


def check_aware(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("give a time zone offset (for example +08:00)")
    try:
        return v.astimezone(UTC)
    except OverflowError:
        raise ValueError("off the calendar in UTC") from None


def normalise_phone(v: str) -> str:
    digits = re.sub(r"[\s-]", "", v)
    if digits.startswith("+86"):
        digits = digits[3:]
    if not PHONE_RE.match(digits):
        raise ValueError("not a mainland mobile number (11 digits starting 13-19)")
    return digits


def check_name(v: str) -> str:
    v = v.strip()
    if not v or any(ord(c) < 32 for c in v):
        raise ValueError("a name of printable characters")
    return v


Month = Annotated[str, AfterValidator(check_month)]
Aware = Annotated[datetime, AfterValidator(check_aware)]
Phone = Annotated[str, Field(min_length=11, max_length=20), AfterValidator(normalise_phone)]
PersonName = Annotated[str, Field(min_length=1, max_length=50), AfterValidator(check_name)]


class CourseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    county: County
    title_zh: Annotated[str, Field(min_length=1, max_length=120), AfterValidator(check_name)]
    title_en: Annotated[str, Field(max_length=160)] = ""
    course_type: CourseType
    hours: Annotated[int, Field(ge=1, le=200, description="class hours (学时)")]
    description: Annotated[str, Field(max_length=4000)] = ""


class CourseOut(BaseModel):
    id: int
    county: str
    title_zh: str
    title_en: str
    course_type: str
    hours: int
    description: str
    created_at: datetime


class TrainerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    county: County
    name: PersonName
    speciality: Annotated[str, Field(max_length=200)] = ""
    username: Annotated[
        str | None,
        Field(min_length=1, max_length=64, description="the login (role trainer) of this trainer"),
    ] = None


class TrainerOut(BaseModel):
    id: int
    county: str
    name: str
    speciality: str
    username: str | None


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    course_id: Id
    trainer_id: Id
    starts_at: Aware
    ends_at: Aware
    place: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_name)]
    capacity: Annotated[int, Field(ge=1, le=1000)]

    @model_validator(mode="after")
    def _order(self) -> SessionIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at: the session must end after it starts")
        if (self.ends_at - self.starts_at).days >= 14:
            raise ValueError("ends_at: a session lasts less than 14 days")
        return self


class SessionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Aware | None = None
    ends_at: Aware | None = None
    place: Annotated[
        str | None, Field(min_length=1, max_length=200), AfterValidator(lambda v: v and v.strip())
    ] = None
    capacity: Annotated[int | None, Field(ge=1, le=1000)] = None
    status: SessionStatus | None = None


class SessionOut(BaseModel):
    id: int
    course_id: int
    course_title_zh: str
    course_title_en: str
    course_type: str
    trainer_id: int
    trainer_name: str
    county: str
    starts_at: datetime
    ends_at: datetime
    month: str
    place: str
    capacity: int
    enrolled: int
    attended: int
    status: str


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PersonName
    phone: Phone


class EnrolmentOut(BaseModel):
    id: int
    session_id: int
    county: str
    #: ``***`` for roles without ``personal:read``
    name: str
    phone: str
    enrolled_at: datetime
    checked_in_at: datetime | None
    certificate_id: int | None


class CheckinCode(BaseModel):
    session_id: int
    url: str
    token: str
    expires_at: datetime
    svg: str = Field(description="the QR of url, as SVG, for the room's screen")


class CheckinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=200)]
    phone: Phone


class CheckinOut(BaseModel):
    session_id: int
    course_title_zh: str
    course_title_en: str
    checked_in_at: datetime
    already: bool = Field(description="checked in before (with another code)")


class CertificateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enrolment_id: Id


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=2, max_length=300), AfterValidator(check_name)]


class CertificateOut(BaseModel):
    id: int
    ref: str
    enrolment_id: int
    session_id: int
    county: str
    month: str
    issued_at: datetime
    verify_url: str
    revoked_at: datetime | None
    revoked_reason: str | None


class TotalRow(BaseModel):
    county: str | None = None
    course_type: str | None = None
    month: str | None = None
    sessions: int
    enrolled: int
    attended: int
    certificates: int


class PublicSession(BaseModel):
    """A session of the public calendar: no trainee, no trainer's login, no phone."""

    id: int
    county: str
    course_title_zh: str
    course_title_en: str
    course_type: str
    course_type_zh: str
    course_type_en: str
    hours: int
    starts_at: datetime
    ends_at: datetime
    place: str
    capacity: int
    seats_left: int
    status: str


class Verification(BaseModel):
    """What the certificate's QR shows: valid or not, and why; the holder's name masked."""

    ref: str
    valid: bool
    reason: Literal["ok", "unknown", "forged", "revoked"]
    holder: str | None = None
    course_title_zh: str | None = None
    course_title_en: str | None = None
    county: str | None = None
    session_date: str | None = None
    issued_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
