"""The OsmAnd protocol as Traccar speaks it: the query form and Traccar Client's JSON
form, each into :class:`~cloud.logistics.positions.fix.Fix` in internal units.

Speed units: the query form's ``speed`` is in the tracker's ``speed_unit`` (default
m/s, as the OsmAnd app sends; Traccar assumes knots), so it is returned raw and
converted by the caller once the tracker is known. The JSON form's
``coords.speed`` is m/s (Traccar Client), converted here. ``-1`` is "unknown" for
speed, heading and accuracy (Traccar Client's convention) and for battery level.

Every refusal is a :class:`FixError` naming the field and the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloud.logistics.positions.fix import Fix, FixError
from protocol import positions as pos
from protocol.ids import METRIC_RE
from protocol.limits import DEFAULT_LIMITS

#: Oldest fix accepted: the raw retention of the time series (90 days).
MAX_AGE_MS = DEFAULT_LIMITS.raw_retention_ms
#: Epoch seconds below this are seconds, above it milliseconds (Traccar: Integer.MAX_VALUE).
SECONDS_BELOW = 2**31 - 1
#: Most extra attributes kept per fix (the wire's 64 metrics per series, less ours).
MAX_ATTRIBUTES = 32

_LOCAL_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$")
_EPOCH = re.compile(r"^\d{1,17}(\.\d{1,9})?$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

#: Query keys that are not attributes.
_KNOWN = {
    "id",
    "deviceid",
    "lat",
    "lon",
    "location",
    "timestamp",
    "speed",
    "bearing",
    "heading",
    "altitude",
    "accuracy",
    "hdop",
    "batt",
    "charge",
    "valid",
}


@dataclass(slots=True)
class Parsed:
    """A fix with its device id; ``speed_raw`` is the query form's speed, in the
    tracker's unit (None: given in km/h already, or no speed)."""

    device_id: str
    fix: Fix
    speed_raw: float | None = None


def number(field: str, raw: object, *, unknown_minus_one: bool = False) -> float | None:
    """A finite float from a string or JSON number (None for ``-1`` when it means unknown)."""
    if isinstance(raw, bool):
        raise FixError(field, f"expected a number, got {raw!r}")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            raise FixError(field, f"not a number: {raw[:40]!r}") from None
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise FixError(field, f"must be a finite number, got {raw[:40]!r}")
    else:
        raise FixError(field, f"expected a number, got {type(raw).__name__}")
    if not math.isfinite(value):
        raise FixError(field, f"must be a finite number, got {raw!r}")
    if unknown_minus_one and value == -1.0:
        return None
    return value


def boolean(field: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FixError(field, f"expected true or false, got {str(raw)[:40]!r}")


def checked(field: str, metric: str, value: float | None) -> float | None:
    if value is None:
        return None
    reason = pos.check_position_value(metric, value)
    if reason is not None:
        raise FixError(field, reason)
    return value


def timestamp(field: str, raw: object, now_ms: int) -> int:
    """Epoch seconds (< 2^31) or milliseconds, ISO-8601 with a zone, or
    ``yyyy-MM-dd HH:mm:ss`` (UTC); refused older than raw retention (90 days)."""
    ts = _timestamp(field, raw)
    if ts < now_ms - MAX_AGE_MS:
        when = datetime.fromtimestamp(max(ts, 0) / 1000, UTC).isoformat().replace("+00:00", "Z")
        raise FixError(
            field,
            f"{when} is older than the raw retention (90 days): a phone's clock that was "
            "never set, or a fix too old to store",
        )
    return ts


def _timestamp(field: str, raw: object) -> int:
    if isinstance(raw, bool) or raw is None:
        raise FixError(field, f"expected a time, got {raw!r}")
    if isinstance(raw, int | float):
        if not math.isfinite(raw) or raw < 0:
            raise FixError(field, f"not a valid epoch time: {raw!r}")
        return _epoch(field, float(raw))
    if not isinstance(raw, str):
        raise FixError(field, f"expected a time, got {type(raw).__name__}")
    text = raw.strip()
    if _EPOCH.match(text):
        return _epoch(field, float(text))
    m = _LOCAL_TIME.match(text)
    if m:
        try:
            dt = datetime(*(int(g) for g in m.groups()), tzinfo=UTC)  # type: ignore[misc]
        except ValueError as exc:
            raise FixError(field, f"not a valid date and time: {text[:40]!r} ({exc})") from None
        return int(dt.timestamp() * 1000)
    if "T" in text:
        try:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise FixError(field, f"not a valid ISO-8601 time: {text[:40]!r}") from None
        if dt.tzinfo is None:
            raise FixError(
                field, f"ISO-8601 time {text[:40]!r} has no zone; add Z or an offset (+08:00)"
            )
        return int(dt.timestamp() * 1000)
    raise FixError(
        field,
        f"unreadable time {text[:40]!r}: use epoch seconds or milliseconds, ISO-8601 with a "
        "zone (2026-05-01T08:00:00+08:00), or 'yyyy-MM-dd HH:mm:ss' (UTC)",
    )


def _epoch(field: str, value: float) -> int:
    ms = value * 1000 if value < SECONDS_BELOW else value
    if ms >= 10**14:
        raise FixError(field, f"epoch time {value!r} is out of range")
    return round(ms)


def _attribute(attrs: dict[str, float], key: str, raw: object) -> None:
    """Keep a numeric (or boolean: 1/0) extra value under a metric-like name; others
    are left out (the time series holds floats only)."""
    name = key.strip().lower()
    if not METRIC_RE.match(name) or "__" in name or name in pos.POSITION_METRICS:
        return
    if len(attrs) >= MAX_ATTRIBUTES and name not in attrs:
        raise FixError(key, f"more than {MAX_ATTRIBUTES} extra attributes in one fix")
    if isinstance(raw, bool):
        attrs[name] = 1.0 if raw else 0.0
        return
    if isinstance(raw, int | float):
        if math.isfinite(raw):
            attrs[name] = float(raw)
        else:
            raise FixError(key, f"must be a finite number, got {raw!r}")
        return
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in ("true", "false"):
            attrs[name] = 1.0 if text == "true" else 0.0
            return
        try:
            value = float(text)
        except ValueError:
            return  # text: not a time-series value
        if not math.isfinite(value):
            raise FixError(key, f"must be a finite number, got {raw[:40]!r}")
        attrs[name] = value


def parse_query(params: Mapping[str, object], now_ms: int, *, prefix: str = "") -> Parsed:
    """The query form (``GET /?id=...&lat=...``, or a form-encoded POST body)."""
    p = {k: v for k, v in params.items()}
    device = p.get("id", p.get("deviceid"))
    if device is None or not str(device).strip():
        raise FixError(prefix + "id", "missing: the device id (id or deviceid)")
    device_id = str(device).strip()
    if "location" in p and ("lat" not in p or "lon" not in p):
        parts = str(p["location"]).split(",")
        if len(parts) != 2:
            raise FixError(prefix + "location", "expected 'lat,lon'")
        lat_raw, lon_raw = parts[0], parts[1]
        lat_field = lon_field = prefix + "location"
    else:
        if "lat" not in p:
            raise FixError(prefix + "lat", "missing: latitude in degrees")
        if "lon" not in p:
            raise FixError(prefix + "lon", "missing: longitude in degrees")
        lat_raw, lon_raw = p["lat"], p["lon"]
        lat_field, lon_field = prefix + "lat", prefix + "lon"
    lat = checked(lat_field, pos.LAT, number(lat_field, lat_raw))
    lon = checked(lon_field, pos.LON, number(lon_field, lon_raw))
    assert lat is not None and lon is not None
    ts = timestamp(prefix + "timestamp", p["timestamp"], now_ms) if "timestamp" in p else now_ms
    fix = Fix(ts, lat, lon)
    speed_raw = None
    if "speed" in p:
        speed_raw = number(prefix + "speed", p["speed"], unknown_minus_one=True)
        if speed_raw is not None and speed_raw < 0:
            raise FixError(prefix + "speed", f"must not be negative, got {speed_raw!r}")
    course_key = "bearing" if "bearing" in p else "heading" if "heading" in p else None
    if course_key is not None:
        fix.course_deg = checked(
            prefix + course_key,
            pos.COURSE_DEG,
            number(prefix + course_key, p[course_key], unknown_minus_one=True),
        )
    if "altitude" in p:
        fix.alt_m = checked(
            prefix + "altitude", pos.ALT_M, number(prefix + "altitude", p["altitude"])
        )
    if "accuracy" in p:
        fix.accuracy_m = checked(
            prefix + "accuracy",
            pos.ACCURACY_M,
            number(prefix + "accuracy", p["accuracy"], unknown_minus_one=True),
        )
    if "hdop" in p:
        fix.hdop = checked(prefix + "hdop", pos.HDOP, number(prefix + "hdop", p["hdop"]))
    if "batt" in p:
        fix.battery_pct = checked(
            prefix + "batt",
            pos.BATTERY_PCT,
            number(prefix + "batt", p["batt"], unknown_minus_one=True),
        )
    if "charge" in p:
        fix.charging = 1.0 if boolean(prefix + "charge", p["charge"]) else 0.0
    if "valid" in p:
        fix.valid = boolean(prefix + "valid", p["valid"])
    for key, value in p.items():
        if key not in _KNOWN:
            _attribute(fix.attributes, key, value)
    return Parsed(device_id, fix, speed_raw)


def _obj(field: str, raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise FixError(field, f"expected an object, got {type(raw).__name__}")
    return raw


def parse_json_location(
    device_id: str, location: object, now_ms: int, *, field: str = "location"
) -> Parsed:
    """One location of Traccar Client's JSON form (speed m/s, battery level 0..1)."""
    loc = _obj(field, location)
    if "coords" not in loc:
        # our flat form (a gateway's or our batch): the query form's keys, JSON values
        flat = dict(loc)
        flat.setdefault("id", device_id)
        return parse_query(flat, now_ms, prefix=f"{field}.")
    coords = _obj(f"{field}.coords", loc["coords"])
    for key in ("latitude", "longitude"):
        if key not in coords:
            raise FixError(f"{field}.coords.{key}", "missing")
    lat = checked(
        f"{field}.coords.latitude", pos.LAT, number(f"{field}.coords.latitude", coords["latitude"])
    )
    lon = checked(
        f"{field}.coords.longitude",
        pos.LON,
        number(f"{field}.coords.longitude", coords["longitude"]),
    )
    assert lat is not None and lon is not None
    if "timestamp" not in loc:
        raise FixError(f"{field}.timestamp", "missing: the fix time (ISO-8601 with a zone)")
    fix = Fix(timestamp(f"{field}.timestamp", loc["timestamp"], now_ms), lat, lon)
    if "speed" in coords:
        ms = number(f"{field}.coords.speed", coords["speed"], unknown_minus_one=True)
        if ms is not None:
            fix.speed_kmh = checked(f"{field}.coords.speed", pos.SPEED_KMH, ms * pos.KMH_PER["ms"])
    if "heading" in coords:
        fix.course_deg = checked(
            f"{field}.coords.heading",
            pos.COURSE_DEG,
            number(f"{field}.coords.heading", coords["heading"], unknown_minus_one=True),
        )
    if "altitude" in coords:
        fix.alt_m = checked(
            f"{field}.coords.altitude",
            pos.ALT_M,
            number(f"{field}.coords.altitude", coords["altitude"]),
        )
    if "accuracy" in coords:
        fix.accuracy_m = checked(
            f"{field}.coords.accuracy",
            pos.ACCURACY_M,
            number(f"{field}.coords.accuracy", coords["accuracy"], unknown_minus_one=True),
        )
    if "battery" in loc:
        battery = _obj(f"{field}.battery", loc["battery"])
        if "level" in battery:
            level = number(f"{field}.battery.level", battery["level"], unknown_minus_one=True)
            if level is not None:
                if not 0.0 <= level <= 1.0:
                    raise FixError(f"{field}.battery.level", f"expected 0..1, got {level!r}")
                fix.battery_pct = round(level * 100.0, 3)
        if "is_charging" in battery:
            fix.charging = (
                1.0 if boolean(f"{field}.battery.is_charging", battery["is_charging"]) else 0.0
            )
    if "is_moving" in loc:
        fix.attributes["motion"] = 1.0 if boolean(f"{field}.is_moving", loc["is_moving"]) else 0.0
    if "odometer" in loc:
        odo = number(f"{field}.odometer", loc["odometer"])
        if odo is not None:
            fix.attributes["odometer"] = odo
    if "extras" in loc:
        for key, value in _obj(f"{field}.extras", loc["extras"]).items():
            _attribute(fix.attributes, key, value)
    return Parsed(device_id, fix)


def json_locations(body: object) -> tuple[str, list[tuple[str, object]]]:
    """The device id and the ``(field, location)`` entries of a JSON body:

    - ``{"device_id": ..., "location": {...}}`` (Traccar Client, one fix);
    - ``{"device_id": ..., "location": [{...}, ...]}`` or ``"locations": [...]``
      (a batch: Traccar Client's batch sync, or ours);
    - ``[{"device_id": ..., "location": {...}}, ...]`` (one device's fixes).
    """
    if isinstance(body, list):
        entries: list[tuple[str, object]] = []
        device: str | None = None
        for i, item in enumerate(body):
            obj = _obj(f"[{i}]", item)
            dev = _device(obj, f"[{i}].device_id")
            if device is None:
                device = dev
            elif dev != device:
                raise FixError(f"[{i}].device_id", "every fix of one request is of one device")
            if "location" not in obj:
                raise FixError(f"[{i}].location", "missing")
            entries.append((f"[{i}].location", obj["location"]))
        if device is None:
            raise FixError("body", "an empty list: no fixes")
        return device, entries
    obj = _obj("body", body)
    device = _device(obj, "device_id")
    key = "locations" if "locations" in obj else "location"
    if key not in obj:
        raise FixError("location", "missing: the fix (location) or fixes (locations)")
    raw = obj[key]
    if isinstance(raw, list):
        if not raw:
            raise FixError(key, "an empty list: no fixes")
        return device, [(f"{key}[{i}]", loc) for i, loc in enumerate(raw)]
    return device, [(key, raw)]


def _device(obj: Mapping[str, Any], field: str) -> str:
    raw = obj.get("device_id", obj.get("id"))
    if not isinstance(raw, str) or not raw.strip():
        raise FixError(field, "missing: the device id")
    return raw.strip()
