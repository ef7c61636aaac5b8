"""Every router of the trace package, gathered for :func:`cloud.app.create_app`.

A sub-area adds its router to :data:`ROUTERS` (one line each) so that ``cloud/app.py``
includes the trace package once.
"""

from __future__ import annotations

from fastapi import APIRouter

from cloud.trace.events.router import router as events_router
from cloud.trace.lots.router import router as lots_router

router = APIRouter()

#: Each sub-area's router, included in this order.
ROUTERS: list[APIRouter] = [
    lots_router,
    events_router,
]

for _sub in ROUTERS:
    router.include_router(_sub)
