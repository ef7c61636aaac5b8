"""Service stations (cloud/services/stations): attributes on a catalog station, the
12-digit 统计用区划代码 checked against the committed table (each bad code named by
field), status moves, monthly performance from commerce, the public map data (ETag,
no personal data), the H5 page, the station operator's own station, seed and
monthly_figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.commerce.drafts import Catalogue, LineDraft, OrderDraft, write_orders
from cloud.commerce.storage import Shop
from cloud.services.stations.divisions import DivisionError, check_division, source, table
from cloud.services.stations.seed import seed_demo
from cloud.services.stations.service import monthly_figures
from tests.cloud.catalog_support import org_user
from tests.cloud.stations_cases import (
    S,
    new_location,
    new_station,
    station_body,
    world,
)
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.trace_records import add_org


# PostgreSQL (the same queries on the other database) runs in the slow set
@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def test_division_table_is_partial_real_data_of_the_four_counties() -> None:
    t = table()
    assert t["533103001000"].name == "勐焕街道" and t["533124101000"].name == "章凤镇"
    assert {d.county for d in t.values()} == {"533103", "533122", "533123", "533124"}
    assert "partial" in source().lower() or "SAMPLE" in source()
    for code, reason in (
        ("53310310220", "not a 12-digit"),
        ("533102001000", "not the GB/T 2260 code of a programme county"),  # Ruili
        ("533103102299", "not in the division table"),
        ("533103102000", "is a township, not a village"),
    ):
        with pytest.raises(DivisionError) as err:
            check_division(code, "village", "body.village_code")
        assert reason in str(err.value) and err.value.field == "body.village_code"
    with pytest.raises(DivisionError, match="not in township"):
        check_division("533103105201", "village", "f", township="533103102000")


async def test_station_attributes_and_bad_codes_named(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    lid = await new_location(env, HOME)
    bad = [
        ({"village_code": "5331031022"}, "body.village_code"),
        ({"village_code": "533102001201"}, "body.village_code"),  # Ruili: not a programme county
        ({"village_code": "533124103202"}, "body.village_code"),  # Longchuan's, not Mangshi's
        ({"village_code": "533103102299"}, "body.village_code"),  # not in the table
        ({"village_code": "533103105201"}, "body.village_code"),  # another township's
        ({"township_code": "533103999000"}, "body.township_code"),
        ({"township_code": None}, "body.township_code"),
        ({"lon": 24.25, "lat": 98.28}, "body.lon"),  # swapped
    ]
    for change, field in bad:
        r = await env.client.post(S, json={**station_body(lid), **change}, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field, (change, r.text)
    r = await env.client.post(S, json=station_body(lid), headers=h)
    assert r.status_code == 201, r.text
    st = r.json()
    assert st["status"] == "building" and st["tier"] == "village" and st["tier_zh"] == "村级服务点"
    assert st["township_name"] == "遮放镇" and st["village_name"] == "弄坎村"
    assert (await env.client.post(S, json=station_body(lid), headers=h)).status_code == 409
    # a location that is not a station
    r = await env.client.patch(f"{S}/{lid}", json={"village_code": "533103102202"}, headers=h)
    assert r.status_code == 200 and r.json()["village_name"] == "户拉村"
    r = await env.client.patch(f"{S}/{lid}", json={"village_code": "533103102999"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.village_code"
    # a null coordinate was a 500 (the create body's validator given None): now named
    r = await env.client.patch(f"{S}/{lid}", json={"hours": "1", "lat": None}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.lat", r.text
    r = await env.client.patch(f"{S}/{lid}", json={"lon": 120.0}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.lon", r.text
    county_centre = await new_location(env, HOME, tier="county")
    body = {**station_body(county_centre), "village_code": None, "township_code": None}
    assert (await env.client.post(S, json=body, headers=h)).status_code == 201
    body = {**station_body(await new_location(env, HOME, tier="county"))}
    r = await env.client.post(S, json=body, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.village_code"


async def test_status_moves_and_audit(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    lid = await new_location(env, HOME)
    assert (await env.client.post(S, json=station_body(lid), headers=h)).status_code == 201

    async def move(status: str, reason: str | None = None) -> tuple[int, str | None]:
        r = await env.client.post(f"{S}/{lid}/status", headers=h,
                                  json={"status": status, "reason": reason})  # fmt: skip
        return r.status_code, r.json().get("field")

    assert await move("suspended", "x") == (409, "body.status")
    assert (await move("open"))[0] == 200
    assert await move("suspended") == (422, "body.reason")
    assert (await move("suspended", "装修"))[0] == 200
    assert (await move("open"))[0] == 200
    assert (await move("closed", "并入乡镇站"))[0] == 200
    assert await move("open") == (409, "body.status")
    async with env.db.session() as s:
        n = await s.scalar(
            select(func.count()).where(
                AuditEntry.action == "station.status", AuditEntry.target == f"station:{lid}"
            )
        )
    assert n == 4


async def test_performance_from_the_stations_shops(env: ApiEnv) -> None:
    w = await world(env, HOME)
    async with env.db.transaction() as s:
        shop = await s.get_one(Shop, w["shop"])
        drafts = [
            OrderDraft("S-x1", datetime(2026, 3, 20, 4, tzinfo=UTC), "shipped", None,
                       [LineDraft(quantity=1, amount_fen=2050, sku="X")]),
            OrderDraft("S-x2", datetime(2026, 3, 21, 4, tzinfo=UTC), "cancelled", None,
                       [LineDraft(quantity=1, amount_fen=9999, sku="X")]),
            OrderDraft("S-x3", datetime(2026, 4, 2, 4, tzinfo=UTC), "paid", None,
                       [LineDraft(quantity=1, amount_fen=100, sku="X")]),
        ]  # fmt: skip
        await write_orders(s, [(shop, d) for d in drafts], Catalogue(), source="api",
                           actor="test")  # fmt: skip
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.get(f"{S}/{w['station']}/performance", headers=h,
                             params={"start_month": "2026-02", "end_month": "2026-04"})  # fmt: skip
    assert r.status_code == 200, r.text
    feb, mar, apr = r.json()
    assert feb == {"month": "2026-02", "orders": 0, "parcels": 0, "sales": "0.00",
                   "households_served": 1, "offline_sales": None}  # fmt: skip
    assert mar["orders"] == 2 and mar["parcels"] == 1 and mar["sales"] == "70.50"
    assert mar["offline_sales"] == "10.00" and mar["households_served"] == 1
    assert apr["orders"] == 1 and apr["sales"] == "1.00"
    # a shop of another county cannot be attributed; one shop counts for one station
    other = await world(env, OTHER)
    r = await env.client.put(f"{S}/{w['station']}/shops", json={"shop_ids": [other["shop"]]},
                             headers=h)  # fmt: skip
    assert r.status_code == 404 and r.json()["field"] == "body.shop_ids[0]"
    second = await new_station(env, HOME)
    r = await env.client.put(f"{S}/{second}/shops", json={"shop_ids": [w["shop"]]}, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "body.shop_ids[0]"


async def test_public_map_data_etag_and_page(env: ApiEnv) -> None:
    w = await world(env, HOME)
    closed = await new_station(env, HOME, status="closed")
    r = await env.client.get("/api/v1/public/stations")
    assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
    ids = {x["id"] for x in r.json()["stations"]}
    assert w["station"] in ids and closed not in ids
    assert r.json()["crs"] == "WGS-84"
    assert "张示例" not in r.text and "contact" not in r.text
    again = await env.client.get("/api/v1/public/stations",
                                 headers={"If-None-Match": r.headers["etag"]})  # fmt: skip
    assert again.status_code == 304
    r = await env.client.get("/api/v1/public/stations", params={"county": "533100"})
    assert r.status_code == 422 and r.json()["field"] == "query.county"
    page = await env.client.get("/h5/stations")
    assert page.status_code == 200 and "<svg" in page.text and "村级服务点" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "")
    assert "https://" not in page.text
    assert (await env.client.get("/h5/stations",
                                 headers={"If-None-Match": page.headers["etag"]})).status_code == 304  # fmt: skip


async def test_station_operator_sees_its_own_station_only(env: ApiEnv) -> None:
    mine = await add_org(env, HOME, 31)
    theirs = await add_org(env, HOME, 32)
    own = await new_station(env, HOME, mine.id)
    other = await new_station(env, HOME, theirs.id)
    h = await org_user(env, Role.STATION_OPERATOR, mine.id, HOME)
    r = await env.client.get(S, headers=h)
    assert [x["location_id"] for x in r.json()] == [own]
    assert (await env.client.get(f"{S}/{own}", headers=h)).status_code == 200
    assert (await env.client.get(f"{S}/{other}", headers=h)).status_code == 404
    r = await env.client.patch(f"{S}/{own}", json={"hours": "x"}, headers=h)
    assert r.status_code == 403


async def test_seed_is_idempotent_and_monthly_figures(env: ApiEnv) -> None:
    async with env.db.transaction() as s:
        first = await seed_demo(s)
    async with env.db.transaction() as s:
        again = await seed_demo(s)
    assert first["stations"] == 19 and first["households"] == 4
    assert again == {"stations": 0, "households": 0}
    r = await env.client.get("/api/v1/public/stations")
    counties = {x["county"] for x in r.json()["stations"]}
    assert counties == {"533103", "533124", "533123", "533122"}
    figs = await monthly_figures(env.db, "533103", "2026-03")
    assert figs["stations_county"] == 1 and figs["stations_township"] == 2
    assert figs["stations_village"] == 3 and figs["stations_total"] == 6
    assert figs["stations_open"] == 4 and figs["stations_suspended"] == 1
    assert figs["stations_building"] == 1 and figs["stations_closed"] == 0
    # 3 households in Mangshi: under 5, suppressed
    assert figs["households_linked"] is None and figs["income_yuan"] is None


def test_seeded_stations_lie_in_their_county() -> None:
    """Each demo station's point is inside its county's outline (the map's data)."""
    import json

    from cloud.services.stations.maps import DATA
    from cloud.services.stations.seed import STATIONS

    counties = json.loads(DATA.read_text(encoding="utf-8"))["counties"]

    def inside(x: float, y: float, ring: list[list[float]]) -> bool:
        hit = False
        for (x1, y1), (x2, y2) in zip(ring, ring[-1:] + ring[:-1], strict=True):
            if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
                hit = not hit
        return hit

    for county, _tier, name, lon, lat, *_ in STATIONS:
        assert inside(lon, lat, counties[county]["ring"]), name


async def test_public_endpoints_are_rate_limited_and_carry_no_seeded_pii(env: ApiEnv) -> None:
    from cloud.services.stations.seed import HOUSEHOLDS, id_number

    async with env.db.transaction() as s:
        await seed_demo(s)
    secrets = [x for name, born, seq, phone, village, *_ in HOUSEHOLDS
               for x in (name, phone, id_number(village[:6], born, seq))]  # fmt: skip
    for path, params in (
        ("/api/v1/public/stations", {}),
        ("/h5/stations", {}),
        ("/api/v1/public/poverty/aggregates", {"level": "village"}),
        ("/api/v1/public/poverty/aggregates", {"level": "county"}),
    ):
        r = await env.client.get(path, params=params)
        assert r.status_code == 200, (path, r.text)
        assert not [x for x in secrets if x in r.text], path
    env.settings.resolver_rate_burst = 3
    env.settings.resolver_rate_per_s = 0.01
    env.app.state.resolver_limiter = None  # made again from the settings
    codes = [(await env.client.get("/api/v1/public/stations")).status_code for _ in range(3)]
    codes += [(await env.client.get("/h5/stations")).status_code for _ in range(2)]
    assert codes == [200, 200, 200, 429, 429]


async def test_migration_1010_makes_the_tables_the_models_declare() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base
    from tests.support.schema import sqlite_template

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    mine = ("service_station", "poverty_", "statform_")
    assert [d for d in diff if any(t in repr(d) for t in mine)] == []
