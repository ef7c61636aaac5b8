"""The rules one location's readings are judged by: its commodity profile's range
and limits (cloud/catalog) plus the engine's settings (hysteresis, minimum duration,
door and defrost handling), with their defaults.

A defrost schedule is a list of daily windows in Beijing time (``"02:00"`` for
``1200`` s); a coil signal (a ``defrost`` metric, 1 while defrosting) masks the same
way. Both are followed by ``defrost_recovery_s`` during which the room is still
pulling down and readings are masked too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from cloud.timeseries.kinetics import hold_cap_ms

#: Metrics read as temperatures: the catalog's names and OsmAnd's reefer probes.
TEMPERATURE_METRICS = ("temperature", "temp_c", "temp", "air_temperature",
                       "temp1", "temp2", "temp3", "temp4")  # fmt: skip
#: A door contact (1 open, 0 closed).
DOOR_METRICS = ("door", "door_open", "door1")
#: A defrost coil signal (1 while defrosting).
DEFROST_METRICS = ("defrost", "coil_defrost", "defrost_active")
BEIJING_OFFSET_MS = 8 * 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class DefrostWindow:
    """A daily defrost starting at ``start`` (``"HH:MM"``, Beijing time) for
    ``duration_s``."""

    start: str
    duration_s: float

    def __post_init__(self) -> None:
        hh, _, mm = self.start.partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ValueError(f"defrost_schedule.start: {self.start!r} is not HH:MM")
        if not (0 < self.duration_s <= 4 * 3600):
            raise ValueError(f"defrost_schedule.duration_s: {self.duration_s} not in (0, 14400]")

    @property
    def offset_ms(self) -> int:
        hh, _, mm = self.start.partition(":")
        return (int(hh) * 60 + int(mm)) * 60_000


@dataclass(frozen=True, slots=True)
class Rules:
    """``low``/``high``: the range (°C); ``single_max_s``: the longest one excursion may
    last; ``cumulative_max_s``: the most time outside per ``cumulative_window_s``
    (24 h). An excursion starts at the first reading outside the range and ends at the
    first reading back inside by ``hysteresis_c`` (a reading in the band between keeps
    it going); one shorter than ``min_duration_s`` is noise. An excursion that starts
    while a door is open or within ``door_grace_s`` after it closed, and lasts at most
    ``door_spike_max_s``, is a door opening (``kind="door"``), counted apart."""

    low: float | None
    high: float | None
    single_max_s: float
    cumulative_max_s: float
    cumulative_window_s: float = 86_400.0
    hysteresis_c: float = 0.5
    min_duration_s: float = 120.0
    door_grace_s: float = 300.0
    door_spike_max_s: float = 600.0
    defrost_recovery_s: float = 600.0
    defrost_schedule: tuple[DefrostWindow, ...] = ()
    poll_interval_s: float = 60.0
    profile_id: int | None = None

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise ValueError("low/high: a range needs at least one bound")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low: {self.low} is above high {self.high}")
        for name in ("single_max_s", "cumulative_max_s", "cumulative_window_s", "hysteresis_c",
                     "min_duration_s", "door_grace_s", "door_spike_max_s",
                     "defrost_recovery_s"):  # fmt: skip
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: {v!r} must be a finite number >= 0")
        hold_cap_ms(self.poll_interval_s)  # ValueError names poll_interval_s

    @property
    def cap_ms(self) -> int:
        return hold_cap_ms(self.poll_interval_s)

    def outside(self, v: float) -> int:
        """+1 above the range, -1 below, 0 inside."""
        if self.high is not None and v > self.high:
            return 1
        if self.low is not None and v < self.low:
            return -1
        return 0

    def back(self, v: float, direction: int) -> bool:
        """True when ``v`` ends an excursion of ``direction`` (inside by the hysteresis)."""
        if direction > 0:
            assert self.high is not None
            return v <= self.high - self.hysteresis_c and self.outside(v) == 0
        assert self.low is not None
        return v >= self.low + self.hysteresis_c and self.outside(v) == 0

    def clear(self, v: float) -> bool:
        """Inside the range by the hysteresis on both sides: no excursion can be going on."""
        lo_ok = self.low is None or v >= self.low + self.hysteresis_c
        hi_ok = self.high is None or v <= self.high - self.hysteresis_c
        return lo_ok and hi_ok


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """The engine's defaults, and per-location overrides (``overrides[location_id]``:
    any field of :class:`Rules` but the profile's own)."""

    hysteresis_c: float = 0.5
    min_duration_s: float = 120.0
    door_grace_s: float = 300.0
    door_spike_max_s: float = 600.0
    defrost_recovery_s: float = 600.0
    poll_interval_s: float = 60.0
    defrost_schedule: tuple[DefrostWindow, ...] = ()
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)

    def rules(
        self,
        *,
        low: float | None,
        high: float | None,
        single_max_s: float,
        cumulative_max_s: float,
        location_id: int | None = None,
        profile_id: int | None = None,
    ) -> Rules:
        base = Rules(
            low, high, single_max_s, cumulative_max_s,
            hysteresis_c=self.hysteresis_c, min_duration_s=self.min_duration_s,
            door_grace_s=self.door_grace_s, door_spike_max_s=self.door_spike_max_s,
            defrost_recovery_s=self.defrost_recovery_s, defrost_schedule=self.defrost_schedule,
            poll_interval_s=self.poll_interval_s, profile_id=profile_id,
        )  # fmt: skip
        extra = dict(self.overrides.get(location_id, {})) if location_id is not None else {}
        if "defrost_schedule" in extra:
            extra["defrost_schedule"] = tuple(
                w if isinstance(w, DefrostWindow) else DefrostWindow(**w)
                for w in extra["defrost_schedule"]
            )
        bad = set(extra) - {"hysteresis_c", "min_duration_s", "door_grace_s",
                            "door_spike_max_s", "defrost_recovery_s", "defrost_schedule",
                            "poll_interval_s"}  # fmt: skip
        if bad:
            raise ValueError(f"overrides[{location_id}]: unknown field(s) {sorted(bad)}")
        return replace(base, **extra)

    @classmethod
    def from_json(cls, text: str) -> EngineSettings:
        """``DEHONG_COLDCHAIN_SETTINGS``: ``{"hysteresis_c": 0.5, ..., "defrost_schedule":
        [{"start": "02:00", "duration_s": 1200}], "overrides": {"17": {...}}}`` (location
        ids as keys); ValueError naming the field."""
        where = "DEHONG_COLDCHAIN_SETTINGS"
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{where}: not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: a JSON object is expected")
        known = {f.name for f in fields(cls)}
        extra = set(raw) - known
        if extra:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        try:
            if "defrost_schedule" in raw:
                raw["defrost_schedule"] = tuple(DefrostWindow(**w) for w in raw["defrost_schedule"])
            if "overrides" in raw:
                raw["overrides"] = {int(k): dict(v) for k, v in raw["overrides"].items()}
            out = cls(**raw)
            # every value checked as the rules will check it
            out.rules(low=0, high=1, single_max_s=1, cumulative_max_s=1)
            for loc in out.overrides:
                out.rules(low=0, high=1, single_max_s=1, cumulative_max_s=1, location_id=loc)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        return out
