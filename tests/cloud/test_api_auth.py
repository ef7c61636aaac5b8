"""Auth: OAuth2 password flow, JWT expiry, API keys, argon2id, the demo-secret guard."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.app import InsecureSettingsError, create_app
from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.auth.service import issue_token
from cloud.auth.storage import User
from cloud.settings import DEMO_JWT_SECRET, Settings
from tests.support.api import HOME, OTHER, PASSWORD, ApiEnv, api_env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def test_token_flow_and_me(env: ApiEnv) -> None:
    await env.add_user("alice", Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        "/api/v1/auth/token", data={"username": "alice", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == env.settings.jwt_ttl_s
    me = await env.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json() == {
        "kind": "user",
        "name": "alice",
        "role": "county_admin",
        "county": HOME,
        "org_id": None,
    }


async def test_bad_password_and_no_credentials_are_401(env: ApiEnv) -> None:
    await env.add_user("bob", Role.OPERATOR, HOME)
    r = await env.client.post("/api/v1/auth/token", data={"username": "bob", "password": "nope"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = await env.client.post(
        "/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD}
    )
    assert r.status_code == 401
    r = await env.client.get("/api/v1/gateways")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in r.json()["detail"]


async def test_expired_and_forged_tokens_are_401(env: ApiEnv) -> None:
    user = await env.add_user("carol", Role.COUNTY_ADMIN, HOME)
    secret = env.settings.jwt_secret.get_secret_value()
    old, _ = issue_token(user, secret, 60, now=time.time() - 3600)
    r = await env.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    forged, _ = issue_token(user, "x" * 48, 600)
    r = await env.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


async def test_token_of_disabled_user_is_401(env: ApiEnv) -> None:
    headers = await env.headers(Role.COUNTY_ADMIN, HOME, "dave")
    async with env.db.transaction() as s:
        user = (await s.execute(select(User).where(User.username == "dave"))).scalar_one()
        user.disabled = True
    r = await env.client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401


async def test_api_key_works_until_revoked(env: ApiEnv) -> None:
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        "/api/v1/apikeys", json={"name": "erp", "role": "operator", "county": HOME}, headers=admin
    )
    assert r.status_code == 201, r.text
    key, key_id = r.json()["key"], r.json()["api_key"]["id"]
    assert key.startswith(f"dhk_{key_id}_")
    me = await env.client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.json() == {
        "kind": "apikey",
        "name": key_id,
        "role": "operator",
        "county": HOME,
        "org_id": None,
    }
    assert (await env.client.get("/api/v1/gateways", headers={"X-API-Key": key})).status_code == 200
    bad = key[:-3] + "xyz"
    assert (await env.client.get("/api/v1/auth/me", headers={"X-API-Key": bad})).status_code == 401
    r = await env.client.delete(f"/api/v1/apikeys/{key_id}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = await env.client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    async with env.db.session() as s:
        actions = set((await s.execute(select(AuditEntry.action))).scalars())
    assert {"apikey.created", "apikey.revoked"} <= actions


async def test_passwords_are_argon2id_and_users_audited(env: ApiEnv) -> None:
    admin = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "erin", "role": "dispatcher", "county": OTHER},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    generated = r.json()["password"]
    assert generated and len(generated) >= 10
    async with env.db.session() as s:
        user = (await s.execute(select(User).where(User.username == "erin"))).scalar_one()
        assert user.password_hash.startswith("$argon2id$")
        assert generated not in user.password_hash
    r = await env.client.post(
        "/api/v1/auth/token", data={"username": "erin", "password": generated}
    )
    assert r.status_code == 200
    erin = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await env.client.post(
        "/api/v1/auth/password",
        json={"current_password": generated, "new_password": "short"},
        headers=erin,
    )
    assert r.status_code == 422 and r.json()["field"] == "body.new_password"
    r = await env.client.post(
        "/api/v1/auth/password",
        json={"current_password": generated, "new_password": "a-much-longer-one"},
        headers=erin,
    )
    assert r.status_code == 204
    async with env.db.session() as s:
        actions = list((await s.execute(select(AuditEntry.action))).scalars())
    assert "user.created" in actions and "user.password_changed" in actions


async def test_user_roles_and_counties_are_checked(env: ApiEnv) -> None:
    admin = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "frank", "role": "county_admin", "county": "533100"},
        headers=admin,
    )
    assert r.status_code == 422
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "frank", "role": "county_admin", "county": "999999"},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["field"] == "body.county"
    operator = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "frank", "role": "operator", "county": HOME},
        headers=operator,
    )
    assert r.status_code == 403


async def test_healthz_is_public(env: ApiEnv) -> None:
    r = await env.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "timeseries": "ok"}


async def test_livez_is_public_and_touches_no_store(env: ApiEnv) -> None:
    """``/livez``: the process answers, whatever its stores do (a liveness probe that
    does not restart the API for a database outage; the benches' trivial baseline)."""
    await env.app.state.db.dispose()
    env.app.state.db = None  # a store touched would fail the request
    r = await env.client.get("/livez")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_demo_secret_refused_unless_demo(tmp_path: Path) -> None:
    s = Settings(database_url=f"sqlite:///{tmp_path}/x.db", jwt_secret=DEMO_JWT_SECRET)
    with pytest.raises(InsecureSettingsError, match="DEHONG_JWT_SECRET"):
        create_app(s)
    create_app(s.model_copy(update={"demo": True}))


def test_openapi_documents_every_route() -> None:
    from cloud.auth.deps import permission_of
    from tests.cloud.test_api_roles import _routes

    app = create_app(Settings(demo=True))
    spec = app.openapi()
    # public routes (login, the trace log's checkpoint, key, consistency proofs) never 401
    public = {
        (method.lower(), path)
        for (method, path), route in _routes(app).items()
        if permission_of(route.dependant) == "public"
    }
    assert ("post", "/api/v1/auth/token") in public
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method} {path} has no summary"
            assert op.get("tags"), f"{method} {path} has no tag"
            codes = set(op["responses"])
            if path.startswith("/api/v1") and (method, path) not in public:
                assert "401" in codes, f"{method} {path} does not document 401"
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")):
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith(("/Error", "/Health")), f"{method} {path} {code}: {ref}"
