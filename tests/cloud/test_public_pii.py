"""No personal data on the public surface (issue 15, "Prove it: PII"): every public
route and page is fetched with a world that holds a driver (name, ID number, phone)
and an organisation's contact person, and none of those values appears. The scanner is
shown to find them where they are allowed (a dispatcher's view of the driver).
Helpers: tests/cloud/pii_scan.py (the lead adds the households' values as issue 15's
poverty part lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from cloud.auth.principal import Role
from cloud.catalog.storage import Organisation
from tests.cloud import h5_support, logistics_world
from tests.cloud.h5_support import LOT
from tests.cloud.pii_scan import public_routes, scan, urls_for
from tests.cloud.trace_cases import G
from tests.support.api import HOME, ApiEnv, api_env

#: The seeded personal values: the logistics world's driver and a contact person.
DRIVER = ("岩温", "11010519491231002X", "138 0013 8000")
CONTACT = ("段金凤", "13912345678")
SEEDED = (*DRIVER, *CONTACT)

#: Public routes not fetched, each with the reason.
EXEMPT = {
    ("POST", "/api/v1/auth/token"): "login: answers a token to the holder of a password",
    ("POST", "/api/v1/public/scans/{token}/place"): "takes a city from the scanner's phone; "
    "answers its own city back (tests/cloud/test_serials_scans.py)",
    ("POST", "/api/v1/logistics/osmand"): "a phone tracker's fix upload (its token)",
}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        await h5_support.build(e, await e.headers(Role.PREFECTURE_ADMIN, "533100"))
        e.__dict__["world"] = await logistics_world.build(e, HOME)
        async with e.db.transaction() as s:
            await s.execute(update(Organisation).values(contact_name=CONTACT[0],
                                                        contact_phone=CONTACT[1]))  # fmt: skip
        # the scan fetches every public route from one address: no rate limit here
        e.app.state.settings = e.settings.model_copy(update={"resolver_rate_per_s": 0})
        e.app.state.resolver_limiter = None
        yield e


async def test_no_public_answer_carries_personal_data(env: ApiEnv) -> None:
    fill = {
        "/01/{rest}": [f"/01/{G}/10/{LOT}", f"/01/{G}?linkType=gs1:pip",
                       f"/01/{G}/10/{LOT}?linkType=gs1:certificationInfo",
                       f"/01/{G}/10/{LOT}?linkType=linkset"],
        "/gtin/{rest}": [f"/gtin/{G}/lot/{LOT}"],
        "/api/v1/public/trace/{gtin}/{lot}": [f"/api/v1/public/trace/{G}/{LOT}"],
        "/api/v1/public/trace/{gtin}/{lot}/inspections/{inspection_id}/thumbnail": [
            f"/api/v1/public/trace/{G}/{LOT}/inspections/1/thumbnail"],
        "/screen/{county}": [f"/screen/{HOME}"],
        "/tiles/stub/{z}/{x}/{y}.png": ["/tiles/stub/1/1/0.png"],
    }  # fmt: skip
    extra = [
        f"/h5/trace?code={LOT}",  # the lookup's redirect: the trace page scanned again
        f"/api/v1/public/lookup?code={LOT}",
        f"/api/v1/public/lookup?code=(01){G}(10){LOT}",
        "/api/v1/public/lookup?code=NO-SUCH",
        "/h5/?lang=en",
    ]
    routes = public_routes(env.app)
    assert ("GET", "/h5/") in routes and ("GET", "/api/v1/public/home") in routes
    urls, missing = urls_for(routes, fill, EXEMPT, extra)
    assert not missing, f"public routes the scan cannot fetch (add to fill or EXEMPT): {missing}"
    statuses: dict[str, int] = {}
    found = await scan(env.client, urls, SEEDED, statuses)
    assert not found, "\n".join(map(str, found))
    # the pages that show a lot, its producer and the figures did answer
    for url in (
        f"/01/{G}/10/{LOT}",
        f"/api/v1/public/trace/{G}/{LOT}",
        "/h5/",
        "/api/v1/public/home",
        f"/h5/trace?code={LOT}",
        f"/01/{G}?linkType=gs1:pip",
    ):
        assert statuses[url] == 200, (url, statuses[url])


async def test_the_scanner_finds_what_is_there(env: ApiEnv) -> None:
    w = env.__dict__["world"]
    h = await env.headers(Role.DISPATCHER, HOME)  # personal:read: sees the driver unmasked
    found = await scan(env.client, [], SEEDED)
    assert found == []
    env.client.headers.update(h)
    try:
        found = await scan(env.client, [f"/api/v1/logistics/drivers/{w.driver}"], SEEDED)
    finally:
        for k in h:
            env.client.headers.pop(k, None)
    assert {f.value for f in found} >= {DRIVER[0], DRIVER[2]}, found
