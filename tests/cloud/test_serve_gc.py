"""``cloud serve`` freezes what the app made at startup (``gc.freeze``), so that a full
collection no longer walks the whole app: before, generation-2 collections stopped the
event loop for 100-190 ms every few seconds under load, which was the API's p99
(`dehong bench api`, docs/benchmarks.md). The figures are the bench's; this checks the
mechanism: after startup the app's objects are frozen, and garbage made afterwards is
still collected."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from pathlib import Path

from cloud.cli import freeze_after_startup
from tests.support.api import api_env
from tests.support.schema import migrate_async
from tests.support.services import serve_env


async def test_startup_objects_are_frozen_and_later_garbage_is_collected(tmp_path: Path) -> None:
    gc.unfreeze()
    try:
        async with api_env("sqlite", tmp_path) as env:
            freeze_after_startup(env.app)
            assert gc.get_freeze_count() == 0
            async with env.app.router.lifespan_context(env.app):
                frozen = gc.get_freeze_count()
                assert frozen > 10_000, frozen  # the app: modules, routes, schemas, pools
                assert (await env.client.get("/healthz")).status_code == 200

                class Cycle:
                    pass

                a, b = Cycle(), Cycle()
                a.other, b.other = b, a  # type: ignore[attr-defined]
                del a, b
                assert gc.collect() >= 2  # made after the freeze: still collected
                assert gc.get_freeze_count() <= frozen  # frozen ones still freed by refcount
    finally:
        gc.unfreeze()


async def test_the_osmand_port_freezes_its_startup_objects_too(tmp_path: Path) -> None:
    """``dehong logistics osmand-serve`` (its own process) freezes after startup as the
    API does: without it ``gc.get_freeze_count()`` stays 0 in its lifespan."""
    from cloud.db.migrate import upgrade
    from cloud.logistics.positions.config import PositionSettings
    from cloud.logistics.positions.serve import standalone_app
    from cloud.settings import Settings

    url = f"sqlite:///{tmp_path / 'rel.db'}"
    upgrade(url)
    settings = Settings(database_url=url, tsdb_path=tmp_path / "ts.db")
    app = standalone_app(settings, PositionSettings())
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 1_000
    finally:
        gc.unfreeze()


async def test_the_routes_lazy_state_is_built_before_the_freeze(tmp_path: Path) -> None:
    """FastAPI builds each included route's state (dependants, field adapters) lazily, on
    the first request that walks it: 82,000 objects for our 349 routes, made after the
    freeze, walked by every full collection after (70 ms each under load, every 5 s, the
    public API's p99 at 100 connections flat out). Startup builds them before freezing,
    so the first request that walks every route (a 404) makes next to nothing."""
    gc.unfreeze()
    try:
        async with api_env("sqlite", tmp_path) as env:
            freeze_after_startup(env.app)
            async with env.app.router.lifespan_context(env.app):
                gc.collect()
                before = len(gc.get_objects())
                assert (await env.client.get("/no/such/path")).status_code == 404
                gc.collect()
                made = len(gc.get_objects()) - before
                assert made < 2_000, f"the first request made {made} tracked objects"
    finally:
        gc.unfreeze()


_FRESH = """
import asyncio, gc, json
from cloud.cli import worker_app
from cloud.db.base import Base

async def main():
    app = worker_app()
    async with app.router.lifespan_context(app):
        print(json.dumps({"configured": all(m.configured for m in Base.registry.mappers),
                          "frozen": gc.get_freeze_count()}))

asyncio.run(main())
"""


async def test_a_fresh_workers_mappers_are_configured_before_the_freeze(tmp_path: Path) -> None:
    """SQLAlchemy configures the ORM's mappers on the first query (29,000 objects made
    after the freeze, walked by every full collection after). In a fresh process, as a
    worker of ``cloud serve --workers N`` starts, they are configured before the freeze
    (in this test process other tests have configured them already)."""
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", _FRESH],
                                  env=serve_env(tmp_path, url),
                                  capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["configured"] is True and got["frozen"] > 10_000, got
