"""Recall routes: ``GET /api/v1/trace/lots/{gtin}/{lot}/forward`` (where the lot went:
the lots made from it, the cases and pallets it was packed into) and ``.../backward``
(what it came from), each reached lot or container with its last custody and its
certificates.

JSON by default; CSV with ``?format=csv`` or ``Accept: text/csv``. ``?depth=`` levels
(default 10, at most 20); ``truncated`` says the limit (or the 10,000-node cap) stopped
the walk. ``trace:read``, county-scoped: the start lot of another county is 404, and
only events of the counties the reader sees are followed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import SessionDep
from cloud.errors import responses
from cloud.trace.lotref import GtinPath, LotPath, lot_or_404
from cloud.trace.recall import service
from cloud.trace.recall.graph import DEFAULT_DEPTH, MAX_DEPTH, Direction

router = APIRouter(tags=["trace: recall"])

TraceRead = Annotated[Principal, require("trace:read")]
Depth = Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Levels to follow")]
Format = Annotated[Literal["json", "csv"] | None, Query(description="json (default) or csv")]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **responses(401, 404, 422),
    200: {"content": {"application/json": {}, "text/csv": {}}},
}


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


async def _answer(
    request: Request,
    session: Any,
    principal: Principal,
    gtin: str,
    lot: str,
    direction: Direction,
    depth: int,
    fmt: str | None,
) -> Response:
    found = await lot_or_404(session, gtin, lot, principal)
    answer = await service.recall(session, found, direction, principal.counties(), depth)
    if _wants_csv(request, fmt):
        name = f"recall-{direction}-{found.gtin}-{found.lot}.csv"
        safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in name)
        return Response(
            service.as_csv(answer),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{safe}"'},
        )
    return JSONResponse(answer)


@router.get(
    "/trace/lots/{gtin}/{lot}/forward",
    summary="Recall forward: every lot and container made from or holding the lot, with "
    "last custody and certificates (JSON or CSV)",
    responses=_RESPONSES,
    response_class=JSONResponse,
)
async def forward(
    gtin: GtinPath,
    lot: LotPath,
    request: Request,
    principal: TraceRead,
    session: SessionDep,
    depth: Depth = DEFAULT_DEPTH,
    format: Format = None,
) -> Response:
    return await _answer(request, session, principal, gtin, lot, "forward", depth, format)


@router.get(
    "/trace/lots/{gtin}/{lot}/backward",
    summary="Recall backward: every lot and container the lot came from, with last custody "
    "and certificates (JSON or CSV)",
    responses=_RESPONSES,
    response_class=JSONResponse,
)
async def backward(
    gtin: GtinPath,
    lot: LotPath,
    request: Request,
    principal: TraceRead,
    session: SessionDep,
    depth: Depth = DEFAULT_DEPTH,
    format: Format = None,
) -> Response:
    return await _answer(request, session, principal, gtin, lot, "backward", depth, format)
