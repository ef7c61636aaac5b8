"""The dispatcher console (cloud/logistics/console): its JSON endpoints (login, roles,
county isolation of the snapshot and of the live stream), the providers (未接入 without
one, other counties' rows dropped), the replay contract, the WGS-84 → GCJ-02 transform
(Python and the page's JS), the tile presets and the local tile stub."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import shutil
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cloud.auth.principal import Role
from cloud.logistics.console import providers
from cloud.logistics.console.gcj02 import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02
from cloud.logistics.console.hub import Hub, hub_of, publish_vehicle_update
from cloud.logistics.console.router import csp
from cloud.logistics.console.tiles import tile_source
from cloud.settings import Settings
from tests.cloud.console_support import (
    SEATS,
    FakeAlarms,
    clear_providers,
    fix,
    now_ms,
    place,
    replay_fixture,
    vehicles,
)
from tests.support.api import HOME, OTHER, ApiEnv, api_env

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "cloud" / "logistics" / "console"
BASE = "/api/v1/logistics/console"

#: eviltransform's published pairs (WGS-84 → GCJ-02): Shanghai, Shenzhen, Beijing
REFERENCE = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
]
OUTSIDE = [(39.7392, -104.9903), (-27.4698, 153.0251), (-22.9068, -43.1729), (51.5, -0.12)]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    clear_providers()
    async with api_env("sqlite", tmp_path) as e:
        clear_providers()  # the app registered the real ones: these tests use fakes
        e.settings.console_poll_s = 0.1
        yield e
        hub = getattr(e.app.state, "console_hub", None)
        if hub is not None:
            await hub.close()
    clear_providers()


def _events(text: str) -> list[tuple[str, Any]]:
    out = []
    for block in text.split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if name:
            out.append((name, data))
    return out


# ------------------------------------------------------------------ snapshot


async def test_snapshot_needs_a_login_and_a_console_role(env: ApiEnv) -> None:
    r = await env.client.get(f"{BASE}/snapshot")
    assert r.status_code == 401
    r = await env.client.get(f"{BASE}/snapshot", headers=await env.headers(Role.OPERATOR, HOME))
    assert r.status_code == 403 and "console:read" in r.json()["detail"]
    for role in (Role.DISPATCHER, Role.COUNTY_ADMIN):
        r = await env.client.get(f"{BASE}/snapshot", headers=await env.headers(role, HOME))
        assert r.status_code == 200, r.text


async def test_snapshot_is_county_scoped_with_status_by_age(env: ApiEnv) -> None:
    home = await vehicles(env, HOME, 3)
    other = await vehicles(env, OTHER, 2)
    lat, lon = SEATS[HOME]
    now = now_ms()
    await fix(env, home[0], HOME, lat, lon, speed=52.0, temp=4.5)  # moving
    await fix(env, home[1], HOME, lat + 0.01, lon, speed=0.0)  # stopped
    await fix(env, home[2], HOME, lat, lon + 0.01, ts_ms=now - 3600_000)  # offline (1 h old)
    for d in other:
        await fix(env, d, OTHER, *SEATS[OTHER])
    await place(env, HOME, "cold_room", "芒市冷库", lat, lon)
    await place(env, OTHER, "station", "陇川县服务站", *SEATS[OTHER])

    h = await env.headers(Role.DISPATCHER, HOME, "disp-home")
    snap = (await env.client.get(f"{BASE}/snapshot", headers=h)).json()
    by = {v["device_id"]: v for v in snap["vehicles"]}
    assert set(by) == set(home)
    assert [by[d]["status"] for d in home] == ["moving", "stopped", "offline"]
    assert by[home[0]]["fix"]["temp1"] == 4.5 and by[home[0]]["fix"]["lat"] == lat
    assert [p["name"] for p in snap["places"]] == ["芒市冷库"]
    assert snap["counties"] == [HOME]
    text = json.dumps(snap, ensure_ascii=False)
    assert OTHER not in text and "陇川" not in text and not any(d in text for d in other)
    assert snap["alarms"] == {"connected": False, "items": []}
    assert snap["config"]["tiles"]["url"] == "/tiles/stub/{z}/{x}/{y}.png"

    pref = await env.headers(Role.PREFECTURE_ADMIN, "533100", "pref")
    snap = (await env.client.get(f"{BASE}/snapshot", headers=pref)).json()
    assert {v["device_id"] for v in snap["vehicles"]} == set(home) | set(other)
    assert len(snap["places"]) == 2


async def test_providers_not_connected_say_so_and_make_nothing_up(env: ApiEnv) -> None:
    h = await env.headers(Role.DISPATCHER, HOME, "disp-nc")
    for path in ("alarms", "waybills", "capacity", "trips"):
        body = (await env.client.get(f"{BASE}/{path}", headers=h)).json()
        assert body["connected"] is False and body["items"] == [], body
        assert "未接入" in body["detail"]
    r = await env.client.post(f"{BASE}/alarms/a1/ack", json={"comment": "x"}, headers=h)
    assert r.status_code == 503 and "未接入" in r.json()["detail"]
    r = await env.client.get(f"{BASE}/trips/t1/replay", headers=h)
    assert r.status_code == 503


async def test_alarm_list_drops_other_counties_and_ack_records_who_and_comment(
    env: ApiEnv,
) -> None:
    fake = FakeAlarms()
    mine = fake.raise_alarm(HOME, "veh-1", "冷机温度 9.2 °C 超出 0-4 °C")
    theirs = fake.raise_alarm(OTHER, "veh-9", "other")
    fake.register()
    h = await env.headers(Role.DISPATCHER, HOME, "disp-ack")
    body = (await env.client.get(f"{BASE}/alarms", headers=h)).json()
    assert body["connected"] is True and {a["id"] for a in body["items"]} == {mine}
    r = await env.client.post(f"{BASE}/alarms/{theirs}/ack", json={"comment": "x"}, headers=h)
    assert r.status_code == 404
    r = await env.client.post(
        f"{BASE}/alarms/{mine}/ack", json={"comment": "已通知司机"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged" and r.json()["comment"] == "已通知司机"
    assert fake.acks == [(mine, "user:disp-ack", "已通知司机")]
    r = await env.client.post(f"{BASE}/alarms/{mine}/ack", json={"comment": ""}, headers=h)
    assert r.status_code == 409  # the provider's ValueError: already acknowledged
    r = await env.client.post(f"{BASE}/alarms/{mine}/ack", json={"comment": "x" * 501}, headers=h)
    assert r.status_code == 422 and "comment" in r.text
    # a row without a county is dropped too (the provider's bug stops here)
    fake.rows[mine].pop("county")
    body = (await env.client.get(f"{BASE}/alarms?state=all", headers=h)).json()
    assert body["items"] == []
    r = await env.client.get(f"{BASE}/alarms?state=bogus", headers=h)
    assert r.status_code == 422 and r.json()["field"] == "query.state"


async def test_waybill_board_filters_reach_the_provider(env: ApiEnv) -> None:
    seen: list[dict[str, str]] = []

    async def waybills(call: providers.Call, filters: dict[str, str]) -> list[dict[str, Any]]:
        seen.append(filters)
        rows = [
            {"id": "1", "county": HOME, "number": "WB-1", "state": "departed"},
            {"id": "2", "county": HOME, "number": "WB-2", "state": "delivered"},
        ]
        return [r for r in rows if "state" not in filters or r["state"] == filters["state"]]

    providers.register_provider("waybills", waybills)
    h = await env.headers(Role.DISPATCHER, HOME, "disp-wb")
    r = await env.client.get(f"{BASE}/waybills?state=departed&q=WB", headers=h)
    assert [w["number"] for w in r.json()["items"]] == ["WB-1"]
    assert seen == [{"state": "departed", "q": "WB"}]
    r = await env.client.get(f"{BASE}/waybills?state=lost", headers=h)
    assert r.status_code == 422 and "query.state" in r.text
    with pytest.raises(ValueError, match="unknown console provider"):
        providers.register_provider("waybill", waybills)


async def test_replay_contract_is_checked(env: ApiEnv) -> None:
    data = replay_fixture(HOME, "veh-1")

    async def replay(call: providers.Call, trip_id: str) -> dict[str, Any] | None:
        return data if trip_id == "trip-1" else None

    providers.register_provider("replay", replay)
    h = await env.headers(Role.DISPATCHER, HOME, "disp-rp")
    r = await env.client.get(f"{BASE}/trips/trip-1/replay", headers=h)
    assert r.status_code == 200 and len(r.json()["t"]) == len(data["t"])
    assert (await env.client.get(f"{BASE}/trips/nope/replay", headers=h)).status_code == 404
    data["lat"] = data["lat"][:-1]
    r = await env.client.get(f"{BASE}/trips/trip-1/replay", headers=h)
    assert r.status_code == 502 and "replay.lat" in r.json()["detail"]
    data["lat"] = [*data["lon"]]
    data["lat"][3] = 123.0
    r = await env.client.get(f"{BASE}/trips/trip-1/replay", headers=h)
    assert r.status_code == 502 and "WGS-84" in r.json()["detail"]


# ------------------------------------------------------------------ the live stream


async def test_stream_is_county_scoped(env: ApiEnv) -> None:
    """A Mangshi dispatcher's stream carries Mangshi's vehicles' updates (from the poller
    reading the time series, and from the hook) and never one of Longchuan's; the
    prefecture's carries both."""
    home = await vehicles(env, HOME, 2)
    other = await vehicles(env, OTHER, 2)
    h_home = await env.headers(Role.DISPATCHER, HOME, "disp-s1")
    h_pref = await env.headers(Role.PREFECTURE_ADMIN, "533100", "pref-s1")

    async def listen(h: dict[str, str]) -> str:
        r = await env.client.get(f"{BASE}/stream", params={"max_s": 1.5}, headers=h)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        return r.text

    tasks = [asyncio.create_task(listen(h_home)), asyncio.create_task(listen(h_pref))]
    await asyncio.sleep(0.4)
    for i in range(3):
        await fix(env, home[0], HOME, 24.43 + i * 0.001, 98.58, speed=50)
        await fix(env, other[0], OTHER, 24.18 + i * 0.001, 97.79, speed=50)
        await asyncio.sleep(0.15)
    publish_vehicle_update(other[1], OTHER, {"t": now_ms(), "lat": 24.2, "lon": 97.8})
    publish_vehicle_update(home[1], HOME, {"t": now_ms(), "lat": 24.4, "lon": 98.5})
    text_home, text_pref = await asyncio.gather(*tasks)

    ev_home = _events(text_home)
    assert ev_home[0][0] == "snapshot" and ev_home[-1][0] == "end"
    updates = [d["device_id"] for n, d in ev_home if n == "vehicle"]
    assert home[0] in updates and home[1] in updates
    assert not any(d in text_home for d in other) and OTHER not in text_home
    lats = [d["fix"]["lat"] for n, d in ev_home if n == "vehicle" and d["device_id"] == home[0]]
    assert lats[-1] == pytest.approx(24.432)  # the last fix written, live
    pref_updates = {d["device_id"] for n, d in _events(text_pref) if n == "vehicle"}
    assert {home[0], home[1], other[0], other[1]} <= pref_updates


async def test_slow_client_is_dropped_with_a_reason_and_others_go_on() -> None:
    hub = Hub(queue_size=10)
    slow, fast = hub.subscribe([HOME]), hub.subscribe([HOME])
    for i in range(10):
        hub.publish("vehicle", HOME, {"i": i})
        await fast.queue.get()
    assert slow.dropped is None
    hub.publish("vehicle", HOME, {"i": 10})
    assert slow.dropped is not None and "slow consumer" in slow.dropped
    assert fast.dropped is None and (await fast.queue.get()).data == {"i": 10}
    assert hub.publish("vehicle", OTHER, {"x": 1}) == 0  # no subscriber sees 533124
    assert hub.publish("vehicle", None, {"x": 1}) == 0  # no county: no one
    assert hub.drops == 1


async def test_stream_sends_dropped_then_ends_for_a_slow_client(env: ApiEnv) -> None:
    env.settings.console_stream_queue = 10
    hub = hub_of(env.app)
    h = await env.headers(Role.DISPATCHER, HOME, "disp-slow")

    subscribed = asyncio.Event()
    subscribe = hub.subscribe

    def watched(counties: list[str] | None) -> Any:
        sub = subscribe(counties)
        subscribed.set()
        return sub

    hub.subscribe = watched  # type: ignore[method-assign]

    async def flood() -> None:
        await subscribed.wait()
        for i in range(50):  # in one go: the client cannot read in between
            hub.publish("vehicle", HOME, {"device_id": f"v{i}", "county": HOME})

    flooding = asyncio.create_task(flood())
    r = await env.client.get(f"{BASE}/stream", params={"max_s": 5}, headers=h)
    await flooding
    names = [n for n, _ in _events(r.text)]
    assert names[-1] == "dropped", names
    assert "slow consumer" in _events(r.text)[-1][1]["reason"]
    assert not hub.subscribers  # unsubscribed when the stream ended


async def test_stream_heartbeat_and_login(env: ApiEnv) -> None:
    env.settings.console_heartbeat_s = 0.2
    assert (await env.client.get(f"{BASE}/stream")).status_code == 401
    h = await env.headers(Role.DISPATCHER, HOME, "disp-hb")
    r = await env.client.get(f"{BASE}/stream", params={"max_s": 0.7}, headers=h)
    assert ": heartbeat" in r.text and r.text.startswith("retry: 3000")
    r = await env.client.get(f"{BASE}/stream", params={"max_s": -1}, headers=h)
    assert r.status_code == 422


# ------------------------------------------------------------------ GCJ-02


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_gcj02_matches_published_pairs(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    got = wgs84_to_gcj02(*wgs)
    assert got == pytest.approx(gcj, abs=1e-9)
    back = gcj02_to_wgs84(*gcj)
    assert back == pytest.approx(wgs, abs=1e-7)


def test_gcj02_is_identity_outside_china_and_shifts_dehong() -> None:
    for p in OUTSIDE:
        assert out_of_china(*p) and wgs84_to_gcj02(*p) == p
    lat, lon = SEATS[HOME]
    g = wgs84_to_gcj02(lat, lon)
    # Mangshi: about 350 m, mostly southward (the tiles are that far off a GPS point)
    dy = (g[0] - lat) * 111_320
    dx = (g[1] - lon) * 111_320 * math.cos(math.radians(lat))
    assert 250 < math.hypot(dx, dy) < 500 and dy < 0


def test_gcj02_js_equals_python() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node missing")
    points = [w for w, _ in REFERENCE] + OUTSIDE + [SEATS[HOME], SEATS[OTHER], (25.04, 102.71)]
    script = (
        (HERE / "static" / "gcj02.js").read_text()
        + f"\nconsole.log(JSON.stringify({json.dumps(points)}.map(p => "
        "globalThis.DhGcj02.wgs84ToGcj02(p[0], p[1]))));"
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True)
    for p, js in zip(points, json.loads(out.stdout), strict=True):
        assert js == pytest.approx(list(wgs84_to_gcj02(*p)), abs=1e-12)


# ------------------------------------------------------------------ tiles


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[12 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert crc == zlib.crc32(body)
    return struct.unpack(">II", data[16:24])  # type: ignore[return-value]


async def test_tile_stub_serves_png_tiles_publicly(env: ApiEnv) -> None:
    a = await env.client.get("/tiles/stub/9/406/222.png")
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert _png_size(a.content) == (256, 256)
    b = await env.client.get("/tiles/stub/9/407/222.png")
    assert a.content != b.content  # z/x/y drawn on it
    r = await env.client.get("/tiles/stub/2/4/0.png")
    assert r.status_code == 422 and "x: 4 is outside 0..3" in r.json()["detail"]
    assert (await env.client.get("/tiles/stub/23/0/0.png")).status_code == 422


def test_tile_presets_and_csp() -> None:
    s = Settings(console_tiles="amap")
    src = tile_source(s)
    assert src.gcj02 and "autonavi.com" in src.url
    assert "https://webrd0*.is.autonavi.com" in csp(s)
    t = tile_source(Settings(console_tiles="tianditu", console_tiles_key="k123"))
    assert not t.gcj02 and "tk=k123" in t.url and "cva" in t.overlay_url
    with pytest.raises(ValueError, match="console_tiles_key"):
        tile_source(Settings(console_tiles="tianditu"))
    with pytest.raises(ValueError, match="URL template"):
        tile_source(Settings(console_tiles="https://example.org/tiles.png"))
    c = tile_source(
        Settings(console_tiles="https://t.example/{z}/{x}/{y}.png", console_tiles_gcj02=True)
    )
    assert c.gcj02 and c.origins == ["https://t.example"]
    stub = Settings()
    assert tile_source(stub).url == "/tiles/stub/{z}/{x}/{y}.png"
    assert "img-src 'self' data:;" in csp(stub)  # no foreign origin at all


# ------------------------------------------------------------------ page and assets


async def test_console_page_is_a_shell_without_data_or_foreign_urls(env: ApiEnv) -> None:
    r = await env.client.get("/console")
    assert r.status_code == 200
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "调度台" in r.text and 'class="en"' in r.text
    assert "http://" not in r.text and "https://" not in r.text
    for asset in ("vendor/leaflet/leaflet.js", "console.js", "sse.js", "gcj02.js"):
        assert (await env.client.get(f"/static/console/{asset}")).status_code == 200


def test_vendored_files_are_the_published_ones() -> None:
    want = {
        "leaflet/leaflet.js": "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a",
        "markercluster/leaflet.markercluster.js": (
            "1e4e1d22972a3926f48598e0caf14e3fe7049835d428a344fed4f9e3665b3508"
        ),
    }
    vendor = HERE / "static" / "vendor"
    for name, digest in want.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert (vendor / "leaflet" / "LICENSE").exists()
    assert (vendor / "markercluster" / "LICENSE").exists()
