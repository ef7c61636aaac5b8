"""Serial ranges and their codes, the scan log, scan places and anomaly flags
(cloud/resolver/serials, cloud/resolver/scans), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.catalog.storage import Location
from cloud.resolver.scans import service as scans
from cloud.resolver.scans.cities import city_of_county, nearest_city
from cloud.resolver.scans.storage import Scan, ScanFlag
from cloud.resolver.serials import service as serials
from cloud.resolver.serials.codes import CODE_LENGTH, make_code
from cloud.resolver.serials.keys import SerialKeyError, ensure_key, key_path, load_key
from cloud.resolver.serials.storage import SerialRange
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.operations.service import location_uri
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.epcis import gln, gtin
from tests.support.trace_records import add_lot, add_org

G = gtin(612)
KUNMING = (25.04, 102.71)  # lat, lon
SHANGHAI = (31.23, 121.47)
MANGSHI = (24.43, 98.59)  # Dehong (HOME's city)
T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        e.settings.serials_key_file = tmp_path / "keys" / "serials.key"
        e.settings.scan_max_per_serial = 3
        ensure_key(e.settings)
        yield e


async def _lot(env: ApiEnv, number: str = "S-1", county: str = HOME) -> str:
    org = await add_org(env, county, 61)
    await add_lot(env, org, G, number)
    return number


def _url(lot: str, tail: str = "serial-ranges") -> str:
    return f"/api/v1/trace/lots/{G}/{lot}/{tail}"


# ------------------------------------------------------------------ keys and codes


def test_key_file_is_made_once_private_and_never_replaced(tmp_path: Path) -> None:
    class S:
        keys_dir = tmp_path / "k"
        serials_key_file = None

    key, made = ensure_key(S)
    assert made and len(key) == 32
    assert key_path(S) == tmp_path / "k" / "serials.key"
    assert os.stat(key_path(S)).st_mode & 0o777 == 0o600
    assert ensure_key(S) == (key, False)
    assert load_key(S) == key
    os.chmod(key_path(S), 0o644)
    with pytest.raises(SerialKeyError, match="chmod 600"):
        load_key(S)
    S.keys_dir = tmp_path / "none"
    with pytest.raises(SerialKeyError, match="init-db"):
        load_key(S)


def test_code_is_a_mac_of_gtin_lot_and_serial() -> None:
    k = secrets.token_bytes(32)
    c = make_code(k, G, "L1", "7")
    assert len(c) == CODE_LENGTH and c.isalnum() and c.isupper()
    assert c == make_code(k, G, "L1", "7")
    others = {make_code(k, G, "L1", "8"), make_code(k, G, "L2", "7"),
              make_code(k, gtin(613), "L1", "7"), make_code(secrets.token_bytes(32), G, "L1", "7"),
              make_code(k, G, "L17", ""), make_code(k, G, "L", "17")}  # fmt: skip
    assert c not in others and len(others) == 6


# ------------------------------------------------------------------ ranges (API)


async def test_ranges_issue_list_and_never_overlap(env: ApiEnv) -> None:
    lot = await _lot(env)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(_url(lot), json={"count": 5}, headers=h)
    assert r.status_code == 201, r.text
    one = r.json()
    assert (one["first"], one["last"], one["count"], one["gtin"]) == (1, 5, 5, G)
    r = await env.client.post(_url(lot), json={"count": 3}, headers=h)
    assert (r.json()["first"], r.json()["last"]) == (6, 8)
    r = await env.client.post(_url(lot), json={"count": 2, "first": 8}, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "body.first", r.text
    r = await env.client.post(_url(lot), json={"count": 2, "first": 100}, headers=h)
    assert r.status_code == 201
    r = await env.client.get(_url(lot), headers=h)
    assert [(x["first"], x["last"]) for x in r.json()["items"]] == [(1, 5), (6, 8), (100, 101)]


BAD_RANGES: list[tuple[dict[str, Any], str]] = [
    ({"count": 0}, "body.count"),
    ({"count": 100_001}, "body.count"),
    ({"count": "x"}, "body.count"),
    ({}, "body.count"),
    ({"count": 1, "first": 0}, "body.first"),
    ({"count": 1, "first": 10**18}, "body.first"),
    ({"count": 2, "first": 10**18 - 1}, "body.first"),
    ({"count": 1, "prefix": "A"}, "body.prefix"),
]


async def test_bad_range_input_names_the_field(env: ApiEnv) -> None:
    lot = await _lot(env)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    for body, field in BAD_RANGES:
        r = await env.client.post(_url(lot), json=body, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(SerialRange)) == 0


async def test_bad_path_names_the_part(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(f"/api/v1/trace/lots/{G[:-1]}0/X/serial-ranges", json={"count": 1},
                              headers=h)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "path.gtin"
    r = await env.client.get(f"/api/v1/trace/lots/{G}/{'x' * 21}/serial-ranges", headers=h)
    assert r.status_code == 422 and r.json()["field"] == "path.lot"
    r = await env.client.get(f"/api/v1/trace/lots/{G}/NOPE/serial-ranges", headers=h)
    assert r.status_code == 404


async def test_no_range_without_the_key(env: ApiEnv, tmp_path: Path) -> None:
    lot = await _lot(env)
    env.settings.serials_key_file = tmp_path / "elsewhere" / "serials.key"
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(_url(lot), json={"count": 1}, headers=h)
    assert r.status_code == 503 and "init-db" in r.json()["detail"]


async def test_csv_export_holds_valid_codes_only(env: ApiEnv) -> None:
    lot = await _lot(env)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    rid = (await env.client.post(_url(lot), json={"count": 4, "first": 9}, headers=h)).json()["id"]
    r = await env.client.get(f"/api/v1/trace/serial-ranges/{rid}/uris", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["serial"] for x in rows] == ["9", "10", "11", "12"]
    base = env.settings.public_base_url
    async with env.db.session() as s:
        for x in rows:
            assert x["uri"] == f"{base}/01/{G}/10/{lot}/21/{x['serial']}?c={x['c']}"
            got = await serials.check_code(s, G, lot, x["serial"], x["c"])
            assert got.status == "valid", got
            # lower case is read too (some scanners fold case)
            assert (
                await serials.check_code(s, G, lot, x["serial"], x["c"].lower())
            ).status == "valid"
        # who took valid codes out is audited
        entries = list(
            await s.scalars(select(AuditEntry).where(AuditEntry.action.like("serials.%")))
        )
    assert [(e.action, e.target, e.detail) for e in entries] == [
        ("serials.issued", f"lot:{G}/{lot}", {"range_id": rid, "first": 9, "count": 4}),
        ("serials.exported", f"lot:{G}/{lot}", {"first": 9, "count": 4}),
    ]


# ------------------------------------------------------------------ check_code


async def test_check_code_tells_forged_from_valid(env: ApiEnv) -> None:
    lot = await _lot(env)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    await env.client.post(_url(lot), json={"count": 10, "first": 1}, headers=h)
    key = load_key(env.settings)
    good = make_code(key, G, lot, "5")
    wrong = ("A" if good[0] != "A" else "B") + good[1:]
    async with env.db.session() as s:
        assert (await serials.check_code(s, G, lot, "5", good)).status == "valid"
        for serial, c, why in [
            ("5", wrong, "wrong"),
            ("5", None, "missing"),
            ("5", "", "missing"),
            ("5", good + "A", "wrong"),
            ("11", make_code(key, G, lot, "11"), "issued"),  # a guessed serial past the range
            ("05", make_code(key, G, lot, "05"), "issued"),  # not written as issued
            ("0", make_code(key, G, lot, "0"), "issued"),
            ("x5", good, "issued"),
        ]:
            got = await serials.check_code(s, G, lot, serial, c)
            assert got.status == "forged", (serial, c, got)
            assert why in got.reason_en and got.reason_zh, got
        other = await serials.check_code(s, G, "NOPE", "5", good)
        assert other.status == "forged"
        assert (await serials.check_code(s, G, lot, None, None)).status == "no_serial"
        assert serials.FORGED_ZH == "此码非本平台发放"


# ------------------------------------------------------------------ scans


async def _scan(env: ApiEnv, lot: str, serial: str | None, at: datetime) -> scans.ScanSummary:
    async with env.db.transaction() as s:
        return await scans.record_scan(s, G, lot, serial, user_agent="Mozilla/5.0 MicroMessenger",
                                       at=at)  # fmt: skip


async def _place(env: ApiEnv, token: str, where: tuple[float, float]) -> Any:
    return await env.client.post(f"/api/v1/public/scans/{token}/place",
                                 json={"lat": where[0], "lon": where[1]})  # fmt: skip


async def test_record_scan_counts_and_knows_the_first(env: ApiEnv) -> None:
    lot = await _lot(env)
    one = await _scan(env, lot, "1", T)
    assert one.first and one.count == 1 and one.first_at == T and len(one.scan_id) >= 32
    two = await _scan(env, lot, "1", T + timedelta(hours=1))
    assert not two.first and two.count == 2 and two.first_at == T
    assert two.scan_id != one.scan_id
    other = await _scan(env, lot, "2", T + timedelta(hours=2))
    assert other.first and other.count == 1
    lot_code = await _scan(env, lot, None, T)
    assert lot_code.first
    async with env.db.session() as s:
        rows = list(await s.scalars(select(Scan).order_by(Scan.id)))
    assert [r.user_agent for r in rows] == ["Mozilla/5.0 MicroMessenger"] * 4
    assert all(one.scan_id not in (r.token_sha256,) for r in rows)  # only its hash is kept
    with pytest.raises(scans.ScanError):
        await _scan(env, "NOPE", "1", T)


async def test_too_many_scans_are_flagged(env: ApiEnv) -> None:
    lot = await _lot(env)
    for i in range(5):  # the limit is 3 here
        await _scan(env, lot, "3", T + timedelta(minutes=i))
    async with env.db.session() as s:
        flags = list(await s.scalars(select(ScanFlag)))
    assert [(f.kind, f.serial, f.hits, f.detail["scans"]) for f in flags] == [
        ("too_many_scans", "3", 2, 5)
    ]


async def test_place_is_the_city_and_only_ones_own_scan(env: ApiEnv) -> None:
    lot = await _lot(env)
    now = datetime.now(UTC)
    mine = await _scan(env, lot, "1", now)
    theirs = await _scan(env, lot, "1", now)
    r = await _place(env, mine.scan_id, KUNMING)
    assert r.status_code == 200, r.text
    assert r.json() == {"city": "530100", "name": "昆明市"}
    async with env.db.session() as s:
        rows = {r.token_sha256: r for r in await s.scalars(select(Scan))}
    placed = rows[scans.token_hash(mine.scan_id)]
    assert (placed.city, placed.lat, placed.lon) == ("530100", 24.880095, 102.832891)  # centre
    assert rows[scans.token_hash(theirs.scan_id)].city is None
    r = await _place(env, mine.scan_id, SHANGHAI)  # once only
    assert r.status_code == 409
    r = await _place(env, secrets.token_urlsafe(24), SHANGHAI)  # a guessed token
    assert r.status_code == 404
    r = await _place(env, "short", SHANGHAI)
    assert r.status_code == 422 and r.json()["field"] == "path.token"
    for body, field in [({"lat": 91, "lon": 0}, "body.lat"), ({"lat": 0, "lon": 181}, "body.lon"),
                        ({"lat": "x", "lon": 0}, "body.lat"), ({"lat": 1}, "body.lon"),
                        ({"lat": 1, "lon": 1, "accuracy": 5}, "body.accuracy"),
                        ({"lat": 48.85, "lon": 2.35}, "body.lat")]:  # fmt: skip
        r = await env.client.post(f"/api/v1/public/scans/{theirs.scan_id}/place", json=body)
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
    old = await _scan(env, lot, "1", now - timedelta(hours=1))
    r = await _place(env, old.scan_id, KUNMING)
    assert r.status_code == 410


async def test_impossible_travel_is_flagged(env: ApiEnv) -> None:
    lot = await _lot(env)
    now = datetime.now(UTC)
    a = await _scan(env, lot, "1", now - timedelta(minutes=5))
    b = await _scan(env, lot, "1", now)
    c = await _scan(env, lot, "2", now - timedelta(minutes=5))
    d = await _scan(env, lot, "2", now)
    assert (await _place(env, a.scan_id, KUNMING)).status_code == 200
    assert (await _place(env, b.scan_id, SHANGHAI)).status_code == 200  # ~2000 km in 5 min
    assert (await _place(env, c.scan_id, KUNMING)).status_code == 200
    assert (await _place(env, d.scan_id, (25.0, 102.8))).status_code == 200  # same city
    async with env.db.session() as s:
        flags = list(await s.scalars(select(ScanFlag)))
    assert [(f.kind, f.serial) for f in flags] == [("impossible_travel", "1")]
    detail = flags[0].detail
    assert detail["cities"] == ["530100", "310000"] and detail["km"] > 1900
    assert detail["kmh"] > 20000 and detail["limit_kmh"] == 120


async def _ship(env: ApiEnv, lot: str, county: str, n: int) -> None:
    """A shipping event of the lot to a catalog location of ``county``."""
    async with env.db.transaction() as s:
        loc = Location(kind="warehouse", name=f"wh {n}", county=county, gln=gln(900 + n),
                       gln_extension="", created_by="test")  # fmt: skip
        s.add(loc)
        await s.flush()
        ev = TraceEvent(
            event_id=f"ni:///sha-256;{secrets.token_hex(32)}?ver=CBV2.0", event_type="ObjectEvent",
            event_time=T, event_tz_offset="+08:00", county=HOME, action="OBSERVE",
            biz_step="shipping", created_by="test",
            body={"destinationList": [{"type": "location", "destination": location_uri(loc)}]},
        )  # fmt: skip
        s.add(ev)
        await s.flush()
        s.add(TraceEventObject(event_seq=ev.seq, role="quantity", uri=f"x:{lot}", gtin=G, lot=lot))


async def test_places_outside_every_destination_flag_the_lot(env: ApiEnv) -> None:
    lot = await _lot(env)
    now = datetime.now(UTC)
    first = await _scan(env, lot, "1", now)
    assert (await _place(env, first.scan_id, SHANGHAI)).status_code == 200
    async with env.db.session() as s:  # not shipped anywhere: not judged
        assert await s.scalar(select(func.count()).select_from(ScanFlag)) == 0
    await _ship(env, lot, "530102", 1)  # a warehouse in Kunming (五华区)
    for where in (KUNMING, MANGSHI):  # a destination's city; the lot's own city
        got = await _scan(env, lot, None, now)
        assert (await _place(env, got.scan_id, where)).status_code == 200
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(ScanFlag)) == 0
    got = await _scan(env, lot, "2", now)
    assert (await _place(env, got.scan_id, SHANGHAI)).status_code == 200
    async with env.db.session() as s:
        flag = await s.scalar(select(ScanFlag))
    assert flag is not None and (flag.kind, flag.serial) == ("outside_destinations", "")
    assert flag.detail["city"] == "310000" and flag.detail["serial"] == "2"
    assert [d["city"] for d in flag.detail["destinations"]] == ["530100", "533100"]


def test_city_rounding_and_county_cities() -> None:
    assert nearest_city(24.43, 98.59) is None  # (lon, lat) swapped: the sea near Taiwan? no city
    assert nearest_city(98.59, 24.43).code == "533100"  # type: ignore[union-attr]
    assert nearest_city(121.47, 31.23).code == "310000"  # type: ignore[union-attr]
    assert nearest_city(2.35, 48.85) is None
    assert city_of_county("533124").code == "533100"  # type: ignore[union-attr]
    assert city_of_county("310104").code == "310000"  # type: ignore[union-attr]
    assert city_of_county("xx") is None


async def test_flags_are_listed_and_counted_per_county(env: ApiEnv) -> None:
    home = await _lot(env, "F-H", HOME)
    other = await _lot(env, "F-O", OTHER)
    for lot in (home, other, other):
        for i in range(4):
            await _scan(env, lot, f"{len(lot)}{i % 1}", T + timedelta(minutes=i))
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.get("/api/v1/trace/scan-flags", headers=h)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(x["lot"], x["kind"], x["county"]) for x in items] == [("F-H", "too_many_scans", HOME)]
    r = await env.client.get("/api/v1/trace/scan-flags/counts", headers=h)
    assert r.json()["total"] == 1 and r.json()["by_kind"]["too_many_scans"] == 1
    p = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get("/api/v1/trace/scan-flags/counts", headers=p)
    assert r.json()["total"] == 2
    r = await env.client.get("/api/v1/trace/scan-flags", params={"limit": 1}, headers=p)
    assert len(r.json()["items"]) == 1 and 'rel="next"' in r.headers["link"]
    r = await env.client.get("/api/v1/trace/scan-flags", params={"lot": "F-O"}, headers=p)
    assert [x["lot"] for x in r.json()["items"]] == ["F-O"]
    for params, field in [({"kind": "x"}, "query.kind"), ({"gtin": "123"}, "query.gtin"),
                          ({"lot": "a" * 21}, "query.lot"), ({"county": "1"}, "query.county")]:  # fmt: skip
        r = await env.client.get("/api/v1/trace/scan-flags", params=params, headers=p)
        assert r.status_code == 422 and r.json()["field"] == field, (params, r.text)
    async with env.db.session() as s:
        assert await scans.count_flags(s, [OTHER]) == {
            "impossible_travel": 0,
            "too_many_scans": 1,
            "outside_destinations": 0,
        }


async def test_the_place_endpoint_is_rate_limited_per_address(env: ApiEnv) -> None:
    env.settings.resolver_rate_burst = 3
    env.settings.resolver_rate_per_s = 0.01
    env.app.state.resolver_limiter = None  # made again from the settings
    codes = [(await _place(env, secrets.token_urlsafe(24), KUNMING)).status_code for _ in range(5)]
    assert codes == [404, 404, 404, 429, 429]


async def test_a_printed_label_scanned_through_the_resolver(env: ApiEnv) -> None:
    """The label's URI opens the trace page: a valid code, first scan, the opt-in city
    button with this scan's token; the token adds the city; a forged code is refused."""
    import re
    from urllib.parse import urlsplit

    lot = await _lot(env, "E2E-1")
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    rid = (await env.client.post(_url(lot), json={"count": 3}, headers=h)).json()["id"]
    rows = (await env.client.get(f"/api/v1/trace/serial-ranges/{rid}/uris", headers=h)).text
    uri = urlsplit(rows.splitlines()[2].split(",")[-1])  # serial 2
    path = f"{uri.path}?{uri.query}"
    browser = {"Accept": "text/html", "User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0"}
    r = await env.client.get(path, headers=browser)
    assert r.status_code == 200, r.text[:300]
    assert "防伪码有效" in r.text and "这是此码的首次查询" in r.text
    token = re.search(r'id="share-place" hidden data-scan="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    assert "scan-place.js" in r.text
    r = await _place(env, token, KUNMING)
    assert r.status_code == 200 and r.json()["city"] == "530100"
    r = await env.client.get(path, headers=browser)
    assert "此码已被查询 2 次" in r.text
    forged = path[:-1] + ("A" if not path.endswith("A") else "B")
    r = await env.client.get(forged, headers=browser)
    assert "此码非本平台发放" in r.text and "share-place" not in r.text
    r = await env.client.get(f"{uri.path[:-1]}9?c={uri.query[2:]}", headers=browser)  # guessed
    assert "此码非本平台发放" in r.text
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Scan)) == 2  # valid ones only


def test_only_the_exact_code_of_an_issued_form_matches() -> None:
    """Fuzzed: any other code, or a serial not written as we issue them, never matches."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from cloud.resolver.serials.codes import code_matches, normal_code
    from cloud.resolver.serials.service import _issued_number

    k = secrets.token_bytes(32)

    @settings(max_examples=300, deadline=None)
    @given(st.integers(min_value=1, max_value=10**18 - 1), st.text(max_size=12))
    def check(n: int, c: str) -> None:
        serial = str(n)
        assert _issued_number(serial) == n
        assert _issued_number("0" + serial) is None
        good = make_code(k, G, "L", serial)
        assert code_matches(k, G, "L", serial, good.lower())
        if normal_code(c) != good:
            assert not code_matches(k, G, "L", serial, c)

    check()
