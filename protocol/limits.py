"""Limits every receiver enforces. One place, so edge and cloud agree."""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Limits:
    #: Largest payload accepted on any channel, in bytes.
    max_payload_bytes: int = 256 * 1024
    #: Most readings (values, not timestamps) in one data batch.
    max_readings_per_batch: int = 20_000
    #: Most series (device blocks) in one data batch.
    max_series_per_batch: int = 1_000
    #: Most metrics in one series.
    max_metrics_per_series: int = 64
    #: How far in the future a reading may be: clocks drift, NTP corrects.
    max_future_skew_ms: int = 5 * 60_000
    #: Oldest reading accepted: raw retention (90 days). An edge buffer holds
    #: less than this, so an honest backlog is never refused.
    raw_retention_ms: int = 90 * DAY_MS


DEFAULT_LIMITS = Limits()
