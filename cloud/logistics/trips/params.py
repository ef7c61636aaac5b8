"""The parameters of trips, stops and geofence events (README: Parameters)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TripParams:
    """Stops and trips. Defaults: the issue's (Traccar's stop rule: within 200 m for at
    least 180 s; a gap of 3,600 s ends a trip)."""

    #: A stop: every fix within this distance (m) of the stop's first fix ...
    stop_radius_m: float = 200.0
    #: ... for at least this long (s).
    stop_min_s: float = 180.0
    #: No fix for this long (s) ends a trip (and a stop): what happened meanwhile is unknown.
    max_gap_s: float = 3_600.0
    #: Fixes with a worse accuracy (m) are left out of everything; None keeps all.
    max_accuracy_m: float | None = None
    #: The reefer temperature attribute summarised per trip and stop.
    temp_key: str = "temp1"
    #: A trip's stored track keeps the points that matter at this tolerance (m) ...
    track_tolerance_m: float = 3.0
    #: ... and the temperature within this (°C) (Douglas–Peucker on both).
    track_tolerance_c: float = 0.2

    def __post_init__(self) -> None:
        for name in ("stop_radius_m", "stop_min_s", "max_gap_s", "track_tolerance_m",
                     "track_tolerance_c"):  # fmt: skip
            v = getattr(self, name)
            if not (v > 0 and v < 1e9):
                raise ValueError(f"{name}: {v!r} must be a positive number")
        if self.max_accuracy_m is not None and not self.max_accuracy_m > 0:
            raise ValueError(f"max_accuracy_m: {self.max_accuracy_m!r} must be > 0 or None")


@dataclass(frozen=True, slots=True)
class GeofenceParams:
    """Enter/exit hysteresis against GPS jitter. A fix is *well inside* a fence when it
    lies inside by at least ``enter_margin_m`` plus its accuracy (× ``accuracy_factor``),
    *well outside* when outside by ``exit_margin_m`` plus its accuracy; between the two
    it changes nothing. An enter is confirmed by ``min_fixes`` consecutive well-inside
    fixes spanning at least ``min_dwell_s``; an exit likewise. The event's time is the
    first fix of the confirming run."""

    enter_margin_m: float = 10.0
    exit_margin_m: float = 30.0
    min_fixes: int = 2
    min_dwell_s: float = 5.0
    accuracy_factor: float = 1.0
    #: Fixes with a worse accuracy (m) are ignored by the geofences (they neither
    #: confirm nor break a run).
    max_accuracy_m: float = 100.0
    #: Fixes before a recompute's origin replayed to rebuild a pending run (s).
    warmup_s: float = 900.0

    def __post_init__(self) -> None:
        if self.enter_margin_m < 0 or self.exit_margin_m < 0:
            raise ValueError("enter_margin_m/exit_margin_m: must be >= 0")
        if self.min_fixes < 1:
            raise ValueError(f"min_fixes: {self.min_fixes} must be >= 1")
        if self.min_dwell_s < 0 or self.accuracy_factor < 0 or self.warmup_s < self.min_dwell_s:
            raise ValueError("min_dwell_s/accuracy_factor must be >= 0, warmup_s >= min_dwell_s")
