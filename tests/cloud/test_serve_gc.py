"""``cloud serve`` freezes what the app made at startup (``gc.freeze``), so that a full
collection no longer walks the whole app: before, generation-2 collections stopped the
event loop for 100-190 ms every few seconds under load, which was the API's p99
(`dehong bench api`, docs/benchmarks.md). The figures are the bench's; this checks the
mechanism: after startup the app's objects are frozen, and garbage made afterwards is
still collected."""

from __future__ import annotations

import gc
from pathlib import Path

from cloud.cli import freeze_after_startup
from tests.support.api import api_env


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
