"""Certificate input and output: 三品一标 certificates and 承诺达标合格证."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cloud.catalog.uscc import check_uscc
from cloud.trace.certificates.kinds import BASES, CERTIFICATE_TYPES
from cloud.trace.lots.schemas import Gtin, Unit


def check_type(value: str) -> str:
    if value not in CERTIFICATE_TYPES:
        raise ValueError(
            f"unknown certificate type {value!r}; use one of: {', '.join(CERTIFICATE_TYPES)} "
            "(绿色食品, 有机农产品, 农产品地理标志, 无公害农产品)"
        )
    return value


def check_basis(value: str) -> str:
    if value not in BASES:
        raise ValueError(
            f"unknown basis {value!r}; use one of: {', '.join(BASES)} "
            "(自我检测, 委托检测, 内部质量控制)"
        )
    return value


def check_text(value: str) -> str:
    """Printed text: trimmed, not empty, no control characters."""
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("must not hold control characters (line breaks, tabs)")
    return text


def to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("out of the range of dates") from None


#: An instant with its offset (a naive time is refused), kept in UTC (a date off the
#: calendar in UTC: 422, not a 500).
Instant = Annotated[AwareDatetime, AfterValidator(to_utc)]
CertType = Annotated[str, AfterValidator(check_type)]
Uscc = Annotated[str, AfterValidator(check_uscc)]
Text = Annotated[str, AfterValidator(check_text)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class CertificateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: CertType = Field(
        description="green_food 绿色食品, organic 有机农产品, geographical_indication "
        "农产品地理标志, pollution_free 无公害农产品 (legacy)"
    )
    number: Annotated[Text, Field(min_length=1, max_length=64)] = Field(
        description="The certificate number; unique within its type"
    )
    holder_uscc: Uscc = Field(description="The holder's unified social credit code (GB 32100)")
    holder_name: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None,
        description="As on the certificate; default: the registered organisation's name",
    )
    county: str | None = Field(
        default=None,
        description="Only for a holder that is not a registered organisation: its county",
    )
    products: list[Gtin] = Field(
        default_factory=list, max_length=500, description="GTINs of the products covered"
    )
    base_ids: list[Id] = Field(
        default_factory=list, max_length=500, description="Production bases covered"
    )
    valid_from: date = Field(description="First day of validity (Beijing date)")
    valid_to: date = Field(description="Last day of validity (Beijing date), included")
    issuer: Annotated[Text, Field(max_length=200)] = Field(
        description="Who issued it, e.g. 中国绿色食品发展中心"
    )

    @model_validator(mode="after")
    def _consistent(self) -> CertificateCreate:
        if self.valid_to < self.valid_from:
            raise ValueError(
                f"valid_to: {self.valid_to} is before valid_from {self.valid_from}; a "
                "certificate is valid from its first day to its last"
            )
        if not self.products and not self.base_ids:
            raise ValueError(
                "products: a certificate covers products (GTINs) or production bases "
                "(base_ids); give at least one"
            )
        if len(set(self.products)) != len(self.products):
            raise ValueError("products: a GTIN is listed twice")
        if len(set(self.base_ids)) != len(self.base_ids):
            raise ValueError("base_ids: a base is listed twice")
        return self


class ScanOut(BaseModel):
    sha256: str
    content_type: str
    size: int
    uploaded_at: datetime
    url: str


class CertificateOut(BaseModel):
    id: int
    type: str
    type_zh: str
    number: str
    holder_uscc: str
    holder_org_id: int | None
    holder_name: str
    county: str
    products: list[str]
    base_ids: list[int]
    valid_from: date
    valid_to: date
    issuer: str
    scan: ScanOut | None
    created_at: datetime
    #: valid at the time asked (now, unless the request names another)
    valid: bool


class CertificatePage(BaseModel):
    items: list[CertificateOut]


class EventCoverage(BaseModel):
    """Which certificates covered the lot when one of its events happened."""

    event_id: str
    event_time: datetime
    biz_step: str | None
    valid_certificates: list[int]


class LotCertificates(BaseModel):
    gtin: str
    lot: str
    at: datetime
    #: every certificate covering the lot (by product and base), with validity at ``at``
    certificates: list[CertificateOut]
    #: the lot's events (newest first, at most 500) and the certificates valid at each
    events: list[EventCoverage]


class CommitmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_name: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None, description="产品名称; default: the catalog product's name"
    )
    quantity: Decimal | None = Field(
        default=None, gt=0, max_digits=20, decimal_places=6,
        description="数量（重量）; default: the lot's quantity",
    )  # fmt: skip
    unit: Unit | None = Field(default=None, description="UN/ECE Rec. 20 code; default: the lot's")
    origin: Annotated[Text, Field(max_length=300)] | None = Field(
        default=None, description="产地; default: the lot's origin base"
    )
    contact: Annotated[Text, Field(max_length=100)] | None = Field(
        default=None, description="联系方式; default: the organisation's contact phone"
    )
    basis: Annotated[str, AfterValidator(check_basis)] = Field(
        description="self_test 自我检测, commissioned_test 委托检测, internal_qc 内部质量控制"
    )
    basis_ref: Annotated[Text, Field(max_length=300)] | None = Field(
        default=None, description="The test report number or eventID the basis rests on"
    )
    issued_at: Instant | None = Field(
        default=None, description="开具日期 (with its offset); default: now"
    )


class CommitmentOut(BaseModel):
    id: int
    number: str
    gtin: str
    lot: str
    county: str
    org_id: int
    org_name: str
    org_uscc: str
    product_name: str
    quantity: Decimal
    unit: str
    origin: str
    contact: str
    basis: str
    basis_zh: str
    basis_ref: str | None
    issued_at: datetime
    retain_until: date
    created_at: datetime
    print_url: str


class CommitmentFlag(BaseModel):
    """A sale or shipment of the lot with no 合格证 issued before it."""

    event_id: str
    event_time: datetime
    biz_step: str | None
    reason: str


class LotCommitment(BaseModel):
    gtin: str
    lot: str
    category: str | None
    #: the 2026 rule: the lot's category needs a 合格证 (else it is allowed)
    required: bool
    #: made by merging or splitting lots: needs its own (its parents' do not carry over)
    derived: bool
    certificates: list[CommitmentOut]
    flags: list[CommitmentFlag]
    detail: str
