"""The fleet's model, without any network: roads, driving, GPS, reefer, determinism."""

from __future__ import annotations

from itertools import pairwise

from simulators.fleet.config import FleetConfigError, load_fleet, parse_failure
from simulators.fleet.geo import distance_to_segment_m, haversine_m, in_yunnan
from simulators.fleet.motion import SPEED_KMH
from simulators.fleet.routes import MEANDER_M, load_network
from simulators.fleet.sim import TruckSim, trip_end_offset_ms
from tests.simulators.fleet_support import emissions_until, small_fleet

START = 1_750_000_000_000


def vehicle(vid: str, route: list[str], **extra: object) -> dict[str, object]:
    return {
        "id": vid,
        "county": "533124",
        "route": route,
        "reefer": {"low_c": 2, "high_c": 8},
        "phone": {"tracker_id": f"tr-{vid}-0123456789abcdef", "interval_s": 10},
        "gateway": {"id": f"gw-{vid}", "interval_s": 10},
        **extra,
    }


def run(v: dict[str, object], seed: int = 1, fail_min: float | None = None) -> list:
    fleet = small_fleet([v])
    veh = fleet.vehicles[0]
    end = START + trip_end_offset_ms(veh, fleet, seed)
    return emissions_until(TruckSim(veh, fleet, seed, START, fail_min), end)


def test_places_and_roads_lie_in_yunnan_and_routes_follow_their_waypoints() -> None:
    net = load_network()
    for place in net.places.values():
        assert in_yunnan(place.lat, place.lon), place
    for road in net.roads:
        assert all(in_yunnan(p[0], p[1]) for p in road.points), road.id
    pairs = [("mangshi", "kunming"), ("longchuan", "yingjiang"), ("ruili", "lianghe")]
    for a, b in pairs:
        route = net.route(a, b)
        assert route.length_m > 10_000
        for i in range(0, len(route.s), 7):
            lat, lon = route.lat[i], route.lon[i]
            assert in_yunnan(lat, lon)
            near = min(distance_to_segment_m(lat, lon, p, q) for p, q in pairwise(route.waypoints))
            assert near <= MEANDER_M + 10, (a, b, i, near)
        # the route starts and ends at the town centres
        assert haversine_m(route.lat[0], route.lon[0], net.places[a].lat, net.places[a].lon) < 1
        assert haversine_m(route.lat[-1], route.lon[-1], net.places[b].lat, net.places[b].lon) < 1
    # Mangshi - Kunming along the G56 corridor: about 530 km of polyline (the road is ~700)
    assert 450_000 < net.route("mangshi", "kunming").length_m < 750_000


def test_speeds_are_plausible_and_the_truck_dwells_at_its_drops() -> None:
    ems = run(vehicle("veh-a", ["longchuan", "zhefang", "mangshi"], dwell_min=9))
    phone = [e for e in ems if e.kind == "phone"]
    assert len(phone) > 500
    net = load_network()
    top = max(hi for _, hi in SPEED_KMH.values())
    for e in phone:
        f = e.report.fix
        assert in_yunnan(f.lat, f.lon)
        assert 0 <= f.speed_ms * 3.6 <= top + 3  # + GPS speed noise
        assert 0 <= f.course < 360 and f.accuracy_m > 0
    # urban stretches stay at urban speeds (truth)
    towns = [net.places[p] for p in ("longchuan", "chengzi", "zhefang", "mangshi")]
    in_town = [
        e.truth.speed_ms * 3.6
        for e in ems
        if e.truth.moving
        and min(haversine_m(e.truth.lat, e.truth.lon, t.lat, t.lon) for t in towns) < 800
    ]
    assert in_town and max(in_town) <= SPEED_KMH["urban"][1] + 0.01
    assert max(e.truth.speed_ms * 3.6 for e in ems) > SPEED_KMH["urban"][1]  # and faster outside
    # consecutive fixes never imply more than 100 km/h unless the receiver said it was poor
    for a, b in pairwise(phone):
        fa, fb = a.report.fix, b.report.fix
        if fa.accuracy_m > 20 or fb.accuracy_m > 20:
            continue
        dt = (fb.t_ms - fa.t_ms) / 1000
        assert haversine_m(fa.lat, fa.lon, fb.lat, fb.lon) / dt * 3.6 < 100
    # the drop at Zhefang: stopped for the whole dwell, the door open for part of it
    at_drop = [e for e in ems if e.truth.stop == "zhefang"]
    assert (at_drop[-1].t_ms - at_drop[0].t_ms) >= 9 * 60_000 - 20_000
    assert any(e.truth.door_open for e in at_drop)
    # a few metres of noise, an occasional accuracy spike
    accs = sorted(e.report.fix.accuracy_m for e in phone)
    assert accs[len(accs) // 2] < 10 and accs[-1] > 20


def test_a_tunnel_has_no_fix_and_a_no_signal_stretch_is_offline() -> None:
    ems = run(vehicle("veh-t", ["longchuan", "yingjiang"]))
    tunnel = [e for e in ems if e.truth.gap == "tunnel"]
    assert tunnel and all(e.kind == "gateway" for e in tunnel)  # phones have no fix
    assert all("lat" not in e.values and e.values["temp1"] is not None for e in tunnel)
    ems = run(vehicle("veh-n", ["yingjiang", "lianghe", "mangshi"]))
    offline = [e for e in ems if e.kind == "phone" and not e.online]
    assert len(offline) > 20  # the Mengyang pass: fixes recorded, not sent


def longest_run_above(ems: list, limit: float) -> float:
    run_start = None
    longest = 0.0
    for e in ems:
        if e.kind != "gateway":
            continue
        t = e.values["temp1"]
        if t > limit:
            run_start = e.t_ms if run_start is None else run_start
            longest = max(longest, (e.t_ms - run_start) / 60_000)
        else:
            run_start = None
    return longest


def test_a_failed_reefer_climbs_above_8_c_for_more_than_30_minutes() -> None:
    v = vehicle("veh-r", ["longchuan", "zhefang", "mangshi"])
    healthy = run(v)
    failed = run(v, fail_min=60)
    temps = [e.values["temp1"] for e in healthy if e.kind == "gateway"]
    assert 3.5 < sorted(temps)[len(temps) // 2] < 6.5  # held at the 5 degC setpoint
    assert longest_run_above(healthy, 8.0) < 30  # door spikes only
    assert longest_run_above(failed, 8.0) > 30
    after = [
        e.values["temp1"] for e in failed if e.kind == "gateway" and e.t_ms > START + 60 * 60_000
    ]
    assert after and 12 < max(after) < 28.5  # toward ambient (28 degC), never past it
    before = [e for e in failed if e.kind == "gateway" and e.t_ms < START + 60 * 60_000]
    assert max(e.values["temp1"] for e in before) < 8.5 or any(e.truth.door_open for e in before)


def test_the_same_seed_gives_the_same_reports() -> None:
    v = vehicle("veh-d", ["ruili", "longchuan"])
    one, two, other = run(v, seed=5), run(v, seed=5), run(v, seed=6)
    assert one == two
    assert one != other


def test_the_sample_fleet_loads_and_failures_parse(tmp_path) -> None:
    fleet = load_fleet("simulators/fleet.sample.yaml")
    assert 6 <= len(fleet.vehicles) <= 10
    assert {v.county for v in fleet.vehicles} == {"533103", "533124", "533123", "533122"}
    assert {v.phone.form for v in fleet.vehicles if v.phone} == {"query", "query_post", "json"}
    assert parse_failure("veh-lc-01@60") == ("veh-lc-01", 60.0)
    for bad in ("veh-lc-01", "@5", "veh@x"):
        try:
            parse_failure(bad)
        except FleetConfigError as exc:
            assert "VEHICLE@MINUTE" in str(exc)
        else:
            raise AssertionError(bad)
    bad_file = tmp_path / "f.yaml"
    bad_file.write_text(
        "vehicles:\n  - {id: v1, county: '533103', route: [mangshi, atlantis], phone: {tracker_id: x}}\n"
    )
    try:
        load_fleet(bad_file)
    except FleetConfigError as exc:
        assert "atlantis" in str(exc) and "route" in str(exc)
    else:
        raise AssertionError("unknown place accepted")
