"""Trip, waybill and proof-of-delivery bodies and answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cloud.logistics.fleet.schemas import Id, TempClass
from cloud.trace.operations.schemas import LotItem

RequestId = Annotated[
    str,
    Field(
        min_length=8, max_length=64, pattern=r"^[A-Za-z0-9:_\-]+$",
        description="the client's id of this request: the same action sent twice (a phone's "
        "queue resending) is done once",
    ),
]  # fmt: skip
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WaybillIn(Strict):
    shipper_id: Id = Field(description="the shipping organisation (a cooperative)")
    origin_id: Id = Field(description="catalog location where it is loaded")
    destination_id: Id = Field(description="catalog location where it is delivered")
    temp_class: TempClass
    weight_kg: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)]
    volume_m3: Annotated[float, Field(gt=0, le=500, allow_inf_nan=False)] | None = None
    lots: list[LotItem] = Field(min_length=1, max_length=200)
    supply_id: Id | None = None
    receiver_phone: Annotated[str, Field(pattern=r"^\+?[0-9][0-9 \-]{5,19}$")] | None = Field(
        default=None, description="for a one-time delivery code (personal: encrypted)"
    )


class TripIn(Strict):
    vehicle_id: Annotated[str, Field(min_length=1, max_length=128)]
    driver_id: Id | None = None
    day: date = Field(description="the Beijing date of the trip")


class StopOut(BaseModel):
    id: int
    seq: int
    location_id: int
    location_name: str
    kind: str
    arrived_at: datetime | None
    waybills: list[int]


class TripOut(BaseModel):
    id: int
    county: str
    carrier_id: int
    vehicle_id: str
    plate: str
    driver_id: int | None
    day: date
    stops: list[StopOut]
    waybills: list[WaybillOut]


class TransitionIn(Strict):
    to: Literal["assigned", "loaded", "departed", "arrived", "rejected", "damaged", "returned"]
    at: AwareDatetime | None = Field(default=None, description="when (default: now)")
    trip_id: Id | None = Field(default=None, description="assigned: the trip")
    request_id: RequestId | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    note: Annotated[str, Field(max_length=500)] | None = None


class EventOut(BaseModel):
    from_status: str
    to_status: str
    at: datetime
    actor: str
    source: str
    lat: float | None
    lon: float | None
    note: str | None
    trace_event_id: str | None


class PodOut(BaseModel):
    stop_id: int | None
    has_photo: bool
    has_signature: bool
    receiver_name: str = Field(description="personal: masked for roles without personal:read")
    lat: float
    lon: float
    accuracy_m: float | None
    fix_at: datetime
    otp_verified: bool
    recorded_at: datetime
    recorded_by: str


class ExcursionOut(BaseModel):
    """An excursion of the vehicle's probes while the load was on board (cloud/coldchain)."""

    device: str
    metric: str
    kind: str = Field(description="excursion, or door (a short spike after a door opened)")
    start_ms: int
    end_ms: int | None = Field(description="None: still going on")
    duration_s: float
    direction: str = Field(description="above or below the range")
    peak_c: float
    low_c: float | None
    high_c: float | None
    door: bool
    single_limit_passed: bool
    alarm_id: int | None


class WaybillOut(BaseModel):
    id: int
    number: str
    county: str
    status: str
    status_zh: str
    shipper_id: int
    carrier_id: int | None
    trip_id: int | None
    stop_id: int | None
    vehicle_id: str | None
    origin_id: int
    destination_id: int
    temp_class: str
    weight_kg: float
    volume_m3: float | None
    lots: list[dict[str, Any]]
    supply_id: int | None
    created_at: datetime
    updated_at: datetime
    events: list[EventOut] | None = None
    pod: PodOut | None = None
    excursions: list[ExcursionOut] | None = Field(
        default=None,
        description="detail only: the vehicle's excursions from loading to delivery (or now)",
    )


class DeliverIn(Strict):
    at: AwareDatetime | None = None
    request_id: RequestId | None = None
    receiver_name: Annotated[str, Field(min_length=1, max_length=60)]
    lat: Lat
    lon: Lon
    accuracy_m: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] | None = None
    fix_at: AwareDatetime
    photo_jpeg: str | None = Field(default=None, description="base64 JPEG (≤120 kB)")
    signature_png: str | None = Field(default=None, description="base64 PNG (≤120 kB)")
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$")] | None = Field(
        default=None, description="the one-time code the receiver was sent, if one was"
    )
    note: Annotated[str, Field(max_length=500)] | None = None


class CodeOut(BaseModel):
    sent_to: str = Field(description="the phone, masked but its last 4 digits")
    expires_at: datetime


TripOut.model_rebuild()
