"""The vocabularies of certificates (pure): the 三品一标 types, the bases of a
承诺达标合格证, and validity on a day in Beijing time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Literal, Protocol, get_args

CertificateType = Literal["green_food", "organic", "geographical_indication", "pollution_free"]
CERTIFICATE_TYPES: tuple[str, ...] = get_args(CertificateType)

#: type -> (Chinese, English)
TYPE_NAMES: dict[str, tuple[str, str]] = {
    "green_food": ("绿色食品", "green food"),
    "organic": ("有机农产品", "organic"),
    "geographical_indication": ("农产品地理标志", "geographical indication"),
    "pollution_free": ("无公害农产品", "pollution-free (legacy)"),
}

Basis = Literal["self_test", "commissioned_test", "internal_qc"]
BASES: tuple[str, ...] = get_args(Basis)

#: basis -> (Chinese, English)
BASIS_NAMES: dict[str, tuple[str, str]] = {
    "self_test": ("自我检测", "self-test"),
    "commissioned_test": ("委托检测", "commissioned test"),
    "internal_qc": ("内部质量控制", "internal quality control"),
}

#: Dates on certificates are Beijing dates: a certificate valid to 2027-12-31 covers an
#: event at 2027-12-31T23:59+08:00 and not one at 2028-01-01T00:00+08:00.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


class HasValidity(Protocol):
    @property
    def valid_from(self) -> date: ...

    @property
    def valid_to(self) -> date: ...


def beijing_date(t: datetime) -> date:
    """The day ``t`` (an aware datetime) falls on in Beijing."""
    if t.tzinfo is None:
        raise ValueError("naive datetime given; use an aware datetime")
    try:
        return t.astimezone(BEIJING).date()
    except OverflowError:  # 9999-12-31T20:00Z is past the calendar's end in Beijing
        return date.max if t.year > 1 else date.min


def valid_at(cert: HasValidity, t: datetime) -> bool:
    """Whether ``cert`` is valid at ``t``: its Beijing date lies within
    [valid_from, valid_to], both days included."""
    return cert.valid_from <= beijing_date(t) <= cert.valid_to


def retain_until(issued_at: datetime) -> date:
    """The first day a 合格证 issued at ``issued_at`` may be forgotten: two years on."""
    day = beijing_date(issued_at)
    try:
        return day.replace(year=day.year + 2)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 2, day=28)
