from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cloud.catalog.uscc import check_uscc
from protocol.ids import check_device_id, check_owning_county

OrgKind = Literal["enterprise", "cooperative", "carrier", "operating_company"]
MobileKind = Literal["ble_tag", "vehicle"]


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


class OrgOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: OrgKind
    name: str
    uscc: str
    county: str
    created_at: datetime


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
