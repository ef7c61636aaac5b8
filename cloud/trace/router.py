"""Every router of the trace package, gathered for :func:`cloud.app.create_app`.

A sub-area adds its router to :data:`ROUTERS` (one line each) so that ``cloud/app.py``
includes the trace package once.
"""

from __future__ import annotations

from fastapi import APIRouter

from cloud.trace.brand.router import router as brand_router
from cloud.trace.certificates.commitment_router import router as commitment_router
from cloud.trace.certificates.router import router as certificates_router
from cloud.trace.custody.router import router as custody_router
from cloud.trace.events.router import router as events_router
from cloud.trace.log.router import router as log_router
from cloud.trace.lots.router import router as lots_router
from cloud.trace.operations.router import router as operations_router
from cloud.trace.recall.router import router as recall_router
from cloud.trace.results.router import router as results_router

router = APIRouter()

#: Each sub-area's router, included in this order.
ROUTERS: list[APIRouter] = [
    lots_router,
    events_router,
    log_router,
    custody_router,
    certificates_router,
    commitment_router,
    results_router,
    brand_router,
    recall_router,
    operations_router,
]

for _sub in ROUTERS:
    router.include_router(_sub)
