"""Grafana dashboards from the catalogue (a small typed builder of our own: the
InfluxQL targets are ours, grafana-foundation-sdk has none).

``dehong grafana build`` writes ``grafana/dashboards/*.json`` and the provisioning
YAML; ``tests/grafana/test_dashboards.py`` regenerates them and fails on drift.
Grafana is AGPL: it is only ever a separate service in compose, never imported.

Sources: the prefecture org reads InfluxDB and PostgreSQL directly (it sees every
county). A county reads only through our API with its own display key (Infinity data
source, ``county_dashboard``), see ``grafana/README.md``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cloud.commerce.screen.catalogue import BY_ID, DASHBOARDS, Dashboard, Panel
from cloud.commerce.screen.influxql import compile_influxql
from cloud.commerce.screen.runner import connected
from cloud.commerce.screen.sql import compile_sql
from protocol.ids import COUNTIES, COUNTY_CODES

INFLUX = {"type": "influxdb", "uid": "dehong-influxdb"}
POSTGRES = {"type": "grafana-postgresql-datasource", "uid": "dehong-postgres"}
MIXED = {"type": "datasource", "uid": "-- Mixed --"}
INFINITY_TYPE = "yesoreyeram-infinity-datasource"
#: Grafana's built-in pseudo data sources (not provisioned)
BUILTIN_UIDS = frozenset({"-- Mixed --", "-- Grafana --", "-- Dashboard --"})
#: OpenStreetMap: WGS-84, as the data. Chinese providers: grafana/README.md.
DEFAULT_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
SCHEMA_VERSION = 39
NOT_CONNECTED_SQL = "SELECT '未接入 not connected' AS \"value\""


@dataclass(frozen=True, slots=True)
class BuildOptions:
    tiles: str = DEFAULT_TILES
    #: the API base Grafana reaches for county dashboards (Infinity)
    api_url: str = "http://api:8080"


def _title(p: Panel) -> str:
    return f"{p.title_zh} · {p.title_en}"


def _description(p: Panel) -> str:
    mins = p.stale_after_s // 60
    text = (
        f"{p.title_en}. 新鲜度：数据超过 {mins} 分钟未更新即为陈旧（“数据截至”显示“陈旧”）。"
        f" Freshness: stale when the source has no data for {mins} min "
        "(its data-age value says STALE)."
    )
    return text + (f" {p.note}" if p.note else "")


def _time_override(p: Panel) -> dict[str, Any]:
    if p.window == "today":
        return {"timeFrom": "now/d", "hideTimeOverride": False}
    if p.window == "month":
        return {"timeFrom": "now/M", "hideTimeOverride": False}
    return {}


GRAFANA_TYPE = {
    "stat": "stat",
    "timeseries": "timeseries",
    "bar": "barchart",
    "table": "table",
    "geomap": "geomap",
}


def targets(p: Panel, opts: BuildOptions) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The panel's data source and targets."""
    if p.source == "ts":
        fmt = "time_series" if p.kind == "timeseries" else "table"
        return INFLUX, [
            {
                "refId": "A",
                "datasource": INFLUX,
                "query": compile_influxql(p),
                "rawQuery": True,
                "resultFormat": fmt,
            }
        ]
    sql = compile_sql(p, "grafana") if connected(p) else NOT_CONNECTED_SQL
    fmt = "time_series" if p.kind == "timeseries" else "table"
    return POSTGRES, [
        {
            "refId": "A",
            "datasource": POSTGRES,
            "rawSql": sql,
            "rawQuery": True,
            "editorMode": "code",
            "format": fmt,
        }
    ]


def _geomap_options(opts: BuildOptions) -> dict[str, Any]:
    return {
        "view": {"id": "coords", "lat": 24.43, "lon": 98.58, "zoom": 8},
        "controls": {"showZoom": True, "mouseWheelZoom": True},
        "basemap": {
            "type": "xyz",
            "name": "tiles",
            "config": {"url": opts.tiles, "attribution": "© tile provider (grafana/README.md)"},
        },
        "layers": [
            {
                "type": "markers",
                "name": "markers",
                "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                "config": {"size": {"fixed": 6}, "color": {"fixed": "#ffb300"}},
            }
        ],
    }


def panel_json(p: Panel, pid: int, grid: dict[str, int], opts: BuildOptions) -> dict[str, Any]:
    ds, tgts = targets(p, opts)
    out: dict[str, Any] = {
        "id": pid,
        "type": GRAFANA_TYPE[p.kind],
        "title": _title(p),
        "description": _description(p),
        "gridPos": grid,
        "datasource": ds,
        "targets": tgts,
        "fieldConfig": {
            "defaults": {
                "unit": p.unit,
                "decimals": p.decimals,
                "noValue": "无数据 no data",
            },
            "overrides": [],
        },
        "options": {},
        **_time_override(p),
    }
    if p.kind == "stat":
        out["options"] = {"colorMode": "value", "graphMode": "none", "textMode": "value"}
    if p.kind == "geomap":
        out["options"] = _geomap_options(opts)
    if p.kind == "bar":
        out["options"] = {"xField": "time" if p.bucket else p.group[0].split(".")[-1]}
    return out


#: the freshness target's refId, in every panel (a stat) or its 数据截至 cell (the others)
FRESH_REF = "F"
FRESH_NAME = "数据截至 · data age"
#: rows of a non-stat panel's freshness cell, under the panel
FRESH_ROWS = 2


def freshness_target(p: Panel) -> dict[str, Any]:
    """The panel's freshness query (refId ``F``), on the panel's own source.

    Relational: the age in seconds of the newest row of its source (``max`` of its time
    column, or its ``fresh`` table for the order lines), so the cell reads "4.2 min";
    0 for master data without a time (current as read, as on the wall). Time series
    (InfluxQL cannot subtract ``now()``): how many points the measurement received in
    the panel's stale window. Either way :func:`_fresh_field` maps the stale case to
    陈旧 STALE in red."""
    if p.source == "ts":
        q = (
            f'SELECT count("{p.field}") AS "{FRESH_NAME}" FROM "raw"."{p.measurement}" '
            f'WHERE time > now() - {p.stale_after_s}s AND "county" =~ /^$county$/'
        )
        return {"refId": FRESH_REF, "datasource": INFLUX, "query": q, "rawQuery": True,
                "resultFormat": "table"}  # fmt: skip
    rel = p.relation
    assert rel is not None
    table, col, county, kind = rel.from_sql, rel.time, rel.county, rel.time_kind
    if rel.fresh is not None:
        (table, col), county, kind = rel.fresh, "county", "ts"
    if not connected(p):
        q = NOT_CONNECTED_SQL.replace('"value"', f'"{FRESH_NAME}"')
    elif col is None:
        q = f'SELECT 0 AS "{FRESH_NAME}"'
    else:
        if kind == "ms":
            age = f"extract(epoch from now()) - max({col}) / 1000.0"
        else:
            age = f"extract(epoch from now() - max({col}))"
        q = f'SELECT {age} AS "{FRESH_NAME}" FROM {table} WHERE {county} IN ($county)'
    return {"refId": FRESH_REF, "datasource": POSTGRES, "rawSql": q, "rawQuery": True,
            "editorMode": "code", "format": "table"}  # fmt: skip


def is_fresh(p: Panel, value: float | None) -> bool:
    """What the freshness cell shows as fresh (the mapping of :func:`_fresh_field`)."""
    if value is None:
        return False
    return value > 0 if p.source == "ts" else value < p.stale_after_s


def _fresh_field(p: Panel, *, age: bool | None = None) -> dict[str, Any]:
    """Field config of the freshness value: 陈旧 STALE (red) when stale, else green.
    ``age``: the value is an age in seconds (relational panels, and every panel read
    through the API), else a count of recent points (time series read directly)."""
    stale = {"text": "陈旧 STALE", "color": "red"}
    age = p.source == "sql" if age is None else age
    if not age:
        mappings: list[dict[str, Any]] = [
            {"type": "value", "options": {"0": stale}},
            {"type": "range", "options": {"from": 1, "to": None, "result": {
                "text": f"新鲜 fresh (<{p.stale_after_s // 60} min)", "color": "green"}}},
        ]  # fmt: skip
        unit = "none"
    else:
        mappings = [{"type": "range", "options": {"from": p.stale_after_s, "to": None,
                                                  "result": stale}}]  # fmt: skip
        unit = "s"
    return {
        "displayName": FRESH_NAME,
        "unit": unit,
        "decimals": 0,
        "mappings": mappings,
        "noValue": "陈旧 STALE",
        "color": {"mode": "thresholds"},
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": p.stale_after_s}]
            if age
            else [{"color": "red", "value": None}, {"color": "green", "value": 1}],
        },
    }


def with_freshness(
    p: Panel, main: dict[str, Any], next_id: int, fresh: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The panel and its freshness: a stat shows it beside its value; any other panel
    gets a 数据截至 cell (a stat of the same width) in its last rows. ``fresh``: the
    freshness target when not :func:`freshness_target` (a county's: the API's age)."""
    by_age = None if fresh is None else True
    fresh = freshness_target(p) if fresh is None else fresh
    if p.kind == "stat":
        main["targets"].append(fresh)
        main["datasource"] = main["targets"][0]["datasource"]
        main["options"]["textMode"] = "value_and_name"
        main["fieldConfig"]["overrides"].append({  # the value keeps the panel's name
            "matcher": {"id": "byFrameRefID", "options": "A"},
            "properties": [{"id": "displayName", "value": p.title_zh}],
        })  # fmt: skip
        main["fieldConfig"]["overrides"].append({
            "matcher": {"id": "byFrameRefID", "options": FRESH_REF},
            "properties": [{"id": k, "value": v} for k, v in _fresh_field(p, age=by_age).items()],
        })  # fmt: skip
        return [main]
    g = main["gridPos"]
    main["gridPos"] = {**g, "h": g["h"] - FRESH_ROWS}
    cell = {
        "id": next_id,
        "type": "stat",
        "title": "",
        "description": f"数据截至 · data age of {p.title_zh} {p.title_en}",
        "gridPos": {"x": g["x"], "y": g["y"] + g["h"] - FRESH_ROWS, "w": g["w"], "h": FRESH_ROWS},
        "datasource": fresh["datasource"],
        "targets": [fresh],
        "fieldConfig": {"defaults": _fresh_field(p, age=by_age), "overrides": []},
        "options": {
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
            "justifyMode": "center",
        },
    }
    return [main, cell]


def _county_variable() -> dict[str, Any]:
    options = [
        {"text": f"{COUNTIES[c][0]} {c}", "value": c, "selected": False} for c in COUNTY_CODES
    ]
    return {
        "name": "county",
        "label": "县市 County",
        "type": "custom",
        "query": ",".join(f"{COUNTIES[c][1]} : {c}" for c in COUNTY_CODES),
        "multi": True,
        "includeAll": True,
        "current": {"text": ["All"], "value": ["$__all"]},
        "options": [{"text": "All", "value": "$__all", "selected": True}, *options],
    }


def dashboard_json(d: Dashboard, opts: BuildOptions | None = None) -> dict[str, Any]:
    opts = opts or BuildOptions()
    panels: list[dict[str, Any]] = []
    for place in d.places:
        grid = {"x": place.x, "y": place.y, "w": place.w, "h": place.h}
        p = BY_ID[place.panel]
        pid = len(panels) + 1
        panels += with_freshness(p, panel_json(p, pid, grid, opts), pid + 1)
    return {
        "uid": d.uid,
        "title": d.title,
        "tags": ["dehong", "generated"],
        "timezone": "Asia/Shanghai",
        "editable": False,
        "graphTooltip": 1,
        "refresh": d.refresh,
        "time": {"from": d.time_from, "to": "now"},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "description": "生成自 cloud/commerce/screen/catalogue.py，请勿手改 (generated; do not edit by hand)",
        "templating": {"list": [_county_variable()] if d.county_variable else []},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def county_dashboard(county: str, opts: BuildOptions | None = None) -> dict[str, Any]:
    """The county drill-down for a county's own Grafana org: every panel reads
    ``/api/v1/screen/panels/{id}`` through the county's Infinity data source, whose API
    key is a display key of that county, so the API's county scope is the isolation."""
    opts = opts or BuildOptions()
    base = next(d for d in DASHBOARDS if d.uid == "dehong-county")
    ds = {"type": INFINITY_TYPE, "uid": f"dehong-api-{county}"}
    panels: list[dict[str, Any]] = []
    for place in base.places:
        p = BY_ID[place.panel]
        pid = len(panels) + 1
        pj = panel_json(p, pid, {"x": place.x, "y": place.y, "w": place.w, "h": place.h}, opts)
        pj["datasource"] = ds
        pj["targets"] = [api_target(p, opts, "A", "value" if p.kind == "stat" else "rows", ds)]
        # its freshness: the same answer's age_s (the API's newest_ms to its read)
        panels += with_freshness(p, pj, pid + 1, api_target(p, opts, FRESH_REF, "age_s", ds))
    return {
        "uid": f"dehong-county-{county}",
        "title": f"{COUNTIES[county][1]} {county} · {COUNTIES[county][0]}",
        "tags": ["dehong", "generated", "county"],
        "timezone": "Asia/Shanghai",
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def api_target(
    p: Panel, opts: BuildOptions, ref: str, root: str, ds: dict[str, str]
) -> dict[str, Any]:
    """An Infinity target on ``/api/v1/screen/panels/{id}``: ``root`` of its JSON."""
    return {
        "refId": ref,
        "datasource": ds,
        "type": "json",
        "source": "url",
        "format": "table",
        "parser": "backend",
        "url": f"{opts.api_url}/api/v1/screen/panels/{p.id}",
        "url_options": {"method": "GET"},
        "root_selector": root,
    }


def county_datasource(county: str, opts: BuildOptions, key: str) -> dict[str, Any]:
    """The county org's Infinity data source (its key: a display key of the county)."""
    return {
        "name": f"Dehong API {county}",
        "uid": f"dehong-api-{county}",
        "type": INFINITY_TYPE,
        "access": "proxy",
        "url": opts.api_url,
        "jsonData": {"httpHeaderName1": "X-API-Key", "allowedHosts": [opts.api_url]},
        "secureJsonData": {"httpHeaderValue1": key},
    }


DATASOURCES_YAML = """\
# Generated by `dehong grafana build` (cloud/commerce/screen/grafana.py); do not edit.
# The prefecture org (1) reads the stores directly: the prefecture sees every county.
# Counties read through the API with their own display key (grafana/README.md).
apiVersion: 1
datasources:
  - name: InfluxDB (dehong)
    uid: dehong-influxdb
    type: influxdb
    access: proxy
    orgId: 1
    url: ${DEHONG_INFLUX_URL}
    jsonData:
      dbName: ${DEHONG_INFLUX_DB}
      httpMode: GET
    isDefault: true
    editable: false
  - name: PostgreSQL (dehong)
    uid: dehong-postgres
    type: grafana-postgresql-datasource
    access: proxy
    orgId: 1
    url: ${DEHONG_PG_HOST}
    user: ${DEHONG_PG_GRAFANA_USER}
    jsonData:
      database: ${DEHONG_PG_DB}
      sslmode: disable
      postgresVersion: 1500
      timescaledb: false
    secureJsonData:
      password: ${DEHONG_PG_GRAFANA_PASSWORD}
    editable: false
"""

DASHBOARDS_YAML = """\
# Generated by `dehong grafana build`; do not edit.
apiVersion: 1
providers:
  - name: dehong
    orgId: 1
    folder: Dehong
    type: file
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: /var/lib/grafana/dashboards
      foldersFromFilesStructure: false
"""


#: lower-case words of the generated SQL that are not columns (its keywords are upper
#: case; a function is followed by "(")
_SQL_WORDS = frozenset({"bigint", "interval", "epoch", "from", "true", "false"})
_FROM = re.compile(
    r"\b(?:FROM|JOIN)\s+([a-z_]+)(?:\s+(?!WHERE\b|JOIN\b|ON\b|GROUP\b|ORDER\b)([a-z]\w*))?"
)


def reader_queries() -> list[str]:
    """Every SQL Grafana runs on PostgreSQL: each dashboard's targets."""
    out: dict[str, None] = {}
    for d in DASHBOARDS:
        for panel in dashboard_json(d)["panels"]:
            for t in panel["targets"]:
                if "rawSql" in t and t["rawSql"] != NOT_CONNECTED_SQL:
                    out[t["rawSql"]] = None
    return list(out)


def columns_read(q: str) -> dict[str, set[str]]:
    """table -> the columns one generated statement reads (its joins' aliases
    resolved; an unqualified column in a join is refused: it would be ambiguous)."""
    aliases = {(m.group(2) or m.group(1)): m.group(1) for m in _FROM.finditer(q)}
    tables = set(aliases.values())
    body = re.sub(r"'[^']*'|\"[^\"]*\"|\$\w+", " ", q)
    out: dict[str, set[str]] = {t: set() for t in tables}
    for m in re.finditer(r"(?<![\w.])([a-z_]\w*)\b(?:\.([a-z_]\w*)\b)?(?!\s*\()", body):
        word, col = m.group(1), m.group(2)
        if col is not None:
            out[aliases[word]].add(col)
        elif word not in _SQL_WORDS and word not in aliases and word not in tables:
            if len(tables) != 1:
                raise ValueError(f"unqualified column {word} in a join: {q}")
            out[next(iter(tables))].add(word)
    return out


def reader_columns() -> dict[str, list[str]]:
    """table -> the columns Grafana's read-only role may read: exactly those the
    dashboards' SQL reads (never a whole table: no phone, position or secret)."""
    acc: dict[str, set[str]] = {}
    for q in reader_queries():
        for table, cols in columns_read(q).items():
            acc.setdefault(table, set()).update(cols)
    return {t: sorted(c) for t, c in sorted(acc.items())}


def reader_tables() -> list[str]:
    """Every table a dashboard reads (Grafana's read-only role reads some of its columns)."""
    return list(reader_columns())


def grants_sql() -> str:
    lines = [
        "-- Generated by `dehong grafana build`; do not edit. Run after `cloud init-db`:",
        "--   docker compose exec -T postgres psql -U dehong dehong < grafana/reader-grants.sql",
        "-- Grafana's role reads the columns the dashboards' SQL reads, nothing else: never",
        "-- users, keys or personal data (phones, names, scan positions). Re-running it",
        "-- first revokes what an older version granted (whole tables).",
    ]
    for table, cols in reader_columns().items():
        lines.append(f"REVOKE ALL ON {table} FROM grafana_reader;")
        lines.append(f"GRANT SELECT ({', '.join(cols)}) ON {table} TO grafana_reader;")
    return "\n".join(lines) + "\n"


def build(opts: BuildOptions | None = None) -> dict[str, str]:
    """Every generated file under ``grafana/``: relative path -> text."""
    opts = opts or BuildOptions()
    out = {
        "provisioning/datasources/dehong.yaml": DATASOURCES_YAML,
        "provisioning/dashboards/dehong.yaml": DASHBOARDS_YAML,
        "reader-grants.sql": grants_sql(),
    }
    for d in DASHBOARDS:
        out[f"dashboards/{d.uid}.json"] = (
            json.dumps(dashboard_json(d, opts), ensure_ascii=False, indent=2) + "\n"
        )
    return out
