"""The gateway runs its node-update loop (edge/ota_agent.py) when ``mcu.ota.cloud_url``
is set: a real gateway (its MCU driver on a pty bus of ``dehong sim mcu`` nodes, the
shared Mosquitto) against the real API served by uvicorn on loopback, calling as
itself (its id and broker password)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from cloud.auth.principal import Role
from edge.config import ConfigError, parse_config
from edge.gateway import Gateway
from firmware_bridge.signing import public_key_of, save_public_key
from simulators.mcu.bootloader import NodeModel, attach_ota
from simulators.mcu.bus import SerialNodeBus
from simulators.mcu.node import SimNode, metrics_config
from simulators.serialpair import SerialPair
from tests.cloud.firmware_cases import trust, upload
from tests.cloud.test_phone_page import serve
from tests.edge.conftest import clear_retained, wait_for
from tests.firmware_bridge.ota_support import assert_bootable_signed, firmware
from tests.support.api import HOME, api_env

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(90)]
GW = "gw-m1"  # the seeded gateway of the API under test
HW = "sim-door-v1"
API = "/api/v1/firmware"


def gateway_config(tmp_path: Path, port: str, ota: dict[str, Any]) -> Any:
    return parse_config({
        "gateway": {"id": GW, "county": HOME, "site": "mangshi-coop-01",
                    "state_dir": str(tmp_path / "state")},
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "batch": {"ack_timeout_s": 0.5},  # no cloud acks here: a short stop
        "mcu": {
            "buses": [{"id": "rs485", "serial": port, "timeout_s": 0.2}],
            "nodes": [
                {"id": "door-0", "node": 17, "bus": "rs485", "poll_interval_s": 0.1,
                 "metrics": metrics_config("door")},
                {"id": "clamp-0", "node": 18, "bus": "rs485", "poll_interval_s": 0.1,
                 "metrics": metrics_config("compressor")},
            ],
            "ota": ota,
        },
    })  # fmt: skip


async def test_the_gateway_updates_its_node_from_the_cloud(
    tmp_path: Path, broker: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_env("sqlite", tmp_path) as env:
        admin = await env.headers(Role.COUNTY_ADMIN, HOME)
        private = trust(env)
        keys = tmp_path / "gw-keys"
        keys.mkdir()
        save_public_key(keys / "release.pub", public_key_of(private))
        gw_auth = await env.gateway_headers(GW)  # sets gw-m1's broker password
        monkeypatch.setenv("DEHONG_GATEWAY_PASSWORD", f"broker-password-of-{GW}")
        new = firmware(8 * 1024, 21)
        r = await upload(env, admin, HOME, "1.4.0", image=new, target=HW)
        assert r.status_code == 201, r.text
        r = await env.client.post(f"{API}/rollouts", headers=admin, json={
            "image_id": r.json()["id"], "nodes": [{"gateway_id": GW, "node_id": 17}]})  # fmt: skip
        rollout = r.json()["id"]

        door, clamp = SimNode(17, "door", interval_ms=50), SimNode(18, "compressor", interval_ms=50)
        model = NodeModel(hardware_id=HW, public_keys=[public_key_of(private)],
                          image=b"\x00" * 256, version="1.0.0")  # fmt: skip
        attach_ota(door, model)
        async with serve(env) as url, SerialPair() as pair, SerialNodeBus(pair.a, [door, clamp]):
            cfg = gateway_config(
                tmp_path, pair.b, {"cloud_url": url, "keys": str(keys), "poll_interval_s": 0.2}
            )
            gw = Gateway(cfg)
            task = asyncio.create_task(gw.run())
            try:
                await wait_for(lambda: gw.ota_agent is not None, 10, "the OTA agent")
                agent = gw.ota_agent
                assert agent is not None
                await wait_for(lambda: agent.outcomes["confirmed"] == 1, 40, "a confirmed node")
                # the drivers kept going: the other node of the bus is up and read
                assert gw.device_status()[f"{GW}.clamp-0"] == "up"
                assert agent.last_error is None and agent.failures == 0
            finally:
                await gw.stop()
                await asyncio.gather(task, return_exceptions=True)
                await clear_retained(GW)
        state = (await env.client.get(f"{API}/rollouts/{rollout}", headers=admin)).json()
        assert state["status"] == "completed", state
        assert [n["state"] for n in state["nodes"]] == ["confirmed"]
        assert_bootable_signed(model, {"1.4.0": new})
        # the reports came from the gateway itself, not from an admin's key
        from sqlalchemy import select

        from cloud.audit.storage import AuditEntry

        async with env.db.session() as s:
            done = await s.scalar(
                select(AuditEntry.actor).where(AuditEntry.action == "firmware.rollout_completed")
            )
        assert done == f"gateway:{GW}" and gw_auth


async def test_a_silent_cloud_is_retried_with_backoff_and_the_drivers_run(
    tmp_path: Path, broker: tuple[str, int]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    keys = tmp_path / "gw-keys"
    keys.mkdir()
    from firmware_bridge.signing import generate_keypair

    save_public_key(keys / "release.pub", generate_keypair()[1])
    door = SimNode(17, "door", interval_ms=50)
    clamp = SimNode(18, "compressor", interval_ms=50)
    async with SerialPair() as pair, SerialNodeBus(pair.a, [door, clamp]):
        cfg = gateway_config(tmp_path, pair.b, {"cloud_url": dead, "keys": str(keys),
                                                "poll_interval_s": 0.05, "backoff_max_s": 0.4})  # fmt: skip
        gw = Gateway(cfg)
        task = asyncio.create_task(gw.run())
        try:
            await wait_for(lambda: gw.ota_agent is not None and gw.ota_agent.failures >= 3, 10,
                           "three failed rounds")  # fmt: skip
            agent = gw.ota_agent
            assert agent is not None and "ConnectError" in (agent.last_error or "")
            assert all(agent.delay(False) <= 0.4 for _ in range(20))
            await wait_for(lambda: gw.device_status().get(f"{GW}.door-0") == "up", 5, "door up")
        finally:
            await gw.stop()
            await asyncio.gather(task, return_exceptions=True)
            await clear_retained(GW)
    assert task.done() and task.exception() is None


def test_ota_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        gateway_config(tmp_path, "/dev/null", {"cloud_url": "https://cloud.example"})
    assert any("mcu.ota.keys" in e and "release public keys" in e for e in exc.value.errors)
    with pytest.raises(ConfigError) as exc:
        gateway_config(tmp_path, "/dev/null", {"cloud_url": "ftp://x", "keys": "k"})
    assert any("mcu.ota.cloud_url" in e for e in exc.value.errors), exc.value.errors


def test_check_config_loads_the_ota_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    import yaml

    from edge.cli import _check
    from firmware_bridge.signing import generate_keypair

    data = {
        "gateway": {"id": GW, "county": HOME},
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "mcu": {
            "buses": [{"id": "rs485", "serial": "/dev/ttyUSB1"}],
            "nodes": [{"id": "door-0", "node": 17, "bus": "rs485",
                       "metrics": metrics_config("door")}],
            "ota": {"cloud_url": "https://cloud.example", "keys": str(tmp_path / "keys")},
        },
    }  # fmt: skip
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(data))
    assert _check(argparse.Namespace(file=str(path))) == 2
    assert "mcu.ota.keys:" in capsys.readouterr().err
    (tmp_path / "keys").mkdir()
    save_public_key(tmp_path / "keys" / "release.pub", generate_keypair()[1])
    assert _check(argparse.Namespace(file=str(path))) == 0
    assert "node updates from https://cloud.example" in capsys.readouterr().out
