"""THE panel catalogue of the big-data screen: each panel once, abstractly.

A panel says *what* it shows (metric, aggregate, window, group, filter); the
compilers say *how*: :mod:`.influxql` and :mod:`.sql` compile it for Grafana (InfluxDB
1.x InfluxQL and PostgreSQL SQL, with Grafana's macros), and :mod:`.runner` runs it
for ``/screen`` through our own time-series interface (InfluxDB or the embedded SQLite
store) and the relational session (PostgreSQL or SQLite). So this module is the single
place that says what "rooms out of range" or "scans today" means.

Windows are Beijing time: ``today`` starts at Beijing midnight, ``month`` on the 1st.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Literal

Source = Literal["ts", "sql"]
Aggregate = Literal["mean", "max", "min", "sum", "count", "count_distinct", "last", "mkt", "ratio"]
#: ``range``: the dashboard's range (the wall: ``screen_range_s``), bucketed by ``bucket``;
#: ``today``/``month``: since Beijing midnight / the 1st; ``live``: the last ``live_s``.
#: ``state``: no time filter, the current state (open alarms, open excursions).
Window = Literal["range", "today", "month", "live", "state"]
Bucket = Literal["interval", "1h", "1d", "1w"]
Kind = Literal["stat", "timeseries", "bar", "table", "geomap"]
Op = Literal["=", "!=", ">=", "<=", "in", "is_null"]

BUCKET_MS: dict[str, int] = {"1h": 3_600_000, "1d": 86_400_000, "1w": 7 * 86_400_000}


@dataclass(frozen=True, slots=True)
class Filter:
    column: str
    op: Op
    value: str | float | bool | tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Relation:
    """A relational source: a table, or a portable join (``from_sql``) named ``name``.

    ``time``: the column a window filters on, ``time_kind``: ``ts`` (a UTC datetime
    column), ``ms`` (epoch milliseconds) or ``month`` (a Beijing ``YYYY-MM`` string: a
    ``month`` window is that month). ``county``: the county column. ``fresh``: the
    (table, datetime column) whose newest value says how fresh the source is, when
    ``time`` cannot."""

    name: str
    from_sql: str
    time: str | None
    time_kind: Literal["ts", "ms", "month"] = "ts"
    county: str = "county"
    fresh: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Panel:
    id: str
    title_zh: str
    title_en: str
    source: Source
    kind: Kind
    aggregate: Aggregate
    window: Window
    #: time series: measurement and field; relational: the value column ("*" counts rows)
    #: the module whose tables the panel reads: 未接入 (not connected) until it exists
    requires: str | None = None
    measurement: str | None = None
    field: str = "*"
    relation: Relation | None = None
    bucket: Bucket | None = None
    #: "county", "device", or a relation's column; time buckets come from ``bucket``
    group: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    #: count the groups whose value passes this (e.g. vehicles whose top speed >= 3 km/h)
    count_where: tuple[Op, float] | None = None
    #: extra columns a table or map shows (relational)
    columns: tuple[str, ...] = ()
    #: hourly-or-longer buckets read whole hours from the 1-h roll-ups, the edges raw
    rollups: bool = False
    order_desc: bool = False
    limit: int | None = None
    unit: str = "none"
    #: the aggregate is integer fen: Grafana's SQL divides by 100 (exact numeric in
    #: PostgreSQL), the wall gets a Decimal of yuan
    fen: bool = False
    decimals: int = 0
    live_s: int = 900
    #: the wall's range for ``range`` windows
    screen_range_s: int = 86_400
    #: older than this, the panel says 数据陈旧 (stale)
    stale_after_s: int = 900
    note: str = ""
    extra: dict[str, str] = dc_field(default_factory=dict)


# ------------------------------------------------------------------ relations

EXCURSIONS = Relation("coldchain_excursions", "coldchain_excursions", "start_ms", "ms")
ALARMS = Relation("coldchain_alarms", "coldchain_alarms", "raised_at")
SCANS = Relation("scans", "scans", "at")
BRAND = Relation("trace_brand_decisions", "trace_brand_decisions", "decided_at")
EVENTS = Relation("trace_events", "trace_events", "event_time")
EVENT_LOTS = Relation(
    "event_lots",
    "trace_events e JOIN trace_event_objects o ON o.event_seq = e.seq",
    "e.event_time",
    county="e.county",
)
FLAGS = Relation("scan_flags", "scan_flags", "last_at")
#: the device registry: ingest keeps each device's newest reading time with every batch
DEVICES = Relation("devices", "devices", "last_reading_ms", "ms")
WAYBILLS = Relation("logistics_waybills", "logistics_waybills", "updated_at")
PLACES = Relation(
    "places",
    "locations l JOIN production_bases b ON b.id = l.base_id",
    None,
    county="l.county",
)
STATIONS = Relation("locations", "locations", None)
#: cloud/commerce: a counted order line is what the programme's indicators count
#: (cloud/commerce/README.md); the screen sums the same lines, net of refunds, in yuan
ORDERS_FRESH = ("commerce_orders", "ordered_at")
LINES = Relation(
    "commerce_order_lines", "commerce_order_lines", "month", "month", fresh=ORDERS_FRESH
)
LINE_PRODUCTS = Relation(
    "line_products",
    "commerce_order_lines ol JOIN products p ON p.id = ol.product_id",
    "ol.month",
    "month",
    county="ol.county",
    fresh=ORDERS_FRESH,
)
ORDERS = Relation("commerce_orders", "commerce_orders", "ordered_at")
#: money is summed in integer fen; the value is yuan (``fen``: exact Decimal, never a float)
NET_FEN = "amount_fen - refunded_fen"
COMMERCE = "cloud.commerce.storage"

# ------------------------------------------------------------------ panels

P = Panel
PANELS: tuple[Panel, ...] = (
    # e-commerce (cloud/commerce indicators; 未接入 until they land)
    P("sales_month", "本月网络零售额", "Online retail sales this month", "sql", "stat",
      "sum", "month", requires=COMMERCE, relation=LINES, field=NET_FEN, fen=True,
      filters=(Filter("counted", "=", True),), unit="currencyCNY", stale_after_s=86_400,
      note="网络零售额: counted order lines net of refunds (cloud/commerce/README.md)"),
    P("sales_trend", "网络零售额走势", "Online retail sales by day", "sql", "timeseries",
      "sum", "month", requires=COMMERCE, relation=ORDERS, field=NET_FEN, fen=True, bucket="1d",
      filters=(Filter("status", "!=", "cancelled"),), unit="currencyCNY",
      stale_after_s=86_400, note="orders placed each Beijing day, net of refunds"),
    P("sales_by_county", "各县网络零售额", "Sales by county", "sql", "bar", "sum", "month",
      requires=COMMERCE, relation=LINES, field=NET_FEN, fen=True, group=("county",),
      filters=(Filter("counted", "=", True),), unit="currencyCNY", stale_after_s=86_400),
    P("top_products", "热销产品", "Top products", "sql", "table", "sum", "month",
      requires=COMMERCE, relation=LINE_PRODUCTS, field="ol.amount_fen - ol.refunded_fen", fen=True,
      group=("p.name",), filters=(Filter("ol.counted", "=", True),), order_desc=True,
      limit=8, unit="currencyCNY", stale_after_s=86_400),
    # cold chain
    P("coldroom_temp", "冷库平均温度", "Cold-room mean temperature", "ts", "timeseries",
      "mean", "range", measurement="cold_room", field="temperature", bucket="1h",
      group=("county",), unit="celsius", decimals=1, rollups=True),
    P("rooms_reporting", "在线冷库", "Cold rooms reporting", "sql", "stat", "count", "live",
      relation=DEVICES, filters=(Filter("kind", "=", "cold_room"),),
      note="cold rooms whose newest reading is within 15 min: the device registry's "
      "last-value (devices.last_reading_ms, kept by ingest with every batch), not a scan "
      "of the raw series"),
    P("rooms_out", "超限冷库", "Cold rooms out of range", "sql", "stat", "count_distinct",
      "state", relation=EXCURSIONS, field="device", filters=(Filter("end_ms", "is_null"),),
      screen_range_s=30 * 86_400, stale_after_s=86_400 * 365,
      note="rooms with an open excursion (the cold-chain engine's, never recomputed here)"),
    P("open_alarms", "未关闭告警", "Open alarms", "sql", "stat", "count", "state",
      relation=ALARMS, filters=(Filter("status", "in", ("raised", "acknowledged")),),
      screen_range_s=30 * 86_400, stale_after_s=86_400 * 365),
    P("vehicle_temp", "冷藏车厢温度", "Reefer temperature", "ts", "timeseries", "mean",
      "range", measurement="vehicle", field="temp1", bucket="1h", group=("county",),
      unit="celsius", decimals=1),
    P("vehicles_on_road", "在途车辆", "Vehicles on the road", "ts", "stat", "max", "live",
      measurement="vehicle", field="speed_kmh", group=("device",), count_where=(">=", 3.0),
      live_s=600, note="vehicles whose top speed in the last 10 min is 3 km/h or more"),
    P("excursions_per_day", "每日超温事件", "Excursions per day", "sql", "bar", "count",
      "range", relation=EXCURSIONS, bucket="1d", screen_range_s=7 * 86_400,
      stale_after_s=86_400 * 365),
    P("mkt_week", "每周平均动力学温度", "MKT by week", "ts", "timeseries", "mkt", "range",
      measurement="cold_room", field="temperature", bucket="1w", group=("county",),
      unit="celsius", decimals=2, screen_range_s=28 * 86_400, stale_after_s=7_200,
      note="from the 1-h roll-ups (MKT = -10000 / ln(Σ exp(-ΔH/RT) / n) - 273.15)"),
    # logistics
    P("vehicles_map", "车辆位置", "Vehicles", "ts", "geomap", "last", "live",
      measurement="vehicle", field="lat", group=("device",), live_s=3_600,
      extra={"lon": "lon"}),
    P("places_map", "站点与冷库", "Stations and cold stores", "sql", "geomap", "last",
      "range", relation=PLACES, field="l.name",
      filters=(Filter("l.kind", "in", ("station", "cold_room", "warehouse")),),
      columns=("l.kind", "b.lat", "b.lon"), stale_after_s=86_400 * 3650),
    P("waybills_by_state", "运单状态", "Waybills by state", "sql", "bar", "count", "range",
      relation=WAYBILLS, group=("status",), screen_range_s=30 * 86_400,
      stale_after_s=86_400 * 365),
    # traceability
    P("scans_today", "今日扫码", "Trace-code scans today", "sql", "stat", "count", "today",
      relation=SCANS, stale_after_s=86_400),
    P("brand_admitted", "品牌准入批次", "Admitted brand lots", "sql", "stat",
      "count_distinct", "range", relation=BRAND, field="lot_id",
      filters=(Filter("granted", "=", True),), screen_range_s=365 * 86_400,
      stale_after_s=86_400 * 365),
    P("stations_active", "服务站点", "Stations", "sql", "stat", "count", "range",
      relation=STATIONS, filters=(Filter("kind", "=", "station"),),
      stale_after_s=86_400 * 3650),
    P("events_per_day", "每日追溯事件", "Trace events per day", "sql", "bar", "count",
      "range", relation=EVENTS, bucket="1d", screen_range_s=7 * 86_400,
      stale_after_s=86_400 * 7),
    P("lots_by_stage", "各环节批次", "Lots by stage", "sql", "bar", "count_distinct",
      "range", relation=EVENT_LOTS, field="o.lot", group=("e.biz_step",),
      screen_range_s=7 * 86_400, stale_after_s=86_400 * 7),
    P("brand_rate", "品牌准入率", "Brand admission rate", "sql", "stat", "ratio", "range",
      relation=BRAND, field="granted", unit="percentunit", decimals=1,
      screen_range_s=365 * 86_400, stale_after_s=86_400 * 365),
    P("counterfeit_flags", "疑似假冒标记", "Counterfeit flags", "sql", "bar", "count",
      "range", relation=FLAGS, group=("kind",), screen_range_s=30 * 86_400,
      stale_after_s=86_400 * 365),
)  # fmt: skip

BY_ID: dict[str, Panel] = {p.id: p for p in PANELS}
if len(BY_ID) != len(PANELS):  # pragma: no cover - a catalogue edit
    raise RuntimeError("duplicate panel id in the catalogue")


@dataclass(frozen=True, slots=True)
class Place:
    """A panel on a dashboard: grid position (Grafana's 24 columns)."""

    panel: str
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    places: tuple[Place, ...]
    #: county: a county variable (the prefecture org's dashboards) over the direct sources
    county_variable: bool = True
    kiosk: bool = False
    refresh: str = "30s"
    time_from: str = "now-24h"


def _row(y: int, h: int, *specs: tuple[str, int]) -> tuple[Place, ...]:
    out, x = [], 0
    for panel, w in specs:
        out.append(Place(panel, x, y, w, h))
        x += w
    return tuple(out)


#: 1920x1080 kiosk: Grafana's row height is 30 px + 8 px gap, so 28 rows fill the wall
#: (24 rows of panels; a non-stat panel's last 2 rows are its 数据截至 freshness cell).
OVERVIEW = Dashboard(
    "dehong-overview",
    "总览 Overview",
    _row(0, 4, ("sales_month", 6), ("rooms_reporting", 3), ("rooms_out", 3),
         ("open_alarms", 3), ("vehicles_on_road", 3), ("scans_today", 2),
         ("brand_admitted", 2), ("stations_active", 2))
    + _row(4, 10, ("sales_trend", 12), ("sales_by_county", 12))
    + _row(14, 10, ("top_products", 8), ("coldroom_temp", 16)),
    kiosk=True,
)  # fmt: skip
COUNTY = Dashboard(
    "dehong-county",
    "县域 County drill-down",
    _row(0, 5, ("sales_month", 6), ("rooms_reporting", 3), ("rooms_out", 3),
         ("open_alarms", 3), ("vehicles_on_road", 3), ("scans_today", 3), ("brand_admitted", 3))
    + _row(5, 10, ("sales_trend", 12), ("top_products", 12))
    + _row(15, 10, ("coldroom_temp", 12), ("waybills_by_state", 12)),
)  # fmt: skip
COLDCHAIN = Dashboard(
    "dehong-coldchain",
    "冷链 Cold chain",
    _row(0, 5, ("rooms_reporting", 6), ("rooms_out", 6), ("open_alarms", 6),
         ("vehicles_on_road", 6))
    + _row(5, 10, ("coldroom_temp", 12), ("vehicle_temp", 12))
    + _row(15, 10, ("excursions_per_day", 12), ("mkt_week", 12)),
    time_from="now-30d",
)  # fmt: skip
LOGISTICS = Dashboard(
    "dehong-logistics",
    "物流 Logistics",
    _row(0, 14, ("vehicles_map", 12), ("places_map", 12))
    + _row(14, 9, ("waybills_by_state", 12), ("vehicles_on_road", 12)),
)  # fmt: skip
TRACE = Dashboard(
    "dehong-trace",
    "追溯 Traceability",
    _row(0, 5, ("scans_today", 6), ("brand_admitted", 6), ("brand_rate", 6),
         ("stations_active", 6))
    + _row(5, 10, ("events_per_day", 12), ("lots_by_stage", 12))
    + _row(15, 9, ("counterfeit_flags", 24)),
    time_from="now-7d",
)  # fmt: skip
DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, COUNTY, COLDCHAIN, LOGISTICS, TRACE)
#: what the built-in wall (/screen) shows: the overview's panels, then the cold chain's
SCREEN_PANELS: tuple[str, ...] = (
    "sales_month", "rooms_reporting", "rooms_out", "open_alarms", "vehicles_on_road",
    "scans_today", "brand_admitted", "stations_active", "sales_trend", "sales_by_county",
    "top_products", "coldroom_temp", "vehicles_map", "waybills_by_state", "events_per_day",
)  # fmt: skip
