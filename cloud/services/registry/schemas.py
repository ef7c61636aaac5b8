"""API bodies of the registry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloud.catalog.uscc import check_uscc
from protocol.ids import COUNTY_CODES

Kind = Literal["enterprise", "cooperative", "shop", "station", "platform"]
Status = Literal["pending", "approved", "refused"]
Phone = Annotated[
    str,
    Field(
        pattern=r"^\+?[0-9][0-9 -]{4,22}[0-9]$",
        description="digits, spaces and hyphens, optional leading +",
    ),
]


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    name: str = Field(min_length=2, max_length=200)
    uscc: str = Field(description="统一社会信用代码 (GB 32100, check character verified)")
    county: str = Field(description="the county it operates in (GB/T 2260)")
    contact_name: str = Field(min_length=1, max_length=100, description="personal data")
    contact_phone: Phone
    address: str | None = Field(default=None, max_length=300)

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, v: str) -> str:
        return check_uscc(v)

    @field_validator("county")
    @classmethod
    def _county(cls, v: str) -> str:
        if v not in COUNTY_CODES:
            raise ValueError(f"{v!r} is not one of Dehong's counties ({', '.join(COUNTY_CODES)})")
        return v


class Receipt(BaseModel):
    id: int
    status: Status
    #: Shown once: send it as ``X-Receipt`` to upload the licence and read the outcome.
    receipt: str


class LicenceOut(BaseModel):
    sha256: str
    content_type: str
    size: int


class RegistrationStatus(BaseModel):
    """What the registrant reads with its receipt."""

    id: int
    kind: Kind
    name: str
    county: str
    status: Status
    reason: str | None
    licence: LicenceOut | None
    org_id: int | None


class RegistrationOut(RegistrationStatus):
    uscc: str
    contact_name: str
    contact_phone: str
    address: str | None
    submitted_at: datetime
    reviewed_at: datetime | None
    reviewed_by: str | None


class RefuseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=2, max_length=1000, description="shown to the registrant")


class PlatformKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: int = Field(ge=1, le=2**31 - 1, description="an approved platform organisation")
    name: str = Field(min_length=1, max_length=200)
    shop_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        min_length=1, max_length=1000, description="the shops the key pushes orders for"
    )


class PlatformKeyOut(BaseModel):
    key_id: str
    org_id: int
    county: str
    name: str
    shop_ids: list[int]
    created_at: datetime
    revoked_at: datetime | None


class NewPlatformKey(PlatformKeyOut):
    #: ``dhk_<id>_<secret>``: shown once, never stored.
    key: str
