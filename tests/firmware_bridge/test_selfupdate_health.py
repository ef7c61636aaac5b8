"""The health verdict, the trial's watch (streak, deadline), resume after a reboot, and the
gateway's outbox that carries the updater's events onto the wire."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge.config import parse_config
from edge.outbox import drain, outbox_dir, write_event
from firmware_bridge.selfupdate.health import judge
from firmware_bridge.selfupdate.layout import COMPLETE, Layout, UpdateState, now_ms
from firmware_bridge.selfupdate.updater import Policy, SelfUpdater
from protocol.messages import EventMessage, EventType

VENV = Path("/opt/dehong/releases/1.2.0/venv")


def status(**over: Any) -> dict[str, Any]:
    base = {
        "ts": 10_000,
        "pid": os.getpid(),
        "prefix": str(VENV),
        "buffer": "ok",
        "connected": True,
        "drivers": {"modbus": "running", "ble": "running"},
    }
    return {**base, **over}


def verdict(s: dict[str, Any] | None, since: int = 5_000, now: int = 11_000) -> tuple[bool, str]:
    v = judge(s, written_ms=10_000, venv=VENV, since_ms=since, now_ms=now, stale_ms=3_000)
    return v.healthy, v.reason


def test_the_verdict_names_what_is_wrong() -> None:
    assert verdict(status()) == (True, "connected, buffer ok, 2 driver(s) running")
    assert verdict(None) == (False, "no status.json from the gateway yet")
    other = verdict(status(prefix="/opt/dehong/releases/1.1.0/venv"))
    assert not other[0] and "not this release" in other[1]
    assert verdict(status(), since=20_000) == (False, "no status.json written since the switch")
    assert verdict(status(), now=20_000) == (False, "status.json is 10 s old")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    gone = verdict(status(pid=int(dead.stdout), drivers={"modbus": "stopped"}))
    assert gone == (False, f"the gateway process {int(dead.stdout)} exited; "
                           "driver(s) not up: modbus: stopped")  # fmt: skip
    assert verdict(status(drivers={"modbus": "stopped", "ble": "running"})) == (
        False,
        "driver(s) not up: modbus: stopped",
    )
    assert verdict(status(buffer="failed: OSError(28)")) == (
        False,
        "the buffer is not writable: failed: OSError(28)",
    )
    assert verdict(status(connected=False)) == (False, "MQTT is not connected")


class StatusWriter:
    """Plays the gateway: rewrites status.json every ``every_s`` while ``healthy()`` says."""

    def __init__(self, state_dir: Path, venv: Path, healthy: Any, every_s: float = 0.05) -> None:
        self.path = state_dir / "status.json"
        self.venv = venv
        self.healthy = healthy
        self.every_s = every_s
        self.stop = threading.Event()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            # the gateway's own ts stands still (a Pi booted without NTP: never before its
            # last good time); the updater goes by the file's mtime
            s = status(ts=1_000, prefix=str(self.venv), connected=bool(self.healthy()))
            tmp = self.path.with_suffix(".tmp")  # atomic, as the gateway writes it
            tmp.write_text(json.dumps(s))
            os.replace(tmp, self.path)
            time.sleep(self.every_s)

    def __enter__(self) -> StatusWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


class CountingService:
    def __init__(self) -> None:
        self.restarts = 0

    def restart(self) -> None:
        self.restarts += 1


def updater_for(tmp: Path, policy: Policy) -> tuple[SelfUpdater, CountingService]:
    config = parse_config(
        {
            "gateway": {"id": "gw-h", "county": "533103", "state_dir": str(tmp / "state")},
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
            "health_interval_s": 1,
        },
        "test",
    )
    service = CountingService()
    layout = Layout(tmp / "opt")
    for version in ("1.0.0", "1.1.0"):
        (layout.venv(version)).mkdir(parents=True)
        (layout.release(version) / COMPLETE).write_text("1\n")
    return SelfUpdater(layout, [b"k" * 32], config, service, policy=policy), service


def test_a_flapping_release_is_not_confirmed_and_rolls_back(tmp_path: Path) -> None:
    """Healthy half of the time, never for ``healthy_s`` in a row: rolled back."""
    updater, service = updater_for(tmp_path, Policy(trial_s=2.0, healthy_s=0.8, poll_s=0.05))
    layout = updater.layout
    layout.point(layout.current, "1.0.0")
    start = time.monotonic()
    flapping = lambda: int((time.monotonic() - start) / 0.3) % 2 == 0  # noqa: E731
    with StatusWriter(updater.config.gateway.state_dir, layout.venv("1.1.0"), flapping):
        t0 = now_ms()
        state = UpdateState("trial", "1.1.0", "1.0.0", t0, t0 + 2000)
        layout.write_state(state)
        layout.point(layout.previous, "1.0.0")
        layout.point(layout.current, "1.1.0")
        result = updater.resume()  # as after a reboot mid-trial
    assert result is not None and result.outcome == "rolled_back", result
    assert result.reason == "MQTT is not connected"
    assert layout.current_version() == "1.0.0" and service.restarts == 1
    events = list(outbox_dir(updater.config.gateway.state_dir).glob("*.json"))
    assert len(events) == 1
    event = EventMessage.model_validate_json(events[0].read_bytes())
    assert event.type is EventType.DRIVER and event.attrs["outcome"] == "rolled_back"
    assert event.attrs["component"] == "self-update" and event.severity == "warning"


def test_a_steady_release_is_confirmed_while_the_gateway_clock_stands_still(
    tmp_path: Path,
) -> None:
    """Defect: the watch went by the status's own ``ts``, which a Pi booted without NTP
    holds at its last good time; a healthy release was rolled back ("no status.json
    written since the switch"). The watch now goes by the file's mtime and its own
    monotonic clock."""
    updater, service = updater_for(tmp_path, Policy(trial_s=5.0, healthy_s=0.5, poll_s=0.05))
    layout = updater.layout
    layout.point(layout.current, "1.1.0")
    with StatusWriter(updater.config.gateway.state_dir, layout.venv("1.1.0"), lambda: True):
        t0 = now_ms()
        layout.write_state(UpdateState("trial", "1.1.0", "1.0.0", t0, t0 + 5000))
        began = time.monotonic()
        result = updater.resume()
    assert result is not None and result.outcome == "confirmed"
    assert 0.5 <= time.monotonic() - began < 3
    assert service.restarts == 0 and layout.current_version() == "1.1.0"
    assert layout.read_state().state == "confirmed"  # type: ignore[union-attr]
    assert updater.resume() is None  # nothing on trial any more


def test_an_update_interrupted_before_the_switch_is_marked_failed(tmp_path: Path) -> None:
    updater, service = updater_for(tmp_path, Policy(trial_s=1.0, healthy_s=0.1))
    layout = updater.layout
    layout.point(layout.current, "1.0.0")
    t0 = now_ms()
    layout.write_state(UpdateState("trial", "1.1.0", "1.0.0", t0, t0 + 1000))
    result = updater.resume()
    assert result is not None and result.outcome == "failed"
    assert result.reason == "interrupted before the switch"
    assert layout.current_version() == "1.0.0" and service.restarts == 0


def test_the_link_swap_is_atomic_and_relative(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.releases.mkdir()
    layout.point(layout.current, "1.0.0")
    layout.point(layout.current, "1.1.0")
    assert os.readlink(layout.current) == "releases/1.1.0"
    assert not list(tmp_path.glob(".current*"))  # no temporary link left behind


def event(gw: str, i: int) -> EventMessage:
    return EventMessage(gw=gw, id=f"selfupdate-{i}", ts=now_ms(), type=EventType.DRIVER)


async def test_the_outbox_moves_events_into_the_buffer_then_deletes_them(tmp_path: Path) -> None:
    write_event(tmp_path, event("gw-a", 1))
    write_event(tmp_path, event("gw-a", 2))
    write_event(tmp_path, event("gw-b", 3))  # not this gateway's
    (outbox_dir(tmp_path) / "junk.json").write_bytes(b"{not json")
    taken: list[EventMessage] = []
    flushed: list[int] = []

    async def flush() -> None:
        flushed.append(len(taken))

    assert await drain(tmp_path, "gw-a", taken.append, flush) == 2
    assert [e.id for e in taken] == ["selfupdate-1", "selfupdate-2"]
    assert flushed == [2]  # committed before the files went
    assert not list(outbox_dir(tmp_path).glob("*.json"))
    assert sorted(p.name for p in (outbox_dir(tmp_path) / "bad").iterdir()) == [
        "junk.json",
        "selfupdate-3.json",
    ]
    assert await drain(tmp_path, "gw-a", taken.append, flush) == 0


async def test_an_outbox_file_stays_when_the_buffer_cannot_commit(tmp_path: Path) -> None:
    write_event(tmp_path, event("gw-a", 1))

    async def failing_flush() -> None:
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        await drain(tmp_path, "gw-a", lambda e: None, failing_flush)
    assert [p.name for p in outbox_dir(tmp_path).glob("*.json")] == ["selfupdate-1.json"]
