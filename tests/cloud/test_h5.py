"""The public H5 site (cloud/services/h5): the home page and its JSON (headline public
figures, sections 未接入 until mounted, ETag, rate limit) and the trace lookup (every
accepted form, each bad input named, 303 to the resolver)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from cloud.auth.principal import Role
from cloud.services.h5 import service
from cloud.services.h5.lookup import classify, parse_element_string
from tests.cloud import h5_support
from tests.cloud.h5_support import G2, LOT, SHARED
from tests.cloud.trace_cases import G
from tests.support.api import ApiEnv, api_env, unwired


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        await h5_support.build(e, await e.headers(Role.PREFECTURE_ADMIN, "533100"))
        e.app.state.resolver_limiter = None
        with unwired():  # the slots as they read before a provider is plugged in
            yield e


async def test_home_json_shows_public_figures_and_sections(env: ApiEnv) -> None:
    r = await env.client.get("/api/v1/public/home")
    assert r.status_code == 200, r.text
    d = r.json()
    fig = {f["key"]: f for f in d["figures"]}
    assert fig["online_retail_sales"]["value"] == "1000.00"
    assert fig["order_count"]["value"] == 1 and fig["order_count"]["status_zh"] == "已接入"
    for key in ("stations_open", "trainees_year", "households_linked"):
        assert (fig[key]["value"], fig[key]["status_zh"]) == (None, "未接入")
    assert [c["county"] for c in d["counties"]] == ["533103", "533124", "533123", "533122"]
    assert d["counties"][0]["online_retail_sales"] == "1000.00"
    sections = {x["key"]: x["status"] for x in d["sections"]}
    # every section's page is mounted in the app now (a tile lights up by itself)
    assert set(sections.values()) == {"connected"}, sections
    assert r.headers["cache-control"] == "public, max-age=60"
    again = await env.client.get(
        "/api/v1/public/home", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


async def test_a_registered_figure_fills_its_slot(env: ApiEnv) -> None:
    async def stations(_s: object) -> int:
        return 42

    service.register_figure("stations_open", stations)
    try:
        env.app.state.h5_home = None  # a fresh cache
        d = (await env.client.get("/api/v1/public/home")).json()
    finally:
        service.FIGURE_PROVIDERS.clear()
        env.app.state.h5_home = None
    fig = {f["key"]: f for f in d["figures"]}
    assert (fig["stations_open"]["value"], fig["stations_open"]["status"]) == (42, "connected")
    with pytest.raises(ValueError, match="no headline slot"):
        service.register_figure("anything", stations)


async def test_public_routes_are_rate_limited(env: ApiEnv) -> None:
    env.app.state.settings = env.settings.model_copy(
        update={"resolver_rate_burst": 3, "resolver_rate_per_s": 0.01}
    )
    env.app.state.resolver_limiter = None
    got = [(await env.client.get(p)).status_code for p in
           ("/api/v1/public/home", "/h5/", f"/api/v1/public/lookup?code={LOT}", "/h5/trace")]  # fmt: skip
    assert got[:3] == [200, 200, 200] and got[3] == 429
    env.app.state.settings = env.settings
    env.app.state.resolver_limiter = None


async def test_the_home_page_is_chinese_first_and_shows_the_slots(env: ApiEnv) -> None:
    r = await env.client.get("/h5/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN" data-lang="zh">' in html
    assert "网络零售额" in html and "Online retail sales" in html and "1,000.00" in html
    assert html.count("未接入") >= 3  # the three figure slots, no provider plugged in
    for path in ("/h5/stations", "/h5/showcase", "/h5/policies", "/h5/training", "/h5/trace",
                 "/disclosure"):  # fmt: skip
        assert f'href="{path}"' in html
    assert "default-src 'self'" in r.headers["content-security-policy"]


FORMS = [
    (LOT, f"/01/{G}/10/{LOT}"),
    (f"https://other-resolver.example/01/{G}/10/{LOT}", f"/01/{G}/10/{LOT}"),
    (
        f"https://id.example/stem/gtin/{G[1:]}/lot/{LOT}/ser/7?c=AB12",
        f"/01/{G}/10/{LOT}/21/7?c=AB12",
    ),
    (f"/01/{G}/10/{LOT}", f"/01/{G}/10/{LOT}"),
    (f"(01){G}(17)261231(10){LOT}", f"/01/{G}/10/{LOT}"),
    (f"]d201{G}17261231 10{LOT}".replace(" ", ""), f"/01/{G}/10/{LOT}"),
    (f"01{G}10{LOT}\x1d21S9", f"/01/{G}/10/{LOT}/21/S9"),
    (f"https://x.example/01/{G}", f"/01/{G}"),
]


async def test_lookup_reads_every_form(env: ApiEnv) -> None:
    for code, path in FORMS:
        r = await env.client.get("/api/v1/public/lookup", params={"code": code})
        assert r.status_code == 200, (code, r.text)
        assert r.json()["path"] == path and r.json()["url"].endswith(path), code
        r = await env.client.get("/h5/trace", params={"code": code}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == path, code


async def test_a_shared_lot_number_offers_a_choice(env: ApiEnv) -> None:
    d = (await env.client.get("/api/v1/public/lookup", params={"code": SHARED})).json()
    assert d["path"] is None and {c["gtin"] for c in d["choices"]} == {G, G2}
    r = await env.client.get("/h5/trace", params={"code": SHARED})
    assert r.status_code == 200 and f'href="/01/{G2}/10/{SHARED}"' in r.text


BAD = [
    ("", 422, "Enter or scan"),
    ("   ", 422, "Enter or scan"),
    ("lot with spaces", 422, "character set 82"),
    ("A" * 21, 422, "at most 20 characters"),
    (f"https://x.example/01/{G[:-1]}0/10/{LOT}", 422, "check digit"),
    ("https://x.example/products/42", 422, "not a GS1 Digital Link"),
    (f"https://x.example/01/{G}/99/x/10/{LOT}", 422, "a part we do not know"),
    (f"(01){G}(21)S1", 422, "without a lot number"),
    (f"01{G}99X", 422, "we do not read"),
    ("(10)ONLY-LOT", 422, "no GTIN"),
    ("NO-SUCH-LOT", 404, "No lot NO-SUCH-LOT is on record"),
    (f"https://x.example/01/{G}/10/NOPE", 404, f"No lot NOPE of GTIN {G}"),
]


async def test_bad_codes_are_named(env: ApiEnv) -> None:
    for code, status, why in BAD:
        r = await env.client.get("/api/v1/public/lookup", params={"code": code})
        assert r.status_code == status, (code, r.text)
        assert r.json()["field"] == "query.code" and why in r.json()["detail"], r.text
        page = await env.client.get(f"/h5/trace?code={quote(code)}")
        assert page.status_code == status and 'role="alert"' in page.text, code
        assert why in page.text, code


def test_classify_and_unbracketed_fields() -> None:
    assert classify("CF-1") == "lot" and classify("/01/x") == "uri"
    assert classify(f"01{G}10X") == "element_string"
    assert parse_element_string(f"01{G}11260101\x1d10L1") == (G, "L1", None)


async def test_the_home_answer_is_made_again_beside_its_clients() -> None:
    """In its last ``ahead`` seconds and for one ``ttl`` after it, the home answer is
    served at once while the next is computed (one at a time); later, the client waits."""
    now, made, gate = [0.0], [], asyncio.Event()

    async def make() -> dict[str, int]:
        made.append(1)
        if len(made) > 1:
            await gate.wait()
        return {"n": len(made)}

    cache = service.HomeCache(ttl=60.0, clock=lambda: now[0], ahead=10.0)
    first = await cache.get(make)
    now[0] = 49.9
    assert (await cache.get(make)) is first and len(made) == 1
    now[0] = 50.0
    assert (await cache.get(make)) is first
    await asyncio.sleep(0)
    now[0] = 100.0  # past its end, the next one still being computed: nobody waits
    assert (await cache.get(make)) is first and len(made) == 2
    gate.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert (await cache.get(make)) == {"n": 2}
    now[0] = 50.0 + 120.0  # computed from 50.0: served until 110.0, then for 60 s more
    assert (await cache.get(make)) == {"n": 3}
