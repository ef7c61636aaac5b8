"""InfluxDB line protocol and InfluxQL quoting. Every user-supplied identifier or
value that reaches InfluxDB goes through one of these functions."""

from __future__ import annotations

import math
from collections.abc import Iterable

from cloud.timeseries.base import Point

_MEAS = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_KEY = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\n": r"\n"})


def escape_measurement(name: str) -> str:
    return name.translate(_MEAS)


def escape_key(name: str) -> str:
    """Tag keys, tag values and field keys."""
    return name.translate(_KEY)


def format_float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r} cannot be stored")
    text = repr(float(value))
    return text  # a float literal: never an integer ("i") field, so a field never changes type


def point_line(p: Point) -> str:
    if not p.fields:
        raise ValueError(f"point of {p.device} at {p.ts_ms} has no fields")
    # An empty site (a mobile asset: a vehicle or tag is one series whichever gateway
    # heard it) is left out: InfluxDB refuses empty tag values.
    tags = f"county={escape_key(p.county)},device={escape_key(p.device)}"
    if p.site:
        tags += f",site={escape_key(p.site)}"
    fields = ",".join(f"{escape_key(k)}={format_float(v)}" for k, v in sorted(p.fields.items()))
    return f"{escape_measurement(p.measurement)},{tags} {fields} {p.ts_ms}"


def lines(points: Iterable[Point]) -> str:
    """Many points: the same as joining :func:`point_line`, with each series' escaped
    measurement and tags, and each field key, escaped once."""
    series: dict[tuple[str, str, str, str], str] = {}
    keys: dict[str, str] = {}
    out = []
    for p in points:
        skey = (p.measurement, p.device, p.county, p.site)
        head = series.get(skey)
        if head is None:
            head = point_line(Point(*skey, 0, {"x": 0.0})).rsplit(" ", 2)[0]
            series[skey] = head
        if not p.fields:
            raise ValueError(f"point of {p.device} at {p.ts_ms} has no fields")
        fields = []
        for k in sorted(p.fields):
            ek = keys.get(k)
            if ek is None:
                ek = keys[k] = escape_key(k)
            v = p.fields[k]
            if not math.isfinite(v):
                raise ValueError(f"non-finite value {v!r} cannot be stored")
            fields.append(f"{ek}={float(v)!r}")
        out.append(f"{head} {','.join(fields)} {p.ts_ms}")
    return "\n".join(out)


def quote_ident(name: str) -> str:
    """An InfluxQL identifier: double-quoted, with backslash and quote escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL string literal: single-quoted, with backslash and quote escaped."""
    if "\n" in value or "\r" in value:
        raise ValueError("string literal with a line break refused")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
