"""API models of custody and evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

IntervalState = Literal["evidenced", "pending", "open", "not_in_catalog", "no_devices"]


class LocationRef(BaseModel):
    """The catalog location of an interval. ``name`` and ``kind`` are shown for a
    location of a county you can see; another county's location shows only its key."""

    id: int
    gln: str
    gln_extension: str
    county: str
    name: str | None = None
    kind: str | None = None


class EvidenceOut(BaseModel):
    """One evidence event of an interval, with its figures."""

    event_id: str = Field(
        description="The evidence event's eventID (GET /api/v1/epcis/events/{eventID})"
    )
    supersedes: str | None = Field(description="The eventID of the evidence this one replaces")
    status: str = Field(
        description="pass, excursion, insufficient_data (coverage below 90 %: a gap is never "
        "compliant) or no_profile (the product has no commodity profile)"
    )
    coverage: float | None = Field(description="Share of the interval with temperature data")
    source: str | None = Field(description="raw, or rollup when roll-ups stood in for raw data")
    period_start: datetime
    period_end: datetime
    closed: bool = Field(description="Whether the interval was closed when this was computed")
    computed_at: datetime
    computed_by: str
    summary: dict[str, Any] = Field(
        description="Per quantity (temperature, humidity): n, min, max, mean, mkt, "
        "seconds_below, seconds_above, longest_excursion_s, cumulative_excursion_s, "
        "uncertain_s, covered_s, coverage, low, high, source"
    )
    elements: list[dict[str, Any]] = Field(description="Per device and slice: the same figures")
    limits: dict[str, Any] | None = Field(description="The commodity profile judged against")


class IntervalOut(BaseModel):
    """The lot at ``place`` from ``start`` until ``end`` (null: still there)."""

    place: str = Field(description="The bizLocation, normalised (GS1 Digital Link)")
    location: LocationRef | None = Field(description="null: a place not in our catalog")
    start: datetime
    end: datetime | None
    opened_by: str = Field(description="eventID of the event that put the lot there")
    closed_by: str | None
    container: str | None = Field(description="The outermost container the lot came in")
    state: IntervalState = Field(
        description="evidenced; pending (closed, evidence not computed yet); open (still "
        "there, no evidence yet); not_in_catalog; no_devices (nothing measured the location)"
    )
    evidence: EvidenceOut | None = Field(description="The current evidence (the newest)")
    evidence_event_ids: list[str] = Field(
        description="Every evidence event of the interval, newest first"
    )


class CustodyOut(BaseModel):
    gtin: str
    lot: str
    uri: str
    county: str
    intervals: list[IntervalOut]


class ComputeOut(BaseModel):
    """What POST .../custody/evidence did, and the custody after it."""

    stored: list[str] = Field(description="eventIDs of the evidence events stored now")
    superseded: list[str] = Field(description="eventIDs of the evidence they replace")
    unchanged: int = Field(description="Intervals whose evidence says the same as before")
    final: int = Field(description="Intervals whose raw data has expired: evidence is final")
    unmeasured: int = Field(description="Intervals at places not in the catalog or unmeasured")
    custody: CustodyOut
