"""The chaos test, short form: kill -9 the gateway three times, kill -9 and restart the
broker, black-hole the link for > 1.5x keepalive; InfluxDB holds exactly N readings.

The long form is ``dehong bench chaos`` (see bench/chaos.py and docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import run_chaos
from tests.support import influx
from tests.support.mosquitto import start_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.influx, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


async def test_exact_counts_through_kills_broker_crash_and_black_hole(tmp_path: Path) -> None:
    result = await run_chaos(ROOT, tmp_path, influx.influx_url(), start_broker,
                             gateway_kills=3, phase_samples=20)  # fmt: skip
    summary = result.as_dict()
    assert result.gateway_kills == 3 and result.broker_kills == 1 and result.black_hole_s > 3
    assert result.n > 0
    assert result.influx_readings == result.n, summary
