"""Dead-letter API (list, detail, replay after a fix; county-scoped; admins only) and
the API's /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from cloud.db import utcnow
from cloud.devices.storage import Gateway
from cloud.ingest.pipeline import Ingest
from tests.support.api import HOME, OTHER, api_env
from tests.support.data import batch_bytes

GHOST = "ghost-gw"  # not registered yet


async def _no_ack(_t: str, _p: bytes) -> None:
    return None


@pytest.fixture
async def env(tmp_path: Path):
    async with api_env("sqlite", tmp_path) as env:
        ingest = Ingest(env.db, env.tsdb, _no_ack, linger_s=0.01)
        task = asyncio.create_task(ingest.run_writer())
        # refused: a gateway nobody registered yet; and one in the other county
        await ingest.handle(f"dh/v1/{HOME}/{GHOST}/data", batch_bytes(GHOST, 0))
        await ingest.handle(f"dh/v1/{OTHER}/ghost-other/data", batch_bytes("ghost-other", 0))
        await ingest.handle("dh/v9/nonsense", b"{}")
        await ingest.drained()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        yield env


async def test_list_is_county_scoped_and_admin_only(env) -> None:
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    pref = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    op = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.get("/api/v1/dead-letters", headers=home)
    assert r.status_code == 200
    (mine,) = r.json()
    assert mine["gateway_id"] == GHOST and mine["code"] == "unregistered"
    assert "dehong cloud gateway add" in mine["reason"]
    r = await env.client.get("/api/v1/dead-letters", headers=pref)
    assert {d["code"] for d in r.json()} == {"unregistered", "bad_topic"}
    assert len(r.json()) == 3
    assert (await env.client.get("/api/v1/dead-letters", headers=op)).status_code == 403
    other_id = next(d["id"] for d in r.json() if d["county"] == OTHER)
    r = await env.client.get(f"/api/v1/dead-letters/{other_id}", headers=home)
    assert r.status_code == 404  # another county's letter does not exist for this admin
    r = await env.client.get(f"/api/v1/dead-letters/{mine['id']}", headers=home)
    assert r.status_code == 200 and '"gw":"ghost-gw"' in r.json()["payload_text"]
    r = await env.client.get("/api/v1/dead-letters", params={"county": OTHER}, headers=home)
    assert r.status_code == 403


async def test_replay_after_the_fix_stores_the_data(env) -> None:
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    (letter,) = (await env.client.get("/api/v1/dead-letters", headers=home)).json()
    r = await env.client.post(
        "/api/v1/dead-letters/replay", json={"ids": [letter["id"]]}, headers=home
    )
    assert r.status_code == 200
    (outcome,) = r.json()
    assert outcome["replayed"] is False and outcome["code"] == "unregistered"

    async with env.db.transaction() as s:  # the fix: the gateway is provisioned
        s.add(
            Gateway(
                id=GHOST,
                county=HOME,
                name="ghost",
                site="s",
                mqtt_password_hash="x",
                created_at=utcnow(),
            )
        )
    r = await env.client.post(
        "/api/v1/dead-letters/replay", json={"ids": [letter["id"]]}, headers=home
    )
    (outcome,) = r.json()
    assert outcome == {
        "id": letter["id"],
        "replayed": True,
        "code": None,
        "field": None,
        "reason": None,
    }
    assert await env.tsdb.count("cold_room", f"{GHOST}.room-1") == 60
    r = await env.client.get("/api/v1/dead-letters", params={"replayed": "false"}, headers=home)
    assert r.json() == []
    audit = (await env.client.get("/api/v1/audit", headers=home)).json()
    assert any(a["action"] == "dead_letter.replayed" for a in audit)


async def test_metrics_are_prometheus_text(env) -> None:
    from prometheus_client.parser import text_string_to_metric_families
    from pydantic import SecretStr

    token = "metrics-" + "k3Jx9QpZt2Lw8VbN4mRc7YhD1sFgA6eU"
    env.settings.metrics_token = SecretStr(token)
    await env.client.get("/healthz")
    r = await env.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert found[("dehong_dead_letters", (("county", HOME), ("reason", "unregistered")))] == 1
    assert found[("dehong_dead_letters", (("county", "none"), ("reason", "bad_topic")))] == 1
    key = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert found[("dehong_api_requests_total", key)] == 1
    assert families["dehong_api_request_seconds"].type == "histogram"
    assert found[("dehong_gateways", (("county", HOME), ("status", "online")))] == 1
