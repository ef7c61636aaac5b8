"""Fleet API bodies and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloud.logistics.fleet.idcard import check_id_number

TempClass = Literal["frozen", "chilled", "cool", "ambient"]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 \-]{5,19}$", description="digits")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VehicleIn(Strict):
    plate: Annotated[str, Field(min_length=5, max_length=16, description="号牌, e.g. 云N12345")]
    vehicle_type: Annotated[str, Field(min_length=1, max_length=32, description="e.g. 4.2m reefer")]
    refrigerated: bool
    temp_classes: list[TempClass] | None = Field(
        default=None,
        description="What it can carry; default: every class if refrigerated, else ambient",
    )
    capacity_kg: Annotated[float, Field(gt=0, le=100_000)]
    capacity_m3: Annotated[float, Field(gt=0, le=500)]
    compartments: list[Id] = Field(
        default_factory=list, max_length=8, description="catalog locations (vehicle_compartment)"
    )

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str) -> str:
        return v.strip().upper()


class VehicleOut(BaseModel):
    device_id: str
    county: str
    carrier_id: int
    plate: str
    vehicle_type: str
    refrigerated: bool
    temp_classes: list[str]
    capacity_kg: float
    capacity_m3: float
    compartments: list[int]
    updated_at: datetime | None


class DriverIn(Strict):
    carrier_id: Id
    name: Annotated[str, Field(min_length=1, max_length=60)]
    phone: Phone
    id_number: str | None = Field(default=None, description="居民身份证号 (GB 11643, 18 chars)")
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="the platform user (role driver) of this driver"
    )

    @field_validator("id_number")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        return None if v is None else check_id_number(v)


class DriverOut(BaseModel):
    id: int
    ref: str
    carrier_id: int
    county: str
    username: str | None
    #: Personal: shown to the driver's carrier and the county dispatcher (each read
    #: audited), "***" to the others.
    name: str
    phone: str
    id_number: str | None


class ColdStoreIn(Strict):
    capacity_kg: Annotated[float, Field(gt=0, le=10_000_000)]
    capacity_m3: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    occupied_kg: Annotated[float, Field(ge=0, le=10_000_000)] = 0.0
    temp_class: TempClass


class ColdStoreOut(BaseModel):
    location_id: int
    name: str
    kind: str
    county: str
    capacity_kg: float
    capacity_m3: float | None
    occupied_kg: float
    free_kg: float
    occupancy: float = Field(description="occupied / capacity, 0-1")
    temp_class: str
    updated_at: datetime
