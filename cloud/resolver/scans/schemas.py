"""Scans and flags in and out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FlagKind = Literal["impossible_travel", "too_many_scans", "outside_destinations"]
FLAG_KINDS: tuple[str, ...] = ("impossible_travel", "too_many_scans", "outside_destinations")


@dataclass(frozen=True)
class ScanSummary:
    """One recorded scan: ``scan_id`` is its token (give it to the scanning browser
    only: it adds the shared place), ``first`` whether it is the code's first scan,
    ``count`` the code's scans so far (this one included), ``first_at`` the first's time."""

    scan_id: str
    first: bool
    count: int
    first_at: datetime


class PlaceIn(BaseModel):
    """The position the browser shared (Geolocation API, WGS-84 degrees); only its
    prefecture-level city is kept."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, description="Latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees")


class PlaceOut(BaseModel):
    city: str = Field(description="GB/T 2260 code of the prefecture-level city kept")
    name: str


class FlagOut(BaseModel):
    id: int
    kind: FlagKind
    gtin: str
    lot: str
    serial: str | None
    county: str
    hits: int
    first_at: datetime
    last_at: datetime
    detail: dict[str, Any]


class FlagPage(BaseModel):
    items: list[FlagOut]


class FlagCounts(BaseModel):
    total: int
    by_kind: dict[str, int]
