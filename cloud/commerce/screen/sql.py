"""Compile a relational panel to SQL: for Grafana's PostgreSQL data source (with
Grafana's macros), and for ``/screen`` on PostgreSQL or SQLite (bound parameters).

One compiler, three targets, so Grafana and the wall cannot drift apart:

- ``grafana``: ``$__timeFilter(col)`` for datetime columns, ``$__unixEpochFrom()`` /
  ``$__unixEpochTo()`` for epoch-millisecond columns, ``county IN ($county)``;
- ``postgresql`` / ``sqlite``: ``:start``/``:end`` and an expanding ``:counties``.

Days are Beijing days (``AT TIME ZONE 'Asia/Shanghai'``; SQLite: ``+8 hours``, China
keeps no summer time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from cloud.commerce.screen.catalogue import Filter, Panel

Target = Literal["grafana", "postgresql", "sqlite"]


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _filter(f: Filter, target: Target) -> str:
    if f.op == "is_null":
        return f"{f.column} IS NULL"
    if f.op == "in":
        values = f.value if isinstance(f.value, tuple) else (f.value,)
        return f"{f.column} IN ({', '.join(_literal(v) for v in values)})"
    value = f.value
    if isinstance(value, bool) and target == "sqlite":
        value = int(value)
    return f"{f.column} {f.op} {_literal(value)}"


def _as_time(col: str, kind: str, target: Target) -> str:
    """The column as a timestamp (PostgreSQL)."""
    return f"to_timestamp({col} / 1000.0)" if kind == "ms" else col


def _day(col: str, kind: str, target: Target) -> str:
    if target == "sqlite":
        return (
            f"date({col} / 1000, 'unixepoch', '+8 hours')"
            if kind == "ms"
            else f"date({col}, '+8 hours')"
        )
    local = f"date_trunc('day', {_as_time(col, kind, target)} AT TIME ZONE 'Asia/Shanghai')"
    if target == "grafana":
        return f"{local} AT TIME ZONE 'Asia/Shanghai'"
    return f"to_char({local}, 'YYYY-MM-DD')"


def _time_filter(panel: Panel, target: Target) -> list[str]:
    rel = panel.relation
    assert rel is not None
    if rel.time is None or panel.window == "state":
        return []
    if rel.time_kind == "month":  # this month (Beijing), whatever the dashboard's range
        if target == "grafana":
            return [f"{rel.time} = to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"]
        return [f"{rel.time} = :month"]
    if target == "grafana":
        if panel.window == "live":
            if rel.time_kind == "ms":  # the column itself, so its index can serve
                return [f"{rel.time} > (extract(epoch from now()) - {panel.live_s}) * 1000"]
            return [
                f"{_as_time(rel.time, rel.time_kind, target)} > now() - interval '{panel.live_s} seconds'"
            ]
        if rel.time_kind == "ms":
            return [
                f"{rel.time} >= $__unixEpochFrom() * 1000::bigint "
                f"AND {rel.time} <= $__unixEpochTo() * 1000::bigint"
            ]
        return [f"$__timeFilter({rel.time})"]
    return [f"{rel.time} >= :start", f"{rel.time} < :end"]


def _select(panel: Panel) -> str:
    col = panel.field
    match panel.aggregate:
        case "count":
            return "count(*)"
        case "count_distinct":
            return f"count(DISTINCT {col})"
        case "ratio":
            return f"avg(CASE WHEN {col} THEN 1.0 ELSE 0.0 END)"
        case "mean":
            return f"avg({col})"
        case "sum" | "max" | "min":
            return f"{panel.aggregate}({col})"
    raise ValueError(f"panel {panel.id}: aggregate {panel.aggregate} has no SQL")


def compile_sql(panel: Panel, target: Target, *, county_filter: bool = True) -> str:
    """The panel's SQL for ``target``. Runtime targets bind ``:start``, ``:end`` and,
    when ``county_filter``, the expanding ``:counties``."""
    rel = panel.relation
    if panel.source != "sql" or rel is None:
        raise ValueError(f"panel {panel.id}: not a relational panel")
    where = _time_filter(panel, target) + [_filter(f, target) for f in panel.filters]
    if target == "grafana":
        where.append(f"{rel.county} IN ($county)")
    elif county_filter:
        where.append(f"{rel.county} IN :counties")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    if panel.aggregate == "last":  # a list of rows (a map's places)
        cols = ", ".join(
            [f'{panel.field} AS "name"', f'{rel.county} AS "county"']
            + [f'{c} AS "{c.split(".")[-1]}"' for c in panel.columns]
        )
        return f"SELECT {cols} FROM {rel.from_sql}{clause} ORDER BY 1"
    keys: list[str] = []
    if panel.bucket == "1d":
        assert rel.time is not None
        keys.append(f'{_day(rel.time, rel.time_kind, target)} AS "time"')
    elif panel.bucket is not None:
        raise ValueError(f"panel {panel.id}: SQL buckets are days")
    keys += [f'{g} AS "{_label(g)}"' for g in panel.group]
    if panel.aggregate == "count_distinct" and keys:
        return _distinct_per_group(panel, keys, where)
    value = _select(panel)
    if panel.fen and target == "grafana":
        value = f"{value} / 100.0"
    select = ", ".join([*keys, f'{value} AS "value"'])
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    order = ""
    if keys:
        order = " ORDER BY " + (f"{len(keys) + 1} DESC" if panel.order_desc else "1")
    limit = f" LIMIT {int(panel.limit)}" if panel.limit else ""
    return f"SELECT {select} FROM {rel.from_sql}{clause}{group}{order}{limit}"


def _distinct_per_group(panel: Panel, keys: list[str], where: list[str]) -> str:
    """``count(DISTINCT col)`` per group as distinct (group, col) pairs counted: the
    pairs are hashed (a few hundred) where ``count(DISTINCT)`` sorts every joined row
    of the window (lots_by_stage: 50,000), the same counts (NULLs left out as there)."""
    rel = panel.relation
    assert rel is not None
    labels = ", ".join(f'"{k.rsplit(" AS ", 1)[1].strip(chr(34))}"' for k in keys)
    cond = " AND ".join([*where, f"{panel.field} IS NOT NULL"])
    inner = (
        f'SELECT DISTINCT {", ".join(keys)}, {panel.field} AS "v" FROM {rel.from_sql} WHERE {cond}'
    )
    n = len(keys)
    order = f"{n + 1} DESC" if panel.order_desc else "1"
    limit = f" LIMIT {int(panel.limit)}" if panel.limit else ""
    group = ", ".join(str(i + 1) for i in range(n))
    return (
        f'SELECT {labels}, count(*) AS "value" FROM ({inner}) AS "d" '
        f"GROUP BY {group} ORDER BY {order}{limit}"
    )


def compile_freshness(panel: Panel, target: Target, *, county_filter: bool = True) -> str | None:
    """The newest time of the panel's source (None: master data without a time)."""
    rel = panel.relation
    assert rel is not None
    table, col, county = rel.from_sql, rel.time, rel.county
    if rel.fresh is not None:
        (table, col), county = rel.fresh, "county"
    if col is None:
        return None
    if target == "grafana":
        cond = f" WHERE {county} IN ($county)"
    else:
        cond = f" WHERE {county} IN :counties" if county_filter else ""
    return f'SELECT max({col}) AS "newest" FROM {table}{cond}'


def _label(column: str) -> str:
    return column.split(".")[-1]


def _ts(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def expand(q: str, *, start_ms: int, end_ms: int, counties: Sequence[str]) -> str:
    """Expand Grafana's PostgreSQL macros as Grafana does (``$__timeFilter(c)`` is
    ``c BETWEEN '{from}' AND '{to}'``, RFC 3339 UTC; ``$__unixEpochFrom()`` seconds;
    a multi-value variable is its values quoted and joined by commas)."""
    import re

    q = re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        lambda m: f"{m.group(1)} BETWEEN '{_ts(start_ms)}' AND '{_ts(end_ms)}'",
        q,
    )
    q = q.replace("$__unixEpochFrom()", str(start_ms // 1000))
    q = q.replace("$__unixEpochTo()", str(end_ms // 1000))
    return q.replace("$county", ",".join(_literal(c) for c in counties))
