"""`dehong bench mcu`: the capacity it compares against is the frame layout's, and
(slow) the short run prints one JSON line with its goal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.mcu import SECTIONS, line_capacity

ROOT = Path(__file__).resolve().parents[2]


def test_line_capacity_from_the_frame_layout() -> None:
    cap = line_capacity(115_200)
    # 29 F32 readings: 7 header + 9 + 29 * 8 + 2 CRC = 250 bytes, COBS +1, delimiter +1
    assert cap["readings_per_frame"] == 29 and cap["frame_bytes_on_line"] == 252
    assert cap["capacity_readings_per_s"] == pytest.approx(11_520 / 252 * 29, abs=0.1)
    assert set(SECTIONS) >= {"readings", "cpu"}


@pytest.mark.slow
def test_bench_mcu_short_prints_one_json_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dehong.cli", "bench", "mcu", "--short"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    result = json.loads(lines[0])
    assert result["readings"]["readings_per_s"] > 0
    assert result["cpu"]["modbus_cpu_us_per_reading"] > 0
