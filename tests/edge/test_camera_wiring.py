"""The gateway runs the cameras its config names: a Modbus input that switches on
makes a camera inspect now; `set-lot` and `inspect` commands reach it."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import ConfigError, parse_config
from edge.drivers.base import Sample
from edge.drivers.camera import INSPECTION_NICE, CameraDriver
from edge.gateway import Gateway
from protocol.messages import CommandMessage
from tests.edge.conftest import ListSink

GW = "cam-gw-01"


def config(tmp_path: Path, **camera: object) -> dict:
    return {
        "gateway": {"id": GW, "county": "533103", "site": "s", "state_dir": str(tmp_path / "st")},
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "modbus": {
            "hosts": [
                {
                    "host": "127.0.0.1",
                    "port": 1502,
                    "devices": [
                        {
                            "id": "station",
                            "registers": [{"metric": "tray", "address": 15, "function": "coil"}],
                        }
                    ],
                }
            ]
        },
        "cameras": [{"id": "cam-1", "source": str(tmp_path / "frames"), **camera}],
    }


def frames(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        img = rng.integers(90, 160, size=(240, 320, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)


def inspections(sink: ListSink) -> list:
    return [e for e in sink.events if e.type == "inspection"]


async def wait_events(sink: ListSink, n: int, within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while len(inspections(sink)) < n:
        assert time.monotonic() < deadline, f"{len(inspections(sink))} of {n} inspections"
        await asyncio.sleep(0.05)


def sample(value: float) -> Sample:
    return Sample(device=f"{GW}.station", ts_ms=int(time.time() * 1000), values={"tray": value})


async def test_modbus_input_triggers_and_commands_reach_the_camera(tmp_path: Path) -> None:
    frames(tmp_path / "frames", 5)
    cfg = parse_config(
        config(tmp_path, interval_s=3600, trigger={"device": "station", "metric": "tray"})
    )
    gw = Gateway(cfg)
    (cam,) = [d for d in gw.drivers if isinstance(d, CameraDriver)]
    sink = ListSink()
    await cam.start(sink)
    try:
        await wait_events(sink, 1)  # the first inspection on start
        gw.put_sample(sample(0.0))
        gw.put_sample(sample(0.0))
        await asyncio.sleep(0.5)
        assert len(inspections(sink)) == 1  # no edge, no inspection (the interval is an hour)
        gw.put_sample(sample(1.0))  # the tray arrives
        await wait_events(sink, 2)
        gw.put_sample(sample(1.0))
        gw.put_sample(sample(0.0))  # falling edge: not this trigger
        await asyncio.sleep(0.5)
        assert len(inspections(sink)) == 2 and gw.camera_triggers.fired == 1

        now = int(time.time() * 1000)
        ack = await gw.commands(
            CommandMessage(
                id="c1",
                name="set-lot",
                args={"camera": "cam-1", "lot": "L-2026-07"},
                issued=now,
                expires=now + 60_000,
            )
        )
        assert ack.status == "done", ack.detail
        ack = await gw.commands(
            CommandMessage(
                id="c2", name="inspect", args={"camera": "cam-1"}, issued=now, expires=now + 60_000
            )
        )
        assert ack.status == "done", ack.detail
        await wait_events(sink, 3)
        ev = inspections(sink)[-1]
        assert ev.type == "inspection" and ev.inspection is not None
        assert ev.inspection.lot == "L-2026-07" and ev.device == f"{GW}.cam-1"
        bad = await gw.commands(
            CommandMessage(
                id="c3", name="inspect", args={"camera": "nope"}, issued=now, expires=now + 60_000
            )
        )
        assert bad.status == "rejected" and "args.camera" in (bad.detail or "")
    finally:
        await cam.stop()


def test_camera_config_errors_name_their_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.trigger\.device"):
        parse_config(config(tmp_path, trigger={"device": "nope", "metric": "tray"}))
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.id: 'station' is already used"):
        data = config(tmp_path)
        data["cameras"][0]["id"] = "station"
        parse_config(data)
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.program"):
        parse_config(config(tmp_path, program="durian"))


async def test_inspection_runs_at_a_lower_priority_than_the_poll_loop(tmp_path: Path) -> None:
    """The camera shares the gateway's process: its CPU-bound inspection runs on its own
    thread at nice +10, so the poll loop (nice 0) gets the CPU first (issue 10, item 21)."""
    frames(tmp_path / "frames", 2)
    cfg = parse_config(config(tmp_path, interval_s=3600))
    (cam,) = [d for d in Gateway(cfg).drivers if isinstance(d, CameraDriver)]
    seen: list[tuple[int, int]] = []
    inspect = cam._inspect

    def spy(data: bytes, ext: str):  # type: ignore[no-untyped-def]
        tid = threading.get_native_id()
        seen.append((tid, os.getpriority(os.PRIO_PROCESS, tid)))
        return inspect(data, ext)

    cam._inspect = spy  # type: ignore[method-assign]
    sink = ListSink()
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    await cam.start(sink)
    try:
        await wait_events(sink, 1)
    finally:
        await cam.stop()
    assert seen and seen[0][0] != threading.get_native_id()
    assert seen[0][1] == min(base + INSPECTION_NICE, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
