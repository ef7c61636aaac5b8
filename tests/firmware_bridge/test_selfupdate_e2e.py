"""Gateway self-update end to end, in a temp directory, with the real machinery.

Real: the signed bundles, the venvs (``venv`` + ``pip install --no-index`` from the
bundle), the atomic ``current`` switch, the gateway process started through that
link (as systemd would), its status.json, the health watch, the rollback, a private
Mosquitto, the cold-store simulator over Modbus TCP, and a cloud that acknowledges
every batch. The release wheels are small (tests/firmware_bridge/selfupdate_support.py):
their ``dehong`` command is this checkout's real gateway.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import load_config
from edge.counters import read_counters
from firmware_bridge.selfupdate.bundle import build_bundle, default_target
from firmware_bridge.selfupdate.layout import Layout, now_ms
from firmware_bridge.selfupdate.updater import Policy, SelfUpdater
from firmware_bridge.signing import generate_keypair
from simulators.coldstore import ColdStoreSimulator, default_rooms
from tests.edge.conftest import COUNTY, room_registers
from tests.firmware_bridge.selfupdate_support import (
    Broker,
    Cloud,
    ProcessService,
    make_release_wheel,
)

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(150)]


def gateway_yaml(path: Path, state_dir: Path, modbus_port: int, mqtt_port: int) -> Path:
    data: dict[str, Any] = {
        "gateway": {"id": "gw-selfupdate", "county": COUNTY, "state_dir": str(state_dir)},
        "mqtt": {
            "url": f"mqtt://127.0.0.1:{mqtt_port}",
            "keepalive_s": 5,
            "timeout_s": 3,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 1.0,
        },
        "batch": {"interval_s": 0.5, "ack_timeout_s": 3},
        "health_interval_s": 1,
        "modbus": {
            "hosts": [
                {
                    "host": "127.0.0.1",
                    "port": modbus_port,
                    "timeout_s": 0.5,
                    "devices": [
                        {"id": f"room-{i}", "poll_interval_s": 0.2, "registers": room_registers(i)}
                        for i in range(2)
                    ],
                }
            ]
        },
    }
    path.write_text(yaml.safe_dump(data))
    return path


class Site:
    """One gateway's world: broker, simulator, cloud, keys, releases root."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.broker = Broker(tmp)
        self.sim = ColdStoreSimulator(default_rooms(2), seed=7, tick_s=0.2)
        self.state_dir = tmp / "var-lib-dehong"
        self.root = tmp / "opt-dehong"
        self.private, self.public = generate_keypair()
        self.cloud: Cloud
        self.service: ProcessService
        self.updater: SelfUpdater

    async def start(self, policy: Policy) -> None:
        self.broker.start()
        await self.sim.start("127.0.0.1", 0)
        config_path = gateway_yaml(
            self.tmp / "gateway.yaml", self.state_dir, self.sim.port, self.broker.port
        )
        self.config = load_config(config_path)
        self.cloud = Cloud(self.broker.port, COUNTY)
        await self.cloud.start()
        self.service = ProcessService(self.root, config_path, self.tmp / "gateway.log")
        self.updater = SelfUpdater(
            Layout(self.root),
            [self.public],
            self.config,
            self.service,
            config_path=config_path,
            policy=policy,
        )

    async def stop(self) -> None:
        await asyncio.to_thread(self.service.stop)
        await self.cloud.stop()
        await self.sim.stop()
        self.broker.stop()

    def bundle(self, version: str, *, broken: bool = False) -> Path:
        wheels = self.tmp / f"wheels-{version}"
        make_release_wheel(wheels, version, broken=broken)
        out = self.tmp / f"dehong-gateway-{version}.tar"
        build_bundle(self.private, wheels, out, version=version, target=default_target())
        return out

    def log(self) -> str:
        return (self.tmp / "gateway.log").read_text(errors="replace")[-4000:]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = Site(tmp_path)
    try:
        yield s
    finally:
        await s.stop()


async def wait_until(predicate: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "then_good",
    [
        pytest.param(False, id="good-bad"),
        # a third, good update of the running gateway: ~8 s more, slow
        pytest.param(True, id="good-bad-good", marks=pytest.mark.slow),
    ],
)
async def test_a_failing_release_rolls_back_by_itself_and_every_reading_arrives(
    site: Site, then_good: bool
) -> None:
    await site.start(Policy(trial_s=6.0, healthy_s=2.0, poll_s=0.2))
    good, bad = site.bundle("1.0.0"), site.bundle("1.1.0", broken=True)
    layout = site.updater.layout

    # a good release: installed into its own venv, switched to, healthy, confirmed
    first = await asyncio.to_thread(site.updater.apply, good)
    assert first.outcome == "confirmed", (first, site.log())
    assert layout.current_version() == "1.0.0"
    assert "connected, buffer ok, 1 driver(s) running" in first.reason
    buffer_path = site.config.buffer_path()
    assert not buffer_path.is_relative_to(site.root)  # outside every release
    inode = buffer_path.stat().st_ino
    await wait_until(lambda: len(site.cloud.batches) >= 3, 15, "batches from 1.0.0")

    # a release whose drivers never come up: rolled back by itself within the trial
    switched_ms = now_ms()
    second = await asyncio.to_thread(site.updater.apply, bad)
    assert second.outcome == "rolled_back", (second, site.log())
    assert second.previous == "1.0.0"
    # "the gateway process N exited; driver(s) not up: ..." once it is gone (it may still
    # be shutting down, waiting for its last write-ack, at the deadline)
    assert "driver(s) not up: modbus: stopped" in second.reason, second.reason
    assert layout.current_version() == "1.0.0"
    assert "does not come up" in site.log()
    state = layout.read_state()
    assert state is not None and state.state == "rolled_back" and state.to_version == "1.1.0"
    rolled_back_ms = now_ms()

    # the old release runs again: reports the rollback on the wire, data flows again
    def rollback_event() -> bool:
        return any(e.attrs.get("outcome") == "rolled_back" for e in site.cloud.events)

    await wait_until(rollback_event, 15, "the rollback event at the cloud")
    event = next(e for e in site.cloud.events if e.attrs.get("outcome") == "rolled_back")
    assert event.attrs["version"] == "1.1.0" and event.attrs["previous"] == "1.0.0"
    assert event.severity == "warning" and "rolled back" in (event.message or "")

    def after_rollback() -> int:
        return sum(1 for _d, _m, ts in site.cloud.readings() if ts > rolled_back_ms + 500)

    await wait_until(lambda: after_rollback() >= 50, 15, "readings after the rollback")
    assert any(ts < switched_ms for _d, _m, ts in site.cloud.readings())
    assert layout.installed() == ["1.0.0"]  # the failed release's venv is gone

    if then_good:
        await good_update(site)

    # stop cleanly (the gateway waits for the last write-ack), then count
    assert await asyncio.to_thread(site.service.stop) == 0, site.log()
    await asyncio.sleep(0.5)
    assert buffer_path.stat().st_ino == inode  # the same buffer file throughout
    counters = read_counters(buffer_path)
    delivered = site.cloud.readings()
    distinct = set(delivered)
    assert counters["pending"] == 0, counters
    assert counters["taken"] == counters["acked"] == len(distinct), (counters, len(distinct))
    # at-least-once: a batch is resent only while its ack is outstanding (a restart
    # resends what was not yet acknowledged); the cloud de-duplicates by batch id
    per_batch = Counter(b.id for b in site.cloud.batches)
    unique_batches = {b.id: b for b in site.cloud.batches}
    assert sum(b.reading_count() for b in unique_batches.values()) == len(distinct)
    duplicates = len(delivered) - len(distinct)
    print(f"self-update e2e: taken {counters['taken']}, acked {counters['acked']}, "
          f"delivered {len(delivered)}, distinct {len(distinct)}, duplicates {duplicates}, "
          f"batches {len(site.cloud.batches)} ({len(unique_batches)} distinct)")  # fmt: skip
    assert duplicates == sum(
        (n - 1) * unique_batches[i].reading_count() for i, n in per_batch.items()
    )


async def good_update(site: Site) -> None:
    """A good update of the running gateway: switched, healthy, the old one kept."""
    layout = site.updater.layout
    third = await asyncio.to_thread(site.updater.apply, site.bundle("1.2.0"))
    assert third.outcome == "confirmed", (third, site.log())
    assert (layout.current_version(), layout.previous_version()) == ("1.2.0", "1.0.0")
    assert layout.installed() == ["1.0.0", "1.2.0"]
    confirmed_ms = now_ms()
    await wait_until(
        lambda: any(ts > confirmed_ms for _d, _m, ts in site.cloud.readings()),
        10,
        "readings from 1.2.0",
    )
