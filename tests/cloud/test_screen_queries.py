"""Every panel query of the catalogue, run for real (issue 14):

- the Grafana targets (InfluxQL on the CI's InfluxDB 1.6.7, SQL on its PostgreSQL),
  with Grafana's macros expanded the way Grafana expands them;
- the wall's runner on the same data (InfluxDB + PostgreSQL), and on the embedded
  stores (SQLite + SQLite);

each against the values the test world was built with (3 days x 20 devices)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text

from cloud.commerce.screen import influxql, sql
from cloud.commerce.screen.catalogue import BY_ID, DASHBOARDS, PANELS
from cloud.commerce.screen.grafana import FRESH_NAME, dashboard_json, freshness_target, is_fresh
from cloud.commerce.screen.runner import Context, PanelData, run_panels, window
from protocol.ids import COUNTY_CODES
from tests.cloud import screen_world
from tests.support import influx
from tests.support.api import ApiEnv, api_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOUR = 3_600_000
MACRO = re.compile(r"\$[A-Za-z_]")


class World:
    def __init__(self, env: ApiEnv, store: Any, exp: screen_world.Expected, backend: str) -> None:
        self.env, self.store, self.exp, self.backend = env, store, exp, backend

    async def run(
        self,
        counties: list[str] | None,
        ids: list[str] | None = None,
        *,
        side_by_side: bool = False,
    ) -> dict[str, PanelData]:
        ids = ids or [p.id for p in PANELS]
        async with self.env.db.session() as s:
            ctx = Context(session=s, store=self.store, counties=counties, now_ms=self.exp.now_ms,
                          sessions=self.env.db.session if side_by_side else None)  # fmt: skip
            return {p.id: p for p in await run_panels(ids, ctx)}


SERVERS = pytest.param("postgres+influx", marks=[pytest.mark.postgres, pytest.mark.influx])
BOTH = pytest.mark.parametrize("world", [SERVERS, "sqlite+sqlite"], indirect=True)
#: Grafana reads the servers: its targets are tested there only
ON_SERVERS = pytest.mark.parametrize("world", [SERVERS], indirect=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("screen")
    now_ms = int(time.time() * 1000)
    backend = request.param
    async with api_env(
        "postgres" if backend.startswith("postgres") else "sqlite", Path(tmp)
    ) as env:
        if backend.endswith("influx"):
            async with influx.fresh_store() as store:
                env.app.state.tsdb = store
                exp = await screen_world.build(env, store, now_ms)
                yield World(env, store, exp, backend)
            return
        exp = await screen_world.build(env, env.tsdb, now_ms)
        yield World(env, env.tsdb, exp, backend)


def hourly_means(points: list[tuple[int, float]], start: int, end: int) -> dict[int, float]:
    acc: dict[int, list[float]] = {}
    for ts, v in points:
        if start <= ts < end:
            acc.setdefault(ts // HOUR * HOUR, []).append(v)
    return {w: sum(vs) / len(vs) for w, vs in acc.items()}


# ------------------------------------------------------------------ the wall's runner


@BOTH
async def test_panels_side_by_side_answer_as_one_after_another(world: World) -> None:
    """/screen/data runs the relational panels at once, each in a session of its own
    (PostgreSQL; SQLite keeps one session): the same answers as one after another, and
    each panel's age is its newest time to the read."""
    one = await world.run(["533124"])
    both = await world.run(["533124"], side_by_side=True)
    for p in [*one.values(), *both.values()]:
        p.took_ms = 0.0
        assert p.age_s == round((world.exp.now_ms - p.newest_ms) / 1000, 1), p.id  # type: ignore[operator]
    assert both == one


@BOTH
@pytest.mark.parametrize("scope", ["prefecture", "533124"])
async def test_runner_answers_every_panel_with_the_worlds_values(world: World, scope: str) -> None:
    exp = world.exp
    counties = None if scope == "prefecture" else [scope]
    seen = list(COUNTY_CODES) if counties is None else counties
    got = await world.run(counties)

    def total(d: dict[str, int]) -> int:
        return sum(d[c] for c in seen)

    for pid, p in got.items():
        assert p.status == "ok", (pid, p.error)
        assert not p.stale, (pid, p.newest_ms, exp.now_ms)
    assert isinstance(got["sales_month"].value, Decimal)  # money: never a float
    assert got["sales_month"].value == sum(Decimal(str(exp.sales_month[c])) for c in seen)
    assert {r["county"]: r["value"] for r in got["sales_by_county"].rows} == {
        c: Decimal(str(exp.sales_month[c])) for c in seen if exp.sales_month[c]
    }
    assert got["rooms_reporting"].value == 3 * len(seen)
    assert got["vehicles_on_road"].value == total(exp.moving)
    assert got["open_alarms"].value == total(exp.open_alarms)
    assert got["rooms_out"].value == total(exp.rooms_out)
    assert got["scans_today"].value == total(exp.scans_today)
    assert got["brand_admitted"].value == total(exp.admitted)
    assert got["stations_active"].value == total(exp.stations)
    assert {r["device"] for r in got["vehicles_map"].rows} == {
        d for c in seen for d in exp.vehicles[c]
    }
    states: dict[str, int] = {}
    for c in seen:
        for k, n in exp.waybills[c].items():
            states[k] = states.get(k, 0) + n
    assert {r["status"]: r["value"] for r in got["waybills_by_state"].rows} == states
    assert {r["kind"]: r["value"] for r in got["counterfeit_flags"].rows} == {
        "too_many_scans": total(exp.flags)
    }
    assert sum(r["value"] for r in got["events_per_day"].rows) == 6 * len(seen)
    assert {r["biz_step"]: r["value"] for r in got["lots_by_stage"].rows} == {
        "commissioning": len(seen), "shipping": len(seen)
    }  # fmt: skip
    rate = got["brand_rate"].value
    assert rate is not None and math.isclose(rate, total(exp.admitted) / (4 * len(seen)))
    start, end = window(BY_ID["coldroom_temp"], exp.now_ms)
    for c in seen:
        want = hourly_means(exp.room_points[c], start, end)
        rows = {r["time"]: r["value"] for r in got["coldroom_temp"].rows if r["county"] == c}
        assert rows.keys() == want.keys()
        for w, v in want.items():
            assert math.isclose(rows[w], v, rel_tol=1e-9), (c, w)
    assert {r["county"] for r in got["vehicle_temp"].rows} == set(seen)
    assert all(math.isclose(r["value"], 2.5) for r in got["vehicle_temp"].rows)
    for r in got["mkt_week"].rows:
        assert 1.0 < r["value"] < 8.0  # inside the rooms' swing (1.5 .. 7.5 °C)


@BOTH
async def test_commerce_panels_agree_with_the_programmes_indicators(world: World) -> None:
    """The screen's sales are cloud/commerce's indicators (its API is the definition)."""
    from cloud.commerce.indicators import indicators, top_products

    got = await world.run(None, ["sales_month", "sales_by_county", "top_products"])
    month = datetime.fromtimestamp(world.exp.now_ms / 1000 + 8 * 3600, UTC).strftime("%Y-%m")
    async with world.env.db.session() as s:
        total = await indicators(s, counties=None, start_month=month, end_month=month, group_by=[])
        by_county = await indicators(
            s, counties=None, start_month=month, end_month=month, group_by=["county"]
        )
        top = await top_products(s, counties=None, start=month, end=month, limit=8)
    assert got["sales_month"].value == total[0].online_retail_sales
    assert {r["county"]: r["value"] for r in got["sales_by_county"].rows} == {
        r.county: r.online_retail_sales for r in by_county
    }
    assert [(r["name"], r["value"]) for r in got["top_products"].rows] == [
        (t.name, t.sales) for t in top
    ]


async def test_a_panel_whose_source_has_not_landed_is_not_connected() -> None:
    from dataclasses import replace

    from cloud.commerce.screen.grafana import NOT_CONNECTED_SQL, BuildOptions, targets
    from cloud.commerce.screen.runner import connected

    gone = replace(BY_ID["sales_month"], requires="cloud.commerce.not_landed_yet")
    assert not connected(gone) and connected(BY_ID["sales_month"])
    assert targets(gone, BuildOptions())[1][0]["rawSql"] == NOT_CONNECTED_SQL


@BOTH
async def test_a_source_without_data_says_stale(world: World) -> None:
    """A store with no readings: the time-series panels say stale, not a fresh zero."""
    from cloud.timeseries.sqlite import SqliteStore

    empty = SqliteStore(Path(world.env.settings.tsdb_path).with_name("empty.db"))
    await empty.open()
    try:
        async with world.env.db.session() as s:
            await s.execute(text("UPDATE devices SET last_reading_ms = 0"))
            ctx = Context(session=s, store=empty, counties=None, now_ms=world.exp.now_ms)
            ids = ["coldroom_temp", "vehicles_map", "rooms_reporting"]
            got = {p.id: p for p in await run_panels(ids, ctx)}
            await s.rollback()
    finally:
        await empty.close()
    assert got["rooms_reporting"].value == 0 and got["rooms_reporting"].stale
    assert got["coldroom_temp"].stale and got["coldroom_temp"].rows == []
    assert got["vehicles_map"].stale


# ------------------------------------------------------------------ Grafana's targets


def _rows(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in series:
        for values in s.get("values", []):
            out.append({**s.get("tags", {}), **dict(zip(s["columns"], values, strict=True))})
    return out


@ON_SERVERS
@pytest.mark.parametrize("scope", ["prefecture", "533124"])
async def test_grafana_influxql_of_every_panel_runs_and_agrees(world: World, scope: str) -> None:
    exp = world.exp
    counties = None if scope == "prefecture" else [scope]
    runner = await world.run(counties)
    for p in PANELS:
        if p.source != "ts":
            continue
        start, end = window(p, exp.now_ms)
        q = influxql.expand(
            influxql.compile_influxql(p), start_ms=start, end_ms=end - 1,
            interval_ms=HOUR, counties=counties,
        )  # fmt: skip
        assert not MACRO.search(q), q
        rows = _rows(await world.store.query(q))
        mine = runner[p.id]
        if p.kind == "stat":
            assert len(rows) == 1 and rows[0]["value"] == mine.value, (p.id, q, rows)
        elif p.kind == "geomap":
            assert {(r["device"], r["lat"], r["lon"]) for r in rows} == {
                (r["device"], r["lat"], r["lon"]) for r in mine.rows
            }, p.id
        else:
            theirs = {(r["county"], r["time"]): r["value"] for r in rows}
            ours = {(r["county"], r["time"]): r["value"] for r in mine.rows}
            assert theirs.keys() == ours.keys(), (p.id, sorted(theirs)[:3], sorted(ours)[:3])
            for k, v in theirs.items():
                assert math.isclose(v, ours[k], rel_tol=1e-9, abs_tol=1e-9), (p.id, k)


@ON_SERVERS
@pytest.mark.parametrize("scope", ["prefecture", "533124"])
async def test_grafana_sql_of_every_panel_runs_and_agrees(world: World, scope: str) -> None:
    exp = world.exp
    counties = list(COUNTY_CODES) if scope == "prefecture" else [scope]
    runner = await world.run(None if scope == "prefecture" else counties)
    async with world.env.db.session() as s:
        for p in PANELS:
            if p.source != "sql":
                continue
            start, end = window(p, exp.now_ms)
            q = sql.expand(
                sql.compile_sql(p, "grafana"), start_ms=start, end_ms=end - 1, counties=counties
            )
            assert not MACRO.search(q), q
            rows = [dict(r) for r in (await s.execute(text(q))).mappings()]
            mine = runner[p.id]
            if p.kind == "stat":
                assert len(rows) == 1, (p.id, rows)
                v = rows[0]["value"]
                if p.fen:  # PostgreSQL's numeric: exact
                    assert Decimal(v) == mine.value, (p.id, v, mine.value)
                else:
                    assert math.isclose(float(v), float(mine.value or 0.0)), (
                        p.id,
                        q,
                        v,
                        mine.value,
                    )
            else:
                assert len(rows) == len(mine.rows), (p.id, rows, mine.rows)
                for theirs, ours in zip(rows, mine.rows, strict=True):
                    if p.fen:
                        assert Decimal(theirs["value"]) == ours["value"], p.id
                    elif "value" in theirs:
                        assert float(theirs["value"]) == float(ours["value"]), p.id
                    else:  # a map's places: the rows themselves
                        assert theirs == ours, p.id
                    if "time" in theirs:
                        assert int(theirs["time"].timestamp() * 1000) == ours["time"], p.id


@ON_SERVERS
async def test_every_committed_dashboard_query_runs(world: World) -> None:
    """Every target of every dashboard (the panels' freshness too) runs on the real
    servers with Grafana's expansion; commerce targets are 未接入 until it lands."""
    exp = world.exp
    ran = 0
    async with world.env.db.session() as s:
        for d in DASHBOARDS:
            for panel in dashboard_json(d)["panels"]:
                for t in panel["targets"]:
                    start, end = exp.now_ms - 86_400_000, exp.now_ms
                    if "query" in t:
                        q = influxql.expand(t["query"], start_ms=start, end_ms=end,
                                            interval_ms=60_000, counties=None)  # fmt: skip
                        await world.store.query(q)
                    else:
                        q = sql.expand(
                            t["rawSql"], start_ms=start, end_ms=end, counties=list(COUNTY_CODES)
                        )
                        (await s.execute(text(q))).all()
                    ran += 1
    assert ran > 60


@ON_SERVERS
async def test_every_panels_grafana_freshness_runs_and_says_fresh_then_stale(world: World) -> None:
    """Each panel's freshness target (refId F) on the real InfluxDB / PostgreSQL: the
    world's sources are fresh; a county without any data (none of the world's) is
    stale, as the cell shows it (陈旧 STALE)."""
    now = world.exp.now_ms
    async with world.env.db.session() as s:
        for p in PANELS:
            for counties, fresh in ((list(COUNTY_CODES), True), (["999999"], False)):
                t = freshness_target(p)
                if "query" in t:
                    q = influxql.expand(t["query"], start_ms=now - HOUR, end_ms=now,
                                        interval_ms=60_000, counties=counties)  # fmt: skip
                    rows = _rows(await world.store.query(q))
                    value = rows[0][FRESH_NAME] if rows else None
                else:
                    q = sql.expand(t["rawSql"], start_ms=now - HOUR, end_ms=now, counties=counties)
                    value = (await s.execute(text(q))).scalar()
                value = None if value is None else float(value)
                master = p.relation is not None and p.relation.time is None
                assert is_fresh(p, value) is (fresh or master), (p.id, counties, q, value)


# ------------------------------------------------------------------ Grafana's reader role

#: columns Grafana's role must never read (personal or secret), (table, column)
PERSONAL = (
    ("logistics_waybills", "receiver_phone_sealed"),
    ("logistics_waybills", "lots"),
    ("logistics_drivers", "phone_sealed"),
    ("logistics_drivers", "name_sealed"),
    ("logistics_drivers", "id_number_sealed"),
    ("scans", "lat"),
    ("scans", "lon"),
    ("scans", "user_agent"),
    ("scans", "token_sha256"),
    ("notify_deliveries", "message"),
    ("users", "password_hash"),
    ("api_keys", "*"),
    ("commerce_orders", "platform_order_id"),
    ("trace_events", "body"),
)


@ON_SERVERS
async def test_grafanas_reader_runs_every_panel_and_reads_no_personal_data(world: World) -> None:
    """grafana/reader-grants.sql as written, for a role made the way
    deploy/postgres/initdb/10-grafana-reader.sh makes it (a unique name, dropped after):
    every committed dashboard's SQL runs as that role, a personal column is refused."""
    import secrets

    import psycopg

    from tests.support.postgres import BASE_URL

    exp = world.exp
    db = world.env.settings.database_url.rsplit("/", 1)[1]
    role = f"grafana_reader_t{secrets.token_hex(4)}"
    grants = (Path(__file__).parents[2] / "grafana" / "reader-grants.sql").read_text()
    as_role = BASE_URL.replace("postgres@", f"{role}@", 1) + f"/{db}"
    with psycopg.connect(f"{BASE_URL}/{db}", autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            admin.execute(f'GRANT CONNECT ON DATABASE "{db}" TO "{role}"')
            admin.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
            admin.execute(f'ALTER ROLE "{role}" SET default_transaction_read_only = on')
            admin.execute(grants.replace("grafana_reader", f'"{role}"'))
            with psycopg.connect(as_role, autocommit=True) as conn:
                for table, col in PERSONAL:
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute(f"SELECT {col} FROM {table} LIMIT 1")
                ran = 0
                for d in DASHBOARDS:
                    for panel in dashboard_json(d)["panels"]:
                        for t in panel["targets"]:
                            if "rawSql" not in t:
                                continue
                            q = sql.expand(t["rawSql"], start_ms=exp.now_ms - 86_400_000,
                                           end_ms=exp.now_ms, counties=list(COUNTY_CODES))  # fmt: skip
                            conn.execute(q).fetchall()
                            ran += 1
                assert ran > 20
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')
