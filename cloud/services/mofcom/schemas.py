"""API bodies of the MOFCOM docking."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: str = Field(description="YYYY-MM (Beijing); not in the future", max_length=7)


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    month: str
    format_version: str
    endpoint: str
    trigger: str
    actor: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    body_sha256: str
    body_bytes: int
    created_at: datetime
    finished_at: datetime | None
