"""One position fix as the cloud handles it, whatever form it arrived in."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol import positions as pos


class FixError(ValueError):
    """Bad input: ``field`` names where (``lat``, ``locations[3].coords.speed``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(slots=True)
class Fix:
    """A fix in internal units: time UTC epoch ms, degrees, km/h, metres, percent."""

    ts_ms: int
    lat: float
    lon: float
    speed_kmh: float | None = None
    course_deg: float | None = None
    alt_m: float | None = None
    accuracy_m: float | None = None
    hdop: float | None = None
    battery_pct: float | None = None
    charging: float | None = None
    #: False when the phone said the fix is not valid (``valid=false``).
    valid: bool = True
    #: Every other numeric value, by its (metric) name: ``temp1``, ``motion``, ...
    attributes: dict[str, float] = field(default_factory=dict)

    def fields(self) -> dict[str, float]:
        """The time-series fields of the fix (protocol.positions names)."""
        out = dict(self.attributes)
        out[pos.LAT] = self.lat
        out[pos.LON] = self.lon
        for name in (
            pos.SPEED_KMH,
            pos.COURSE_DEG,
            pos.ALT_M,
            pos.ACCURACY_M,
            pos.HDOP,
            pos.BATTERY_PCT,
            pos.CHARGING,
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out
