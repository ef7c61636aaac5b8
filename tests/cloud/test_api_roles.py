"""The role table (cloud/auth/policy.py, docs/roles.md) enforced on every route:
roles x endpoints. Every route of the app declares one permission; a route that
declares none, or that this table has no request for, fails here."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from cloud.audit.service import record
from cloud.audit.storage import AuditEntry
from cloud.auth import policy
from cloud.auth.deps import permission_of
from cloud.auth.principal import Principal, Role
from cloud.auth.service import issue_token
from cloud.auth.storage import User
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.ingest.deadletter import DeadLetters
from cloud.inspections.storage import InspectionRecord
from tests.cloud.catalog_support import MASTER_REQUESTS
from tests.cloud.certs_cases import CERTS_REQUESTS
from tests.cloud.coldchain_cases import COLDCHAIN_REQUESTS
from tests.cloud.commerce_cases import COMMERCE_REQUESTS
from tests.cloud.console_cases import CONSOLE_REQUESTS
from tests.cloud.custody_cases import CUSTODY_REQUESTS
from tests.cloud.firmware_cases import FIRMWARE_REQUESTS
from tests.cloud.h5_cases import H5_REQUESTS
from tests.cloud.logistics_cases import LOGISTICS_REQUESTS
from tests.cloud.mofcom_cases import MOFCOM_REQUESTS
from tests.cloud.ops_cases import OPS_REQUESTS
from tests.cloud.page_cases import PAGE_REQUESTS
from tests.cloud.phone_cases import PHONE_REQUESTS
from tests.cloud.positions_cases import POSITIONS_REQUESTS
from tests.cloud.resolver_cases import RESOLVER_REQUESTS
from tests.cloud.screen_cases import SCREEN_REQUESTS
from tests.cloud.serials_cases import SERIALS_REQUESTS
from tests.cloud.services_registry_cases import SERVICES_REQUESTS
from tests.cloud.stations_cases import STATIONS_REQUESTS
from tests.cloud.supervision_cases import SUPERVISION_REQUESTS
from tests.cloud.test_tlog_api import TLOG_REQUESTS
from tests.cloud.trace_cases import TRACE_REQUESTS
from tests.cloud.training_cases import TRAINING_REQUESTS
from tests.cloud.trips_cases import TRIPS_REQUESTS
from tests.support.api import HOME, OTHER, PASSWORD, ApiEnv, api_env, cheap_argon2, unlimited

ROOT = Path(__file__).resolve().parents[2]
Headers = dict[str, str]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]


# The policy does not depend on the database; PostgreSQL runs in the slow set.
@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
async def env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ApiEnv]:
    cheap_argon2(monkeypatch)  # roles x endpoints log in and change passwords many times
    async with api_env(request.param, tmp_path) as e:
        unlimited(e)  # public routes many times from one address

        async def publish(_topic: str, _payload: bytes) -> None:
            return None

        e.app.state.command_publisher = publish
        yield e


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
async def role_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ApiEnv]:
    """The policy does not depend on the database: PostgreSQL runs in the slow set."""
    cheap_argon2(monkeypatch)
    async with api_env(request.param, tmp_path) as e:
        unlimited(e)  # public routes many times from one address

        async def publish(_topic: str, _payload: bytes) -> None:
            return None

        e.app.state.command_publisher = publish
        yield e


def _routes(app) -> dict[tuple[str, str], Any]:  # type: ignore[no-untyped-def]
    """Every (method, path) the app serves through FastAPI, with its ``dependant``
    (included routers' dependencies among them). Paths as OpenAPI shows them: a path
    converter is left out (``{event_id:path}`` is ``{event_id}``)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested included routers: app.routes is flat
        flat: list[Any] = [r for r in app.routes if isinstance(r, APIRoute)]
    else:
        flat = [c for c in iter_route_contexts(app.routes) if isinstance(c.route, APIRoute)]
    return {
        (m, re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path)): r
        for r in flat
        for m in (r.methods or ())
        if m != "HEAD"
    }


def _name() -> str:
    return f"u{secrets.token_hex(4)}"


async def _home_letter(env: ApiEnv) -> int:
    return await DeadLetters(env.db).put(
        f"dh/v1/{HOME}/gw-m1/data", b"{}", "invalid", "v", "test", HOME, "gw-m1"
    )


async def _home_inspection(env: ApiEnv) -> int:
    async with env.db.transaction() as s:
        r = InspectionRecord(
            gateway_id="gw-m1", event_id=f"insp-{secrets.token_hex(4)}", county=HOME,
            site="site-gw-m1", device="gw-m1.cam1", ts=utcnow(), ts_ms=0, program="coffee",
            lot="LOT-M1", usable=True, counts={}, measurements={}, image_sha256="0" * 64,
            thumbnail_key=None,
        )  # fmt: skip
        s.add(r)
        await s.flush()
        return r.id


async def _home_key_id(env: ApiEnv) -> str:
    from cloud.auth.service import create_api_key

    async with env.db.transaction() as s:
        new = await create_api_key(s, name="k", role=Role.DISPLAY, county=HOME, actor="test")
        return new.row.id


SERIES = {"metric": "temp_c", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}

#: One request per route, on records of the caller's own county (HOME).
REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", "/livez"): lambda e, h: e.client.get("/livez"),
    ("GET", "/healthz"): lambda e, h: e.client.get("/healthz"),
    ("POST", "/api/v1/auth/token"): lambda e, h: _login(e),
    ("GET", "/api/v1/auth/me"): lambda e, h: e.client.get("/api/v1/auth/me", headers=h),
    ("POST", "/api/v1/auth/password"): lambda e, h: e.client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "another-long-one"},
        headers=h,
    ),
    ("GET", "/api/v1/users"): lambda e, h: e.client.get("/api/v1/users", headers=h),
    ("POST", "/api/v1/users"): lambda e, h: e.client.post(
        "/api/v1/users", json={"username": _name(), "role": "display", "county": HOME}, headers=h
    ),
    ("PATCH", "/api/v1/users/{username}"): lambda e, h: _patch_user(e, h),
    ("GET", "/api/v1/apikeys"): lambda e, h: e.client.get("/api/v1/apikeys", headers=h),
    ("POST", "/api/v1/apikeys"): lambda e, h: e.client.post(
        "/api/v1/apikeys", json={"name": "wall", "role": "display", "county": HOME}, headers=h
    ),
    ("DELETE", "/api/v1/apikeys/{key_id}"): lambda e, h: _revoke_key(e, h),
    ("GET", "/api/v1/gateways"): lambda e, h: e.client.get("/api/v1/gateways", headers=h),
    ("GET", "/api/v1/gateways/{gateway_id}"): lambda e, h: e.client.get(
        "/api/v1/gateways/gw-m1", headers=h
    ),
    ("POST", "/api/v1/gateways"): lambda e, h: e.client.post(
        "/api/v1/gateways", json={"county": HOME, "name": _name()}, headers=h
    ),
    ("POST", "/api/v1/gateways/{gateway_id}/revoke"): lambda e, h: _on_new_gateway(e, h, "revoke"),
    ("POST", "/api/v1/gateways/{gateway_id}/rotate"): lambda e, h: _on_new_gateway(e, h, "rotate"),
    ("GET", "/api/v1/gateways/{gateway_id}/completeness"): lambda e, h: e.client.get(
        "/api/v1/gateways/gw-m1/completeness", headers=h
    ),
    ("POST", "/api/v1/gateways/{gateway_id}/commands"): lambda e, h: e.client.post(
        "/api/v1/gateways/gw-m1/commands", json={"name": "ping"}, headers=h
    ),
    ("GET", "/api/v1/gateways/{gateway_id}/commands"): lambda e, h: e.client.get(
        "/api/v1/gateways/gw-m1/commands", headers=h
    ),
    ("GET", "/api/v1/devices"): lambda e, h: e.client.get("/api/v1/devices", headers=h),
    ("GET", "/api/v1/devices/{device_id}"): lambda e, h: e.client.get(
        "/api/v1/devices/gw-m1.room-1", headers=h
    ),
    ("GET", "/api/v1/devices/{device_id}/latest"): lambda e, h: e.client.get(
        "/api/v1/devices/gw-m1.room-1/latest", headers=h
    ),
    ("GET", "/api/v1/devices/{device_id}/series"): lambda e, h: e.client.get(
        "/api/v1/devices/gw-m1.room-1/series", params=SERIES, headers=h
    ),
    ("GET", "/api/v1/series"): lambda e, h: e.client.get(
        "/api/v1/series", params={**SERIES, "device": "gw-m1.room-1"}, headers=h
    ),
    ("GET", "/api/v1/audit"): lambda e, h: e.client.get("/api/v1/audit", headers=h),
    ("GET", "/api/v1/dead-letters"): lambda e, h: e.client.get("/api/v1/dead-letters", headers=h),
    ("GET", "/api/v1/dead-letters/{letter_id}"): lambda e, h: _letter_get(e, h),
    ("POST", "/api/v1/dead-letters/replay"): lambda e, h: _letter_replay(e, h),
    ("GET", "/api/v1/inspections"): lambda e, h: e.client.get("/api/v1/inspections", headers=h),
    ("GET", "/api/v1/inspections/{inspection_id}"): lambda e, h: _inspection(e, h, ""),
    ("GET", "/api/v1/inspections/{inspection_id}/thumbnail"): lambda e, h: _inspection(
        e, h, "/thumbnail"
    ),
    ("GET", "/api/v1/gateways/{gateway_id}/health"): lambda e, h: e.client.get(
        "/api/v1/gateways/gw-m1/health", headers=h
    ),
    ("GET", "/api/v1/ingest/alerts"): lambda e, h: e.client.get("/api/v1/ingest/alerts", headers=h),
    ("GET", "/api/v1/dead-letters/replays/{job_id}"): lambda e, h: _replay_job(e, h),
    ("GET", "/api/v1/orgs"): lambda e, h: e.client.get("/api/v1/orgs", headers=h),
    ("GET", "/api/v1/orgs/{org_id}"): lambda e, h: _org_get(e, h),
    ("POST", "/api/v1/orgs"): lambda e, h: _org_create(e, h),
    ("GET", "/api/v1/mobile-devices"): lambda e, h: e.client.get(
        "/api/v1/mobile-devices", headers=h
    ),
    ("GET", "/api/v1/mobile-devices/{device_id}"): lambda e, h: _mobile_get(e, h),
    ("PUT", "/api/v1/mobile-devices/{device_id}"): lambda e, h: _mobile_register(e, h),
}
REQUESTS.update(MASTER_REQUESTS)  # tests/cloud/catalog_support.py (issue 11)
REQUESTS.update(TLOG_REQUESTS)  # the trace log (issue 11)
REQUESTS.update(CUSTODY_REQUESTS)  # custody and sensor evidence (issue 11)
REQUESTS.update(COLDCHAIN_REQUESTS)  # cold chain: alarms, excursions, MKT (issue 13)


async def _home_org(env: ApiEnv) -> int:
    """An organisation of HOME (made once per database); organisation roles belong to it."""
    from cloud.catalog.storage import Organisation
    from tests.cloud.test_api_isolation_mobile import uscc

    async with env.db.transaction() as s:
        found = await s.scalar(select(Organisation.id).where(Organisation.county == HOME))
        if found is not None:
            return int(found)
        org = Organisation(
            kind="cooperative", name="Mangshi co-op", uscc=uscc(HOME, 98), county=HOME,
            created_at=utcnow(), created_by="test",
        )  # fmt: skip
        s.add(org)
        await s.flush()
        return org.id


def _mac() -> str:
    return "AA:" + ":".join(secrets.token_hex(1).upper() for _ in range(5))


async def _org_get(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(f"/api/v1/orgs/{await _home_org(env)}", headers=h)


async def _org_create(env: ApiEnv, h: Headers) -> httpx.Response:
    from tests.cloud.test_api_isolation_mobile import uscc

    body = {"kind": "enterprise", "name": _name(), "uscc": uscc(HOME, secrets.randbelow(10**6))}
    return await env.client.post("/api/v1/orgs", json={**body, "county": HOME}, headers=h)


async def _mobile_get(env: ApiEnv, h: Headers) -> httpx.Response:
    from cloud.catalog.service import register_device
    from cloud.catalog.storage import Organisation

    device = _mac()
    async with env.db.transaction() as s:
        org = await s.get_one(Organisation, await _home_org(env))
        await register_device(s, device, kind="ble_tag", org=org, may_take_from=None, actor="test")
    return await env.client.get(f"/api/v1/mobile-devices/{device}", headers=h)


async def _mobile_register(env: ApiEnv, h: Headers) -> httpx.Response:
    body = {"kind": "ble_tag", "org_id": await _home_org(env)}
    return await env.client.put(f"/api/v1/mobile-devices/{_mac()}", json=body, headers=h)


async def _replay_job(env: ApiEnv, h: Headers) -> httpx.Response:
    from cloud.ingest.replay import create_job

    job = await create_job(env.db, "user:test", HOME, [await _home_letter(env)])
    return await env.client.get(f"/api/v1/dead-letters/replays/{job.id}", headers=h)


async def _patch_user(env: ApiEnv, h: Headers) -> httpx.Response:
    name = _name()
    await env.add_user(name, Role.OPERATOR, HOME)
    return await env.client.patch(
        f"/api/v1/users/{name}", json={"org_id": "coop-1", "display_name": "Yang"}, headers=h
    )


async def _login(env: ApiEnv) -> httpx.Response:
    name = _name()
    await env.add_user(name, Role.DISPLAY, HOME)
    return await env.client.post(
        "/api/v1/auth/token", data={"username": name, "password": PASSWORD}
    )


async def _revoke_key(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.delete(f"/api/v1/apikeys/{await _home_key_id(env)}", headers=h)


async def _on_new_gateway(env: ApiEnv, h: Headers, action: str) -> httpx.Response:
    from cloud.provisioning.service import provision_gateway

    gw, _ = await provision_gateway(
        env.db, HOME, _name(), None, None, actor="test", settings=env.settings
    )
    return await env.client.post(f"/api/v1/gateways/{gw.id}/{action}", headers=h)


async def _letter_get(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.get(f"/api/v1/dead-letters/{await _home_letter(env)}", headers=h)


async def _letter_replay(env: ApiEnv, h: Headers) -> httpx.Response:
    ids = [await _home_letter(env)]
    return await env.client.post("/api/v1/dead-letters/replay", json={"ids": ids}, headers=h)


async def _inspection(env: ApiEnv, h: Headers, suffix: str) -> httpx.Response:
    ident = await _home_inspection(env)
    return await env.client.get(f"/api/v1/inspections/{ident}{suffix}", headers=h)


REQUESTS.update(TRACE_REQUESTS)  # lots, EPCIS capture and query (issue 11)
REQUESTS.update(CERTS_REQUESTS)  # certificates, 合格证, tests, brand, recall (issue 11)
REQUESTS.update(OPS_REQUESTS)  # our own trace operations (issue 11)
REQUESTS.update(PHONE_REQUESTS)  # the phone page /m/trace (issue 11)
REQUESTS.update(PAGE_REQUESTS)  # the consumer trace page (issue 12)
REQUESTS.update(SERIALS_REQUESTS)  # serials, labels, scan places and flags (issue 12)
REQUESTS.update(TRIPS_REQUESTS)  # logistics trips, stops, geofences, replay (issue 13)
REQUESTS.update(RESOLVER_REQUESTS)  # the GS1 Digital Link resolver (issue 12)
REQUESTS.update(CONSOLE_REQUESTS)  # the dispatcher console (issue 13)
REQUESTS.update(POSITIONS_REQUESTS)  # positions and phone trackers (issue 13)
REQUESTS.update(LOGISTICS_REQUESTS)  # fleet, supply, trips, waybills (issue 13)
REQUESTS.update(FIRMWARE_REQUESTS)  # firmware images and rollouts (issue 16)
REQUESTS.update(SCREEN_REQUESTS)  # the big-data wall screen (issue 14)
REQUESTS.update(COMMERCE_REQUESTS)  # e-commerce shops, orders, imports, indicators (issue 14)
REQUESTS.update(SUPERVISION_REQUESTS)  # programme supervision and disclosure (issue 15)
REQUESTS.update(TRAINING_REQUESTS)  # 电商学院: training API, public API and pages (issue 15)
REQUESTS.update(STATIONS_REQUESTS)  # stations, poverty links, statistics forms (issue 15)
REQUESTS.update(SERVICES_REQUESTS)  # registry, showcase, CMS of the public service (issue 15)
REQUESTS.update(MOFCOM_REQUESTS)  # the MOFCOM export, its pushes and their log (issue 15)
REQUESTS.update(H5_REQUESTS)  # the public H5 site and its JSON (issue 15)

#: Routes outside this table's reach, each with the reason.
NOT_HERE = {("GET", "/metrics"): "scrape token, not a role: tests/cloud/test_metrics_access.py"}


async def _headers(env: ApiEnv, role: Role) -> Headers:
    if role is Role.GATEWAY:  # a gateway authenticates as itself, never as a user
        return await env.headers(role, HOME)
    spec = policy.ROLES[role]
    county = "533100" if spec.home is policy.Home.PREFECTURE else HOME
    org = str(await _home_org(env)) if spec.org_scoped else None
    async with env.db.transaction() as s:
        user = User(
            username=_name(), password_hash=(await _any_hash(env)), role=role.value,
            county=county, display_name="Someone", disabled=False, created_at=utcnow(),
            token_version=0, org_id=org,
        )  # fmt: skip
        s.add(user)
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}


async def _any_hash(env: ApiEnv) -> str:
    import tests.support.api

    return tests.support.api._HASH


def test_every_route_declares_a_permission() -> None:
    from cloud.app import create_app
    from cloud.settings import Settings

    app = create_app(Settings(demo=True))
    undeclared = [
        key
        for key, route in _routes(app).items()
        if key not in NOT_HERE and permission_of(route.dependant) is None
    ]
    assert not undeclared, f"routes without require(permission): {sorted(undeclared)}"


async def test_every_route_has_a_request(env: ApiEnv) -> None:
    routes = set(_routes(env.app)) - set(NOT_HERE)
    assert routes - set(REQUESTS) == set(), "add a request for each new route to REQUESTS"
    assert set(REQUESTS) - routes == set(), "REQUESTS names routes that no longer exist"


async def test_roles_x_endpoints(role_env: ApiEnv) -> None:
    env = role_env
    routes = _routes(env.app)
    failures: list[str] = []
    for role in Role:
        # one user of the role for its requests (a row and a token each cost a commit);
        # a password change revokes the caller's tokens: that request gets its own user
        cached = await _headers(env, role) if role is not Role.PUBLIC else {}
        for key, call in REQUESTS.items():
            permission = permission_of(routes[key].dependant)
            assert permission is not None, key
            if role is Role.PUBLIC:
                r = await call(env, {})
                if permission == "public":
                    ok = r.status_code not in (401, 403)
                else:
                    ok = r.status_code == 401
            else:
                own = key == ("POST", "/api/v1/auth/password")
                r = await call(env, await _headers(env, role) if own else cached)
                if policy.allows(role, permission):
                    ok = r.status_code not in (401, 403)
                else:  # the 403 names the permission (each alternative: "a or b")
                    ok = r.status_code == 403 and all(
                        p in r.json()["detail"] for p in permission.split(policy.ALTERNATIVES)
                    )
            if not ok:
                failures.append(
                    f"{role.value} {key[0]} {key[1]} ({permission}): {r.status_code} {r.text[:120]}"
                )
    assert not failures, "\n".join(failures)


def test_docs_show_the_role_table() -> None:
    text = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
    assert policy.markdown_table() in text, "regenerate with: python -m cloud.auth.policy"


def test_old_role_names_keep_their_meaning() -> None:
    # stored before the table existed: still valid values with the same powers
    for name in ("prefecture_admin", "county_admin", "operator", "dispatcher"):
        assert Role(name) in policy.ROLES
    assert policy.allows(Role.OPERATOR, "gateways:read")
    assert not policy.allows(Role.OPERATOR, "gateways:write")
    assert not policy.allows(Role.DISPATCHER, "users:read")


def test_cli_offers_every_assignable_role() -> None:
    from cloud.cli import ROLES

    assert set(ROLES) == {r.value for r in Role if r not in (Role.PUBLIC, Role.GATEWAY)}


def _p(role: Role, county: str = HOME, org: str | None = None) -> Principal:
    return Principal("user", "x", role, county, org)


def test_operators_write_only_their_own_organisation() -> None:
    policy.check_write_scope(_p(Role.OPERATOR, org="org-a"), HOME, "org-a")
    for principal, county, org in (
        (_p(Role.OPERATOR, org="org-a"), HOME, "org-b"),
        (_p(Role.OPERATOR, org="org-a"), HOME, None),
        (_p(Role.OPERATOR, org=None), HOME, None),  # no organisation: writes nothing
        (_p(Role.OPERATOR, org="org-a"), OTHER, "org-a"),
        (_p(Role.CARRIER, org="org-a"), HOME, "org-b"),
        (_p(Role.COUNTY_ADMIN), OTHER, None),
    ):
        with pytest.raises(ApiError) as err:
            policy.check_write_scope(principal, county, org)
        assert err.value.status_code == 403
    policy.check_write_scope(_p(Role.COUNTY_ADMIN), HOME, "org-any")
    policy.check_write_scope(_p(Role.PREFECTURE_ADMIN, "533100"), OTHER, None)


def test_driver_acts_on_own_records_only() -> None:
    driver = _p(Role.DRIVER, org="carrier-1")
    policy.check_own_record(driver, "user:x")
    with pytest.raises(ApiError):
        policy.check_own_record(driver, "user:someone-else")


def test_role_homes_are_checked() -> None:
    from cloud.auth.principal import check_role_county

    check_role_county(Role.AUDITOR, "533100")
    check_role_county(Role.AUDITOR, HOME)
    check_role_county(Role.OPERATOR, HOME, "org-a")
    for role, county, org in (
        (Role.PUBLIC, HOME, None),
        (Role.GATEWAY, HOME, None),  # a gateway's own role, never a user's or key's
        (Role.OPERATOR, "533100", None),
        (Role.COUNTY_ADMIN, HOME, "org-a"),  # not an organisation role
        (Role.PREFECTURE_ADMIN, HOME, None),
    ):
        with pytest.raises(ValueError):
            check_role_county(role, county, org)


async def test_prefecture_auditor_reads_every_county_with_personal_data_masked(
    env: ApiEnv,
) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, OTHER)
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "lan", "role": "dispatcher", "county": OTHER, "display_name": "Li Lan"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    auditor = await env.headers(Role.AUDITOR, "533100")
    users = (await env.client.get("/api/v1/users", headers=auditor)).json()
    lan = next(u for u in users if u["username"] == "lan")
    assert lan["display_name"] == policy.MASK
    assert {u["county"] for u in users} >= {OTHER}
    assert (await env.client.get("/api/v1/audit", headers=auditor)).status_code == 200
    r = await env.client.get("/api/v1/gateways", headers=auditor)
    assert {g["id"] for g in r.json()} == {"gw-m1", "gw-l1"}
    # an admin of the county sees the name
    users = (await env.client.get("/api/v1/users", headers=admin)).json()
    assert next(u for u in users if u["username"] == "lan")["display_name"] == "Li Lan"
    # ...and auditors write nothing
    r = await env.client.post(
        "/api/v1/gateways", json={"county": OTHER, "name": "x"}, headers=auditor
    )
    assert r.status_code == 403


async def test_audit_names_personal_fields_never_values(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "mei", "role": "operator", "county": HOME, "display_name": "Dao Mei",
              "org_id": "coop-7"},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    async with env.db.session() as s:
        entry = (
            await s.execute(select(AuditEntry).where(AuditEntry.target == "user:mei"))
        ).scalar_one()
    assert entry.detail["personal_fields_changed"] == ["display_name"]
    assert "Dao Mei" not in str(entry.detail)
    async with env.db.session() as s:
        with pytest.raises(ValueError, match="personal"):
            await record(s, "test", "user.updated", "user:mei", HOME, {"display_name": "x"})


async def test_admin_sets_an_operators_organisation(env: ApiEnv) -> None:
    await env.add_user("nong", Role.OPERATOR, HOME)
    r = await env.client.post("/api/v1/auth/token", data={"username": "nong", "password": PASSWORD})
    old = {"Authorization": f"Bearer {r.json()['access_token']}"}
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.patch(
        "/api/v1/users/nong",
        json={"org_id": "coop-9", "display_name": "Nong Wei"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["org_id"] == "coop-9" and r.json()["display_name"] == "Nong Wei"
    # the organisation changed: earlier tokens are revoked
    assert (await env.client.get("/api/v1/auth/me", headers=old)).status_code == 401
    r = await env.client.post("/api/v1/auth/token", data={"username": "nong", "password": PASSWORD})
    new = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await env.client.get("/api/v1/auth/me", headers=new)).json()["org_id"] == "coop-9"
    async with env.db.session() as s:
        entry = (
            await s.execute(select(AuditEntry).where(AuditEntry.action == "user.updated"))
        ).scalar_one()
    assert entry.detail == {"org_id": "coop-9", "personal_fields_changed": ["display_name"]}
    # not a role of this county's admin to give; not a user of another county
    r = await env.client.patch(
        "/api/v1/users/nong", json={"role": "prefecture_admin"}, headers=admin
    )
    assert r.status_code == 422
    r = await env.client.patch("/api/v1/users/nong", json={"role": "county_admin"}, headers=admin)
    assert r.status_code == 422  # a county admin has no organisation: clear org_id too
    await env.add_user("far", Role.OPERATOR, OTHER)
    r = await env.client.patch("/api/v1/users/far", json={"disabled": True}, headers=admin)
    assert r.status_code == 404
