"""Item 13: argon2 off the event loop, login rate limits with lockout and Retry-After,
failed logins audited, tokens revoked by a password change."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.auth import service
from cloud.auth.principal import Role
from tests.support.api import HOME, PASSWORD, ApiEnv, api_env, cheap_argon2

TOKEN = "/api/v1/auth/token"


SLOW_PG = pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])
BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


# The throttle's SQL (insert-if-absent, row lock) runs on both databases in the
# default run; the rest of the login path is the same on both (PostgreSQL: slow set).
@pytest.fixture(params=["sqlite", SLOW_PG])
async def env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ApiEnv]:
    cheap_argon2(monkeypatch)  # many logins; the cost parameters are not under test
    async with api_env(request.param, tmp_path) as e:
        limits = {"login_max_failures_user": 3, "login_max_failures_ip": 6, "login_lockout_s": 120}
        for name, value in limits.items():
            if (
                name in type(e.settings).model_fields
            ):  # absent before the fix: tests fail, not error
                setattr(e.settings, name, value)
        yield e


def _client(env: ApiEnv, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=env.app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://api")


async def test_argon2_runs_off_the_event_loop(env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    await env.add_user("olga", Role.COUNTY_ADMIN, HOME)
    loop_thread = threading.get_ident()
    threads: list[int] = []

    class Spy(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            threads.append(threading.get_ident())
            return super().verify(hash, password)

    monkeypatch.setattr(service, "_hasher", Spy())
    r = await env.client.post(TOKEN, data={"username": "olga", "password": PASSWORD})
    assert r.status_code == 200, r.text
    r = await env.client.post(TOKEN, data={"username": "nobody", "password": PASSWORD})
    assert r.status_code == 401
    assert len(threads) == 2
    assert loop_thread not in threads, "argon2 verification ran on the event loop thread"


@pytest.mark.parametrize("env", BOTH, indirect=True)
async def test_username_lockout_with_retry_after(env: ApiEnv) -> None:
    await env.add_user("pete", Role.OPERATOR, HOME)
    async with _client(env, "10.0.0.1") as a, _client(env, "10.0.0.2") as b:
        for c in (a, b, a):  # failures from two addresses add up per username
            r = await c.post(TOKEN, data={"username": "pete", "password": "wrong-one"})
            assert r.status_code == 401
        r = await b.post(TOKEN, data={"username": "pete", "password": PASSWORD})
        assert r.status_code == 429, r.text  # locked, even with the right password
        retry = int(r.headers["retry-after"])
        assert 0 < retry <= 120
        assert "pete" in r.json()["detail"] or "account" in r.json()["detail"]
        # another user from the same addresses is not locked
        await env.add_user("quinn", Role.OPERATOR, HOME)
        r = await a.post(TOKEN, data={"username": "quinn", "password": PASSWORD})
        assert r.status_code == 200


async def test_ip_lockout(env: ApiEnv) -> None:
    await env.add_user("rita", Role.OPERATOR, HOME)
    async with _client(env, "10.9.9.9") as c, _client(env, "10.0.0.3") as other:
        for i in range(6):  # many usernames, one address
            r = await c.post(TOKEN, data={"username": f"guess{i}", "password": "x"})
            assert r.status_code == 401
        r = await c.post(TOKEN, data={"username": "rita", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        r = await other.post(TOKEN, data={"username": "rita", "password": PASSWORD})
        assert r.status_code == 200


async def test_success_resets_the_username_count(env: ApiEnv) -> None:
    await env.add_user("sam", Role.OPERATOR, HOME)
    for _ in range(2):
        for _ in range(2):
            r = await env.client.post(TOKEN, data={"username": "sam", "password": "bad"})
            assert r.status_code == 401
        r = await env.client.post(TOKEN, data={"username": "sam", "password": PASSWORD})
        assert r.status_code == 200


async def test_failed_logins_are_audited(env: ApiEnv) -> None:
    await env.add_user("tina", Role.COUNTY_ADMIN, HOME)
    await env.client.post(TOKEN, data={"username": "tina", "password": "bad-password"})
    await env.client.post(TOKEN, data={"username": "ghost", "password": "bad-password"})
    async with env.db.session() as s:
        rows = list(
            (
                await s.execute(select(AuditEntry).where(AuditEntry.action == "auth.login_failed"))
            ).scalars()
        )
    by_target = {e.target: e for e in rows}
    assert set(by_target) == {"user:tina", "user:ghost"}
    assert by_target["user:tina"].county == HOME
    assert by_target["user:tina"].actor.startswith("ip:")
    for e in rows:
        assert "bad-password" not in str(e.detail)  # never the password tried


async def test_password_change_revokes_earlier_tokens(env: ApiEnv) -> None:
    await env.add_user("uma", Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(TOKEN, data={"username": "uma", "password": PASSWORD})
    old = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r2 = await env.client.post(TOKEN, data={"username": "uma", "password": PASSWORD})
    other_session = {"Authorization": f"Bearer {r2.json()['access_token']}"}
    assert (await env.client.get("/api/v1/auth/me", headers=old)).status_code == 200
    r = await env.client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-brand-new-password"},
        headers=old,
    )
    assert r.status_code == 204
    for h in (old, other_session):
        r = await env.client.get("/api/v1/auth/me", headers=h)
        assert r.status_code == 401, r.text
        assert "log in again" in r.json()["detail"]
    r = await env.client.post(TOKEN, data={"username": "uma", "password": "a-brand-new-password"})
    assert r.status_code == 200
    new = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await env.client.get("/api/v1/auth/me", headers=new)).status_code == 200


@pytest.mark.parametrize("env", BOTH, indirect=True)
async def test_concurrent_failures_are_all_counted(env: ApiEnv) -> None:
    import asyncio

    await env.add_user("vic", Role.OPERATOR, HOME)
    async with _client(env, "10.7.7.7") as c:
        answers = await asyncio.gather(
            *(c.post(TOKEN, data={"username": "vic", "password": "bad"}) for _ in range(3))
        )
        assert sorted(r.status_code for r in answers) == [401, 401, 401]  # none a 500
        r = await c.post(TOKEN, data={"username": "vic", "password": PASSWORD})
        assert r.status_code == 429
