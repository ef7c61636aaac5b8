"""Every logistics route, under ``/api/v1``: the sub-packages' routers joined.

``install(app)`` adds what lives outside ``/api/v1`` (pages, assets, state, metrics)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from cloud.logistics.console.router import install as install_console
from cloud.logistics.console.router import router as console_router
from cloud.logistics.positions import router as positions_router

router = APIRouter()
router.include_router(positions_router.router)
router.include_router(console_router)


def install(app: FastAPI) -> None:
    """What the sub-packages add to the app beside their routes."""
    positions_router.install(app)
    install_console(app)
