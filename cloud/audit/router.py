"""``/api/v1/audit``: the audit log, for admins, scoped to their county."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from cloud.audit import service
from cloud.audit.schemas import AuditEntryOut
from cloud.audit.storage import AuditEntry
from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.db import MAX_INT32
from cloud.deps import SessionDep
from cloud.errors import responses
from cloud.pagination import PageDep, link_next

router = APIRouter(tags=["audit"])

AuditRead = Annotated[Principal, require("audit:read")]


@router.get(
    "/audit",
    response_model=list[AuditEntryOut],
    summary="Audit log, newest first (admins, auditors; own county; Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_audit(
    principal: AuditRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: Annotated[str | None, Query(description="GB/T 2260 code")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before_id: Annotated[
        int | None,
        # bounded: past int4 PostgreSQL refuses it, past 64 bits SQLite (a 500)
        Query(
            ge=1,
            le=MAX_INT32,
            description="Deprecated (use cursor): entries older than this id",
        ),
    ] = None,
) -> list[AuditEntry]:
    found = await service.list_entries(
        session, principal.counties(county), page, action=action, before_id=before_id
    )
    link_next(request, response, found.next_cursor)
    return found.rows
