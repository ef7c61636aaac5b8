from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cloud.catalog.uscc import check_uscc
from protocol.ids import check_device_id, check_owning_county

OrgKind = Literal[
    "enterprise", "cooperative", "carrier", "operating_company", "shop", "station", "platform"
]
MobileKind = Literal["ble_tag", "vehicle"]

#: A phone number as people write it: digits, spaces, hyphens, an optional leading +.
Phone = Annotated[
    str,
    Field(
        pattern=r"^\+?[0-9][0-9 -]{4,22}[0-9]$",
        description="Phone number: digits, spaces and hyphens, optional leading +",
    ),
]
ContactName = Annotated[str, Field(min_length=1, max_length=100)]
Address = Annotated[str, Field(min_length=1, max_length=300)]
PlatformCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^\S(.*\S)?$",
        description="The national traceability platform's 主体码, as issued (opaque: its "
        "format is not public, so it is stored as given)",
    ),
]
PlatformIssuer = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description="Who issued the 主体码 (e.g. the national agricultural product quality "
        "safety traceability platform)",
    ),
]


def _code_with_issuer(code: str | None, issuer: str | None) -> None:
    if (code is None) != (issuer is None):
        missing = "platform_issuer" if issuer is None else "platform_code"
        raise ValueError(f"{missing}: give the 主体码 and its issuer together")


class OrgCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: OrgKind
    name: str = Field(min_length=1, max_length=200)
    uscc: Annotated[str, AfterValidator(check_uscc)] = Field(
        description="Unified social credit code, 18 characters (GB 32100), check character verified"
    )
    county: Annotated[str, AfterValidator(check_owning_county)] = Field(
        description="GB/T 2260 code of the county the organisation belongs to"
    )
    contact_name: ContactName | None = Field(default=None, description="Contact person (personal)")
    contact_phone: Phone | None = Field(default=None, description="Contact phone (personal)")
    address: Address | None = None
    platform_code: PlatformCode | None = None
    platform_issuer: PlatformIssuer | None = None

    @model_validator(mode="after")
    def _pair(self) -> OrgCreate:
        _code_with_issuer(self.platform_code, self.platform_issuer)
        return self


class OrgUpdate(BaseModel):
    """The fields to change; ``null`` clears an optional one. Kind, USCC and county do
    not change (a new organisation is registered instead)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    contact_name: ContactName | None = None
    contact_phone: Phone | None = None
    address: Address | None = None
    platform_code: PlatformCode | None = None
    platform_issuer: PlatformIssuer | None = None

    @model_validator(mode="after")
    def _pair(self) -> OrgUpdate:
        given = self.model_fields_set & {"platform_code", "platform_issuer"}
        if given:
            if len(given) == 1:
                missing = ({"platform_code", "platform_issuer"} - given).pop()
                raise ValueError(f"{missing}: give the 主体码 and its issuer together")
            _code_with_issuer(self.platform_code, self.platform_issuer)
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name: an organisation keeps a name")
        return self


class OrgOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: OrgKind
    name: str
    uscc: str
    county: str
    contact_name: str | None = Field(
        default=None, description="Personal: '***' for roles without personal:read"
    )
    contact_phone: str | None = Field(
        default=None, description="Personal: '***' for roles without personal:read"
    )
    address: str | None = None
    platform_code: str | None = Field(default=None, description="主体码 (opaque)")
    platform_issuer: str | None = None
    created_at: datetime
    updated_at: datetime | None = None


class OrgPage(BaseModel):
    items: list[OrgOut]


class MobileDeviceRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: MobileKind = Field(description="ble_tag or vehicle")
    org_id: int = Field(ge=1, le=2**31 - 1, description="The owner organisation")


DeviceId = Annotated[str, AfterValidator(check_device_id)]


class MobileDeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    kind: MobileKind
    org_id: int
    county: str = Field(description="The owner's county: every reading is stored under it")
    registered_at: datetime
    registered_by: str


class MobileDevicePage(BaseModel):
    items: list[MobileDeviceOut]


class PushOut(BaseModel):
    """One ``set-config`` a catalog change sent to a gateway (its commodity profiles)."""

    gateway_id: str
    command_id: str | None = Field(
        description="The command (GET /api/v1/gateways/{id}/commands shows its answer); "
        "null when it could not be sent"
    )
    sent: bool
    profiles: int = Field(description="How many rooms' profiles the gateway was sent")
    detail: str
