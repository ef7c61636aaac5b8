from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cloud.db import MAX_INT32


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    county: str = Field(description="From the topic; empty when the topic itself was bad")
    gateway_id: str
    code: str = Field(description="Short stable reason, e.g. invalid, unregistered")
    field: str = Field(description="The offending field, e.g. series[0].t0")
    reason: str
    size: int = Field(description="Payload bytes")
    replayed_at: datetime | None


class DeadLetterDetail(DeadLetterOut):
    payload_text: str = Field(description="The payload as UTF-8 (undecodable bytes replaced)")
    payload_b64: str


class ReplayRequest(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=MAX_INT32)]] = Field(
        min_length=1, max_length=1000, description="Dead letters to replay"
    )


class ReplayOutcome(BaseModel):
    id: int
    replayed: bool = Field(description="True: it passed and is stored now")
    code: str | None = None
    field: str | None = None
    reason: str | None = Field(default=None, description="Why it was refused again")


class ReplayJobOut(BaseModel):
    id: int
    status: Literal["queued", "running", "done", "failed", "interrupted"] = Field(
        description="interrupted: the API process running it ended; replay the rest again"
    )
    total: int = Field(description="Letters in the job")
    done: int = Field(description="Letters replayed so far (stored or refused again)")
    replayed: int = Field(description="Of those, stored now")
    refused: int = Field(description="Of those, refused again (see results)")
    created_at: datetime
    finished_at: datetime | None
    error: str | None = None
    results: list[ReplayOutcome] = Field(description="One outcome per letter done, in order")


class IngestAlertOut(BaseModel):
    kind: str = Field(
        description="store_auth (401/403), store_not_found (database missing), "
        "store_bad_request, store_unavailable (down, timeouts, 5xx)"
    )
    active: bool = Field(description="True while the store refuses writes (data held, retried)")
    message: str = Field(
        description="What the store said when the alert was raised, and what to do"
    )
    worker: str = Field(description="The ingest worker that raised or cleared it last")
    raised_at: datetime
    cleared_at: datetime | None
