"""The capture job as the REST binding shows it (``CaptureJob``), and the OpenAPI
descriptions of the EPCIS documents (validated against GS1's JSON Schema, not here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CaptureProblem(BaseModel):
    """One error of a capture job (RFC 7807), naming the input at fault."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["epcisException:ValidationException"])
    title: str
    status: int = Field(description="422 invalid, 409 conflicts with a stored event, 403 not "
                        "yours to capture, 500 the server failed")  # fmt: skip
    detail: str
    field: str = Field(description="Where: epcisBody.eventList[3].bizStep")
    eventID: str | None = None


class CaptureJobOut(BaseModel):
    captureID: str
    createdAt: datetime
    finishedAt: datetime | None
    running: bool
    success: bool = Field(description="false: at least one error (see errors)")
    captureErrorBehaviour: Literal["rollback", "proceed"]
    events: int = Field(description="Events in the captured document")
    eventIDs: list[str] = Field(
        description="Events stored by this capture (new ones, and events declared)"
    )
    errors: list[CaptureProblem]


#: OpenAPI: the request body of POST /epcis/capture.
CAPTURE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An EPCISDocument (or EPCISQueryDocument), JSON or JSON-LD, as GS1's "
        "EPCIS 2.0 JSON Schema defines it",
        "content": {
            media: {"schema": {"type": "object", "required": ["type", "epcisBody"]}}
            for media in ("application/json", "application/ld+json")
        },
    }
}
#: OpenAPI: an EPCISQueryDocument answer.
QUERY_DOCUMENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An EPCISQueryDocument (GS1's EPCIS 2.0 JSON Schema)",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/ld+json": {"schema": {"type": "object"}},
        },
    }
}
