"""``/api/v1/services/mofcom/...``: the export as JSON or XLSX (``mofcom:read``, a
county role: its own county's), the delivery log (``mofcom:read``) and a push on demand
(``mofcom:write``: the prefecture)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from cloud.audit.service import record
from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.services.mofcom import push as pushing
from cloud.services.mofcom.export import (
    MonthError,
    build_export,
    check_month,
    file_names,
    to_json,
    to_xlsx,
)
from cloud.services.mofcom.schemas import DeliveryOut, PushIn
from cloud.services.mofcom.storage import MofcomDelivery
from protocol.ids import PREFECTURE

router = APIRouter(prefix="/services/mofcom", tags=["mofcom"],
                   responses=responses(401, 403, 404, 409, 422))  # fmt: skip
Read = Annotated[Principal, require("mofcom:read")]
Write = Annotated[Principal, require("mofcom:write")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month(month: str, field: str) -> str:
    try:
        return check_month(month)
    except MonthError as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None


@router.get(
    "/export",
    summary="The MOFCOM export of one month (cloud/services/mofcom/FORMAT.md), JSON or XLSX",
    response_model=None,
)
async def export(
    principal: Read,
    db: DatabaseDep,
    month: Annotated[str, Query(max_length=7, description="YYYY-MM (Beijing)")],
    format: Annotated[Literal["json", "xlsx"], Query()] = "json",
) -> Response:
    _month(month, "query.month")
    doc = await build_export(db, month, counties=principal.counties())
    if format == "xlsx":
        name = file_names(month)[1]
        return Response(to_xlsx(doc), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
    return Response(to_json(doc), media_type="application/json")


@router.get("/deliveries", summary="The pushes to MOFCOM, newest first")
async def deliveries(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
) -> list[DeliveryOut]:
    async with db.session() as s:
        got = await fetch_page(s, select(MofcomDelivery),
                               (Key(MofcomDelivery.id, desc=True, kind=int),), page)  # fmt: skip
    link_next(request, response, got.next_cursor)
    return [DeliveryOut.model_validate(r) for r in got.rows]


@router.get("/deliveries/{delivery_id}", summary="One push")
async def delivery(
    delivery_id: Annotated[int, Path(ge=1, le=2**31 - 1)], principal: Read, db: DatabaseDep
) -> DeliveryOut:
    async with db.session() as s:
        row = await s.get(MofcomDelivery, delivery_id)
    if row is None:
        raise ApiError(404, f"delivery {delivery_id} not found")
    return DeliveryOut.model_validate(row)


@router.post(
    "/deliveries",
    status_code=202,
    summary="Push one month's export now (202: the delivery, pending; it retries with "
    "backoff, follow it at /deliveries/{id})",
)
async def push_now(
    body: PushIn, principal: Write, db: DatabaseDep, settings: SettingsDep, request: Request
) -> DeliveryOut:
    month = _month(body.month, "body.month")
    try:
        row = await pushing.start(db, settings, month, trigger="api", actor=principal.actor)
    except pushing.PushNotConfigured as exc:
        raise ApiError(409, str(exc)) from None
    async with db.transaction() as s:
        await record(s, principal.actor, "mofcom.push", f"mofcom:{month}", PREFECTURE,
                     {"delivery_id": row.id})  # fmt: skip
    tasks: set[asyncio.Task[object]] = request.app.state.__dict__.setdefault("mofcom_tasks", set())
    job = pushing.push(db, settings, month, trigger="api", actor=principal.actor,
                       delivery_id=row.id)  # fmt: skip
    task: asyncio.Task[object] = asyncio.create_task(job)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    task.add_done_callback(pushing.log_failure)
    return DeliveryOut.model_validate(row)
