"""Production code does not depend on a simulator: edge's BLE driver never imports
``simulators``; the simulated air is injected by ``dehong sim gateway`` or a test."""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
import yaml

from dehong.cli import build_parser
from edge.counters import read_counters

ROOT = Path(__file__).resolve().parents[2]

#: Imports and runs edge's BLE driver (radio config, a simulated config without an
#: injected backend, and a hand-made backend delivering the RuuviTag spec vector).
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from edge.config import parse_config
    from edge.drivers.ble import Advertisement, BleDriver, NoBackend
    from edge.gateway import default_drivers
    import edge.cli

    def config(backend):
        return parse_config({
            "gateway": {"id": "gw-1", "county": "533103", "site": "s1"},
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            "ble": {"enabled": True, "backend": backend, "min_interval_s": 0},
        })

    default_drivers(config("bleak"))
    try:
        default_drivers(config("simulated"))
    except NoBackend as exc:
        print("refused:", exc)

    RUUVI = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")

    class OneTag:
        async def run(self, deliver):
            deliver(Advertisement("CB:B8:33:4C:88:4F", -60, {0x0499: RUUVI}))
            await asyncio.sleep(3600)

    class Sink:
        samples = []
        def put_sample(self, s): self.samples.append(s)
        def put_event(self, e): pass

    async def main():
        driver = BleDriver(config("simulated"), backend=OneTag())
        sink = Sink()
        await driver.start(sink)
        await asyncio.sleep(0.05)
        await driver.stop()
        print("temperature", sink.samples[0].values["temperature"])

    asyncio.run(main())
    print("simulators imported:", sorted(m for m in sys.modules if m.split(".")[0] == "simulators"))
    """
)


def test_running_edges_ble_driver_never_imports_simulators() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "refused: ble.backend: 'simulated'" in out.stdout
    assert "temperature 24.3" in out.stdout  # the driver ran on the injected backend
    assert out.stdout.strip().splitlines()[-1] == "simulators imported: []"


def test_no_module_of_edge_imports_simulators() -> None:
    offenders = []
    for path in sorted((ROOT / "edge").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {n}"
                for n in names
                if n.split(".")[0] == "simulators"
            ]
    assert offenders == []


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "gateway": {"id": "gw-ble", "county": "533103", "state_dir": str(tmp_path / "s")},
                # nothing listens on port 9: the gateway keeps what it takes, offline
                "mqtt": {"url": "mqtt://127.0.0.1:9", "reconnect_max_s": 1.0},
                "batch": {"interval_s": 0.5},
                "ble": {"enabled": True, "backend": "simulated", "min_interval_s": 0},
            }
        )
    )
    return path


async def test_edge_run_refuses_a_simulated_backend_with_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["edge", "run", "--config", str(write_config(tmp_path))])
    assert await args.handler(args) == 2
    assert "dehong sim gateway --config FILE" in capsys.readouterr().err


def test_sim_gateway_runs_the_gateway_on_the_simulated_air(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dehong.cli", "sim", "gateway", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    buffer = tmp_path / "s" / "buffer.db"
    try:
        deadline = time.monotonic() + 30
        taken = 0
        while time.monotonic() < deadline and taken < 6:  # three tags, a few measurements
            time.sleep(0.2)
            with contextlib.suppress(sqlite3.Error):  # the file exists before its tables
                taken = read_counters(buffer)["taken"]
        assert taken >= 6, "no BLE readings taken from the simulated air"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    status = orjson.loads((tmp_path / "s" / "status.json").read_bytes())
    assert {"C0:FF:EE:00:00:01", "C0:FF:EE:00:00:02"} <= set(status["devices"])
