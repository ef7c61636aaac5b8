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
