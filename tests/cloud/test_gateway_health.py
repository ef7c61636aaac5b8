"""``GET /api/v1/gateways/{id}/health``: a real gateway (Modbus from the cold-store
simulator) publishes its health with its reading counters on the real Mosquitto, the
ingest worker stores it in PostgreSQL, and the API serves exactly that message."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from cloud.auth.principal import Role
from cloud.db import utcnow
from cloud.devices.storage import Gateway as GatewayRow
from cloud.ingest.worker import IngestWorker
from edge.config import parse_config
from edge.gateway import Gateway
from protocol.broker import BrokerUrl
from protocol.codec import decode
from protocol.messages import Health
from protocol.topics import Channel, Topic
from simulators.coldstore import ColdStoreSimulator, default_rooms
from tests.support.api import HOME, OTHER, api_env
from tests.support.services import missing, port_open

BROKER = ("127.0.0.1", 1883)

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgres, pytest.mark.timeout(90)]


def gateway_config(gw: str, state: Path, modbus_port: int) -> dict[str, object]:
    return {
        "gateway": {"id": gw, "county": HOME, "site": "s1", "state_dir": str(state)},
        "mqtt": {"url": f"mqtt://{BROKER[0]}:{BROKER[1]}", "reconnect_max_s": 1.0},
        "batch": {"interval_s": 0.5, "ack_timeout_s": 5},
        "health_interval_s": 1,
        "modbus": {
            "hosts": [
                {
                    "host": "127.0.0.1",
                    "port": modbus_port,
                    "devices": [
                        {
                            "id": "room-0",
                            "poll_interval_s": 0.2,
                            "registers": [
                                {"metric": "temperature", "address": 0, "scale": 0.1},
                                {"metric": "humidity", "address": 1, "type": "uint16"},
                            ],
                        }
                    ],
                }
            ]
        },
    }


async def test_health_counters_reach_the_api_through_mosquitto_and_postgres(
    tmp_path: Path,
) -> None:
    if not port_open(*BROKER):
        missing("Mosquitto not reachable on 127.0.0.1:1883; run scripts/services.sh")
    gw = f"health-{secrets.token_hex(3)}"
    async with api_env("postgres", tmp_path) as env:
        async with env.db.transaction() as s:
            s.add(
                GatewayRow(
                    id=gw, county=HOME, name=gw, site="s1", mqtt_password_hash="x",
                    created_at=utcnow(),
                )
            )  # fmt: skip
        home = await env.headers(Role.OPERATOR, HOME)
        r = await env.client.get(f"/api/v1/gateways/{gw}/health", headers=home)
        assert r.status_code == 200, r.text
        assert r.json()["at"] is None and r.json()["taken_readings"] is None  # none yet
        other = await env.headers(Role.OPERATOR, OTHER)
        r = await env.client.get(f"/api/v1/gateways/{gw}/health", headers=other)
        assert r.status_code == 404  # another county's gateway does not exist for them

        sim = ColdStoreSimulator(default_rooms(1), seed=3, tick_s=0.2)
        await sim.start("127.0.0.1", 0)
        worker = IngestWorker(env.db, env.tsdb, BrokerUrl(*BROKER), client_id=f"ingest-{gw}")
        worker_task = asyncio.create_task(worker.run())
        gateway = Gateway(parse_config(gateway_config(gw, tmp_path / "state", sim.port)))
        seen: dict[int, Health] = {}
        listening = asyncio.Event()

        async def listen() -> None:
            async with aiomqtt.Client(*BROKER, identifier=f"listen-{gw}") as listener:
                await listener.subscribe(str(Topic.build(HOME, gw, Channel.HEALTH)), qos=0)
                listening.set()
                async for message in listener.messages:
                    h = decode(Health, bytes(message.payload))  # type: ignore[arg-type]
                    seen[h.ts] = h

        listen_task = asyncio.create_task(listen())
        gw_task: asyncio.Task[None] | None = None
        try:
            await asyncio.wait_for(worker.connected.wait(), 10)
            await asyncio.wait_for(listening.wait(), 10)
            gw_task = asyncio.create_task(gateway.run())
            body: dict[str, Any] = {}
            async with asyncio.timeout(30):
                while not body.get("acked_readings"):  # the worker acknowledged batches
                    await asyncio.sleep(0.2)
                    r = await env.client.get(f"/api/v1/gateways/{gw}/health", headers=home)
                    assert r.status_code == 200, r.text
                    body = r.json()
            await gateway.stop()
            await asyncio.sleep(0.5)  # the last health in flight
            body = (await env.client.get(f"/api/v1/gateways/{gw}/health", headers=home)).json()
        finally:
            await gateway.stop()
            if gw_task is not None:
                await asyncio.gather(gw_task, return_exceptions=True)
            for task in (worker_task, listen_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await sim.stop()
            async with aiomqtt.Client(*BROKER) as client:  # the retained birth/death
                for channel in (Channel.BIRTH, Channel.DEATH):
                    await client.publish(
                        str(Topic.build(HOME, gw, channel)), b"", qos=1, retain=True
                    )
        at_ms = round(datetime.fromisoformat(body["at"]).timestamp() * 1000)
        sent = seen[at_ms]  # the API shows a message the gateway published, as published
        assert body["unit"] == "readings"
        assert body["taken_readings"] == sent.taken_readings
        assert body["sent_readings"] == sent.sent_readings
        assert body["acked_readings"] == sent.acked_readings
        assert body["pending_readings"] == sent.pending_readings
        assert body["pending_batches"] == sent.pending_batches
        assert sent.taken_readings is not None and sent.sent_readings is not None
        assert sent.taken_readings >= sent.sent_readings >= body["acked_readings"] > 0
        assert sent.taken_readings <= gateway.buffer.totals.taken
