"""Serial ranges in and out, and the result of checking a scanned code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: A range holds at most this many serials (a print run); a lot may have many ranges.
MAX_RANGE = 100_000
#: Serials are decimal numbers of at most 18 digits (AI 21 allows 20 characters; 18
#: digits fit a 64-bit column).
MAX_SERIAL = 10**18 - 1


class RangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=MAX_RANGE, description="How many serials (1-100000)")
    first: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SERIAL,
        description="The first serial; default: one past the lot's highest issued serial",
    )


class RangeOut(BaseModel):
    id: int
    gtin: str
    lot: str
    county: str
    first: int
    last: int
    count: int
    created_at: datetime
    created_by: str
    #: the range's codes for printers (CSV) and its label sheet (PDF)
    uris_url: str
    labels_url: str


class RangePage(BaseModel):
    items: list[RangeOut]


@dataclass(frozen=True)
class CodeCheck:
    """What a scanned ``?c=`` says: ``valid`` (a serial we issued, with its code),
    ``forged`` (a serial we did not issue, or a wrong or missing code) or ``no_serial``
    (the lot's own code: nothing to check)."""

    status: Literal["valid", "forged", "no_serial"]
    reason_zh: str
    reason_en: str
