"""County isolation on every endpoint, as a table over all routes of the app.

A county_admin of 533103 (Mangshi) must get 404 (reads) or 403 (writes, filters)
on anything of 533124 (Longchuan), and lists must leave it out. A route under
/api/v1 that is missing from CASES fails the test, so a new endpoint cannot
skip this check.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from cloud.auth.principal import Role
from cloud.auth.storage import ApiKey, User
from cloud.devices.storage import Gateway
from tests.cloud.certs_cases import CERTS_CASES
from tests.cloud.coldchain_cases import COLDCHAIN_CASES
from tests.cloud.commerce_cases import COMMERCE_CASES
from tests.cloud.console_cases import CONSOLE_CASES
from tests.cloud.custody_cases import CUSTODY_CASES
from tests.cloud.firmware_cases import FIRMWARE_CASES
from tests.cloud.h5_cases import H5_CASES
from tests.cloud.logistics_cases import LOGISTICS_CASES
from tests.cloud.mofcom_cases import MOFCOM_CASES
from tests.cloud.ops_cases import OPS_CASES
from tests.cloud.page_cases import PAGE_CASES
from tests.cloud.positions_cases import POSITIONS_CASES
from tests.cloud.screen_cases import SCREEN_CASES
from tests.cloud.serials_cases import SERIALS_CASES
from tests.cloud.services_registry_cases import SERVICES_CASES
from tests.cloud.stations_cases import STATIONS_CASES
from tests.cloud.supervision_cases import SUPERVISION_CASES
from tests.cloud.test_api_isolation_mobile import CATALOG_CASES
from tests.cloud.test_catalog_isolation import MASTER_CASES
from tests.cloud.test_tlog_api import TLOG_CASES
from tests.cloud.trace_cases import TRACE_CASES
from tests.cloud.training_cases import TRAINING_CASES
from tests.cloud.trips_cases import TRIPS_CASES
from tests.support.api import HOME, OTHER, ApiEnv, api_env, cheap_argon2, unlimited

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ApiEnv]:
    cheap_argon2(monkeypatch)  # roles x endpoints log in and change passwords many times
    async with api_env(request.param, tmp_path) as e:
        unlimited(e)  # public routes many times from one address
        yield e


# Every role x every route on PostgreSQL (a minute of the default run) joins the slow set:
# the county filters are the same SQLAlchemy statements on both databases, and the
# county admin's sweep of every route (below, on ``env``) still runs on PostgreSQL.
@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
async def wide_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ApiEnv]:
    cheap_argon2(monkeypatch)
    async with api_env(request.param, tmp_path) as e:
        unlimited(e)  # public routes many times from one address
        yield e


async def _foreign_key_id(env: ApiEnv) -> str:
    async with env.db.session() as s:
        return (await s.execute(select(ApiKey.id).where(ApiKey.county == OTHER))).scalar_one()


def _not_found(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    # Same answer as for an id that does not exist: nothing revealed.
    assert r.json()["detail"].endswith("not found"), r.text


async def token(env: ApiEnv, h: Headers) -> None:
    # Public; a login names no county. Another county's user gains nothing from it.
    name = f"x-{secrets.token_hex(3)}"  # a fresh name: failed logins lock a username
    r = await env.client.post("/api/v1/auth/token", data={"username": name, "password": "y"})
    assert r.status_code == 401


async def me(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get("/api/v1/auth/me", headers=h)
    assert r.json()["county"] == HOME


async def password(env: ApiEnv, h: Headers) -> None:
    # Changes only the caller's own password; no other record is addressable.
    r = await env.client.post(
        "/api/v1/auth/password",
        json={"current_password": "wrong-password", "new_password": "whatever-long"},
        headers=h,
    )
    assert r.status_code == 403


async def users_list(env: ApiEnv, h: Headers) -> None:
    await env.add_user(f"longchuan-op-{secrets.token_hex(3)}", Role.OPERATOR, OTHER)
    r = await env.client.get("/api/v1/users", headers=h)
    assert r.status_code == 200
    assert {u["county"] for u in r.json()} == {HOME}
    r = await env.client.get("/api/v1/users", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def users_create(env: ApiEnv, h: Headers) -> None:
    r = await env.client.post(
        "/api/v1/users", json={"username": "z1", "role": "operator", "county": OTHER}, headers=h
    )
    assert r.status_code == 403
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "z2", "role": "prefecture_admin", "county": "533100"},
        headers=h,
    )
    assert r.status_code == 403


async def user_update(env: ApiEnv, h: Headers) -> None:
    name = f"longchuan-{secrets.token_hex(3)}"
    await env.add_user(name, Role.OPERATOR, OTHER)
    _not_found(await env.client.patch(f"/api/v1/users/{name}", json={"disabled": True}, headers=h))
    async with env.db.session() as s:
        user = (await s.execute(select(User).where(User.username == name))).scalar_one()
        assert not user.disabled


async def apikeys_list(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get("/api/v1/apikeys", headers=h)
    assert r.status_code == 200
    assert {k["county"] for k in r.json()} == {HOME}
    r = await env.client.get("/api/v1/apikeys", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def apikeys_create(env: ApiEnv, h: Headers) -> None:
    r = await env.client.post(
        "/api/v1/apikeys", json={"name": "x", "role": "operator", "county": OTHER}, headers=h
    )
    assert r.status_code == 403


async def apikeys_revoke(env: ApiEnv, h: Headers) -> None:
    key_id = await _foreign_key_id(env)
    _not_found(await env.client.delete(f"/api/v1/apikeys/{key_id}", headers=h))
    r = await env.client.get("/api/v1/auth/me", headers={"X-API-Key": env.keys[OTHER]})
    assert r.status_code == 200  # still valid


async def gateways_list(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get("/api/v1/gateways", headers=h)
    assert [g["id"] for g in r.json()] == ["gw-m1"]
    r = await env.client.get("/api/v1/gateways", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def gateway_get(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get("/api/v1/gateways/gw-l1", headers=h))
    _not_found(await env.client.get("/api/v1/gateways/no-such-gw", headers=h))


async def gateway_create(env: ApiEnv, h: Headers) -> None:
    r = await env.client.post(
        "/api/v1/gateways", json={"county": OTHER, "name": "Sneaky"}, headers=h
    )
    assert r.status_code == 403
    async with env.db.session() as s:
        assert (await s.execute(select(Gateway).where(Gateway.name == "Sneaky"))).first() is None


async def gateway_revoke(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.post("/api/v1/gateways/gw-l1/revoke", headers=h))
    async with env.db.session() as s:
        assert (await s.get(Gateway, "gw-l1")).revoked_at is None  # type: ignore[union-attr]


async def devices_list(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get("/api/v1/devices", headers=h)
    assert [d["id"] for d in r.json()] == ["gw-m1.room-1"]
    r = await env.client.get("/api/v1/devices", params={"gateway": "gw-l1"}, headers=h)
    assert r.json() == []
    r = await env.client.get("/api/v1/devices", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def device_get(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get("/api/v1/devices/gw-l1.room-1", headers=h))


async def device_latest(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get("/api/v1/devices/gw-l1.room-1/latest", headers=h))


async def device_series(env: ApiEnv, h: Headers) -> None:
    _not_found(
        await env.client.get(
            "/api/v1/devices/gw-l1.room-1/series",
            params={
                "metric": "temp_c",
                "start": "2026-01-01T00:00:00Z",
                "end": "2026-01-01T01:00:00Z",
                "every": "1m",
            },
            headers=h,
        )
    )


async def audit_list(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get("/api/v1/audit", headers=h)
    assert r.status_code == 200 and r.json()
    assert {e["county"] for e in r.json()} == {HOME}
    r = await env.client.get("/api/v1/audit", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def _foreign_dead_letter(env: ApiEnv) -> int:
    from cloud.ingest.deadletter import DeadLetters

    return await DeadLetters(env.db).put(
        f"dh/v1/{OTHER}/gw-l1/data", b"{}", "invalid", "v", "test", OTHER, "gw-l1"
    )


async def _foreign_replay_job(env: ApiEnv) -> int:
    from cloud.ingest.replay import create_job

    job = await create_job(env.db, "user:other-admin", OTHER, [await _foreign_dead_letter(env)])
    return job.id


async def dead_letters_list(env: ApiEnv, h: Headers) -> None:
    await _foreign_dead_letter(env)
    r = await env.client.get("/api/v1/dead-letters", headers=h)
    assert r.status_code == 200 and all(d["county"] == HOME for d in r.json())
    r = await env.client.get("/api/v1/dead-letters", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def dead_letter_get(env: ApiEnv, h: Headers) -> None:
    letter = await _foreign_dead_letter(env)
    _not_found(await env.client.get(f"/api/v1/dead-letters/{letter}", headers=h))


async def dead_letters_replay(env: ApiEnv, h: Headers) -> None:
    letter = await _foreign_dead_letter(env)
    _not_found(
        await env.client.post("/api/v1/dead-letters/replay", json={"ids": [letter]}, headers=h)
    )


async def dead_letters_replay_job(env: ApiEnv, h: Headers) -> None:
    job = await _foreign_replay_job(env)
    _not_found(await env.client.get(f"/api/v1/dead-letters/replays/{job}", headers=h))


async def ingest_alerts(env: ApiEnv, h: Headers) -> None:
    # alerts about the shared time-series store: no county's records in them
    r = await env.client.get("/api/v1/ingest/alerts", headers=h)
    assert r.status_code == 200 and all("county" not in a for a in r.json())


async def multi_series(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get(
        "/api/v1/series",
        params={"metric": "temp_c", "device": ["gw-m1.room-1", "gw-l1.room-1"]},
        headers=h,
    )
    _not_found(r)
    assert "gw-l1.room-1" in r.json()["detail"]


async def gateway_rotate(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.post("/api/v1/gateways/gw-l1/rotate", headers=h))
    async with env.db.session() as s:
        gw = await s.get(Gateway, "gw-l1")
        assert gw is not None and gw.mqtt_password_hash == "$7$101$x$y"  # unchanged


async def gateway_completeness(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get("/api/v1/gateways/gw-l1/completeness", headers=h))


async def gateway_health(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get("/api/v1/gateways/gw-l1/health", headers=h))


async def gateway_command_send(env: ApiEnv, h: Headers) -> None:
    sent: list[str] = []

    async def publish(topic: str, _payload: bytes) -> None:
        sent.append(topic)

    env.app.state.command_publisher = publish
    _not_found(
        await env.client.post("/api/v1/gateways/gw-l1/commands", json={"name": "ping"}, headers=h)
    )
    assert sent == []


async def gateway_commands_list(env: ApiEnv, h: Headers) -> None:
    _not_found(await env.client.get("/api/v1/gateways/gw-l1/commands", headers=h))


async def _foreign_inspection(env: ApiEnv) -> int:
    from cloud.db import utcnow
    from cloud.inspections.storage import InspectionRecord

    async with env.db.transaction() as s:
        n = await s.scalar(select(func.count()).select_from(InspectionRecord))
        r = InspectionRecord(
            gateway_id="gw-l1", event_id=f"insp-l1-{n}", county=OTHER, site="site-gw-l1",
            device="gw-l1.cam1", ts=utcnow(), ts_ms=0, program="coffee", lot="LOT-L1",
            usable=True, counts={}, measurements={}, image_sha256="0" * 64,
            thumbnail_key="1" * 64,
        )  # fmt: skip
        s.add(r)
        await s.flush()
        return r.id


async def inspections_list(env: ApiEnv, h: Headers) -> None:
    await _foreign_inspection(env)
    for params in ({}, {"lot": "LOT-L1"}, {"device": "gw-l1.cam1"}):
        r = await env.client.get("/api/v1/inspections", params=params, headers=h)
        assert r.status_code == 200 and r.json()["items"] == [], r.text
    r = await env.client.get("/api/v1/inspections", params={"county": OTHER}, headers=h)
    assert r.status_code == 403


async def inspection_get(env: ApiEnv, h: Headers) -> None:
    ident = await _foreign_inspection(env)
    _not_found(await env.client.get(f"/api/v1/inspections/{ident}", headers=h))


async def inspection_thumbnail(env: ApiEnv, h: Headers) -> None:
    ident = await _foreign_inspection(env)
    _not_found(await env.client.get(f"/api/v1/inspections/{ident}/thumbnail", headers=h))


CASES: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/gateways/{gateway_id}/rotate"): gateway_rotate,
    ("GET", "/api/v1/gateways/{gateway_id}/completeness"): gateway_completeness,
    ("GET", "/api/v1/gateways/{gateway_id}/health"): gateway_health,
    ("POST", "/api/v1/gateways/{gateway_id}/commands"): gateway_command_send,
    ("GET", "/api/v1/gateways/{gateway_id}/commands"): gateway_commands_list,
    ("GET", "/api/v1/series"): multi_series,
    ("GET", "/api/v1/dead-letters"): dead_letters_list,
    ("GET", "/api/v1/dead-letters/{letter_id}"): dead_letter_get,
    ("POST", "/api/v1/dead-letters/replay"): dead_letters_replay,
    ("GET", "/api/v1/dead-letters/replays/{job_id}"): dead_letters_replay_job,
    ("GET", "/api/v1/ingest/alerts"): ingest_alerts,
    ("POST", "/api/v1/auth/token"): token,
    ("GET", "/api/v1/auth/me"): me,
    ("POST", "/api/v1/auth/password"): password,
    ("GET", "/api/v1/users"): users_list,
    ("POST", "/api/v1/users"): users_create,
    ("PATCH", "/api/v1/users/{username}"): user_update,
    ("GET", "/api/v1/apikeys"): apikeys_list,
    ("POST", "/api/v1/apikeys"): apikeys_create,
    ("DELETE", "/api/v1/apikeys/{key_id}"): apikeys_revoke,
    ("GET", "/api/v1/gateways"): gateways_list,
    ("GET", "/api/v1/gateways/{gateway_id}"): gateway_get,
    ("POST", "/api/v1/gateways"): gateway_create,
    ("POST", "/api/v1/gateways/{gateway_id}/revoke"): gateway_revoke,
    ("GET", "/api/v1/devices"): devices_list,
    ("GET", "/api/v1/devices/{device_id}"): device_get,
    ("GET", "/api/v1/devices/{device_id}/latest"): device_latest,
    ("GET", "/api/v1/devices/{device_id}/series"): device_series,
    ("GET", "/api/v1/audit"): audit_list,
    ("GET", "/api/v1/inspections"): inspections_list,
    ("GET", "/api/v1/inspections/{inspection_id}"): inspection_get,
    ("GET", "/api/v1/inspections/{inspection_id}/thumbnail"): inspection_thumbnail,
}
CASES.update(CATALOG_CASES)  # organisations and mobile device owners (item 11)
CASES.update(MASTER_CASES)  # bases, locations, products, profiles (issue 11)
CASES.update(TRACE_CASES)  # lots, EPCIS capture and query (issue 11)
CASES.update(TLOG_CASES)  # the trace log (issue 11)
CASES.update(CUSTODY_CASES)  # custody and sensor evidence (issue 11)
CASES.update(CERTS_CASES)  # certificates, 合格证, tests, brand, recall (issue 11)
CASES.update(OPS_CASES)  # our own trace operations (issue 11)
CASES.update(PAGE_CASES)  # the consumer trace page (issue 12)
CASES.update(COLDCHAIN_CASES)  # cold chain: alarms, excursions, MKT (issue 13)
CASES.update(SERIALS_CASES)  # serials, labels, scan places and flags (issue 12)
CASES.update(CONSOLE_CASES)  # the dispatcher console (issue 13)
CASES.update(POSITIONS_CASES)  # positions and phone trackers (issue 13)
CASES.update(LOGISTICS_CASES)  # fleet, supply, trips, waybills (issue 13)
CASES.update(TRIPS_CASES)  # logistics trips, stops, geofences, replay (issue 13)
CASES.update(FIRMWARE_CASES)  # firmware images and rollouts (issue 16)
CASES.update(SCREEN_CASES)  # the big-data wall screen (issue 14)
CASES.update(COMMERCE_CASES)  # e-commerce shops, orders, imports, indicators (issue 14)
CASES.update(SUPERVISION_CASES)  # programme supervision and disclosure (issue 15)
CASES.update(TRAINING_CASES)  # 电商学院: training API and its public API (issue 15)
CASES.update(STATIONS_CASES)  # stations, poverty links, statistics forms (issue 15)
CASES.update(SERVICES_CASES)  # registry, showcase, CMS of the public service (issue 15)
CASES.update(MOFCOM_CASES)  # the MOFCOM export, its pushes and their log (issue 15)
CASES.update(H5_CASES)  # the public H5 site's JSON (issue 15)


def api_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every (method, path) the app serves under /api/v1, documented or not.

    Newer FastAPI keeps included routers as nested entries of ``app.routes``;
    ``iter_route_contexts`` flattens them. The OpenAPI paths are added as a cross-check.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested included routers: app.routes is flat
        flat = [r for r in app.routes if isinstance(r, APIRoute)]
    else:
        flat = list(iter_route_contexts(app.routes))
    out = {
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
        for route in flat
        if (route.path or "").startswith("/api/v1")
        for method in (route.methods or ())
        if method != "HEAD"
    }
    out |= {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in ops
    }
    return out


async def test_every_route_has_an_isolation_case(wide_env: ApiEnv) -> None:
    env = wide_env
    missing = api_routes(env.app) - set(CASES)
    assert not missing, f"routes without a county-isolation case in CASES: {sorted(missing)}"
    stale = set(CASES) - api_routes(env.app)
    assert not stale, f"CASES names routes that no longer exist: {sorted(stale)}"


async def test_county_admin_sees_nothing_of_another_county(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    for (method, path), case in CASES.items():
        try:
            await case(env, h)
        except AssertionError as exc:
            raise AssertionError(f"{method} {path}: {exc}") from exc


async def test_every_role_of_a_county_sees_nothing_of_another(wide_env: ApiEnv) -> None:
    """Roles x endpoints: each role of HOME runs the case of every route its permission
    allows (the others are 403, tests/cloud/test_api_roles.py)."""
    env = wide_env
    from cloud.auth import policy
    from cloud.auth.deps import permission_of
    from tests.cloud.test_api_roles import _routes

    routes = _routes(env.app)
    ran = 0
    for role, spec in policy.ROLES.items():
        if role is Role.PUBLIC or spec.home is policy.Home.PREFECTURE:
            continue
        h = await env.headers(role, HOME)
        for (method, path), case in CASES.items():
            permission = permission_of(routes[(method, path)].dependant)
            if permission is None or not policy.allows(role, permission):
                continue
            try:
                await case(env, h)
            except AssertionError as exc:
                raise AssertionError(f"{role.value}: {method} {path}: {exc}") from exc
            ran += 1
    assert ran > len(CASES)


async def test_api_key_of_one_county_is_scoped_too(env: ApiEnv) -> None:
    h = {"X-API-Key": env.keys[HOME]}
    r = await env.client.get("/api/v1/gateways", headers=h)
    assert [g["id"] for g in r.json()] == ["gw-m1"]
    _not_found(await env.client.get("/api/v1/devices/gw-l1.room-1/latest", headers=h))
    # an operator key may not provision, even in its own county
    r = await env.client.post("/api/v1/gateways", json={"county": HOME, "name": "x"}, headers=h)
    assert r.status_code == 403


async def test_prefecture_admin_sees_all_counties(env: ApiEnv) -> None:
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get("/api/v1/gateways", headers=h)
    assert [g["id"] for g in r.json()] == ["gw-m1", "gw-l1"]
    r = await env.client.get("/api/v1/gateways", params={"county": OTHER}, headers=h)
    assert [g["id"] for g in r.json()] == ["gw-l1"]
    r = await env.client.get("/api/v1/gateways", params={"county": "123456"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "query.county"
    r = await env.client.get("/api/v1/devices/gw-l1.room-1/latest", headers=h)
    assert r.status_code == 200
    r = await env.client.get("/api/v1/audit", headers=h)
    assert {e["county"] for e in r.json()} >= {HOME, OTHER}


async def test_dispatcher_reads_own_county_but_cannot_administer(env: ApiEnv) -> None:
    h = await env.headers(Role.DISPATCHER, HOME)
    assert (await env.client.get("/api/v1/gateways/gw-m1", headers=h)).status_code == 200
    assert (await env.client.get("/api/v1/audit", headers=h)).status_code == 403
    assert (await env.client.get("/api/v1/users", headers=h)).status_code == 403
    r = await env.client.post("/api/v1/gateways", json={"county": HOME, "name": "x"}, headers=h)
    assert r.status_code == 403
