"""Every logistics route, under ``/api/v1``: the sub-packages' routers joined.

``install(app)`` adds what lives outside ``/api/v1`` (pages, assets, state, metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from cloud.logistics.console.router import install as install_console
from cloud.logistics.console.router import router as console_router
from cloud.logistics.fleet.router import router as fleet_router
from cloud.logistics.positions import router as positions_router
from cloud.logistics.supply.router import router as supply_router
from cloud.logistics.trips import console as trips_console
from cloud.logistics.trips.job import RecomputeJob, RecomputeSettings
from cloud.logistics.trips.router import router as trips_router
from cloud.logistics.waybills import arrival
from cloud.logistics.waybills.router import router as waybills_router

router = APIRouter()
for sub in (
    positions_router.router,
    fleet_router,
    supply_router,
    waybills_router,
    trips_router,
    console_router,
):
    router.include_router(sub)


def install(app: FastAPI) -> None:
    """What the sub-packages add to the app beside their routes."""
    positions_router.install(app)
    install_console(app)
    trips_console.register()  # the console's trips, replay and geofences
    arrival.register()  # geofence enter at a waybill's destination: arrived
    install_recompute(app)


def install_recompute(app: FastAPI) -> None:
    """The trips recompute job (``app.state.trips_recompute``) in the app's lifespan,
    every ``DEHONG_TRIPS_RECOMPUTE_INTERVAL_S`` (0: not run by the API)."""
    cfg = RecomputeSettings()
    job = RecomputeJob(app.state.db, app.state.tsdb, batch=cfg.batch, lease_s=cfg.lease_s)
    app.state.trips_recompute = job
    if cfg.interval_s <= 0:
        return
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            job.start(cfg.interval_s)
            try:
                yield state
            finally:
                await job.stop()

    app.router.lifespan_context = lifespan
