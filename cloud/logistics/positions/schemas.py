"""Request and response bodies of the positions API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.ids import DeviceId

SpeedUnit = Literal["ms", "kn", "kmh", "mph"]


class TrackerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vehicle: DeviceId = Field(description="the vehicle: a registered mobile device of kind vehicle")
    label: str = Field(default="", max_length=100, description="e.g. the driver's phone")
    speed_unit: SpeedUnit = Field(
        default="ms",
        description="unit of the query form's speed: ms (OsmAnd app, default), kn (Traccar's "
        "assumption), kmh, mph; the JSON form is always m/s",
    )


class TrackerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speed_unit: SpeedUnit


class TrackerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    vehicle: str
    county: str
    label: str
    speed_unit: str
    created_at: datetime
    created_by: str
    rotated_at: datetime | None
    revoked_at: datetime | None
    #: fixes accepted, and filtered by reason (invalid, zero, duplicate, future, jump, accuracy)
    counts: dict[str, int] = {}


class TrackerIssued(TrackerOut):
    """The tracker with its device id: shown this once."""

    device_id: str = Field(description="the secret device id; shown once, store it in the phone")
    server_url: str
    config_uri: str = Field(description="org.traccar.client://config?... (the QR code's text)")
    qr_svg: str = Field(description="the QR code of config_uri, SVG")


class TrackerList(BaseModel):
    items: list[TrackerOut]


class PositionOut(BaseModel):
    time: str = Field(description="fix time, UTC ISO-8601")
    lat: float
    lon: float
    speed_kmh: float | None = None
    course_deg: float | None = None
    alt_m: float | None = None
    accuracy_m: float | None = None
    hdop: float | None = None
    battery_pct: float | None = None
    charging: bool | None = None
    attributes: dict[str, float] = {}


class PositionList(BaseModel):
    vehicle: str
    start: str
    end: str
    items: list[PositionOut]


class TrackOut(BaseModel):
    day: str = Field(description="Beijing day")
    county: str
    tolerance_m: float
    raw_count: int
    distance_m: float
    points: list[tuple[int, float, float]] = Field(description="[ts_ms, lat, lon]")


class TrackList(BaseModel):
    vehicle: str
    items: list[TrackOut]
