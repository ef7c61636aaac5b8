"""``POST /api/v1/trace/ops/{step}``: our own trace operations (harvest, process, pack,
test, store, load, receive, sell), one route per step, each writing its EPCIS 2.0
event through ``store_events`` (:mod:`cloud.trace.operations.service`).

``trace:write``; 201 ``stored``, 200 ``unchanged`` (the same event_id and content
again); 422 naming the field in body terms (``body.lots[0].lot``: this router renders
a list index as ``[0]``), 404 a lot or location one cannot see, 403 a lot not the
principal's to write, 409 an event_id already naming another event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep
from cloud.errors import responses, validation_error_handler
from cloud.trace.lots.router import lot_out
from cloud.trace.operations import service
from cloud.trace.operations.schemas import (
    HarvestOp,
    LoadOp,
    OpBase,
    OpOut,
    PackOp,
    ProcessOp,
    ReceiveOp,
    SellOp,
    StoreOp,
    TestOp,
    body_path,
)

TraceWrite = Annotated[Principal, require("trace:write")]


class OpsRoute(APIRoute):
    """Renders a body's validation error with list indexes in brackets."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [{**e, "loc": (body_path(e.get("loc", ())),)} for e in exc.errors()]
                return await validation_error_handler(request, RequestValidationError(errors))

        return route


router = APIRouter(tags=["trace: operations"], route_class=OpsRoute)


async def run(
    db: DatabaseDep, step: str, body: OpBase, principal: Principal, response: Response
) -> OpOut:
    async with db.transaction() as s:
        done = await service.OPERATIONS[step](s, body, principal)  # type: ignore[arg-type]
        lot = None
        if done.lot is not None:
            lot = lot_out(done.lot, await service.lot_parents(s, done.lot))
    response.status_code = 201 if done.outcome == "stored" else 200
    return OpOut(event_id=done.event_id, outcome=done.outcome, event=done.event, lot=lot)


_ERRORS = responses(401, 403, 404, 409, 422)
_DOC = " 201 stored, 200 unchanged (the same event_id and content again)."


@router.post(
    "/trace/ops/harvest",
    response_model=OpOut,
    status_code=201,
    summary="Harvest: register the lot and its commissioning ObjectEvent (ADD)." + _DOC,
    responses=_ERRORS,
)
async def harvest(
    body: HarvestOp, principal: TraceWrite, db: DatabaseDep, response: Response
) -> OpOut:
    return await run(db, "harvest", body, principal, response)


@router.post(
    "/trace/ops/process",
    response_model=OpOut,
    status_code=201,
    summary="Process: register the output lot (inputs as parents) and a TransformationEvent."
    + _DOC,
    responses=_ERRORS,
)
async def process(
    body: ProcessOp, principal: TraceWrite, db: DatabaseDep, response: Response
) -> OpOut:
    return await run(db, "process", body, principal, response)


@router.post(
    "/trace/ops/pack",
    response_model=OpOut,
    status_code=201,
    summary="Pack: an AggregationEvent ADD of lots and containers into a case or pallet." + _DOC,
    responses=_ERRORS,
)
async def pack(body: PackOp, principal: TraceWrite, db: DatabaseDep, response: Response) -> OpOut:
    return await run(db, "pack", body, principal, response)


@router.post(
    "/trace/ops/test",
    response_model=OpOut,
    status_code=201,
    summary="Test: an inspecting or sampling ObjectEvent carrying dh:testResult." + _DOC,
    responses=_ERRORS,
)
async def test(body: TestOp, principal: TraceWrite, db: DatabaseDep, response: Response) -> OpOut:
    return await run(db, "test", body, principal, response)


test.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@router.post(
    "/trace/ops/store",
    response_model=OpOut,
    status_code=201,
    summary="Store: a storing ObjectEvent at the room or warehouse." + _DOC,
    responses=_ERRORS,
)
async def store(body: StoreOp, principal: TraceWrite, db: DatabaseDep, response: Response) -> OpOut:
    return await run(db, "store", body, principal, response)


@router.post(
    "/trace/ops/load",
    response_model=OpOut,
    status_code=201,
    summary="Load: a loading ObjectEvent (in_transit) at the vehicle compartment; needs a "
    "合格证 where the category requires one." + _DOC,
    responses=_ERRORS,
)
async def load(body: LoadOp, principal: TraceWrite, db: DatabaseDep, response: Response) -> OpOut:
    return await run(db, "load", body, principal, response)


@router.post(
    "/trace/ops/receive",
    response_model=OpOut,
    status_code=201,
    summary="Receive: a receiving ObjectEvent at the receiver's location." + _DOC,
    responses=_ERRORS,
)
async def receive(
    body: ReceiveOp, principal: TraceWrite, db: DatabaseDep, response: Response
) -> OpOut:
    return await run(db, "receive", body, principal, response)


@router.post(
    "/trace/ops/sell",
    response_model=OpOut,
    status_code=201,
    summary="Sell: a retail_selling ObjectEvent (retail_sold); needs a 合格证 where the "
    "category requires one." + _DOC,
    responses=_ERRORS,
)
async def sell(body: SellOp, principal: TraceWrite, db: DatabaseDep, response: Response) -> OpOut:
    return await run(db, "sell", body, principal, response)
