"""API shapes of the cold chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion


def iso(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


class AlarmOut(BaseModel):
    id: int
    county: str
    location_id: int | None
    device: str
    metric: str
    rule: str = Field(description="range, cumulative, or gateway:{rule} (a gateway's own)")
    source: str
    severity: str
    status: str = Field(description="raised, acknowledged or cleared")
    active: bool = Field(description="the condition holds now")
    count: int = Field(description="occurrences (flapping) before it was cleared")
    first: datetime | None
    last: datetime | None
    peak_c: float | None
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_comment: str | None
    cleared_at: datetime | None
    cleared_reason: str | None
    escalation_step: int

    @classmethod
    def of(cls, a: ColdchainAlarm) -> AlarmOut:
        return cls(
            id=a.id, county=a.county, location_id=a.location_id, device=a.device,
            metric=a.metric, rule=a.rule, source=a.source, severity=a.severity,
            status=a.status, active=a.active, count=a.count, first=iso(a.first_ms),
            last=iso(a.last_ms), peak_c=a.peak_c, message=a.message, raised_at=a.raised_at,
            acknowledged_at=a.acknowledged_at, acknowledged_by=a.acknowledged_by,
            ack_comment=a.ack_comment, cleared_at=a.cleared_at, cleared_reason=a.cleared_reason,
            escalation_step=a.escalation_step,
        )  # fmt: skip


class AlarmPage(BaseModel):
    items: list[AlarmOut] = Field(description="Newest first; the next page: Link rel=next")


class AckIn(BaseModel):
    comment: str = Field(min_length=1, max_length=1000, description="what was done")


class ExcursionOut(BaseModel):
    id: int
    county: str
    location_id: int | None
    device: str
    metric: str
    start: datetime | None
    end: datetime | None = Field(description="null while it goes on")
    duration_s: float
    direction: str
    peak_c: float
    kind: str = Field(description="excursion, or door (a door opening, classed apart)")
    door: bool
    single_limit_passed_at: datetime | None
    cumulative_limit_passed_at: datetime | None
    low_c: float | None
    high_c: float | None
    alarm_id: int | None

    @classmethod
    def of(cls, e: ColdchainExcursion) -> ExcursionOut:
        return cls(
            id=e.id, county=e.county, location_id=e.location_id, device=e.device,
            metric=e.metric, start=iso(e.start_ms), end=iso(e.end_ms), duration_s=e.duration_s,
            direction="above" if e.direction > 0 else "below", peak_c=e.peak_c, kind=e.kind,
            door=e.door, single_limit_passed_at=iso(e.single_breach_ms),
            cumulative_limit_passed_at=iso(e.cumulative_breach_ms), low_c=e.low_c,
            high_c=e.high_c, alarm_id=e.alarm_id,
        )  # fmt: skip


class MktOut(BaseModel):
    device: str
    metric: str
    start: str
    end: str
    n: int
    mkt_c: float | None
    min_c: float | None
    max_c: float | None
    mean_c: float | None
    low_c: float | None
    high_c: float | None
    time_out_of_range_s: float
    seconds_below: float
    seconds_above: float
    longest_excursion_s: float
    uncertain_s: float
    covered_s: float
    coverage: float
    poll_interval_s: float
    source: str
    delta_h_over_r_k: int
    extra: dict[str, Any] = Field(default_factory=dict)
