"""The wall screen's API and pages (issue 14): a prefecture admin issues a read-only
display key for a wall; the prefecture's key sees every county, a county's key its
own county only; the pages are public shells with every asset local."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from protocol.ids import COUNTY_CODES
from tests.cloud.screen_cases import open_alarms, other_alarms
from tests.support.api import HOME, OTHER, ApiEnv, api_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def _display_key(env: ApiEnv, county: str) -> dict[str, str]:
    admin = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.post(
        "/api/v1/apikeys",
        json={"name": f"wall {county}", "role": "display", "county": county},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


async def test_a_prefecture_display_key_sees_every_county(env: ApiEnv) -> None:
    await other_alarms(env, 2)
    key = await _display_key(env, "533100")
    r = await env.client.get("/api/v1/screen/data", headers=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counties"] == list(COUNTY_CODES)
    ids = [p["id"] for p in body["panels"]]
    assert len(ids) == len(set(ids)) >= 15
    alarms = next(p for p in body["panels"] if p["id"] == "open_alarms")
    assert alarms["value"] == await open_alarms(env, OTHER) + await open_alarms(env, HOME) == 2
    one = await env.client.get("/api/v1/screen/data", params={"county": OTHER}, headers=key)
    assert one.json()["counties"] == [OTHER]


async def test_a_county_display_key_sees_its_county_only_and_writes_nothing(env: ApiEnv) -> None:
    await other_alarms(env, 2)
    key = await _display_key(env, HOME)
    r = await env.client.get("/api/v1/screen/panels/open_alarms", headers=key)
    assert r.status_code == 200 and r.json()["value"] == 0 and r.json()["counties"] == [HOME]
    r = await env.client.get("/api/v1/screen/data", params={"county": OTHER}, headers=key)
    assert r.status_code == 403, r.text
    r = await env.client.post("/api/v1/orgs", json={}, headers=key)
    assert r.status_code == 403, r.text


async def test_the_screen_needs_a_key_or_a_login(env: ApiEnv) -> None:
    r = await env.client.get("/api/v1/screen/data")
    assert r.status_code == 401
    r = await env.client.get("/api/v1/screen/panels/nope", headers=await _display_key(env, HOME))
    assert r.status_code == 404 and r.json()["field"] == "panel_id"


async def test_the_pages_are_public_shells_with_local_assets(env: ApiEnv) -> None:
    for path in ("/screen", f"/screen/{OTHER}"):
        r = await env.client.get(path)
        assert r.status_code == 200, r.text
        html = r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith("/"), url  # every asset ours
        assert "德宏" in html and 'data-lang="zh"' in html
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert (await env.client.get(asset)).status_code == 200, asset
    html = (await env.client.get(f"/screen/{OTHER}")).text
    assert '<span class="zh">陇川县农村电商大数据</span>' in html
    assert '<span class="en" lang="en">Longchuan rural e-commerce</span>' in html
    assert (await env.client.get("/screen/999999")).status_code == 404


async def test_walls_asking_together_share_one_computation(env: ApiEnv) -> None:
    import asyncio

    key = await _display_key(env, "533100")
    got = await asyncio.gather(
        *(env.client.get("/api/v1/screen/data", headers=key) for _ in range(6))
    )
    assert {r.json()["generated_at_ms"] for r in got} == {got[0].json()["generated_at_ms"]}
    county = await env.client.get("/api/v1/screen/data", params={"county": OTHER}, headers=key)
    assert county.json()["counties"] == [OTHER]  # another scope: its own computation
