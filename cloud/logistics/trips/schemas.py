"""API shapes of geofences, trips, stops, geofence events and replays."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from cloud.db import MAX_INT32
from cloud.logistics.trips.shapes import Shape

Id = Annotated[int, Field(ge=1, le=MAX_INT32)]


class Circle(BaseModel):
    type: Literal["circle"]
    center: Annotated[list[float], Field(min_length=2, max_length=2, description="[lon, lat]")]
    radius_m: float = Field(description="10 m .. 50 km")


class Polygon(BaseModel):
    type: Literal["polygon"]
    coordinates: list[list[float]] = Field(
        description="One closed ring of [lon, lat] (last = first), >= 3 distinct positions, "
        "no self-intersection, <= 501 positions"
    )


Geometry = Annotated[Circle | Polygon, Field(discriminator="type")]


def check_geometry(g: Circle | Polygon) -> Shape:
    """The Shape, or ValueError naming ``geometry.<field>``."""
    try:
        if isinstance(g, Circle):
            return Shape.circle(g.center[1], g.center[0], g.radius_m)
        return Shape.polygon(g.coordinates)
    except ValueError as exc:
        raise ValueError(f"geometry.{exc}") from None


class GeofenceCreate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200,
                             description="Default: the location's or base's name")  # fmt: skip
    location_id: Id | None = None
    base_id: Id | None = None
    geometry: Geometry

    @model_validator(mode="after")
    def _check(self) -> GeofenceCreate:
        if (self.location_id is None) == (self.base_id is None):
            raise ValueError("location_id: give exactly one of location_id and base_id")
        check_geometry(self.geometry)
        return self


class GeofenceUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    geometry: Geometry | None = None

    @model_validator(mode="after")
    def _check(self) -> GeofenceUpdate:
        if self.geometry is not None:
            check_geometry(self.geometry)
        return self


class GeofenceOut(BaseModel):
    id: int
    county: str
    name: str
    location_id: int | None
    base_id: int | None
    geometry: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None


class GeofencePage(BaseModel):
    items: list[GeofenceOut]


class TempOut(BaseModel):
    n: int
    min: float | None
    max: float | None
    mean: float | None = Field(description="Duration-weighted (gaps weigh nothing)")
    mkt: float | None = Field(description="Mean kinetic temperature, ΔH/R = 10,000 K")
    covered_s: float


class ItemOut(BaseModel):
    id: int
    vehicle: str
    start: datetime
    end: datetime
    duration_s: float
    lat: float
    lon: float
    end_lat: float
    end_lon: float
    distance_m: float
    max_speed_kmh: float | None
    avg_speed_kmh: float | None
    n_fixes: int
    temp1: TempOut | None
    after_gap: bool
    end_reason: Literal["stop", "end"]


class ItemList(BaseModel):
    items: list[ItemOut]


class EventOut(BaseModel):
    id: int
    vehicle: str
    fence_id: int
    location_id: int | None
    kind: Literal["enter", "exit"]
    at: datetime
    since: datetime
    lat: float
    lon: float


class EventList(BaseModel):
    items: list[EventOut]
