"""A commodity profile assigned to a room in the catalog takes effect at the room's
gateway: the API publishes set-config through the real broker (the ``api`` command
path of cloud/devices/commands.py), a real gateway applies it to its ``profiles``
section, answers on cmd/ack, and its local rules fire on the room's readings.

The catalog's storage runs on both databases in tests/cloud/test_catalog_master.py;
this test is about the command path, on SQLite.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from cloud.auth.principal import Role
from cloud.db import utcnow
from cloud.devices.commands import MqttPublisher, record_ack
from cloud.devices.storage import Device
from cloud.devices.storage import Gateway as GatewayRow
from edge.config import load_config
from edge.gateway import Gateway
from protocol.codec import decode
from protocol.messages import CommandAck
from protocol.topics import Channel
from simulators.coldstore import ColdStoreSimulator, default_rooms
from tests.cloud.catalog_support import gln, make_org
from tests.edge.conftest import BROKER_HOST, BROKER_PORT, clear_retained, make_config, wait_for
from tests.edge.conftest import gw_topic as topic
from tests.support.api import HOME, api_env
from tests.support.services import missing, port_open

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


async def test_a_rooms_profile_reaches_its_gateway_and_alarms_there(tmp_path: Path) -> None:
    import aiomqtt

    if not port_open(BROKER_HOST, BROKER_PORT):
        missing(f"Mosquitto is not reachable on {BROKER_HOST}:{BROKER_PORT}")

    sim = ColdStoreSimulator(default_rooms(1), seed=7, tick_s=0.2)  # room-0 keeps lychee, ~1 °C
    await sim.start("127.0.0.1", 0)
    path = tmp_path / "gateway.yaml"
    data = make_config(tmp_path / "edge", sim.port, rooms=1, ack_timeout_s=0.5).model_dump(
        mode="json", exclude_none=True
    )
    path.write_text(yaml.safe_dump(data))
    gw = Gateway(load_config(path), config_path=path)
    task = asyncio.create_task(gw.run())
    try:
        await gw.wait_connected(10)
        async with api_env("sqlite", tmp_path / "cloud") as env:
            env.app.state.command_publisher = MqttPublisher(f"mqtt://{BROKER_HOST}:{BROKER_PORT}")
            async with env.db.transaction() as s:  # provisioned, and its birth heard
                s.add(
                    GatewayRow(
                        id=gw.id,
                        county=HOME,
                        name=gw.id,
                        site="test-site",
                        mqtt_password_hash="$7$101$x$y",
                        created_at=utcnow(),
                    )
                )
                s.add(Device(id=f"{gw.id}.room-0", county=HOME, kind="cold_room",
                             site="test-site", gateway_id=gw.id,
                             metrics=["temperature", "humidity", "setpoint"]))  # fmt: skip
            admin = await env.headers(Role.COUNTY_ADMIN, HOME)
            org = await make_org(env, admin, HOME, 1)
            r = await env.client.post(
                "/api/v1/locations",
                json={"kind": "cold_room", "name": "芒果冷库", "org_id": org, "gln": gln(1)},
                headers=admin,
            )
            room = r.json()["id"]
            r = await env.client.post(
                f"/api/v1/locations/{room}/devices", json={"device_id": f"{gw.id}.room-0"},
                headers=admin,
            )  # fmt: skip
            assert r.status_code == 201, r.text
            # a mango profile on a room that holds lychee at ~1 °C: too cold at once
            r = await env.client.post(
                "/api/v1/profiles",
                json={"name": "芒果（测试）", "county": HOME, "temp_min_c": 10, "temp_max_c": 12,
                      "single_excursion_max_s": 0, "cumulative_excursion_max_s": 3600,
                      "categories": ["fruit_mango"]},
                headers=admin,
            )  # fmt: skip
            profile = r.json()["id"]
            async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as client:
                await client.subscribe(topic(gw.id, Channel.CMD_ACK), qos=1)
                r = await env.client.put(
                    f"/api/v1/locations/{room}/profile", json={"profile_id": profile},
                    headers=admin,
                )  # fmt: skip
                assert r.status_code == 200, r.text
                (pushed,) = r.json()["pushes"]
                assert pushed["sent"] and pushed["gateway_id"] == gw.id, pushed
                async with asyncio.timeout(15):
                    async for message in client.messages:
                        ack = decode(CommandAck, bytes(message.payload))  # type: ignore[arg-type]
                        if ack.id == pushed["command_id"] and ack.status != "accepted":
                            break
            assert ack.status == "done", ack.detail
            await record_ack(env.db, ack)  # as ingest does on cmd/ack
            r = await env.client.get(f"/api/v1/gateways/{gw.id}/commands", headers=admin)
            assert [(c["name"], c["state"]) for c in r.json()] == [("set-config", "done")]
            # the gateway runs the profile's rules and keeps them in its config file
            assert [p.id for p in gw.config.profiles] == [f"profile-{profile}"]
            await wait_for(
                lambda: f"profile-{profile}-temp-low" in gw.rules.active(), 10,
                "the profile's low-temperature alarm at the gateway",
            )  # fmt: skip
            on_disk = yaml.safe_load(path.read_text())
            assert on_disk["profiles"][0]["temperature"] == {
                "metric": "temperature", "min": 10.0, "max": 12.0,
            }  # fmt: skip
    finally:
        await gw.stop()
        await asyncio.gather(task, return_exceptions=True)
        await clear_retained(gw.id)
        await sim.stop()
