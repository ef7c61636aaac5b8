"""Monthly statistics forms (cloud/services/statforms): validation naming the field,
late and missing flags with an injected clock, corrections as versions, and the
station operator filing for its own station only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from cloud.services.statforms.router import clock
from tests.cloud.catalog_support import org_user
from tests.cloud.stations_cases import FORM, F, new_station
from tests.support.api import HOME, ApiEnv, api_env
from tests.support.trace_records import add_org


# PostgreSQL (the same queries on the other database) runs in the slow set
@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def at(env: ApiEnv, when: datetime) -> None:
    async def fixed() -> object:
        return lambda: when

    env.app.dependency_overrides[clock] = fixed


def body(station: int, month: str = "2026-03", **values: object) -> dict[str, object]:
    return {"station_id": station, "kind": "station_monthly", "month": month,
            "values": {**FORM, **values}}  # fmt: skip


async def test_values_are_validated_naming_the_field(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    st = await new_station(env, HOME)
    at(env, datetime(2026, 4, 5, 2, tzinfo=UTC))
    missing = body(st)
    del missing["values"]["parcels_in"]  # type: ignore[attr-defined]
    cases = [
        (missing, "body.values.parcels_in"),
        (body(st, colour="red"), "body.values.colour"),
        (body(st, offline_orders=-1), "body.values.offline_orders"),
        (body(st, offline_orders=1.5), "body.values.offline_orders"),
        (body(st, offline_sales=12.5), "body.values.offline_sales"),  # a float, not decimal text
        (body(st, offline_sales="12.345"), "body.values.offline_sales"),
        (body(st, offline_sales="-1"), "body.values.offline_sales"),
        (body(st, offline_orders=0), "body.values.offline_orders"),  # sales without orders
        (body(st, offline_sales="0", offline_orders=3), "body.values.offline_sales"),
        (body(st, month="2026-04"), "body.month"),  # April is not over on 5 April
        (body(st, month="2026-13"), "body.month"),
        (body(st, month="0000-01"), "body.month"),  # was a 500 on the due date of year 0
    ]
    for b, field in cases:
        r = await env.client.post(f"{F}/submissions", json=b, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field, (b, r.text)
    r = await env.client.post(f"{F}/submissions", json=body(st, note="雨季"), headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["values"]["offline_sales"] == "1200.50" and r.json()["version"] == 1


async def test_late_and_missing_flags_with_an_injected_clock(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    on_time, late, silent = [await new_station(env, HOME) for _ in range(3)]
    building = await new_station(env, HOME, status="building")
    at(env, datetime(2026, 4, 5, 2, tzinfo=UTC))
    r = await env.client.post(f"{F}/submissions", json=body(on_time), headers=h)
    assert r.status_code == 201 and r.json()["late"] is False
    r = await env.client.get(f"{F}/board", params={"month": "9999-12"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "query.month"  # was a 500
    board = (await env.client.get(f"{F}/board", params={"month": "2026-03"}, headers=h)).json()
    states = {x["station_id"]: x["state"] for x in board["rows"]}
    assert board["due"] == "2026-04-10"
    assert states[on_time] == "submitted" and states[silent] == "pending"
    assert building not in states  # a station still being built owes no form
    # 10 April, 23:30 Beijing: still on time; 11 April 00:30 Beijing: late
    at(env, datetime(2026, 4, 10, 15, 30, tzinfo=UTC))
    board = (await env.client.get(f"{F}/board", params={"month": "2026-03"}, headers=h)).json()
    assert {x["station_id"]: x["state"] for x in board["rows"]}[silent] == "pending"
    at(env, datetime(2026, 4, 10, 16, 30, tzinfo=UTC))
    r = await env.client.post(f"{F}/submissions", json=body(late), headers=h)
    assert r.status_code == 201 and r.json()["late"] is True
    board = (await env.client.get(f"{F}/board", params={"month": "2026-03"}, headers=h)).json()
    states = {x["station_id"]: x["state"] for x in board["rows"]}
    assert states == {on_time: "submitted", late: "late", silent: "missing"}
    assert board["counts"] == {"submitted": 1, "late": 1, "missing": 1, "pending": 0}
    # a correction: version 2, the on-time filing stays on time
    r = await env.client.post(f"{F}/submissions", json=body(on_time, parcels_in=81), headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["late"] is False
    r = await env.client.post(f"{F}/submissions", json=body(on_time, parcels_in=81), headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2  # the same values: no new version


async def test_station_operator_files_for_its_own_station_only(env: ApiEnv) -> None:
    mine = await add_org(env, HOME, 41)
    theirs = await add_org(env, HOME, 42)
    own = await new_station(env, HOME, mine.id)
    other = await new_station(env, HOME, theirs.id)
    h = await org_user(env, Role.STATION_OPERATOR, mine.id, HOME)
    at(env, datetime(2026, 4, 5, 2, tzinfo=UTC))
    assert (await env.client.post(f"{F}/submissions", json=body(own), headers=h)).status_code == 201
    r = await env.client.post(f"{F}/submissions", json=body(other), headers=h)
    assert r.status_code == 404 and r.json()["field"] == "body.station_id"
    board = (await env.client.get(f"{F}/board", params={"month": "2026-03"}, headers=h)).json()
    assert [x["station_id"] for x in board["rows"]] == [own]
    listed = (await env.client.get(f"{F}/submissions", headers=h)).json()
    assert [x["station_id"] for x in listed] == [own]
