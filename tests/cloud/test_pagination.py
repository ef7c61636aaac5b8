"""One pagination convention on every list endpoint: ``?limit=&cursor=``, the next
page in a ``Link: <...>; rel="next"`` header (docs/api.md). Each list is walked in
pages of 2 and must give every row exactly once, in a stable order, within the
caller's counties."""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cloud.audit.service import record
from cloud.auth.principal import Role
from cloud.auth.service import create_api_key
from cloud.catalog.storage import (
    CommodityProfile,
    Location,
    LocationDevice,
    MobileDevice,
    Organisation,
    Product,
    ProductionBase,
)
from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.db import utcnow
from cloud.devices.commands_storage import Command
from cloud.devices.storage import Device, Gateway
from cloud.ingest.deadletter import DeadLetters
from cloud.inspections.storage import InspectionRecord
from cloud.logistics.trips.storage import Geofence
from cloud.trace.lots.storage import TraceLot
from tests.cloud.catalog_support import POINT, ean13, gln
from tests.cloud.certs_cases import seed_paged
from tests.cloud.commerce_cases import seed_paged as seed_paged_commerce
from tests.cloud.firmware_cases import seed_paged as seed_paged_firmware
from tests.cloud.logistics_cases import seed_paged as seed_paged_logistics
from tests.cloud.mofcom_cases import seed_paged as seed_paged_mofcom
from tests.cloud.serials_cases import seed_paged as seed_paged_serials
from tests.cloud.services_registry_cases import seed_paged as seed_paged_services
from tests.cloud.stations_cases import seed_paged as seed_paged_stations
from tests.cloud.supervision_cases import BOUNDED as SUPERVISION_BOUNDED
from tests.cloud.supervision_cases import LISTS as SUPERVISION_LISTS
from tests.cloud.supervision_cases import seed_paged as seed_paged_supervision
from tests.cloud.test_api_isolation_mobile import uscc
from tests.cloud.training_cases import BOUNDED as TRAINING_BOUNDED
from tests.cloud.training_cases import PAGED_LISTS as TRAINING_LISTS
from tests.cloud.training_cases import PAGED_ROUTE_OF as TRAINING_ROUTE_OF
from tests.cloud.training_cases import seed_paged as seed_paged_training
from tests.support.api import HOME, OTHER, ApiEnv, api_env, unlimited
from tests.support.epcis import gtin

N = 5  # rows of each kind added per county


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        unlimited(e)  # public routes many times from one address
        await _more_rows(e)
        yield e


async def _more_rows(env: ApiEnv) -> None:
    await _rows(env)
    await seed_paged_firmware(env)  # N images and rollouts per county
    await seed_paged_logistics(env)  # through the API: vehicles, drivers (sealed), trips...
    await seed_paged_services(env, N)  # registry, showcase, CMS; public lists (issue 15)


async def _rows(env: ApiEnv) -> None:
    async with env.db.transaction() as s:
        for county in (HOME, OTHER):
            for i in range(N):
                gw = f"gw-{county}-{i}"
                s.add(
                    Gateway(
                        id=gw, county=county, name=gw, site=gw, mqtt_password_hash="$7$101$x$y",
                        created_at=utcnow(), birth_session=-1, death_session=-1,
                        versions={}, config_hash="", inventory=[],
                    )
                )  # fmt: skip
                s.add(
                    Device(
                        id=f"{gw}.room", county=county, kind="cold_room", site=gw, gateway_id=gw,
                        metrics=["temp_c"], first_seen_at=utcnow(), last_seen_at=utcnow(),
                        last_reading_ms=0, readings=0,
                    )
                )  # fmt: skip
                await create_api_key(
                    s, name=f"k{i}", role=Role.OPERATOR, county=county, actor="test"
                )
                await record(s, "test", "test.paged", f"x:{i}", county, {})
                org = Organisation(
                    kind="cooperative", name=gw, uscc=uscc(county, i), county=county,
                    created_at=utcnow(), created_by="test",
                )  # fmt: skip
                s.add(org)
                await s.flush()
                s.add(
                    TraceLot(
                        gtin=gtin(1),
                        lot=f"P-{county}-{i}",
                        county=county,
                        org_id=org.id,
                        created_by="test",
                    )
                )
                s.add(
                    MobileDevice(
                        device_id=f"AA:00:{county[-2:]}:00:00:{i:02d}", kind="ble_tag",
                        org_id=org.id, county=county, registered_by="test",
                    )
                )  # fmt: skip
                await _master_data(s, county, i, org.id)
                await seed_paged(s, county, i, org.id, gtin(1), f"P-{county}-0")
                await seed_paged_serials(s, county, i, gtin(1), f"P-{county}-0")
                await seed_paged_commerce(s, county, i, org.id)
                await seed_paged_supervision(s, county, i, org.id)
                await seed_paged_training(s, county, i)
                await seed_paged_stations(s, county, i, org.id)
                await seed_paged_mofcom(s, i)  # not a county record: 2 a round
                s.add(
                    InspectionRecord(
                        gateway_id=gw, event_id=f"e-{gw}", county=county, site=gw,
                        device=f"{gw}.cam", ts=utcnow(), ts_ms=0, program="coffee", lot="L",
                        usable=True, counts={}, measurements={}, image_sha256="0" * 64,
                        thumbnail_key=None,
                    )
                )  # fmt: skip
                # same issue time for all: the id breaks the tie
                s.add(
                    Command(
                        id=f"c-{county}-{i}", gateway_id="gw-m1", county=HOME, name="ping",
                        args={}, issued_ms=1000, expires_ms=2000, status="sent",
                        created_by="test",
                    )
                )  # fmt: skip
    async with env.db.transaction() as s:
        for county in (HOME, OTHER):
            for i in range(N):  # cold-chain alarms and excursions (issue 13)
                dev = f"gw-{county}-{i}.room"
                s.add(
                    ColdchainAlarm(
                        county=county, device=dev, metric="temp_c", rule="range",
                        source="cloud", severity="warning", status="raised", active=False,
                        count=1, first_ms=i, last_ms=i, message="", raised_at=utcnow(),
                        escalation_step=0, detail={},
                    )
                )  # fmt: skip
                s.add(
                    ColdchainExcursion(
                        device=dev, metric="temp_c", county=county, start_ms=1000 * (i % 2),
                        end_ms=5000, duration_s=4, direction=1, peak_c=9, kind="excursion",
                        door=False, confirmed_ms=0, updated_at=utcnow(),
                    )
                )  # fmt: skip
    for county in (HOME, OTHER):
        for i in range(N):
            gw = f"gw-{county}-{i}"
            await DeadLetters(env.db).put(
                f"dh/v1/{county}/{gw}/data", b"{}", "invalid", "v", "test", county, gw
            )
            await env.add_user(f"user-{county}-{i}", Role.DISPATCHER, county)


async def _master_data(s: Any, county: str, i: int, org_id: int) -> None:
    """A base, a location, a product and a profile of the county; HOME's first location
    (id 1) is measured by N devices."""
    made = {"created_at": utcnow(), "created_by": "test"}
    n = int(county) * 10 + i
    base = ProductionBase(
        org_id=org_id, county=county, name=f"b{i}", kind="farm", geometry=POINT, lon=98.5,
        lat=24.4, **made,
    )  # fmt: skip
    loc = Location(
        kind="warehouse", name=f"w{i}", county=county, org_id=org_id, gln=gln(n),
        gln_extension="", **made,
    )  # fmt: skip
    product = Product(
        gtin="0" + ean13(n), name=f"p{i}", category="coffee", org_id=org_id, county=county, **made
    )
    profile = CommodityProfile(
        county=county, name=f"p{i}", temp_min_c=0, temp_max_c=1, single_excursion_max_s=0,
        cumulative_excursion_max_s=0, categories=["coffee"], **made,
    )  # fmt: skip
    s.add_all([base, loc, product, profile])
    await s.flush()
    s.add(Geofence(county=county, name=f"w{i}", location_id=loc.id, **made,
                   geometry={"type": "circle", "center": [98.5, 24.4], "radius_m": 100}))  # fmt: skip
    if county == HOME and i == 0:
        assert loc.id == 1
        for k in range(N):
            s.add(
                LocationDevice(
                    location_id=loc.id,
                    device_id=f"gw-{HOME}-{k}.room",
                    since=utcnow(),
                    created_by="test",
                )
            )


LINK = re.compile(r'<([^>]+)>; rel="next"')

Items = Callable[[Any], list[Any]]
LISTS: dict[str, tuple[Items, Callable[[Any], Any]]] = {
    "/api/v1/gateways": (lambda b: b, lambda x: x["id"]),
    "/api/v1/devices": (lambda b: b, lambda x: x["id"]),
    "/api/v1/users": (lambda b: b, lambda x: x["username"]),
    "/api/v1/apikeys": (lambda b: b, lambda x: x["id"]),
    "/api/v1/audit": (lambda b: b, lambda x: x["id"]),
    "/api/v1/dead-letters": (lambda b: b, lambda x: x["id"]),
    "/api/v1/inspections": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/gateways/gw-m1/commands": (lambda b: b, lambda x: x["id"]),
    "/api/v1/orgs": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/mobile-devices": (lambda b: b["items"], lambda x: x["device_id"]),
    "/api/v1/bases": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/locations": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/locations/1/devices": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/products": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/profiles": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/trace/lots": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/trace/certificates": (lambda b: b["items"], lambda x: x["id"]),
    f"/api/v1/trace/lots/{gtin(1)}/P-{HOME}-0/tests": (lambda b: b["items"], lambda x: x["id"]),
    f"/api/v1/trace/lots/{gtin(1)}/P-{HOME}-0/serial-ranges": (
        lambda b: b["items"],
        lambda x: x["first"],
    ),
    "/api/v1/trace/scan-flags": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/coldchain/alarms": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/coldchain/excursions": (lambda b: b, lambda x: x["id"]),
    "/api/v1/logistics/vehicles": (lambda b: b, lambda x: x["device_id"]),
    "/api/v1/logistics/drivers": (lambda b: b, lambda x: x["id"]),
    "/api/v1/logistics/cold-stores": (lambda b: b, lambda x: x["location_id"]),
    "/api/v1/logistics/supply": (lambda b: b, lambda x: x["id"]),
    "/api/v1/logistics/trips": (lambda b: b, lambda x: x["id"]),
    "/api/v1/logistics/waybills": (lambda b: b, lambda x: x["id"]),
    "/api/v1/logistics/geofences": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/firmware/images": (lambda b: b, lambda x: x["id"]),
    "/api/v1/firmware/rollouts": (lambda b: b, lambda x: x["id"]),
    "/api/v1/commerce/shops": (lambda b: b, lambda x: x["id"]),
    "/api/v1/commerce/orders": (lambda b: b, lambda x: x["id"]),
    **{path: (lambda b: b, lambda x: x["id"]) for path in SUPERVISION_LISTS},
    **TRAINING_LISTS,  # 电商学院 (issue 15)
    "/api/v1/services/stations": (lambda b: b, lambda x: x["location_id"]),
    "/api/v1/services/poverty/households": (lambda b: b, lambda x: x["id"]),
    "/api/v1/services/statforms/submissions": (lambda b: b, lambda x: x["id"]),
    "/api/v1/services/registrations": (lambda b: b, lambda x: x["id"]),
    "/api/v1/services/platform-keys": (lambda b: b, lambda x: x["key_id"]),
    "/api/v1/services/showcase/items": (lambda b: b, lambda x: x["id"]),
    "/api/v1/services/cms/articles": (lambda b: b, lambda x: x["id"]),
    "/api/v1/public/showcase": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/public/showcase/certified": (lambda b: b["items"], lambda x: x["gtin"]),
    "/api/v1/public/showcase/enterprises": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/public/policies": (lambda b: b["items"], lambda x: x["id"]),
    "/api/v1/services/mofcom/deliveries": (lambda b: b, lambda x: x["id"]),
}
#: The route of each walked path that names a record.
ROUTE_OF = {
    "/api/v1/gateways/gw-m1/commands": "/api/v1/gateways/{gateway_id}/commands",
    "/api/v1/locations/1/devices": "/api/v1/locations/{location_id}/devices",
    f"/api/v1/trace/lots/{gtin(1)}/P-{HOME}-0/tests": "/api/v1/trace/lots/{gtin}/{lot}/tests",
    f"/api/v1/trace/lots/{gtin(1)}/P-{HOME}-0/serial-ranges": (
        "/api/v1/trace/lots/{gtin}/{lot}/serial-ranges"
    ),
    **TRAINING_ROUTE_OF,
}

#: Lists that take no cursor, each with the reason.
BOUNDED = {
    "/api/v1/ingest/alerts": "one row per alert kind (a handful), active ones first",
    "/api/v1/logistics/capacity": "a board: one row per day (at most 31) and temperature class",
    "/api/v1/logistics/supply/{post_id}/matches": "a post's window (at most 31 days) times "
    "the county's vehicles, best fit first",
    "/api/v1/firmware/gateways/{gateway_id}/assignments": "the released, unfinished nodes "
    "of one gateway's running rollouts (a gateway has a handful of nodes)",
    "/api/v1/commerce/shops/{shop_id}/skus": "a shop's SKU mappings (at most a few hundred)",
    "/api/v1/commerce/indicators": "one row per group: at most 4 counties x 60 months x "
    "15 categories x 7 channels, typically a few dozen",
    "/api/v1/commerce/top-products": "the best products, at most ?limit=100",
    "/api/v1/commerce/orders-per-day": "one row per day, at most 400",
    **SUPERVISION_BOUNDED,
    **TRAINING_BOUNDED,
    "/api/v1/services/stations/{location_id}/performance": "one row per month, at most 24",
}


async def _walk(env: ApiEnv, path: str, h: dict[str, str]) -> tuple[list[Any], int]:
    items, key = LISTS[path]
    url: str | None = f"{path}?limit=2"
    seen: list[Any] = []
    pages = 0
    while url is not None:
        r = await env.client.get(url, headers=h)
        assert r.status_code == 200, (url, r.text)
        page = items(r.json())
        assert len(page) <= 2
        seen.extend(key(x) for x in page)
        pages += 1
        m = LINK.search(r.headers.get("link", ""))
        url = m.group(1) if m else None
        assert pages < 100, "no end to the pages"
    return seen, pages


async def _all(env: ApiEnv, path: str, h: dict[str, str]) -> list[Any]:
    items, key = LISTS[path]
    r = await env.client.get(path, params={"limit": 1000}, headers=h)
    assert "link" not in r.headers
    return [key(x) for x in items(r.json())]


def _query_names(dependant: Any) -> set[str]:
    names = {p.name for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def test_every_list_endpoint_is_here() -> None:
    from cloud.app import create_app
    from cloud.settings import Settings
    from tests.cloud.test_api_roles import _routes

    routes = _routes(create_app(Settings(demo=True)))
    paged = {
        path
        for (method, path), r in routes.items()
        if method == "GET" and "cursor" in _query_names(r.dependant)
    }
    # every GET that answers a list takes a cursor
    lists = {
        path
        for (method, path), r in routes.items()
        if method == "GET" and "list" in str(r.response_model)
    } | {"/api/v1/inspections", "/api/v1/orgs", "/api/v1/mobile-devices"}
    lists |= {
        path for (method, path), r in routes.items()
        if method == "GET" and str(r.response_model).endswith("Page'>")
    }  # fmt: skip
    assert not paged & set(BOUNDED)
    lists -= set(BOUNDED)
    assert lists <= paged, f"lists without ?cursor=: {sorted(lists - paged)}"
    assert {ROUTE_OF.get(p, p) for p in LISTS} == paged


async def test_pages_cover_each_row_once(env: ApiEnv) -> None:
    for role, county in ((Role.PREFECTURE_ADMIN, "533100"), (Role.COUNTY_ADMIN, HOME)):
        h = await env.headers(role, county)
        for path in LISTS:
            await _check_walk(env, path, h)


async def _check_walk(env: ApiEnv, path: str, h: dict[str, str]) -> None:
    seen, pages = await _walk(env, path, h)
    everything = await _all(env, path, h)
    assert pages >= 3, f"{path}: {pages} pages"
    assert len(seen) == len(set(seen)), f"{path}: a row on two pages"
    assert seen == everything, f"{path}: pages differ from the whole list"


async def test_county_filter_holds_on_every_page(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.get("/api/v1/gateways", params={"limit": 2}, headers=h)
    nxt = LINK.search(r.headers["link"]).group(1)  # type: ignore[union-attr]
    seen, _ = await _walk(env, "/api/v1/gateways", h)
    assert all(not g.startswith(f"gw-{OTHER}") and g != "gw-l1" for g in seen)
    # a cursor of another principal's list gives nothing more than one's own counties
    prefecture = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get(nxt, headers=prefecture)
    assert r.status_code == 200
    r = await env.client.get(nxt, headers=h)
    assert all(g["county"] == HOME for g in r.json())


BAD_CURSORS = [
    "not-base64!",
    "bm90IGpzb24",
    "WyJhIl0",
    secrets.token_urlsafe(20),
    "W251bGwsbnVsbF0",
]


async def test_bad_cursor_is_422(env: ApiEnv) -> None:
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    for cursor, path in itertools.product(
        BAD_CURSORS, ("/api/v1/gateways", "/api/v1/audit", "/api/v1/apikeys")
    ):
        r = await env.client.get(path, params={"cursor": cursor}, headers=h)
        assert r.status_code == 422, (path, cursor, r.text)
        assert r.json()["field"] == "query.cursor"
