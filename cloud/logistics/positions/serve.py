"""The OsmAnd server of its own port: as an ASGI app that opens its own database and
time-series store (``dehong logistics osmand-serve``), or beside the API in its
process, with the API's intake (``dehong cloud serve`` with
``DEHONG_POSITIONS_OSMAND_WITH_API``: :func:`serve_api_with_osmand`)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from cloud.db import Database
from cloud.logistics.positions.coldchain import PositionsColdChain, coldchain_enabled
from cloud.logistics.positions.config import PositionSettings
from cloud.logistics.positions.intake import PositionIntake
from cloud.logistics.positions.osmand import osmand_app
from cloud.settings import Settings
from cloud.timeseries import store_for


def standalone_app(settings: Settings, positions: PositionSettings) -> Starlette:
    db = Database(settings.database_url)
    store = store_for(settings)
    intake = PositionIntake(db, store, positions)
    feed = PositionsColdChain(db, store) if coldchain_enabled() else None
    if feed is not None:  # phones' temp1 into the cold chain (coldchain.py)
        feed.attach(intake)
    app = osmand_app(intake)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open()
        if feed is not None:
            feed.start()
        # as ``cloud serve`` does (cloud.cli.freeze_after_startup): what startup made
        # goes to the collector's permanent generation, so a full collection under load
        # walks only the requests' own objects
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await intake.close()
            if feed is not None:
                await feed.stop()
            await store.close()
            await db.dispose()

    app.router.lifespan_context = lifespan
    return app


async def serve_api_with_osmand(
    api: Any, host: str, port: int, positions: PositionSettings, **options: Any
) -> None:
    """The API (a FastAPI app made by ``cloud.app.create_app``) and the OsmAnd port in
    one process and loop, the port's fixes taken by the API's intake (one group commit,
    one cold-chain feed, one set of counts). When either server stops (a signal, a
    port taken), the other is stopped too, the API's shutdown run."""
    import uvicorn

    servers = [
        uvicorn.Server(uvicorn.Config(api, host=host, port=port, **options)),
        uvicorn.Server(
            uvicorn.Config(
                osmand_app(api.state.position_intake),
                host=positions.osmand_host,
                port=positions.osmand_port,
                lifespan="off",
                **options,
            )
        ),
    ]
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks)
