"""`dehong bench mcu`: MCU nodes through the gateway's driver (edge/drivers/mcu.py).

Sections (each a function in SECTIONS returning its figures and goals; OTA adds its own):

- ``readings``: readings/s through a simulated RS-485 line at 115,200 baud. The
  nodes (``dehong sim mcu``, a child process) sit behind a paced pty line: 10 bits
  per byte plus 1 ms turnaround at each change of direction, half duplex. The
  gateway's driver polls them back to back. The line's payload capacity is computed
  from the frame layout in the same run: readings per full READINGS frame over the
  bytes such a frame takes on the line (COBS and delimiter included), times the
  line's bytes/s. Goal: at least 80 % of it.
- ``cpu``: CPU per reading in this process (the gateway side: the MCU driver with
  its serial reads, de-dup and decoding) beside the Modbus driver's CPU per reading
  against the Modbus simulator (``dehong sim coldstore``, a child process), same run.

The sinks count what the drivers deliver (samples and values); the durable buffer
and MQTT are the same for every driver and are measured by ``dehong bench edge``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BAUD = 115_200
TURNAROUND_S = 0.001
GOAL_LINE_SHARE = 0.80
#: Four clamps sampling at 1 kHz each: more than the line carries, so every frame is full.
NODES = (1, 2, 3, 4)
_measured: dict[str, dict[str, Any]] = {}


class CountingSink:
    def __init__(self) -> None:
        self.samples = 0
        self.values = 0
        self.events = 0
        self.counting = False

    def put_sample(self, sample) -> None:
        if self.counting:
            self.samples += 1
            self.values += sum(1 for v in sample.values.values() if v is not None)

    def put_event(self, event) -> None:
        self.events += 1


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def line_capacity(baud: int = BAUD) -> dict[str, Any]:
    """Readings/s the line could carry if it carried nothing but full READINGS frames
    of F32 values (the compressor clamp's), from the frame layout."""
    from firmware_bridge.protocol import (
        FROM_NODE,
        MAX_PAYLOAD,
        Frame,
        Reading,
        Readings,
        VType,
        encode_frame,
    )

    per = 4 + 4  # channel, vtype, offset_ms u16, f32 value
    n = (MAX_PAYLOAD - 9) // per
    msg = Readings(1, 1, tuple(Reading(0, VType.F32, 8.25, i) for i in range(n)))
    wire = encode_frame(Frame(msg.TYPE, 1, 1, FROM_NODE, msg.encode()))
    bytes_per_s = baud / 10
    return {
        "readings_per_frame": n,
        "frame_bytes_on_line": len(wire),
        "line_bytes_per_s": bytes_per_s,
        "capacity_readings_per_s": round(bytes_per_s / len(wire) * n, 1),
    }


async def _child(*args: str) -> tuple[asyncio.subprocess.Process, dict]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dehong.cli", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    return proc, json.loads(line) if line.strip().startswith(b"{") else {}


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def _gateway(extra: dict[str, Any]) -> Any:
    from edge.config import parse_config

    return parse_config(
        {
            "gateway": {"id": "bench-gw-01", "county": "533103"},
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            **extra,
        }
    )


async def _measure(driver, sink: CountingSink, warmup_s: float, window_s: float) -> dict[str, Any]:
    await driver.start(sink)
    try:
        await asyncio.sleep(warmup_s)
        sink.counting = True
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(window_s)
        sink.counting = False
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    finally:
        await driver.stop()
    return {
        "readings": sink.values,
        "readings_per_s": round(sink.values / wall, 1),
        "samples": sink.samples,
        "cpu_s": round(cpu, 3),
        "cpu_us_per_reading": round(cpu / sink.values * 1e6, 1) if sink.values else None,
    }


async def measure_mcu(window_s: float, warmup_s: float = 1.5) -> dict[str, Any]:
    from edge.drivers.mcu import McuDriver
    from simulators.mcu.node import metrics_config

    proc, info = await _child(
        "sim", "mcu", "--nodes", ",".join(f"{n}:compressor" for n in NODES), "--baud", str(BAUD),
        "--interval-ms", "1",
    )  # fmt: skip
    try:
        tty = info["gateway_tty"]
        cfg = _gateway({"mcu": {
            "buses": [{"id": "rs485", "serial": tty, "baudrate": BAUD, "timeout_s": 0.5}],
            "nodes": [{"id": f"clamp-{n}", "node": n, "bus": "rs485", "poll_interval_s": 0.001,
                       "metrics": metrics_config("compressor")} for n in NODES],
        }})  # fmt: skip
        driver = McuDriver(cfg)
        out = await _measure(driver, CountingSink(), warmup_s, window_s)
        stats = driver.stats()["rs485"]
        out.update(polls=stats["polls"], timeouts=stats["timeouts"], retries=stats["retries"],
                   duplicates=stats["duplicates"], dropped=stats["dropped"])  # fmt: skip
        return out
    finally:
        await _stop(proc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def measure_modbus(window_s: float, warmup_s: float = 1.5, rooms: int = 4) -> dict[str, Any]:
    from edge.drivers.modbus import ModbusDriver

    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dehong.cli", "sim", "coldstore", "--port", str(port),
        "--rooms", str(rooms), "--tick", "0.5", cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)

        def regs(room: int) -> list[dict[str, Any]]:
            b = room * 16
            return [
                {
                    "metric": "temperature",
                    "address": b,
                    "type": "int16",
                    "scale": 0.1,
                    "decimals": 1,
                },
                {
                    "metric": "humidity",
                    "address": b + 1,
                    "type": "uint16",
                    "scale": 0.1,
                    "decimals": 1,
                },
                {
                    "metric": "setpoint",
                    "address": b + 2,
                    "type": "int16",
                    "scale": 0.1,
                    "decimals": 1,
                },
                {"metric": "counter", "address": b + 3, "type": "uint32"},
            ]

        cfg = _gateway({"modbus": {"hosts": [{"host": "127.0.0.1", "port": port, "timeout_s": 1.0,
            "devices": [{"id": f"room-{r}", "poll_interval_s": 0.05, "registers": regs(r)}
                        for r in range(rooms)]}]}})  # fmt: skip
        return await _measure(ModbusDriver(cfg), CountingSink(), warmup_s, window_s)
    finally:
        await _stop(proc)


def section_readings(short: bool) -> dict[str, Any]:
    cap = line_capacity()
    got = _measured["mcu"] = asyncio.run(measure_mcu(4.0 if short else 15.0))
    share = got["readings_per_s"] / cap["capacity_readings_per_s"]
    return {
        "figures": {**cap, **got, "share_of_capacity": round(share, 3),
                    "line": f"{BAUD} baud, 10 bits/byte, {TURNAROUND_S * 1000:g} ms turnaround"},
        "goals": {"rs485_share_of_capacity_ge_80pct": share >= GOAL_LINE_SHARE},
    }  # fmt: skip


def section_cpu(short: bool) -> dict[str, Any]:
    window = 4.0 if short else 15.0
    mcu = _measured.get("mcu") or asyncio.run(measure_mcu(window))
    modbus = asyncio.run(measure_modbus(window))
    ratio = None
    if mcu["cpu_us_per_reading"] and modbus["cpu_us_per_reading"]:
        ratio = round(mcu["cpu_us_per_reading"] / modbus["cpu_us_per_reading"], 3)
    return {
        "figures": {
            "mcu_cpu_us_per_reading": mcu["cpu_us_per_reading"],
            "modbus_cpu_us_per_reading": modbus["cpu_us_per_reading"],
            "mcu_over_modbus": ratio,
            "mcu": mcu,
            "modbus": modbus,
        },
        "goals": {},  # reported beside each other; the issue sets no bound
    }


def section_ota(short: bool) -> dict[str, Any]:
    from bench.mcu_ota import section_ota as ota  # node OTA over UDP and serial (issue 16)

    return ota(short)


SECTIONS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "readings": section_readings,
    "cpu": section_cpu,
    "ota": section_ota,
}


def run(short: bool = False, sections: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "mcu", "short": short, "load_before": load()}
    goals: dict[str, bool] = {}
    for name, fn in SECTIONS.items():
        if sections and name not in sections:
            continue
        result = fn(short)
        out[name] = result["figures"]
        goals.update(result["goals"])
    out["load_after"] = load()
    out["goals"] = goals
    out["goal_met"] = all(goals.values())
    return out
