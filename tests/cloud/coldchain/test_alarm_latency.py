"""End to end over the real servers: a batch published to Mosquitto, through an ingest
worker into InfluxDB, completes an excursion; the engine raises the alarm and its
webhook reaches a local receiver (bench/coldchain_latency.py, three trials)."""

from __future__ import annotations

import pytest

from bench.coldchain_latency import measure
from tests.support.influx import influx_url
from tests.support.services import missing, port_open


@pytest.mark.influx
@pytest.mark.mosquitto
async def test_alarm_reaches_the_webhook_through_mqtt_and_ingest() -> None:
    if not port_open("127.0.0.1", 1883):
        missing("Mosquitto not reachable on 127.0.0.1:1883; run scripts/services.sh")
    out = await measure(3, influx_url=influx_url())
    assert out["delivered"] == 3, out
    assert out["tsdb"] == "influxdb"
    assert out["webhook_p99_s"] < 5.0 and out["goal_met"], out
    # raised before delivered: the webhook's latency includes the raising
    assert 0 < out["raised_p99_s"] <= out["webhook_max_s"]
