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
