"""Compile a time-series panel to InfluxQL for Grafana's InfluxDB data source (1.x),
and expand Grafana's macros the way Grafana does (for tests and the bench).

Grafana's InfluxQL macros used here: ``$timeFilter`` (the panel's range,
``time >= {from}ms and time <= {to}ms``), ``$__interval`` (the panel's interval, for
example ``1m``) and the dashboard variable ``$county`` (``=~ /^$county$/``; Grafana
renders a multi-value selection as ``(a|b)``). Days and weeks are Beijing time
(``tz('Asia/Shanghai')``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cloud.commerce.screen.catalogue import Panel
from cloud.timeseries.lineprotocol import quote_ident
from cloud.timeseries.windows import RETENTION_POLICY

TZ = "tz('Asia/Shanghai')"
COUNTY_FILTER = '"county" =~ /^$county$/'
MKT_K = 10_000.0


def _interval(panel: Panel) -> str:
    if panel.bucket is None:
        return ""
    return "$__interval" if panel.bucket == "interval" else panel.bucket


def _time(panel: Panel) -> str:
    if panel.window == "live":
        return f"time > now() - {int(panel.live_s)}s"
    return "$timeFilter"


def compile_influxql(panel: Panel) -> str:
    """The panel's InfluxQL, with Grafana's macros left for Grafana to expand."""
    if panel.source != "ts" or not panel.measurement:
        raise ValueError(f"panel {panel.id}: not a time-series panel")
    f = quote_ident(panel.field)
    resolution = "1h" if panel.aggregate == "mkt" else "raw"
    source = f"{quote_ident(RETENTION_POLICY[resolution])}.{quote_ident(panel.measurement)}"
    where = f"WHERE {_time(panel)} AND {COUNTY_FILTER}"
    tags = [quote_ident(g) for g in panel.group if g in ("county", "device")]
    if panel.aggregate == "mkt":
        s = quote_ident(panel.field + "_mkt")
        n = quote_ident(panel.field + "_count")
        select = f'-{MKT_K:g} / ln(sum({s}) / sum({n})) - 273.15 AS "value"'
    elif panel.aggregate == "last":
        lon = quote_ident(panel.extra.get("lon", "lon"))
        select = f'last({f}) AS "lat", last({lon}) AS "lon"'
    elif panel.aggregate == "count_distinct":
        # a tag cannot be counted in InfluxQL 1.x: count the devices' last values
        inner = f'SELECT last({f}) FROM {source} {where} GROUP BY "device"'
        return f'SELECT count("last") AS "value" FROM ({inner})'
    else:
        select = f'{panel.aggregate}({f}) AS "value"'
    if panel.count_where is not None:
        op, bound = panel.count_where
        inner = f'SELECT {panel.aggregate}({f}) FROM {source} {where} GROUP BY "device"'
        return f'SELECT count("{panel.aggregate}") AS "value" FROM ({inner}) WHERE "{panel.aggregate}" {op} {bound:g}'
    group = []
    if panel.bucket:
        group.append(f"time({_interval(panel)})")
    group += tags
    tail = f" GROUP BY {', '.join(group)}" if group else ""
    fill = " fill(none)" if panel.bucket else ""
    tz = f" {TZ}" if panel.bucket in ("1d", "1w") else ""
    return f"SELECT {select} FROM {source} {where}{tail}{fill}{tz}"


def interval_text(ms: int) -> str:
    """Grafana's rendering of an interval (``$__interval``): the largest exact unit."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def county_regex(counties: Sequence[str] | None) -> str:
    """Grafana's regex rendering of the ``county`` variable (All: ``.*``)."""
    if counties is None:
        return ".*"
    if len(counties) == 1:
        return re.escape(counties[0])
    return "(" + "|".join(re.escape(c) for c in counties) + ")"


def expand(
    q: str, *, start_ms: int, end_ms: int, interval_ms: int, counties: Sequence[str] | None
) -> str:
    """Expand Grafana's InfluxQL macros as Grafana does."""
    q = q.replace("$timeFilter", f"time >= {int(start_ms)}ms and time <= {int(end_ms)}ms")
    q = q.replace("$__interval_ms", str(int(interval_ms)))
    q = q.replace("$__interval", interval_text(int(interval_ms)))
    return q.replace("$county", county_regex(counties))
