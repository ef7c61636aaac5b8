"""Every logistics route, under ``/api/v1``: the sub-packages' routers joined.

``install(app)`` adds what lives outside ``/api/v1`` (pages, assets, state, metrics)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from cloud.logistics.console.router import install as install_console
from cloud.logistics.console.router import router as console_router
from cloud.logistics.fleet.router import router as fleet_router
from cloud.logistics.positions import router as positions_router
from cloud.logistics.supply.router import router as supply_router
from cloud.logistics.trips.router import router as trips_router
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
