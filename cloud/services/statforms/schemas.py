"""Statistics-collection forms: the form kinds (their fields and due day) and bodies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Month = Annotated[str, Field(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", examples=["2026-11"])]


@dataclass(frozen=True)
class FormField:
    name: str
    zh: str
    en: str
    kind: Literal["int", "yuan", "text"]
    required: bool = True
    maximum: int = 10_000_000


@dataclass(frozen=True)
class FormKind:
    code: str
    zh: str
    en: str
    #: a month's form is due by this day of the next month (Beijing)
    due_day: int
    fields: tuple[FormField, ...]


KINDS: dict[str, FormKind] = {
    "station_monthly": FormKind(
        "station_monthly",
        "服务站月度统计表",
        "station monthly statistics",
        10,
        (
            FormField("offline_sales", "线下代购代销金额（元）", "offline sales (yuan)", "yuan"),
            FormField("offline_orders", "线下代购代销笔数", "offline orders", "int"),
            FormField("parcels_in", "快递代收件数", "parcels received", "int"),
            FormField("parcels_out", "快递代发件数", "parcels sent", "int"),
            FormField(
                "households_served", "服务农户数", "households served", "int", maximum=100_000
            ),
            FormField("note", "备注", "note", "text", required=False, maximum=500),
        ),
    )
}


class SubmissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_id: int = Field(ge=1, le=2**31 - 1)
    kind: Literal["station_monthly"]
    month: Month
    values: dict[str, Any] = Field(description="the form's fields (GET .../kinds)")


class SubmissionOut(BaseModel):
    id: int
    station_id: int
    county: str
    kind: str
    month: str
    values: dict[str, Any]
    version: int
    late: bool
    submitted_at: datetime
    submitted_by: str
    updated_at: datetime | None


class BoardRow(BaseModel):
    station_id: int
    station: str
    county: str
    state: Literal["submitted", "late", "missing", "pending"]
    submission_id: int | None


class Board(BaseModel):
    kind: str
    month: str
    due: str
    counts: dict[str, int]
    rows: list[BoardRow]
