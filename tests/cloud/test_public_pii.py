"""No personal data on the public surface (issue 15, "Prove it: PII"): every public
route and page is fetched with a world that holds a driver (name, ID number, phone)
and an organisation's contact person, and none of those values appears. The scanner is
shown to find them where they are allowed (a dispatcher's view of the driver).
Helpers: tests/cloud/pii_scan.py (the lead adds the households' values as issue 15's
poverty part lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from cloud.auth.principal import Role
from cloud.catalog.storage import Organisation
from cloud.services.cms.storage import Article, Attachment
from cloud.services.registry import demo as registry_demo
from cloud.services.registry.storage import Registration
from cloud.services.showcase.storage import ShowcaseItem, ShowcasePhoto
from cloud.services.stations import seed as stations_seed
from cloud.services.training import demo as training_demo
from cloud.services.training.storage import Certificate
from cloud.supervision import seed as supervision_seed
from cloud.supervision.storage import Publication
from tests.cloud import h5_support, logistics_world
from tests.cloud.h5_support import LOT
from tests.cloud.pii_scan import public_routes, scan, urls_for
from tests.cloud.trace_cases import G
from tests.support.api import HOME, ApiEnv, api_env

#: The seeded personal values: the logistics world's driver and a contact person, and
#: issue 15's: the demo households (name, ID number, phone), trainees (name, phone), a
#: registration's contact and a contract's contact person.
DRIVER = ("岩温", "11010519491231002X", "138 0013 8000")
CONTACT = ("段金凤", "13912345678")
HOUSEHOLDS = tuple(
    v
    for name, born, seq, phone, village, *_ in stations_seed.HOUSEHOLDS
    for v in (name, stations_seed.id_number(village[:6], born, seq), phone)
)
TRAINEES = tuple(v for pair in training_demo.TRAINEES for v in pair)
SEEDED = (*DRIVER, *CONTACT, *HOUSEHOLDS, *TRAINEES, "演示联系人", "0692-0000000", "李工",
          "0692-2100000")  # fmt: skip

#: Public routes not fetched, each with the reason.
EXEMPT = {
    ("POST", "/api/v1/auth/token"): "login: answers a token to the holder of a password",
    ("POST", "/api/v1/public/scans/{token}/place"): "takes a city from the scanner's phone; "
    "answers its own city back (tests/cloud/test_serials_scans.py)",
    ("POST", "/api/v1/logistics/osmand"): "a phone tracker's fix upload (its token)",
    ("POST", "/api/v1/public/registrations"): "a new registration: answers its own receipt "
    "(tests/cloud/test_services_registry.py)",
    ("PUT", "/api/v1/public/registrations/{reg_id}/licence"): "the registrant's licence upload "
    "(its receipt)",
    ("POST", "/api/v1/public/training/checkin"): "a trainee's check-in: answers the trainee's "
    "own masked name (tests/cloud/test_services_training.py)",
    ("POST", "/h5/training/checkin"): "the same check-in as a form",
}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        await h5_support.build(e, await e.headers(Role.PREFECTURE_ADMIN, "533100"))
        e.__dict__["world"] = await logistics_world.build(e, HOME)
        async with e.db.transaction() as s:
            await s.execute(update(Organisation).values(contact_name=CONTACT[0],
                                                        contact_phone=CONTACT[1]))  # fmt: skip
        async with e.db.transaction() as s:
            await stations_seed.seed_demo(s)
            await training_demo.seed_demo(s)
            await registry_demo.seed_demo(s)
            await supervision_seed.seed_demo(s)
        # the scan fetches every public route from one address: no rate limit here
        e.app.state.settings = e.settings.model_copy(update={"resolver_rate_per_s": 0})
        e.app.state.resolver_limiter = None
        yield e


async def _first(env: ApiEnv, column: Any) -> str:
    async with env.db.session() as s:
        return str(await s.scalar(select(column).order_by(column)))


async def test_no_public_answer_carries_personal_data(env: ApiEnv) -> None:
    article = await _first(env, Article.id)
    attachment = await _first(env, Attachment.id)
    item = await _first(env, ShowcaseItem.id)
    photo = await _first(env, ShowcasePhoto.id)
    reg = await _first(env, Registration.id)
    publication = await _first(env, Publication.id)
    cert = await _first(env, Certificate.ref)
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
        "/api/v1/public/disclosure/{publication_id}": [f"/api/v1/public/disclosure/{publication}"],
        "/api/v1/public/policies/{article_id}": [f"/api/v1/public/policies/{article}"],
        "/api/v1/public/policies/{article_id}/attachments/{attachment_id}": [
            f"/api/v1/public/policies/{article}/attachments/{attachment}"],
        "/api/v1/public/registrations/{reg_id}": [f"/api/v1/public/registrations/{reg}"],
        "/api/v1/public/showcase/items/{item_id}": [f"/api/v1/public/showcase/items/{item}"],
        "/api/v1/public/showcase/photos/{photo_id}": [f"/api/v1/public/showcase/photos/{photo}"],
        "/api/v1/public/training/certificates/{ref}": [
            f"/api/v1/public/training/certificates/{cert}"],
        "/h5/policies/{article_id}": [f"/h5/policies/{article}"],
        "/h5/showcase/{item_id}": [f"/h5/showcase/{item}"],
        "/h5/training/certificates/{ref}": [f"/h5/training/certificates/{cert}"],
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
        # issue 15's pages and JSON over the seeded stations, households, trainees,
        # showcase, policies and disclosure
        "/h5/stations",
        "/api/v1/public/stations",
        "/api/v1/public/poverty/aggregates",
        "/h5/training",
        f"/api/v1/public/training/certificates/{cert}",
        f"/h5/training/certificates/{cert}",
        f"/h5/showcase/{item}",
        f"/api/v1/public/policies/{article}",
        "/disclosure",
        f"/api/v1/public/disclosure/{publication}",
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
