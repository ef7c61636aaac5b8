"""The OsmAnd server of its own port as an ASGI app that opens its own database and
time-series store (``dehong logistics osmand-serve``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
