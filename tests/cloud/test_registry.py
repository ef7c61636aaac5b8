"""The device registry: completeness per gateway (contiguous seq, gaps, backlog from
health), commands with expiry and their cmd/ack, and credential rotation and
revocation through the API and the CLI, checked at a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from cloud.ingest.pipeline import Ingest
from protocol.codec import decode, encode
from protocol.messages import CommandAck, CommandMessage, Health
from tests.cloud.test_provisioning import connect_ok, refused
from tests.support.api import HOME, api_env
from tests.support.data import batch_bytes, now_ms
from tests.support.mosquitto import MosquittoBroker

GW = "gw-m1"  # seeded in HOME


async def _noop(_t: str, _p: bytes) -> None:
    return None


@pytest.fixture
async def env(tmp_path: Path):
    async with api_env("sqlite", tmp_path) as env:
        ingest = Ingest(env.db, env.tsdb, _noop, linger_s=0.01)
        task = asyncio.create_task(ingest.run_writer())
        env.ingest = ingest  # type: ignore[attr-defined]
        try:
            yield env
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_completeness_from_seq_and_health(env) -> None:
    h = await env.headers(Role.OPERATOR, HOME)
    topic = f"dh/v1/{HOME}/{GW}/data"
    t0 = now_ms() - 3_600_000
    for seq in (10, 11, 12, 14, 15, 18):  # the cloud first sees seq 10
        await env.ingest.handle(topic, batch_bytes(GW, seq, t0=t0 + seq * 60_000))
    await env.ingest.drained()
    health = Health(gw=GW, ts=now_ms(), pending_batches=3, buffer_depth=720, buffer_oldest_ms=t0)
    await env.ingest.handle(f"dh/v1/{HOME}/{GW}/health", encode(health))
    r = await env.client.get(f"/api/v1/gateways/{GW}/completeness", headers=h)
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["complete_up_to"] == 12 and c["max_seq"] == 18 and c["missing"] == 3
    assert c["missing_ranges"] == [{"first": 13, "last": 13}, {"first": 16, "last": 17}]
    assert c["pending_batches"] == 3 and c["buffer_depth"] == 720
    # the gap fills in (a resend after an outage): complete up to 15
    await env.ingest.handle(topic, batch_bytes(GW, 13, t0=t0 + 13 * 60_000))
    await env.ingest.handle(topic, batch_bytes(GW, 12, t0=t0 + 12 * 60_000))  # a duplicate
    await env.ingest.drained()
    c = (await env.client.get(f"/api/v1/gateways/{GW}/completeness", headers=h)).json()
    assert c["complete_up_to"] == 15 and c["missing"] == 2


async def test_commands_expiry_and_ack(env) -> None:
    sent: list[tuple[str, bytes]] = []

    async def publish(topic: str, payload: bytes) -> None:
        sent.append((topic, payload))

    env.app.state.command_publisher = publish
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    op = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.post(
        f"/api/v1/gateways/{GW}/commands", json={"name": "ping", "ttl_s": 600}, headers=op
    )
    assert r.status_code == 403
    r = await env.client.post(
        f"/api/v1/gateways/{GW}/commands", json={"name": "ping", "ttl_s": 600}, headers=admin
    )
    assert r.status_code == 201, r.text
    ping = r.json()
    assert ping["state"] == "pending"
    ((topic, payload),) = sent
    assert topic == f"dh/v1/{HOME}/{GW}/cmd"
    msg = decode(CommandMessage, payload)
    assert msg.id == ping["id"] and msg.expires - msg.issued == 600_000
    r = await env.client.post(
        f"/api/v1/gateways/{GW}/commands",
        json={"name": "reload-config", "ttl_s": 1},
        headers=admin,
    )
    short = r.json()
    ack = CommandAck(gw=GW, id=ping["id"], ts=now_ms(), status="done", result={"rtt_ms": 12})
    await env.ingest.handle(f"dh/v1/{HOME}/{GW}/cmd/ack", encode(ack))
    await asyncio.sleep(1.1)  # the short command expires unanswered
    listed = {
        c["id"]: c
        for c in (await env.client.get(f"/api/v1/gateways/{GW}/commands", headers=op)).json()
    }
    assert listed[ping["id"]]["state"] == "done" and listed[ping["id"]]["result"] == {"rtt_ms": 12}
    assert listed[short["id"]]["state"] == "expired"
    r = await env.client.get(
        f"/api/v1/gateways/{GW}/commands", params={"state": "expired"}, headers=op
    )
    assert [c["id"] for c in r.json()] == [short["id"]]
    r = await env.client.get(
        f"/api/v1/gateways/{GW}/commands", params={"state": "pending"}, headers=op
    )
    assert r.json() == []


@pytest.mark.mosquitto
async def test_rotation_and_revocation_at_the_broker(
    env, mosquitto_broker: MosquittoBroker, tmp_path: Path
) -> None:
    broker = mosquitto_broker
    env.app.state.settings = env.settings.model_copy(
        update={
            "mosquitto_dir": broker.dir,
            "mosquitto_pid_file": broker.pid_file,
            "mosquitto_reload": "signal",
        }
    )
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        "/api/v1/gateways", json={"county": HOME, "name": "Rot", "id": "gw-rot"}, headers=admin
    )
    assert r.status_code == 201, r.text
    first = r.json()["mqtt"]["password"]
    connect_ok(broker, "gw-rot", first).close()

    r = await env.client.post("/api/v1/gateways/gw-rot/rotate", headers=admin)
    assert r.status_code == 200, r.text
    second = r.json()["mqtt"]["password"]
    assert second != first
    connect_ok(broker, "gw-rot", second).close()
    assert refused(broker, "gw-rot", first)

    # the CLI rotates too
    env_vars = {
        **os.environ,
        "DEHONG_DATABASE_URL": env.settings.database_url,
        "DEHONG_MOSQUITTO_DIR": str(broker.dir),
        "DEHONG_MOSQUITTO_PID_FILE": str(broker.pid_file),
    }
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "dehong.cli", "cloud", "gateway", "rotate", "gw-rot"],
        env=env_vars,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    third = next(
        line.split(":", 1)[1].strip()
        for line in out.stdout.splitlines()
        if line.startswith("mqtt password:")
    )
    connect_ok(broker, "gw-rot", third).close()
    assert refused(broker, "gw-rot", second)

    r = await env.client.post("/api/v1/gateways/gw-rot/revoke", headers=admin)
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while not refused(broker, "gw-rot", third):
        assert time.monotonic() < deadline, "revoked gateway still accepted by the broker"
        await asyncio.sleep(0.1)
    r = await env.client.post("/api/v1/gateways/gw-rot/rotate", headers=admin)
    assert r.status_code == 409
