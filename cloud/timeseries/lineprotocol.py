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
    return "\n".join(point_line(p) for p in points)


def quote_ident(name: str) -> str:
    """An InfluxQL identifier: double-quoted, with backslash and quote escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL string literal: single-quoted, with backslash and quote escaped."""
    if "\n" in value or "\r" in value:
        raise ValueError("string literal with a line break refused")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
