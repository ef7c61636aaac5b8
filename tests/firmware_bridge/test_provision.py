"""`dehong fw provision`: the key goes over the node's serial console (a pty of the
simulator), is stored encrypted on the gateway, and the UDP driver checks frames with it."""

from __future__ import annotations

import asyncio
import json
import stat

import pytest
import yaml

from dehong.cli import build_parser
from edge.config import load_config
from edge.drivers.mcu import McuDriver
from firmware_bridge.keystore import KeyStore, KeyStoreError
from firmware_bridge.provision import fingerprint
from simulators.mcu.console import NodeConsole
from simulators.mcu.node import SimNode, metrics_config
from simulators.mcu.udp import UdpNode
from tests.edge.test_mcu_driver import ListSink, until


@pytest.fixture
def gateway_yaml(tmp_path):
    cfg = {
        "gateway": {
            "id": "mangshi-coop-01",
            "county": "533103",
            "state_dir": str(tmp_path / "state"),
        },
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "mcu": {
            "buses": [{"id": "wifi", "udp_host": "127.0.0.1", "udp_port": 0}],
            "nodes": [
                {"id": "soil-7", "node": 7, "bus": "wifi", "metrics": metrics_config("soil")}
            ],
        },
    }
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


async def test_provision_over_console_then_udp_frames_authenticate(gateway_yaml, capsys) -> None:
    node = SimNode(7, "soil", interval_ms=10)
    async with NodeConsole(node) as console:
        args = build_parser().parse_args(
            [
                "fw",
                "provision",
                "-c",
                str(gateway_yaml),
                "--node",
                "soil-7",
                "--console",
                console.path,
            ]
        )
        code = await asyncio.to_thread(args.handler, args)
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and node.key is not None
    assert out["fingerprint"] == fingerprint(node.key) and node.key.hex() not in json.dumps(out)
    config = load_config(gateway_yaml)
    store_path, key_path = config.mcu_keystore_paths()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert node.key not in store_path.read_bytes()  # encrypted at rest
    assert KeyStore(store_path, key_path).get("wifi", 7) == node.key

    driver = McuDriver(config)  # loads the key store itself
    sink = ListSink()
    await driver.start(sink)
    try:
        async with UdpNode(node, driver.workers[0].address) as udp:
            await asyncio.sleep(0.03)
            assert await udp.send_one()  # the boot report
            await asyncio.sleep(0.03)
            assert await udp.send_one()  # readings
            await until(lambda: any("soil_moisture" in s.values for s in sink.samples))
    finally:
        await driver.stop()
    assert any("soil_moisture" in s.values for s in sink.samples)

    # a store altered on disk is refused as a whole
    blob = bytearray(store_path.read_bytes())
    blob[-1] ^= 1
    store_path.write_bytes(bytes(blob))
    with pytest.raises(KeyStoreError, match="cannot decrypt"):
        KeyStore(store_path, key_path).load()


async def test_provision_refuses_a_node_that_does_not_confirm(gateway_yaml, capsys) -> None:
    node = SimNode(7, "soil")
    node.console = lambda line: "ERR flash write failed"  # type: ignore[method-assign]
    async with NodeConsole(node) as console:
        args = build_parser().parse_args(
            [
                "fw",
                "provision",
                "-c",
                str(gateway_yaml),
                "--node",
                "soil-7",
                "--console",
                console.path,
            ]
        )
        code = await asyncio.to_thread(args.handler, args)
    assert code == 1 and "flash write failed" in capsys.readouterr().err
    store_path, _ = load_config(gateway_yaml).mcu_keystore_paths()
    assert not store_path.exists()
    args = build_parser().parse_args(
        ["fw", "provision", "-c", str(gateway_yaml), "--node", "nope", "--console", "/dev/null"]
    )
    assert args.handler(args) == 2 and "soil-7" in capsys.readouterr().err
