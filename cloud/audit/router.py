"""``/api/v1/audit``: the audit log, for admins, scoped to their county."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.audit import service
from cloud.audit.schemas import AuditEntryOut
from cloud.audit.storage import AuditEntry
from cloud.auth.deps import AdminDep
from cloud.db import MAX_INT32
from cloud.deps import SessionDep
from cloud.errors import responses

router = APIRouter(tags=["audit"])


@router.get(
    "/audit",
    response_model=list[AuditEntryOut],
    summary="Audit log, newest first (admins; county admins see their county)",
    responses=responses(401, 403, 422),
)
async def list_audit(
    principal: AdminDep,
    session: SessionDep,
    county: Annotated[str | None, Query(description="GB/T 2260 code")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[
        int | None,
        # bounded: past int4 PostgreSQL refuses it, past 64 bits SQLite (a 500)
        Query(ge=1, le=MAX_INT32, description="Page: entries older than this id"),
    ] = None,
) -> list[AuditEntry]:
    return await service.list_entries(
        session, principal.counties(county), action=action, limit=limit, before_id=before_id
    )
