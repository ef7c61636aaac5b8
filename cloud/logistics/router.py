"""Every logistics route, under ``/api/v1/logistics``: the sub-packages' routers joined."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from cloud.logistics.positions import router as positions_router

router = APIRouter()
router.include_router(positions_router.router)


def install(app: FastAPI) -> None:
    """What the sub-packages add to the app beside their routes (state, metrics)."""
    positions_router.install(app)
