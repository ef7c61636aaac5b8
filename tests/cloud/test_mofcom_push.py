"""The MOFCOM push against a real HTTP server on loopback: failures then success,
a final 4xx, an endpoint that is down, the delivery log, the schedule with an injected
clock, and the admin endpoints."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from cloud.auth.principal import Role
from cloud.services.mofcom.push import already_sent, due_month, push, run_due
from cloud.services.mofcom.storage import MofcomDelivery
from cloud.settings import Settings
from tests.cloud import mofcom_support
from tests.cloud.mofcom_support import receiver
from tests.support.api import HOME, ApiEnv, api_env

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # 4 December, 20:00 in Beijing


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        await mofcom_support.build(e)
        yield e


def _settings(env: ApiEnv, url: str, **more: object) -> Settings:
    return env.settings.model_copy(update={
        "mofcom_push_url": url, "mofcom_push_token": SecretStr("t0ken"),
        "mofcom_push_attempts": 5, "mofcom_push_backoff_s": 1.0,
        "mofcom_push_backoff_max_s": 8.0, "mofcom_push_timeout_s": 5.0, **more,
    })  # fmt: skip


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_failures_then_success_are_logged(env: ApiEnv) -> None:
    sleeps = Sleeps()
    with receiver([503, 429, 500]) as rx:
        row = await push(env.db, _settings(env, rx.url), "2026-03", trigger="cli",
                         actor="cli", sleep=sleeps, now=NOW)  # fmt: skip
    assert (row.status, row.attempts, row.last_status_code) == ("sent", 4, 200)
    assert len(rx.received) == 4 and len(sleeps.delays) == 3
    assert sleeps.delays[1] >= 1.0  # the 429's Retry-After: 1
    assert all(0 < d <= 8.0 for d in sleeps.delays)
    headers, body = rx.received[-1]
    doc = orjson.loads(body)
    assert doc["format"] == "dehong-mofcom-export" and doc["month"] == "2026-03"
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["x-dehong-format"] == "dehong-mofcom-export/1.0"
    assert headers["x-content-sha256"] == hashlib.sha256(body).hexdigest() == row.body_sha256
    assert headers["idempotency-key"] == f"dehong-mofcom-2026-03-{row.body_sha256[:16]}"
    assert {h["idempotency-key"] for h, _ in rx.received} == {headers["idempotency-key"]}
    # the log keeps the endpoint without its query (no token in a URL is stored)
    assert row.endpoint.endswith("/mofcom/inbox") and "secret" not in row.endpoint
    assert row.finished_at is not None and row.body_bytes == len(body)


async def test_a_4xx_is_final_and_a_dead_endpoint_runs_out_of_attempts(env: ApiEnv) -> None:
    sleeps = Sleeps()
    with receiver([400]) as rx:
        row = await push(env.db, _settings(env, rx.url), "2026-03", trigger="cli",
                         actor="cli", sleep=sleeps, now=NOW)  # fmt: skip
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, 400)
    assert row.last_error == "busy" and sleeps.delays == []
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    row = await push(env.db, _settings(env, f"http://127.0.0.1:{port}/x", mofcom_push_attempts=3),
                     "2026-03", trigger="cli", actor="cli", sleep=sleeps, now=NOW)  # fmt: skip
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 3, None)
    assert "ConnectError" in (row.last_error or "")
    async with env.db.session() as s:
        rows = (await s.scalars(select(MofcomDelivery).order_by(MofcomDelivery.id))).all()
    assert [r.status for r in rows] == ["failed", "failed"]


async def test_the_schedule_pushes_the_previous_month_once(env: ApiEnv) -> None:
    assert due_month(datetime(2026, 12, 4, 15, 59, tzinfo=UTC), 5) is None  # 23:59 on the 4th
    assert due_month(datetime(2026, 12, 4, 16, 0, tzinfo=UTC), 5) == "2026-11"  # 00:00 the 5th
    assert due_month(datetime(2026, 1, 10, tzinfo=UTC), 5) == "2025-12"
    with receiver([502]) as rx:
        s = _settings(env, rx.url, mofcom_push_day=3)
        first = await run_due(env.db, s, now=NOW, sleep=Sleeps())
        assert first is not None and (first.month, first.status, first.trigger) == (
            "2026-11", "sent", "schedule")  # fmt: skip
        assert await run_due(env.db, s, now=NOW, sleep=Sleeps()) is None  # sent already
        assert len(rx.received) == 2
    before = _settings(env, rx.url, mofcom_push_day=28)
    assert await run_due(env.db, before, now=NOW) is None


def test_push_url_must_be_https_but_on_loopback() -> None:
    Settings(mofcom_push_url="https://mofcom-relay.example/inbox")
    Settings(mofcom_push_url="http://127.0.0.1:9000/inbox")
    with pytest.raises(ValidationError, match="mofcom_push_url"):
        Settings(mofcom_push_url="http://relay.example/inbox")


async def test_admin_pushes_and_reads_the_log(env: ApiEnv) -> None:
    admin = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    api = "/api/v1/services/mofcom/deliveries"
    r = await env.client.post(api, json={"month": "2026-03"}, headers=admin)
    assert r.status_code == 409 and "mofcom_push_url" in r.json()["detail"]
    r = await env.client.post(api, json={"month": "2099-01"}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "body.month"
    with receiver([503]) as rx:
        env.app.state.settings = _settings(env, rx.url, mofcom_push_backoff_s=0.01,
                                           mofcom_push_backoff_max_s=0.02)  # fmt: skip
        r = await env.client.post(api, json={"month": "2026-03"}, headers=admin)
        assert r.status_code == 202, r.text
        ident = r.json()["id"]
        assert r.json()["status"] == "pending"
        await asyncio.gather(*env.app.state.mofcom_tasks)
    county = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.get(f"{api}/{ident}", headers=county)
    assert r.status_code == 200 and (r.json()["status"], r.json()["attempts"]) == ("sent", 2)
    r = await env.client.get(api, headers=county)
    assert [x["id"] for x in r.json()] == [ident]
    r = await env.client.post(api, json={"month": "2026-03"}, headers=county)
    assert r.status_code == 403  # the prefecture docks with MOFCOM


async def test_the_scheduler_runs_until_stopped(env: ApiEnv) -> None:
    from cloud.services.mofcom.push import scheduler

    stop = asyncio.Event()
    with receiver([]) as rx:
        s = _settings(env, rx.url, mofcom_push_day=1, mofcom_push_check_s=0.05)
        task = asyncio.create_task(scheduler(env.db, s, stop, clock=lambda: NOW, sleep=Sleeps()))
        for _ in range(200):
            if await already_sent(env.db, "2026-11"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # more rounds: the month is sent, nothing is pushed again
        stop.set()
        await asyncio.wait_for(task, 5)
    assert len(rx.received) == 1


async def test_a_push_whose_export_fails_ends_failed(env: ApiEnv) -> None:
    from cloud.services.mofcom import push as pushing

    with receiver([]) as rx:
        s = _settings(env, rx.url)
        row = await pushing.start(env.db, s, "2026-03", trigger="api", actor="user:a")
        with pytest.raises(Exception, match="in the future"):
            await push(env.db, s, "2099-01", trigger="api", actor="user:a", delivery_id=row.id)
    async with env.db.session() as sess:
        got = await sess.get(MofcomDelivery, row.id)
    assert got is not None and got.status == "failed" and "in the future" in (got.last_error or "")
    assert rx.received == []
