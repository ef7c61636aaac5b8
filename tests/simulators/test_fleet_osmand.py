"""Phones against a real HTTP receiver: the query form, the JSON form, offline batches."""

from __future__ import annotations

import json
import time
from datetime import datetime

from simulators.fleet.runner import FleetOptions, plan_window, run_fleet
from simulators.fleet.sim import TruckSim
from tests.simulators.fleet_support import emissions_until, http_receiver, small_fleet

QUERY_KEYS = {
    "id",
    "timestamp",
    "lat",
    "lon",
    "speed",
    "bearing",
    "altitude",
    "accuracy",
    "batt",
    "charge",
}


def fleet():
    return small_fleet(
        [
            {
                "id": "veh-q",
                "county": "533103",
                "route": ["mangshi", "ruili"],
                "reefer": {},
                "phone": {
                    "tracker_id": "tr-query-0123456789abcdefgh",
                    "form": "query",
                    "interval_s": 60,
                },
            },
            {
                "id": "veh-j",
                "county": "533123",
                "route": ["yingjiang", "lianghe", "mangshi"],
                "phone": {
                    "tracker_id": "tr-json-0123456789abcdefghi",
                    "form": "json",
                    "interval_s": 60,
                },
            },
            {
                "id": "veh-p",
                "county": "533124",
                "route": ["longchuan", "ruili"],
                "reefer": {"low_c": 10, "high_c": 13},
                "phone": {
                    "tracker_id": "tr-post-0123456789abcdefghi",
                    "form": "query_post",
                    "interval_s": 60,
                },
            },
        ]
    )


async def test_phones_send_both_osmand_forms_and_batch_what_they_held_offline() -> None:
    f = fleet()
    async with http_receiver() as rec:
        opts = FleetOptions(osmand_url=rec.url, speed=40_000, seed=3)
        result = await run_fleet(f, opts)
        now_ms = time.time() * 1000
    reqs = rec.requests
    singles_q = [r for r in reqs if r.method == "GET" and r.path == "/"]
    posts_form = [
        r
        for r in reqs
        if r.method == "POST" and r.content_type.startswith("application/x-www-form")
    ]
    posts_json = [
        r for r in reqs if r.method == "POST" and r.path == "/" and "json" in r.content_type
    ]
    batches = [r for r in reqs if r.path == "/api/v1/logistics/osmand/batch"]
    assert singles_q and posts_form and posts_json and batches
    assert all(b.method == "POST" and b.content_type == "application/json" for b in batches)

    got: dict[str, set[int]] = {}
    for r in singles_q:
        assert QUERY_KEYS <= set(r.query) and r.query["id"] == "tr-query-0123456789abcdefgh"
        assert "temp1" in r.query  # the reefer probe paired to the phone
        assert 0 <= float(r.query["speed"]) < 25  # m/s, as the OsmAnd app sends it
        assert 0 <= float(r.query["batt"]) <= 100
        got.setdefault(r.query["id"], set()).add(int(r.query["timestamp"]) * 1000)
    from urllib.parse import parse_qsl

    for r in posts_form:
        form = dict(parse_qsl(r.body.decode()))
        assert QUERY_KEYS <= set(form)
        got.setdefault(form["id"], set()).add(int(form["timestamp"]) * 1000)
    for r in posts_json:
        body = json.loads(r.body)
        loc = body["location"]
        assert set(loc["coords"]) == {
            "latitude",
            "longitude",
            "accuracy",
            "speed",
            "heading",
            "altitude",
        }
        assert 0 <= loc["battery"]["level"] <= 1 and isinstance(loc["is_moving"], bool)
        got.setdefault(body["device_id"], set()).add(_ms(loc["timestamp"]))
    batched = 0
    for r in batches:
        for body in json.loads(r.body):
            batched += 1
            got.setdefault(body["device_id"], set()).add(_ms(body["location"]["timestamp"]))
    assert batched == sum(s.batched_fixes for s in result.phones.values()) > 0

    # every fix the model made arrived exactly once, and all lie in the past
    start, end = result.start_ms, result.end_ms
    assert (start, end)[1] <= now_ms
    for v in f.vehicles:
        expected = {
            e.t_ms for e in emissions_until(TruckSim(v, f, 3, start), end) if e.kind == "phone"
        }
        assert got[v.phone.tracker_id] == expected, v.id
    total = sum(len(s) for s in got.values())
    assert total == len(singles_q) + len(posts_form) + len(posts_json) + batched


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_the_run_window_lies_in_the_past_unless_realtime() -> None:
    f = fleet()
    now = 1_800_000_000_000
    start, end = plan_window(f, FleetOptions(speed=60, seed=3), now)
    assert end == now and start < now - 3600_000
    start, end = plan_window(f, FleetOptions(realtime=True, duration_s=10), now)
    assert (start, end) == (now, now + 10_000)
