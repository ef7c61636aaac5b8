from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class InspectionOut(BaseModel):
    id: int
    gateway_id: str
    event_id: str
    county: str
    site: str
    device: str
    ts: datetime = Field(description="When the image was inspected, ISO-8601 UTC")
    ts_ms: int = Field(description="The same, epoch milliseconds UTC")
    program: str = Field(description="coffee or fruit")
    lot: str | None
    usable: bool
    unusable_reason: str | None = Field(
        description="too_dark, overexposed, blurred, no_marker, white_balance (a colour cast "
        "beyond correction) or uneven_light (light from one side) when not usable"
    )
    grade: str | None
    counts: dict[str, int]
    measurements: dict[str, float]
    image_sha256: str = Field(description="SHA-256 of the original image kept on the gateway")
    thumbnail_sha256: str | None = Field(description="SHA-256 of the stored thumbnail, if any")
    thumbnail_url: str | None = Field(description="Where the thumbnail is served (image/jpeg)")
    thumbnail_error: str | None = Field(description="Why the event's thumbnail was not stored")
    received_at: datetime


class InspectionPage(BaseModel):
    items: list[InspectionOut] = Field(description="Newest first")
    next_before_id: int | None = Field(
        description="Pass as before_id for the next page; null on the last page"
    )
