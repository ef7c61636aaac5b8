"""`dehong bench edge`: the fsync shim really slows and counts fsyncs; the short run (slow)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.edge import build_shim

PROBE = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
t = time.perf_counter()
for _ in range(5):
    os.write(fd, b"x")
    os.fsync(fd)
print(time.perf_counter() - t)
"""


def test_the_ld_preload_shim_slows_and_counts_fsyncs(tmp_path: Path) -> None:
    shim = build_shim(tmp_path)
    count = tmp_path / "count"
    env = dict(os.environ, LD_PRELOAD=str(shim), DEHONG_FSYNC_DELAY_US="20000",
               DEHONG_FSYNC_COUNT_FILE=str(count))  # fmt: skip
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "f")], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert float(out.stdout) >= 5 * 0.020
    assert int(count.read_text()) >= 5
    assert time.perf_counter() - started < 30


@pytest.mark.slow
def test_bench_edge_short_meets_its_goals() -> None:
    from bench.edge import run

    result = run(short=True)
    assert result["goal_met"], result


def test_polls_are_judged_between_on_time_polls() -> None:
    """A tick skipped is lost; a tick taken late (its real time) is late, not lost; the
    spans after the last on-time poll are not judged."""
    from bench.edge_load import count_polls

    stamps = {
        "gw.h0-u1": {1000, 1100, 1230, 1300, 1500, 1600, 1777},  # 1230 late, 1400 skipped
        "gw.h0-u2": {1000, 1100, 1200},
        "AA:BB:CC:DD:EE:FF": {1000, 1500},  # a BLE tag: not a Modbus poll
    }
    assert count_polls(stamps, 100, 1000, 2000) == {
        "polls_judged": 6 + 2,
        "polls_lost": 1,
        "polls_late": 2,
    }


async def test_the_thingsboard_peer_gets_its_session_limits_and_its_datapoints_counted() -> None:
    """The bench's subscriber answers tb-gateway's getSessionLimits RPC on the response
    topic of the same request id (as a ThingsBoard server would), and counts only the
    datapoints of this run's devices."""
    import json
    from types import SimpleNamespace

    from bench.tbgateway import TbCloud

    published: list[tuple[str, dict[str, object]]] = []
    incoming = [
        ("v1/devices/me/rpc/request/7", {"method": "getSessionLimits", "params": {}}),
        ("v1/gateway/telemetry", {"tbx-h0-u1": [{"ts": 1000, "values": {"r0": 1, "r1": 2}}],
                                  "other-dev": [{"ts": 1000, "values": {"r0": 1}}]}),
    ]  # fmt: skip

    class Client:
        async def publish(self, topic: str, payload: str, qos: int = 0) -> None:
            published.append((topic, json.loads(payload)))

        @property
        async def messages(self):  # type: ignore[no-untyped-def]
            for topic, body in incoming:
                yield SimpleNamespace(topic=topic, payload=json.dumps(body).encode())

    cloud = TbCloud(Client(), "tbx")
    await cloud.listen()
    assert [t for t, _ in published] == ["v1/devices/me/rpc/response/7"]
    assert "rateLimits" in published[0][1] and cloud.rpc_answered == 1
    assert cloud.datapoints == 2 and cloud.stamps == {"tbx-h0-u1": [1000]}
