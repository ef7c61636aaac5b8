"""The OsmAnd forms (query and Traccar Client JSON) into fixes: units, time formats,
attributes, and every bad input refused naming the field (cases in
tests/data/positions/bad_input.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud.logistics.positions.fix import FixError
from cloud.logistics.positions.geo import douglas_peucker, haversine_m, local_xy
from cloud.logistics.positions.parse import json_locations, parse_json_location, parse_query

CASES = json.loads(
    (Path(__file__).parents[1] / "data" / "positions" / "bad_input.json").read_text("utf-8")
)
NOW = int(datetime(2026, 5, 1, 9, 0, tzinfo=UTC).timestamp() * 1000)
T = int(datetime(2026, 5, 1, 8, 0, tzinfo=UTC).timestamp() * 1000)


def _parse(case: dict) -> None:
    if "query" in case:
        parse_query(case["query"], NOW)
    else:
        device, entries = json_locations(case["json"])
        for field, loc in entries:
            parse_json_location(device, loc, NOW, field=field)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input_is_refused_naming_the_field(case: dict) -> None:
    with pytest.raises(FixError) as exc:
        _parse(case)
    assert exc.value.field == case["field"], str(exc.value)
    assert case["reason"] in exc.value.reason, str(exc.value)


@pytest.mark.parametrize(
    "raw",
    [
        str(T // 1000),  # epoch seconds
        str(T),  # epoch ms
        "2026-05-01T08:00:00Z",
        "2026-05-01T16:00:00+08:00",
        "2026-05-01T08:00:00.000Z",
        "2026-05-01 08:00:00",  # yyyy-MM-dd HH:mm:ss is UTC
    ],
)
def test_every_time_form_reads_the_same_instant(raw: str) -> None:
    p = parse_query({"id": "X", "lat": "24.4", "lon": "98.5", "timestamp": raw}, NOW)
    assert p.fix.ts_ms == T


def test_query_form_fields_and_attributes() -> None:
    p = parse_query(
        {
            "deviceid": "abc",
            "location": "24.43,98.58",
            "timestamp": str(T),
            "speed": "10",
            "heading": "90",
            "altitude": "900",
            "accuracy": "8",
            "hdop": "1.2",
            "batt": "77",
            "charge": "true",
            "valid": "false",
            "temp1": "4.5",
            "driverUniqueId": "text is not a value",
        },
        NOW,
    )
    f = p.fix
    assert (p.device_id, f.lat, f.lon, p.speed_raw) == ("abc", 24.43, 98.58, 10.0)
    assert (f.course_deg, f.alt_m, f.accuracy_m, f.hdop) == (90.0, 900.0, 8.0, 1.2)
    assert (f.battery_pct, f.charging, f.valid) == (77.0, 1.0, False)
    assert f.attributes == {"temp1": 4.5}
    assert f.speed_kmh is None  # converted with the tracker's unit by the intake


def test_json_form_is_metres_per_second_and_battery_fraction() -> None:
    body = {
        "device_id": "abc",
        "location": {
            "timestamp": "2026-05-01T08:00:00.000Z",
            "coords": {"latitude": 24.43, "longitude": 98.58, "speed": 10, "heading": -1,
                       "accuracy": 5, "altitude": 880},
            "is_moving": True,
            "battery": {"level": 0.42, "is_charging": False},
            "extras": {"temp1": 3.5, "note": "x"},
        },
    }  # fmt: skip
    device, entries = json_locations(body)
    (field, loc) = entries[0]
    f = parse_json_location(device, loc, NOW, field=field).fix
    assert f.ts_ms == T and f.speed_kmh == pytest.approx(36.0)
    assert f.course_deg is None  # -1: unknown
    assert (f.battery_pct, f.charging) == (42.0, 0.0)
    assert f.attributes == {"motion": 1.0, "temp1": 3.5}


def test_douglas_peucker_keeps_corners_within_tolerance() -> None:
    # a straight 1 km line with 1 m of noise, then a right-angle turn
    pts = [(24.4 + i * 0.0001, 98.5 + (0.000005 if i % 2 else 0.0)) for i in range(100)]
    pts += [(pts[-1][0], 98.5 + i * 0.0001) for i in range(1, 50)]
    kept = douglas_peucker(local_xy(pts), 10.0)
    assert kept[0] == 0 and kept[-1] == len(pts) - 1
    assert 99 in kept and len(kept) <= 4
    assert haversine_m(24.4, 98.5, 24.5, 98.5) == pytest.approx(11_119, rel=1e-3)


@pytest.mark.parametrize(
    "query",
    [
        "id=AbCdEfGh&lat=24.412300&lon=98.560000&timestamp=1764800000&speed=10&temp1=4.2",
        "",
        "&&id=a&&",
        "id&lat=&=x&lon==1&a=b=c",
        "id=a+b&lat=24%2C5&note=%E4%B8%AD%E6%96%87",
        "id=a;lat=1&lon=2",
        "id=\xe4&lat=1",  # a raw byte above 127, read as latin-1
        "x=%zz&y=%",
    ],
)
def test_the_own_ports_query_is_split_as_parse_qsl_splits_it(query: str) -> None:
    """The query of the own port is split by hand when nothing is quoted (a phone's
    usual query), the same pairs as Starlette's ``query_params`` (``parse_qsl``)."""
    from urllib.parse import parse_qsl

    from cloud.logistics.positions.osmand import query_pairs

    assert query_pairs(query) == parse_qsl(query, keep_blank_values=True)
