"""Every integer query and path parameter of the API is bounded: a value past 64 bits
is a 422 naming the field, never a 500 from the database (schemathesis once found
``GET /api/v1/audit?before_id=<2**63>``: an OverflowError in SQLite). The parameters
are read from the OpenAPI document, so a new unbounded one fails here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cloud.auth.principal import Role
from tests.support.api import HOME, ApiEnv, api_env

#: Values no parameter accepts: past int64 on both sides, int64's edges, and past int4
#: (the ids are int4 on PostgreSQL: a larger one is "integer out of range", a 500).
OUT_OF_RANGE = [2**63, 2**64, -(2**63) - 1, 2**63 - 1, -(2**63), 2**31]
#: Parameters stored in BIGINT columns (serial numbers, AI 21, up to 18 digits): bounded
#: within 64 bits, and every value past their bounds refused
BIGINT_PARAMETERS = {("/api/v1/trace/serial-ranges/{range_id}/labels", "start")}

#: Path parameters that are not the one under test: something that exists (seeded).
PATH_VALUES = {"gateway_id": "gw-m1", "device_id": "gw-m1.room-1", "location_id": "1",
               "certificate_id": "1", "range_id": "1", "vehicle": "truck-x", "trip_id": "1",
               "fence_id": "1", "rollout_id": "1", "image_id": "1", "node_id": "1",
               "article_id": "1", "attachment_id": "1", "item_id": "1", "photo_id": "1",
               "reg_id": "1"}  # fmt: skip

#: Query parameters some endpoints require.
REQUIRED = {"metric": "temperature", "device": "gw-m1.room-1"}
#: ... by path: both sizes of a consistency proof (the one under test replaces its own).
REQUIRED_BY_PATH = {"/api/v1/trace/log/proof/consistency": {"first": "0", "second": "0"}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as env:
        # hundreds of requests from one address, public routes (rate-limited) among them:
        # no limit here (the limit has its own tests)
        from tests.cloud.services_registry_cases import unlimited

        unlimited(env)
        yield env


def _integer_parameters(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, parameter) of every GET integer query or path parameter."""
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                schemas = p["schema"].get("anyOf", [p["schema"]])
                ints = [s for s in schemas if s.get("type") == "integer"]
                if ints and p["in"] in ("query", "path"):
                    found.append((path, method, {**p, "int_schema": ints[0]}))
    return found


def _request(path: str, p: dict[str, Any], value: int) -> tuple[str, dict[str, Any]]:
    params = dict(REQUIRED_BY_PATH.get(path, {}))
    for name, v in PATH_VALUES.items():
        if not (p["in"] == "path" and p["name"] == name):  # not the one under test
            path = path.replace("{" + name + "}", v)
    if p["in"] == "path":
        path = path.replace("{" + p["name"] + "}", str(value))
    else:
        params[p["name"]] = str(value)
    # any other path parameter (an id of a newer router): a valid integer, so that the
    # 422 can only be the parameter's under test
    path = re.sub(r"\{\w+\}", "1", path)
    if "series" in path:
        params.setdefault("metric", REQUIRED["metric"])
        if path.endswith("/series") and "/devices/" not in path:
            params.setdefault("device", REQUIRED["device"])
    return path, params


async def test_integer_parameters_are_bounded(env: ApiEnv) -> None:
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    spec = (await env.client.get("/openapi.json")).json()
    found = _integer_parameters(spec)
    # those known when this was written, so that the discovery itself cannot go blind
    names = {(path, p["name"]) for path, _, p in found}
    assert {
        ("/api/v1/audit", "before_id"),
        ("/api/v1/audit", "limit"),
        ("/api/v1/dead-letters", "limit"),  # offset: replaced by keyset cursors
        ("/api/v1/dead-letters/{letter_id}", "letter_id"),
        ("/api/v1/devices", "limit"),
        ("/api/v1/gateways", "limit"),
        ("/api/v1/inspections", "before_id"),
        ("/api/v1/inspections/{inspection_id}", "inspection_id"),
    } <= names
    for path, method, p in found:
        s = p["int_schema"]
        assert "minimum" in s and "maximum" in s, f"{path} {p['name']}: unbounded"
        wide = 2**63 if (path, p["name"]) in BIGINT_PARAMETERS else 2**31
        assert -wide <= s["minimum"] <= s["maximum"] < wide, (path, p["name"], s)
        field = f"{p['in']}.{p['name']}"
        # a write's body is left empty: the path is checked first (its 422 names it)
        body = {} if method in ("post", "put", "patch") else None
        hp = h
        for value in (v for v in OUT_OF_RANGE if not s["minimum"] <= v <= s["maximum"]):
            url, params = _request(path, p, value)
            r = await env.client.request(method, url, params=params, json=body, headers=hp)
            if r.status_code == 403 and hp is h:  # a permission no admin holds
                hp = await env.headers(Role.POVERTY_OFFICER, HOME)  # (poverty:personal)
                r = await env.client.request(method, url, params=params, json=body, headers=hp)
            assert r.status_code == 422, (method, url, params, r.status_code, r.text)
            assert r.json().get("field") == field, (method, url, params, r.text)
        # the bounds themselves are valid and reach the database without error
        for value in (s["minimum"], s["maximum"]):
            url, params = _request(path, p, int(value))
            r = await env.client.request(method, url, params=params, json=body, headers=hp)
            assert r.status_code < 500, (url, params, r.status_code, r.text)
            assert r.status_code != 422 or r.json().get("field") != field, (url, r.text)


#: Dates that exist with their offset but not in UTC (before year 1, after year 9999).
OFF_THE_CALENDAR = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


async def test_dates_off_the_calendar_are_a_422(env: ApiEnv) -> None:
    """A date-time parameter whose conversion to UTC leaves the calendar: a 422 naming
    it (was an OverflowError: a 500)."""
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    spec = (await env.client.get("/openapi.json")).json()
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                schemas = p["schema"].get("anyOf", [p["schema"]])
                if any(s.get("format") == "date-time" for s in schemas):
                    found.append((path, method, p["name"]))
    assert {("/api/v1/inspections", "start"), ("/api/v1/series", "end")} <= {
        (path, name) for path, _, name in found
    }
    for path, method, name in found:
        for value in OFF_THE_CALENDAR:
            url, params = _request(path, {"in": "query", "name": name}, 0)
            params[name] = value
            r = await env.client.request(method, url, params=params, headers=h)
            assert r.status_code == 422, (url, params, r.status_code, r.text)
            assert r.json().get("field") == f"query.{name}", (url, params, r.text)
    # the default start, a day before an end on the first day of the calendar
    url, params = _request("/api/v1/devices/{device_id}/series", {"in": "query", "name": "end"}, 0)
    params["end"] = "0001-01-01T12:00:00Z"
    r = await env.client.get(url, params=params, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "query.end", r.text


@pytest.mark.postgres
async def test_replay_ids_past_int4_on_postgres(tmp_path: Path) -> None:
    async with api_env("postgres", tmp_path) as env:
        h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
        r = await env.client.post("/api/v1/dead-letters/replay", json={"ids": [2**31]}, headers=h)
        assert r.status_code == 422, r.text
        assert "ids" in r.json()["field"], r.text
