"""Supply posts, the capacity board and matches."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.logistics.fleet.schemas import Id, TempClass


class SupplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: Id = Field(description="the cooperative or enterprise shipping it")
    product_id: Id | None = None
    description: Annotated[str, Field(min_length=1, max_length=300)]
    quantity_kg: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)]
    volume_m3: Annotated[float, Field(gt=0, le=500, allow_inf_nan=False)] | None = None
    temp_class: TempClass
    ready_from: date = Field(description="first Beijing date it can be picked up")
    ready_until: date = Field(description="last Beijing date (inclusive)")
    origin_id: Id = Field(description="catalog location where it waits")
    destination_id: Id | None = None

    @model_validator(mode="after")
    def _window(self) -> SupplyIn:
        if self.ready_until < self.ready_from:
            raise ValueError("ready_until: before ready_from")
        if (self.ready_until - self.ready_from).days > 60:
            raise ValueError("ready_until: a window is at most 60 days")
        return self


class SupplyOut(BaseModel):
    id: int
    county: str
    org_id: int
    product_id: int | None
    description: str
    quantity_kg: float
    volume_m3: float | None
    temp_class: str
    ready_from: date
    ready_until: date
    origin_id: int
    destination_id: int | None
    status: str
    created_at: datetime


class FreeVehicle(BaseModel):
    device_id: str
    plate: str
    carrier_id: int
    capacity_kg: float
    free_kg: float
    trip_id: int | None = Field(description="its trip that day, if it has one")


class CapacityDay(BaseModel):
    day: date
    temp_class: str
    free_kg: float
    vehicles: list[FreeVehicle]


class Match(BaseModel):
    day: date
    vehicle: FreeVehicle
    spare_kg: float = Field(description="free capacity left after this supply")
