"""``/api/v1/logistics``: the sub-routers of the logistics packages, included here only."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.logistics.trips.router import router as trips_router

router = APIRouter()
router.include_router(trips_router)
