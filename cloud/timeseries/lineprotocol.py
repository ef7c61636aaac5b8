"""InfluxDB line protocol and InfluxQL quoting. Every user-supplied identifier or
value that reaches InfluxDB goes through one of these functions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import cast

from cloud.timeseries.base import Point, PointBlock

_MEAS = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_KEY = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\n": r"\n"})


def escape_measurement(name: str) -> str:
    return name.translate(_MEAS)


def escape_key(name: str) -> str:
    """Tag keys, tag values and field keys."""
    return name.translate(_KEY)


def format_float(value: float) -> str:
    if not math.isfinite(value):
        raise _non_finite(value)
    text = repr(float(value))
    return text  # a float literal: never an integer ("i") field, so a field never changes type


def _non_finite(value: float) -> ValueError:
    return ValueError(f"non-finite value {value!r} cannot be stored")


def series_key(measurement: str, device: str, county: str, site: str) -> str:
    """A line's measurement and tags, escaped."""
    # An empty site (a mobile asset: a vehicle or tag is one series whichever gateway
    # heard it) is left out: InfluxDB refuses empty tag values.
    tags = f"county={escape_key(county)},device={escape_key(device)}"
    if site:
        tags += f",site={escape_key(site)}"
    return f"{escape_measurement(measurement)},{tags}"


def point_line(p: Point) -> str:
    if not p.fields:
        raise ValueError(f"point of {p.device} at {p.ts_ms} has no fields")
    fields = ",".join(f"{escape_key(k)}={format_float(v)}" for k, v in sorted(p.fields.items()))
    return f"{series_key(p.measurement, p.device, p.county, p.site)} {fields} {p.ts_ms}"


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
            head = series[skey] = series_key(*skey)
        if not p.fields:
            raise ValueError(f"point of {p.device} at {p.ts_ms} has no fields")
        fields = []
        for k in sorted(p.fields):
            ek = keys.get(k)
            if ek is None:
                ek = keys[k] = escape_key(k)
            fields.append(f"{ek}={format_float(p.fields[k])}")
        out.append(f"{head} {','.join(fields)} {p.ts_ms}")
    return "\n".join(out)


def block_lines(blocks: Iterable[PointBlock]) -> str:
    """Points given in columns: the same text as :func:`lines` of their points, rendered
    a column at a time (each value formatted once, each line joined once)."""
    keys: dict[str, str] = {}
    out: list[str] = []
    for b in blocks:
        if not b.ts_ms:
            continue
        head = series_key(b.measurement, b.device, b.county, b.site) + " "
        rendered: list[list[str]] = []  # per field key, in order: "key=value", "" if none
        sparse = False
        for k in sorted(b.columns):
            column = b.columns[k]
            prefix = keys.get(k)
            if prefix is None:
                prefix = keys[k] = escape_key(k) + "="
            if None in column:
                sparse = True
                _check_finite([v for v in column if v is not None])
                rendered.append(["" if v is None else prefix + repr(float(v)) for v in column])
            else:
                full = cast("Sequence[float]", column)
                _check_finite(full)
                rendered.append([prefix + repr(float(v)) for v in full])
        if sparse:
            fields = [",".join(filter(None, at)) for at in zip(*rendered, strict=True)]
            if not all(fields):
                i = fields.index("")
                raise ValueError(f"point of {b.device} at {b.ts_ms[i]} has no fields")
        else:
            fields = list(map(",".join, zip(*rendered, strict=True)))
        out.extend([head + f + " " + str(t) for f, t in zip(fields, b.ts_ms, strict=True)])
    return "\n".join(out)


def _check_finite(values: Sequence[float]) -> None:
    if not all(map(math.isfinite, values)):
        raise _non_finite(next(v for v in values if not math.isfinite(v)))


def quote_ident(name: str) -> str:
    """An InfluxQL identifier: double-quoted, with backslash and quote escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL string literal: single-quoted, with backslash and quote escaped."""
    if "\n" in value or "\r" in value:
        raise ValueError("string literal with a line break refused")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
