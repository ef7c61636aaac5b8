"""Records and cases of the public-service stations, poverty-alleviation and statistics
forms APIs (cloud/services/stations, poverty, statforms): ``STATIONS_CASES``
(tests/cloud/test_api_isolation.py), ``STATIONS_REQUESTS`` (tests/cloud/
test_api_roles.py) and ``seed_paged`` (tests/cloud/test_pagination.py)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.catalog.storage import Location
from cloud.commerce.drafts import Catalogue, LineDraft, OrderDraft, write_orders
from cloud.commerce.storage import Shop
from cloud.db import utcnow
from cloud.pii import keyring_for, seal
from cloud.services.poverty.idnumber import check_char
from cloud.services.poverty.service import context
from cloud.services.poverty.storage import Household, HouseholdLink, LinkIncome
from cloud.services.statforms.storage import FormSubmission
from cloud.services.stations.storage import StationInfo, StationShop
from tests.cloud.catalog_support import gln
from tests.support.api import HOME, OTHER, PII_KEYS, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
V = "/api/v1/services"
S = f"{V}/stations"
P = f"{V}/poverty"
F = f"{V}/statforms"
#: a village and its township in each county (the committed division table)
PLACES = {
    HOME: ("533103102000", "533103102201"),  # 遮放镇 弄坎村
    OTHER: ("533124103000", "533124103202"),  # 景罕镇 曼胆村
}
TABLES = (StationInfo, StationShop, Household, HouseholdLink, LinkIncome, FormSubmission)
_n = iter(range(10**6))


def id_number(county: str, seq: int) -> str:
    body = f"{county}19800101{seq % 1000:03d}"
    return body + check_char(body)


async def new_location(env: ApiEnv, county: str, tier: str = "village",
                       org_id: int | None = None) -> int:  # fmt: skip
    async with env.db.transaction() as s:
        loc = Location(kind="station", name=f"服务点 {county}-{secrets.token_hex(2)}",
                       county=county, tier=tier, org_id=org_id,
                       gln=gln(900_000 + next(_n) + secrets.randbelow(10**6) * 10),
                       gln_extension="", created_at=utcnow(), created_by="test")  # fmt: skip
        s.add(loc)
        await s.flush()
        return loc.id


async def new_station(env: ApiEnv, county: str, org_id: int | None = None,
                      status: str = "open") -> int:  # fmt: skip
    lid = await new_location(env, county, "village", org_id)
    town, village = PLACES[county]
    async with env.db.transaction() as s:
        s.add(StationInfo(location_id=lid, county=county, tier="village", org_id=org_id,
                          lon=98.28, lat=24.25, township_code=town, village_code=village,
                          operator_name="服务点", hours="09:00-18:00", services=["parcels"],
                          status=status, created_by="test"))  # fmt: skip
    return lid


async def new_household(env: ApiEnv, county: str, station: int | None = None,
                        retention: date = date(2031, 1, 1)) -> tuple[int, int | None]:  # fmt: skip
    ring = keyring_for(PII_KEYS, None, demo=False)
    town, village = PLACES[county]
    ref = secrets.token_hex(8)
    async with env.db.transaction() as s:
        hh = Household(ref=ref, county=county, township_code=town, village_code=village,
                       name_sealed=seal(ring, "张示例", context(ref, "name")),
                       id_number_sealed=seal(ring, id_number(county, next(_n)),
                                             context(ref, "id_number")),
                       legal_basis="consent", consent_at=date(2026, 1, 1), purpose="test",
                       retention_until=retention, created_by="test")  # fmt: skip
        s.add(hh)
        await s.flush()
        link_id = None
        if station is not None:
            link = HouseholdLink(household_id=hh.id, county=county, link_type="employment",
                                 partner_kind="station", station_id=station, since="2026-01",
                                 created_by="test")  # fmt: skip
            s.add(link)
            await s.flush()
            link_id = link.id
        return hh.id, link_id


async def world(env: ApiEnv, county: str) -> dict[str, int]:
    """A station of ``county`` (HOME's: operated by the roles table's organisation), a
    shop attributed to it with an order, a linked household, a filed form."""
    cache: dict[str, Any] = env.__dict__.setdefault("_stations_worlds", {})
    if county in cache:
        return cache[county]  # type: ignore[no-any-return]
    from tests.cloud.test_api_roles import _home_org
    from tests.support.trace_records import add_org

    org = await _home_org(env) if county == HOME else (await add_org(env, county, 900)).id
    station = await new_station(env, county, org)
    hh, link = await new_household(env, county, station)
    async with env.db.transaction() as s:
        shop = Shop(channel="station", platform_shop_id=f"st-{county}-{station}", name="站",
                    org_id=org, county=county, created_by="test")  # fmt: skip
        s.add(shop)
        await s.flush()
        s.add(StationShop(station_id=station, shop_id=shop.id, created_by="test"))
        draft = OrderDraft(f"S-{county}-{station}", datetime(2026, 3, 15, 4, tzinfo=UTC), "paid",
                           None, [LineDraft(quantity=1, amount_fen=5000, sku="X")])  # fmt: skip
        await write_orders(s, [(shop, draft)], Catalogue(), source="api", actor="test")
        form = FormSubmission(station_id=station, county=county, kind="station_monthly",
                              month="2026-03", values={"offline_sales": "10.00"}, version=1,
                              late=False, submitted_by="test")  # fmt: skip
        s.add(form)
        await s.flush()
    cache[county] = {"station": station, "household": hh, "link": link or 0, "shop": shop.id,
                     "org": org, "form": form.id}  # fmt: skip
    return cache[county]  # type: ignore[no-any-return]


async def counts(env: ApiEnv) -> list[int]:
    async with env.db.session() as s:
        return [int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES]


def station_body(lid: int, county: str = HOME) -> dict[str, Any]:
    town, village = PLACES[county]
    return {"location_id": lid, "lon": 98.28, "lat": 24.25, "township_code": town,
            "village_code": village, "operator_name": "运营", "hours": "09:00-18:00",
            "services": ["parcels", "sell_on_behalf"]}  # fmt: skip


def household_body(county: str = HOME, **extra: Any) -> dict[str, Any]:
    town, village = PLACES[county]
    return {"name": "李示例", "id_number": id_number(county, secrets.randbelow(1000)),
            "phone": "13800000009", "bank_account": "6222020200112233445",
            "township_code": town, "village_code": village,
            "consent": {"legal_basis": "consent", "consent_at": "2026-01-02",
                        "purpose": "帮扶统计", "retention_until": "2030-12-31"}, **extra}  # fmt: skip


FORM = {"offline_sales": "1200.50", "offline_orders": 31, "parcels_in": 80, "parcels_out": 45,
        "households_served": 12}  # fmt: skip


# ------------------------------------------------------------------- county isolation


def _nf(r: httpx.Response) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)


def _unchanged(f: Callable[[ApiEnv, Headers, dict[str, int]], Awaitable[httpx.Response]]) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        await world(env, HOME)
        theirs = await world(env, OTHER)
        before = await counts(env)
        _nf(await f(env, h, theirs))
        assert await counts(env) == before

    return case


def _list(path: str, key: str, own: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        _mine, theirs = await world(env, HOME), await world(env, OTHER)
        r = await env.client.get(path, headers=h)
        assert r.status_code == 200, r.text
        ids = {x[key] for x in r.json()}
        assert theirs[own] not in ids and {x["county"] for x in r.json()} <= {HOME}, r.text
        r = await env.client.get(path, params={"county": OTHER}, headers=h)
        assert r.status_code == 403

    return case


async def _create_other(env: ApiEnv, h: Headers) -> None:
    lid = await new_location(env, OTHER)
    before = await counts(env)
    r = await env.client.post(S, json=station_body(lid, OTHER), headers=h)
    _nf(r)
    assert r.json()["field"] == "body.location_id" and await counts(env) == before


async def _household_other(env: ApiEnv, h: Headers) -> None:
    before = await counts(env)
    r = await env.client.post(f"{P}/households", json=household_body(OTHER), headers=h)
    assert r.status_code == 403, r.text
    assert await counts(env) == before


async def _submit_other(env: ApiEnv, h: Headers) -> None:
    theirs = await world(env, OTHER)
    before = await counts(env)
    r = await env.client.post(f"{F}/submissions", headers=h, json={
        "station_id": theirs["station"], "kind": "station_monthly", "month": "2026-04",
        "values": FORM})  # fmt: skip
    _nf(r)
    assert r.json()["field"] == "body.station_id" and await counts(env) == before


async def _board(env: ApiEnv, h: Headers) -> None:
    theirs = await world(env, OTHER)
    r = await env.client.get(f"{F}/board", params={"month": "2026-03"}, headers=h)
    assert r.status_code == 200, r.text
    assert theirs["station"] not in {x["station_id"] for x in r.json()["rows"]}
    r = await env.client.get(f"{F}/board", params={"month": "2026-03", "county": OTHER},
                             headers=h)  # fmt: skip
    assert r.status_code == 403


async def _public(env: ApiEnv, h: Headers) -> None:
    await world(env, OTHER)
    r = await env.client.get("/api/v1/public/stations", headers=h)
    assert r.status_code == 200 and "张示例" not in r.text


async def _public_agg(env: ApiEnv, h: Headers) -> None:
    await world(env, OTHER)
    r = await env.client.get("/api/v1/public/poverty/aggregates", headers=h,
                             params={"level": "village", "month": "2026-03"})  # fmt: skip
    assert r.status_code == 200 and "张示例" not in r.text


async def _kinds(env: ApiEnv, h: Headers) -> None:
    r = await env.client.get(f"{F}/kinds", headers=h)
    assert r.status_code == 200


async def _sweep(env: ApiEnv, h: Headers) -> None:
    theirs = await world(env, OTHER)
    expired, _ = await new_household(env, OTHER, retention=date(2026, 2, 1))
    r = await env.client.post(f"{P}/retention/sweep", headers=h)
    assert r.status_code == 200, r.text
    assert expired not in r.json()["erased"] and theirs["household"] not in r.json()["erased"]
    async with env.db.session() as s:
        assert (await s.get_one(Household, expired)).erased_at is None


async def _export_other(env: ApiEnv, h: Headers) -> None:
    """Only the officer exports: other roles are 403 (the role table); HOME's officer
    is 404 on OTHER's household."""
    from cloud.auth.principal import Role

    theirs = await world(env, OTHER)
    for headers in (h, await env.headers(Role.POVERTY_OFFICER, HOME)):
        r = await env.client.get(f"{P}/households/{theirs['household']}/export", headers=headers)
        assert r.status_code in (403, 404), r.text
        assert r.status_code == 404 or "poverty:personal" in r.text
    assert r.status_code == 404


STATIONS_CASES: dict[tuple[str, str], Case] = {
    ("GET", S): _list(S, "location_id", "station"),
    ("POST", S): _create_other,
    ("GET", f"{S}/{{location_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{S}/{t['station']}", headers=h)
    ),
    ("PATCH", f"{S}/{{location_id}}"): _unchanged(
        lambda e, h, t: e.client.patch(f"{S}/{t['station']}", json={"hours": "x"}, headers=h)
    ),
    ("POST", f"{S}/{{location_id}}/status"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{S}/{t['station']}/status", headers=h, json={"status": "suspended", "reason": "x"}
        )
    ),
    ("PUT", f"{S}/{{location_id}}/shops"): _unchanged(
        lambda e, h, t: e.client.put(f"{S}/{t['station']}/shops", json={"shop_ids": []}, headers=h)
    ),
    ("GET", f"{S}/{{location_id}}/performance"): _unchanged(
        lambda e, h, t: e.client.get(
            f"{S}/{t['station']}/performance",
            headers=h,
            params={"start_month": "2026-03", "end_month": "2026-03"},
        )
    ),
    ("GET", "/api/v1/public/stations"): _public,
    ("GET", f"{P}/households"): _list(f"{P}/households", "id", "household"),
    ("POST", f"{P}/households"): _household_other,
    ("GET", f"{P}/households/{{household_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{P}/households/{t['household']}", headers=h)
    ),
    ("POST", f"{P}/households/{{household_id}}/links"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{P}/households/{t['household']}/links",
            headers=h,
            json={
                "link_type": "training",
                "partner_kind": "station",
                "station_id": t["station"],
                "since": "2026-02",
            },
        )
    ),
    ("PUT", f"{P}/links/{{link_id}}/income/{{month}}"): _unchanged(
        lambda e, h, t: e.client.put(
            f"{P}/links/{t['link']}/income/2026-03", json={"amount": "10.00"}, headers=h
        )
    ),
    ("GET", f"{P}/households/{{household_id}}/export"): _export_other,
    ("POST", f"{P}/households/{{household_id}}/erase"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{P}/households/{t['household']}/erase",
            headers=h,
            json={"reason": "request", "note": "x"},
        )
    ),
    ("POST", f"{P}/retention/sweep"): _sweep,
    ("GET", "/api/v1/public/poverty/aggregates"): _public_agg,
    ("GET", f"{F}/kinds"): _kinds,
    ("POST", f"{F}/submissions"): _submit_other,
    ("GET", f"{F}/submissions"): _list(f"{F}/submissions", "id", "form"),
    ("GET", f"{F}/submissions/{{submission_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{F}/submissions/{t['form']}", headers=h)
    ),
    ("GET", f"{F}/board"): _board,
}


# ---------------------------------------------------------------- roles x endpoints


def _call(f: Callable[[ApiEnv, Headers, dict[str, int]], Awaitable[httpx.Response]]) -> Call:
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        return await f(env, h, await world(env, HOME))

    return call


async def _post_station(env: ApiEnv, h: Headers) -> httpx.Response:
    return await env.client.post(S, json=station_body(await new_location(env, HOME)), headers=h)


async def _erase(env: ApiEnv, h: Headers) -> httpx.Response:
    hh, _ = await new_household(env, HOME)
    return await env.client.post(f"{P}/households/{hh}/erase", headers=h,
                                 json={"reason": "request", "note": "申请编号 1"})  # fmt: skip


STATIONS_REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", S): _call(lambda e, h, w: e.client.get(S, headers=h)),
    ("POST", S): _post_station,
    ("GET", f"{S}/{{location_id}}"): _call(
        lambda e, h, w: e.client.get(f"{S}/{w['station']}", headers=h)
    ),
    ("PATCH", f"{S}/{{location_id}}"): _call(
        lambda e, h, w: e.client.patch(
            f"{S}/{w['station']}", json={"hours": "09:00-18:00"}, headers=h
        )
    ),
    ("POST", f"{S}/{{location_id}}/status"): _call(
        lambda e, h, w: e.client.post(
            f"{S}/{w['station']}/status", json={"status": "open"}, headers=h
        )
    ),
    ("PUT", f"{S}/{{location_id}}/shops"): _call(
        lambda e, h, w: e.client.put(
            f"{S}/{w['station']}/shops", json={"shop_ids": [w["shop"]]}, headers=h
        )
    ),
    ("GET", f"{S}/{{location_id}}/performance"): _call(
        lambda e, h, w: e.client.get(
            f"{S}/{w['station']}/performance",
            headers=h,
            params={"start_month": "2026-03", "end_month": "2026-03"},
        )
    ),
    ("GET", "/api/v1/public/stations"): lambda e, h: e.client.get("/api/v1/public/stations"),
    ("GET", f"{P}/households"): _call(lambda e, h, w: e.client.get(f"{P}/households", headers=h)),
    ("POST", f"{P}/households"): _call(
        lambda e, h, w: e.client.post(f"{P}/households", json=household_body(), headers=h)
    ),
    ("GET", f"{P}/households/{{household_id}}"): _call(
        lambda e, h, w: e.client.get(f"{P}/households/{w['household']}", headers=h)
    ),
    ("POST", f"{P}/households/{{household_id}}/links"): _call(
        lambda e, h, w: e.client.post(
            f"{P}/households/{w['household']}/links",
            headers=h,
            json={
                "link_type": "training",
                "partner_kind": "station",
                "station_id": w["station"],
                "since": "2026-02",
            },
        )
    ),
    ("PUT", f"{P}/links/{{link_id}}/income/{{month}}"): _call(
        lambda e, h, w: e.client.put(
            f"{P}/links/{w['link']}/income/2026-03", json={"amount": "10.00"}, headers=h
        )
    ),
    ("GET", f"{P}/households/{{household_id}}/export"): _call(
        lambda e, h, w: e.client.get(f"{P}/households/{w['household']}/export", headers=h)
    ),
    ("POST", f"{P}/households/{{household_id}}/erase"): _erase,
    ("POST", f"{P}/retention/sweep"): _call(
        lambda e, h, w: e.client.post(f"{P}/retention/sweep", headers=h)
    ),
    ("GET", "/api/v1/public/poverty/aggregates"): lambda e, h: e.client.get(
        "/api/v1/public/poverty/aggregates"
    ),
    ("GET", f"{F}/kinds"): _call(lambda e, h, w: e.client.get(f"{F}/kinds", headers=h)),
    ("POST", f"{F}/submissions"): _call(
        lambda e, h, w: e.client.post(
            f"{F}/submissions",
            headers=h,
            json={
                "station_id": w["station"],
                "kind": "station_monthly",
                "month": "2026-04",
                "values": FORM,
            },
        )
    ),
    ("GET", f"{F}/submissions"): _call(lambda e, h, w: e.client.get(f"{F}/submissions", headers=h)),
    ("GET", f"{F}/submissions/{{submission_id}}"): _call(
        lambda e, h, w: e.client.get(f"{F}/submissions/{w['form']}", headers=h)
    ),
    ("GET", f"{F}/board"): _call(
        lambda e, h, w: e.client.get(f"{F}/board", params={"month": "2026-03"}, headers=h)
    ),
    ("GET", "/h5/stations"): lambda e, h: e.client.get("/h5/stations"),
}


# ------------------------------------------------------------------------ pagination


async def seed_paged(s: Any, county: str, i: int, org_id: int) -> None:
    """A station with a household and a filed form (one each per call)."""
    town, village = PLACES[county]
    loc = Location(kind="station", name=f"点 {county}-{i}", county=county, tier="village",
                   org_id=org_id, gln=gln(800_000 + int(county[-3:]) * 100 + i),
                   gln_extension="", created_at=utcnow(), created_by="test")  # fmt: skip
    s.add(loc)
    await s.flush()
    s.add(StationInfo(location_id=loc.id, county=county, tier="village", org_id=org_id,
                      lon=98.2, lat=24.2, township_code=town, village_code=village,
                      operator_name="x", hours="x", services=["parcels"], status="open",
                      created_by="test"))  # fmt: skip
    s.add(Household(ref=secrets.token_hex(8), county=county, township_code=town,
                    village_code=village, legal_basis="consent", consent_at=date(2026, 1, 1),
                    purpose="t", retention_until=date(2030, 1, 1), created_by="test"))  # fmt: skip
    await s.flush()
    s.add(FormSubmission(station_id=loc.id, county=county, kind="station_monthly",
                         month="2026-01", values={}, version=1, late=False,
                         submitted_by="test"))  # fmt: skip
