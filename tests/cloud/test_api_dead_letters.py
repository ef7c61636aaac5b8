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


async def _replay(env, ids: list[int], headers: dict[str, str]) -> dict:
    """POST a replay (a background job: 202 and its id), then follow it to the end."""
    r = await env.client.post("/api/v1/dead-letters/replay", json={"ids": ids}, headers=headers)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/v1/dead-letters/replays/{job['id']}"
    assert job["total"] == len(ids) and job["status"] in ("queued", "running", "done")
    for _ in range(400):
        r = await env.client.get(r.headers.get("location", f"/api/v1/dead-letters/replays/{job['id']}"), headers=headers)  # fmt: skip
        assert r.status_code == 200, r.text
        job = r.json()
        assert 0 <= job["done"] <= job["total"] and job["replayed"] + job["refused"] == job["done"]
        if job["status"] != "queued" and job["status"] != "running":
            return job
        await asyncio.sleep(0.025)
    raise AssertionError(f"replay job not finished: {job}")


async def test_replay_after_the_fix_stores_the_data(env) -> None:
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    (letter,) = (await env.client.get("/api/v1/dead-letters", headers=home)).json()
    job = await _replay(env, [letter["id"]], home)
    assert job["status"] == "done" and job["replayed"] == 0 and job["refused"] == 1
    (outcome,) = job["results"]
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
    job = await _replay(env, [letter["id"]], home)
    (outcome,) = job["results"]
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


async def test_store_alerts_are_listed_for_admins(env) -> None:
    from cloud.ingest.alerts import StoreAlerts
    from cloud.ingest.metrics import IngestMetrics
    from cloud.timeseries import TimeSeriesError

    alerts = StoreAlerts(env.db, IngestMetrics(), "ingest-a")
    alerts.failed(TimeSeriesError("InfluxDB refused the write (401): unauthorized", retryable=True, status=401))  # fmt: skip
    await alerts.flushed()
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    (a,) = (await env.client.get("/api/v1/ingest/alerts", headers=home)).json()
    assert a["kind"] == "store_auth" and a["active"] is True and a["worker"] == "ingest-a"
    alerts.ok()
    await alerts.flushed()
    (a,) = (await env.client.get("/api/v1/ingest/alerts", headers=home)).json()
    assert a["active"] is False and a["cleared_at"] is not None
    op = await env.headers(Role.OPERATOR, HOME)
    assert (await env.client.get("/api/v1/ingest/alerts", headers=op)).status_code == 403


async def test_replay_runs_in_the_background_with_progress(env) -> None:
    """Many letters: the POST answers at once with a job; the job shows its progress
    and the outcome of each letter; another county's admin cannot see it."""
    ingest = Ingest(env.db, env.tsdb, _no_ack, linger_s=0.01)
    for seq in range(1, 41):  # 40 more letters of the unregistered gateway
        await ingest.handle(f"dh/v1/{HOME}/{GHOST}/data", batch_bytes(GHOST, seq, room=f"r{seq}"))
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    letters = (await env.client.get("/api/v1/dead-letters", headers=home)).json()
    assert len(letters) == 41
    async with env.db.transaction() as s:  # the fix
        s.add(Gateway(id=GHOST, county=HOME, name="g", site="s", mqtt_password_hash="x", created_at=utcnow()))  # fmt: skip
    job = await _replay(env, [d["id"] for d in letters], home)
    assert job["status"] == "done" and job["replayed"] == 41 and job["done"] == 41
    assert {o["id"] for o in job["results"]} == {d["id"] for d in letters}
    assert job["finished_at"] is not None
    other = await env.headers(Role.COUNTY_ADMIN, OTHER)
    r = await env.client.get(f"/api/v1/dead-letters/replays/{job['id']}", headers=other)
    assert r.status_code == 404


async def test_a_payload_is_stored_once(env) -> None:
    """Letters refer to their payload by SHA-256: the unregistered gateway's batch
    resent five times, and a batch with two refused series, store each payload once."""
    from sqlalchemy import func, select

    from cloud.ingest.storage import DeadLetter, DeadLetterPayload
    from protocol.codec import encode
    from tests.support.data import batch, now_ms, room_series

    ingest = Ingest(env.db, env.tsdb, _no_ack, linger_s=0.01)
    resent = batch_bytes(GHOST, 7)
    for _ in range(5):
        await ingest.handle(f"dh/v1/{HOME}/{GHOST}/data", resent)
    two_bad = encode(
        batch(
            "gw-m1",
            1,
            room_series("gw-m1.a", now_ms() + 3_600_000),
            room_series("gw-m1.b", now_ms() + 3_600_000),
        )
    )
    await ingest.handle(f"dh/v1/{HOME}/gw-m1/data", two_bad)
    async with env.db.session() as s:
        letters = (await s.execute(select(func.count()).select_from(DeadLetter))).scalar_one()
        payloads = list((await s.execute(select(DeadLetterPayload))).scalars())
    assert letters == 3 + 5 + 2
    sizes = sorted(p.size for p in payloads)
    assert len(payloads) == 3 + 1 + 1, sizes  # the fixture's three, the resent one, two_bad
    home = await env.headers(Role.COUNTY_ADMIN, HOME)
    listed = (await env.client.get("/api/v1/dead-letters", headers=home)).json()
    mine = [d for d in listed if d["gateway_id"] == GHOST]
    assert len(mine) == 6 and {d["size"] for d in mine} >= {len(resent)}
    r = await env.client.get(f"/api/v1/dead-letters/{mine[0]['id']}", headers=home)
    assert r.json()["payload_text"] == resent.decode()
