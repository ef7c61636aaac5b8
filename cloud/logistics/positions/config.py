"""Settings of positions, from the environment (prefix ``DEHONG_POSITIONS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PositionSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DEHONG_POSITIONS_", env_file=".env", extra="ignore"
    )

    #: The OsmAnd HTTP server of its own port (``dehong logistics osmand-serve``).
    osmand_host: str = "127.0.0.1"
    osmand_port: int = Field(default=5055, ge=0, le=65535)
    #: ``dehong cloud serve`` serves that port too, beside the API, with the API's own
    #: intake (off by default: the port is opened only where asked; on in the compose
    #: file and the demo).
    osmand_with_api: bool = False
    #: The URL phones send to, written into the Traccar Client QR code.
    public_url: str = "http://127.0.0.1:5055/"
    #: Filters (each counted per tracker and in ``dehong_positions_filtered_total``).
    filter_invalid: bool = True
    filter_zero: bool = True
    filter_duplicate: bool = True
    #: A fix later than now + this is filtered as ``future`` (0: off).
    future_skew_s: float = Field(default=300.0, ge=0)
    #: A fix implying a faster move from the previous one is filtered as ``jump`` (0: off).
    max_speed_kmh: float = Field(default=300.0, ge=0)
    #: ... unless the move is shorter than this (GPS jitter between close fixes).
    jump_min_m: float = Field(default=100.0, ge=0)
    #: A fix whose accuracy is worse (larger) than this is filtered as ``accuracy`` (0: off).
    max_accuracy_m: float = Field(default=100.0, ge=0)
    #: Most fixes in one request (a day at 1 Hz is 86,400), and its largest body.
    max_batch_fixes: int = Field(default=100_000, ge=1)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: How long a tracker lookup is cached (a revocation takes effect within it), s.
    tracker_cache_s: float = Field(default=2.0, ge=0)
    #: Per-tracker counts are kept in memory and added to the database this often, s
    #: (and at shutdown): a crash loses at most this long's counts.
    counts_flush_s: float = Field(default=5.0, gt=0)
    #: Group commits of fixes in flight at once (each: a time-series write and the
    #: windows' mark or check); requests arriving meanwhile are grouped into the next.
    flush_concurrency: int = Field(default=1, ge=1, le=64)
    #: Douglas-Peucker tolerance of the daily tracks, metres.
    track_tolerance_m: float = Field(default=10.0, gt=0)
