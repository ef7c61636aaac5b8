"""Bodies of the poverty-alleviation API (``/api/v1/services/poverty``)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloud.services.poverty.idnumber import check_id_number

Month = Annotated[str, Field(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", examples=["2026-11"])]
LinkType = Literal["employment", "purchase_agreement", "dividend", "training"]
PartnerKind = Literal["enterprise", "cooperative", "station"]
Basis = Literal["consent", "contract", "legal_duty", "public_interest"]
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
BANK = re.compile(r"^\d{12,19}$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentIn(_Body):
    legal_basis: Basis = Field(description="PIPL art. 13 basis")
    consent_at: date = Field(description="when consent was given (or the basis established)")
    purpose: str = Field(min_length=1, max_length=300)
    retention_until: date = Field(description="the personal data is erased after this day")

    @model_validator(mode="after")
    def _order(self) -> ConsentIn:
        if self.retention_until <= self.consent_at:
            raise ValueError("retention_until: must be after consent_at")
        if self.consent_at > date.today():
            raise ValueError("consent_at: is in the future")
        return self


class HouseholdIn(_Body):
    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(description="公民身份号码 (GB 11643), check digit verified")
    phone: str | None = Field(default=None, max_length=20)
    bank_account: str | None = Field(default=None, max_length=40)
    township_code: str = Field(max_length=20)
    village_code: str = Field(max_length=20)
    consent: ConsentIn

    @field_validator("id_number")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id_number(v)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is not None and not PHONE.match(v.replace(" ", "")):
            raise ValueError("not a mobile (11 digits) or landline (0xxx-xxxxxxx) number")
        return None if v is None else v.replace(" ", "")

    @field_validator("bank_account")
    @classmethod
    def _bank(cls, v: str | None) -> str | None:
        if v is not None and not BANK.match(v.replace(" ", "")):
            raise ValueError("a bank card or account number is 12-19 digits")
        return None if v is None else v.replace(" ", "")


class LinkIn(_Body):
    link_type: LinkType
    partner_kind: PartnerKind
    org_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    station_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    since: Month
    until: Month | None = None

    @model_validator(mode="after")
    def _partner(self) -> LinkIn:
        if self.partner_kind == "station":
            if self.station_id is None or self.org_id is not None:
                raise ValueError("station_id: a link to a station names the station only")
        elif self.org_id is None or self.station_id is not None:
            raise ValueError(f"org_id: a link to an {self.partner_kind} names the organisation")
        if self.until is not None and self.until < self.since:
            raise ValueError("until: before since")
        return self


class IncomeIn(_Body):
    amount: Decimal = Field(ge=0, le=Decimal("10000000"), description="yuan, 2 places at most")

    @field_validator("amount")
    @classmethod
    def _places(cls, v: Decimal) -> Decimal:
        if v.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError("at most 2 decimal places (fen)")
        return v


class EraseIn(_Body):
    reason: Literal["request", "retention"]
    note: str = Field(min_length=1, max_length=300,
                      description="the request's reference, or the retention rule")  # fmt: skip


class IncomeOut(BaseModel):
    month: str
    amount: Decimal


class LinkOut(BaseModel):
    id: int
    link_type: str
    partner_kind: str
    org_id: int | None
    station_id: int | None
    since: str
    until: str | None
    income: list[IncomeOut]


class HouseholdOut(BaseModel):
    id: int
    county: str
    township_code: str
    township_name: str | None
    village_code: str
    village_name: str | None
    #: revealed (audited) for the county's poverty-alleviation officer, ``***`` for the
    #: other roles, None once erased
    name: str | None
    id_number: str | None
    phone: str | None
    bank_account: str | None
    legal_basis: str
    consent_at: date
    purpose: str
    retention_until: date
    erased_at: datetime | None
    erased_reason: str | None
    links: list[LinkOut]


class SweepOut(BaseModel):
    erased: list[int]
