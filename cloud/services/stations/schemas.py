"""Bodies of the stations API (``/api/v1/services/stations``) and the public map data."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cloud.services.stations.storage import SERVICES

Status = Literal["building", "open", "suspended", "closed"]
Tier = Literal["county", "township", "village"]
Service = Literal["buy_on_behalf", "sell_on_behalf", "parcels", "payments", "training"]
Month = Annotated[str, Field(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", examples=["2026-11"])]
Code = Annotated[str, Field(min_length=1, max_length=20, examples=["533103102201"])]
#: Dehong's frame, generously (WGS-84): a point outside is a typo or swapped lon/lat.
LON = (97.3, 99.0)
LAT = (23.6, 25.6)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationIn(_Body):
    location_id: int = Field(ge=1, le=2**31 - 1, description="the catalog location (kind station)")
    lon: float = Field(description="WGS-84 longitude")
    lat: float = Field(description="WGS-84 latitude")
    township_code: Code | None = Field(default=None, description="12-digit 统计用区划代码")
    village_code: Code | None = Field(default=None, description="12-digit 统计用区划代码")
    operator_name: str = Field(min_length=1, max_length=200)
    hours: str = Field(min_length=1, max_length=200, examples=["周一至周日 08:30-18:00"])
    services: list[Service] = Field(min_length=1, max_length=len(SERVICES))

    @field_validator("lon")
    @classmethod
    def _lon(cls, v: float) -> float:
        if not LON[0] <= v <= LON[1]:
            raise ValueError(f"{v} is outside Dehong (WGS-84 longitude {LON[0]}..{LON[1]})")
        return v

    @field_validator("lat")
    @classmethod
    def _lat(cls, v: float) -> float:
        if not LAT[0] <= v <= LAT[1]:
            raise ValueError(f"{v} is outside Dehong (WGS-84 latitude {LAT[0]}..{LAT[1]})")
        return v

    @field_validator("services")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a service is listed twice")
        return v


class StationPatch(_Body):
    lon: float | None = None
    lat: float | None = None
    township_code: Code | None = None
    village_code: Code | None = None
    operator_name: str | None = Field(default=None, min_length=1, max_length=200)
    hours: str | None = Field(default=None, min_length=1, max_length=200)
    services: list[Service] | None = Field(default=None, min_length=1, max_length=len(SERVICES))

    @field_validator("lon", "lat")
    @classmethod
    def _point(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is None:
            return None  # "may not be null" is the service's, naming the field
        return StationIn._lon(v) if info.field_name == "lon" else StationIn._lat(v)  # type: ignore[call-arg]


class StatusIn(_Body):
    status: Status
    reason: str | None = Field(default=None, max_length=300)


class ShopsIn(_Body):
    shop_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(max_length=200)


class StationOut(BaseModel):
    location_id: int
    name: str
    county: str
    tier: Tier
    tier_zh: str
    org_id: int | None
    lon: float
    lat: float
    township_code: str | None
    township_name: str | None
    village_code: str | None
    village_name: str | None
    operator_name: str
    hours: str
    services: list[str]
    status: Status
    status_reason: str | None
    status_changed_at: datetime
    shop_ids: list[int]


class PerformanceRow(BaseModel):
    month: str
    orders: int = Field(description="orders of its shops placed in the month, not cancelled")
    parcels: int = Field(description="of those, the ones that left as a parcel")
    sales: Decimal = Field(description="their amount net of refunds, yuan")
    households_served: int = Field(description="households linked to the station that month")
    offline_sales: Decimal | None = Field(
        description="offline sales its monthly form reports, yuan (None: no form filed)"
    )


class PublicStation(BaseModel):
    """A station on the public map: no personal data."""

    id: int
    name: str
    tier: Tier
    tier_zh: str
    status: Status
    county: str
    county_name: str
    township: str | None
    village: str | None
    township_code: str | None
    village_code: str | None
    lon: float
    lat: float
    operator: str
    hours: str
    services: list[str]
