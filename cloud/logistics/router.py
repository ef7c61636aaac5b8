"""The logistics API: only includes the sub-packages' routers (each under
``/api/v1/logistics/...``). The positions routers join here too."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.logistics.fleet.router import router as fleet_router
from cloud.logistics.supply.router import router as supply_router
from cloud.logistics.waybills.router import router as waybills_router

router = APIRouter()
for sub in (fleet_router, supply_router, waybills_router):
    router.include_router(sub)
