"""Item 14: /metrics behind a scrape token, served from cached counters (not a scan
of the gateway table per scrape), rendered by prometheus_client with a registry per
app; the ingest worker's listener too."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import event

from cloud.auth.principal import Role
from cloud.ingest.metrics import IngestMetrics
from tests.support.api import HOME, ApiEnv, api_env

TOKEN = secrets.token_urlsafe(48)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        if "metrics_token" in type(e.settings).model_fields:
            e.settings.metrics_token = SecretStr(TOKEN)
        yield e


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_need_the_scrape_token(env: ApiEnv) -> None:
    r = await env.client.get("/metrics")
    assert r.status_code == 401, r.text
    assert "DEHONG_METRICS_TOKEN" in r.json()["detail"]
    r = await env.client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    # a user's token is not a scrape token
    admin = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    assert (await env.client.get("/metrics", headers=admin)).status_code == 401
    r = await env.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    found = _samples(r.text)
    assert found[("dehong_gateways", (("county", HOME), ("status", "online")))] == 1


async def test_scrapes_do_not_scan_the_gateway_table(env: ApiEnv) -> None:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = env.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            r = await env.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    scans = [s for s in statements if "FROM gateways" in s]
    assert len(scans) <= 1, f"{len(scans)} gateway-table queries for 20 scrapes"


def test_metrics_token_is_checked_like_a_secret(tmp_path: Path) -> None:
    from cloud.app import InsecureSettingsError, create_app
    from cloud.settings import Settings

    s = Settings(
        database_url=f"sqlite:///{tmp_path}/x.db",
        jwt_secret=secrets.token_urlsafe(48),
        metrics_token="change-me",
    )
    with pytest.raises(InsecureSettingsError, match="DEHONG_METRICS_TOKEN"):
        create_app(s)


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    from cloud.app import create_app
    from cloud.settings import Settings

    a = create_app(Settings(demo=True))
    b = create_app(Settings(demo=True))
    assert a.state.metrics_registry is not b.state.metrics_registry
    from prometheus_client import REGISTRY

    assert a.state.metrics_registry is not REGISTRY


async def test_ingest_listener_needs_the_token_off_loopback() -> None:
    from cloud.metrics.server import MetricsServer

    m = IngestMetrics()
    m.points_in = 7
    with pytest.raises(ValueError, match="DEHONG_METRICS_TOKEN"):
        MetricsServer(m.registry("w1"), host="0.0.0.0", port=0, token=None)
    server = MetricsServer(m.registry("w1"), host="127.0.0.1", port=0, token=TOKEN)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as c:
            assert (await c.get("/metrics")).status_code == 401
            r = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200
            assert _samples(r.text)[("dehong_ingest_points_in_total", ())] == 7
            r = await c.get(
                "/metrics",
                headers={
                    "Authorization": f"Bearer {TOKEN}",
                    "Accept": "application/openmetrics-text; version=1.0.0",
                },
            )
            assert r.headers["content-type"].startswith("application/openmetrics-text")
            assert r.text.rstrip().endswith("# EOF")
    finally:
        await server.stop()
