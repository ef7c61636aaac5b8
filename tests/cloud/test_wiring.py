"""Issue 15's figures wired across one floor (cloud/wiring.py): once the public-service
packages hold data, the MOFCOM export, the H5 home page and supervision's evaluations
read it, never 未接入, and the numbers are the packages' own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud.services.mofcom.export import build_export
from cloud.services.registry.demo import seed_demo as seed_registry
from cloud.services.stations.seed import seed_demo as seed_stations
from cloud.services.training.demo import seed_demo as seed_training
from cloud.supervision.figures import period_figures
from tests.support.api import ApiEnv, api_env, unlimited

NOW = datetime(2026, 11, 18, 4, 0, tzinfo=UTC)  # noon in Beijing
MONTH = "2026-11"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        unlimited(e)
        async with e.db.transaction() as s:
            await seed_stations(s)
            await seed_training(s, now=NOW)
            await seed_registry(s)
        yield e


async def test_the_export_reads_every_services_section(env: ApiEnv) -> None:
    doc = await build_export(env.db, MONTH, now=NOW + timedelta(days=20))
    prefecture = next(c for c in doc["counties"] if c["county"] == "533100")["sections"]
    mangshi = next(c for c in doc["counties"] if c["county"] == "533103")["sections"]
    for key in ("stations", "training", "poverty", "registry"):
        assert prefecture[key]["status"] == "connected", (key, prefecture[key])
    stations = prefecture["stations"]["figures"]
    # the 19 demo stations of the four counties, by tier
    tiers = (stations["county_centres"], stations["township_stations"], stations["village_points"])
    assert sum(tiers) == 19 and min(tiers) > 0, stations
    assert stations["stations_open"] > 0
    # Mangshi's demo sessions of November (3 days before NOW, 2 and 9 days after), the
    # first with its four check-ins and three certificates
    training = mangshi["training"]["figures"]
    assert training["sessions"] == 3 and training["trainees"] == 4, training
    assert training["certificates"] == 3
    # four demo households: under the smallest cell shown, so suppressed, never a number
    assert mangshi["poverty"]["figures"]["households_linked"] is None
    assert prefecture["poverty"]["figures"]["households_linked"] is None


async def test_the_home_page_and_an_evaluation_read_them_too(env: ApiEnv) -> None:
    d = (await env.client.get("/api/v1/public/home")).json()
    slots = {f["key"]: f for f in d["figures"]}
    assert slots["stations_open"]["status"] == "connected"
    assert slots["stations_open"]["value"] > 0
    assert (await env.client.get("/h5/")).status_code == 200  # the slots render
    async with env.db.session() as s:
        figures = {f.key: f for f in await period_figures(s, "533103", MONTH)}
    assert figures["sessions"].status == "ok" and figures["sessions"].value == "3"
    assert figures["trainees"].value == "4"
    assert figures["stations_open"].status == "ok"


async def test_the_registry_demo_seeds_beside_the_order_simulation(tmp_path: Path) -> None:
    """The demo holds both: the order simulation's organisations and the registry
    demo's must not share a unified social credit code (both were numbered
    91<county>MA7<n>, and the registry's seed run after ``simulate`` failed with 409
    body.uscc)."""
    from sqlalchemy import func, select

    from cloud.catalog.storage import Organisation
    from cloud.commerce.sim import ensure_world

    async with api_env("sqlite", tmp_path) as e:
        await ensure_world(e.db)
        async with e.db.transaction() as s:
            await seed_registry(s)
        async with e.db.session() as s:
            usccs = list(await s.scalars(select(Organisation.uscc)))
            approved = await s.scalar(select(func.count()).select_from(Organisation))
        assert len(usccs) == len(set(usccs)) == approved
