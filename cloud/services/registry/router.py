"""The registry's routes.

Public (no credentials, rate-limited): ``POST /api/v1/public/registrations`` (submit),
``PUT /api/v1/public/registrations/{id}/licence`` and ``GET
/api/v1/public/registrations/{id}`` with the receipt in ``X-Receipt``.

County review (``/api/v1/services/registrations``): ``registrations:read`` lists and
reads (another county's is 404), ``registrations:review`` approves or refuses.
Platforms' keys (``/api/v1/services/platform-keys``): ``registrations:keys``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, SettingsDep
from cloud.errors import ApiError, Error, responses
from cloud.inspections.files import FileStoreError, files_for
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.services.registry import service
from cloud.services.registry.schemas import (
    NewPlatformKey,
    PlatformKeyIn,
    PlatformKeyOut,
    Receipt,
    RefuseIn,
    RegistrationIn,
    RegistrationOut,
    RegistrationStatus,
    Status,
)
from cloud.services.registry.storage import PlatformKey, Registration
from cloud.trace.certificates import scans
from cloud.web.ratelimit import rate_limit

public = APIRouter(
    prefix="/public/registrations",
    tags=["public: registration"],
    responses=responses(404, 409, 422),
)
router = APIRouter(
    prefix="/services", tags=["services: registry"], responses=responses(401, 403, 404, 409, 422)
)

Read = Annotated[Principal, require("registrations:read")]
Review = Annotated[Principal, require("registrations:review")]
Keys = Annotated[Principal, require("registrations:keys")]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
ReceiptH = Annotated[str | None, Header(alias="X-Receipt", max_length=64)]
PUBLIC = [require("public"), Depends(rate_limit)]
_FILE = {
    413: {"model": Error, "description": "The scan is larger than 10 MiB (declared or sent)."},
    415: {"model": Error, "description": "Not a PDF, JPEG or PNG."},
}


@public.post(
    "",
    status_code=201,
    dependencies=PUBLIC,
    summary="Register an enterprise, cooperative, shop, station or platform for review",
)
async def submit(body: RegistrationIn, db: DatabaseDep) -> Receipt:
    async with db.transaction() as s:
        reg, receipt = await service.submit(s, body)
        return Receipt(id=reg.id, status="pending", receipt=receipt)


@public.put(
    "/{reg_id}/licence",
    dependencies=PUBLIC,
    responses=_FILE,  # type: ignore[arg-type]
    summary="Upload the business-licence scan (the file as the body; PDF, JPEG, PNG; "
    "at most 10 MiB, a larger declared Content-Length refused before reading)",
)
async def put_licence(
    reg_id: Ident,
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    x_receipt: ReceiptH = None,
) -> RegistrationStatus:
    async with db.session() as s:
        await service.by_receipt(s, reg_id, x_receipt)
    content_type = scans.media_type(request.headers.get("content-type"))
    data = await scans.read_limited(
        request.stream(), request.headers.get("content-length"), service.LICENCE_MAX_BYTES
    )
    scan = await scans.store_scan(files_for(settings), data, content_type)
    async with db.transaction() as s:
        reg = await service.by_receipt(s, reg_id, x_receipt)
        await service.set_licence(
            s, reg, sha256=scan.sha256, content_type=scan.content_type, size=scan.size
        )
        return service.status_out(reg)


@public.get(
    "/{reg_id}",
    dependencies=PUBLIC,
    summary="The registration's status and, "
    "when refused, the reason (with its receipt in X-Receipt)",
)
async def get_status(
    reg_id: Ident, db: DatabaseDep, x_receipt: ReceiptH = None
) -> RegistrationStatus:
    async with db.session() as s:
        return service.status_out(await service.by_receipt(s, reg_id, x_receipt))


# ------------------------------------------------------------------ county review


@router.get("/registrations", summary="Registrations of the county, by id")
async def list_registrations(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: Annotated[str | None, Query()] = None,
    status: Status | None = None,
) -> list[RegistrationOut]:
    q = service.registrations_query(principal.counties(county), status)
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Registration.id, kind=int),), page)
    link_next(request, response, got.next_cursor)
    return [service.registration_out(r, principal) for r in got.rows]


@router.get("/registrations/{reg_id}", summary="One registration")
async def get_registration(reg_id: Ident, principal: Read, db: DatabaseDep) -> RegistrationOut:
    async with db.session() as s:
        return service.registration_out(await service.get(s, reg_id, principal), principal)


@router.get(
    "/registrations/{reg_id}/licence",
    summary="The licence scan",
    responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}},
)
async def get_licence(
    reg_id: Ident, principal: Read, db: DatabaseDep, settings: SettingsDep
) -> Response:
    async with db.session() as s:
        reg = await service.get(s, reg_id, principal)
    if reg.licence_sha256 is None:
        raise ApiError(404, f"registration {reg_id} has no licence scan yet")
    try:
        data = await scans.load_scan(files_for(settings), reg.licence_sha256)
    except FileStoreError as exc:
        raise ApiError(503, str(exc)) from None
    return Response(
        data, media_type=reg.licence_content_type, headers={"Cache-Control": "private, no-store"}
    )


@router.post(
    "/registrations/{reg_id}/approve",
    summary="Approve: it becomes a catalog organisation of its county",
)
async def approve(reg_id: Ident, principal: Review, db: DatabaseDep) -> RegistrationOut:
    async with db.transaction() as s:
        reg = await service.approve(s, await service.get(s, reg_id, principal), principal)
        return service.registration_out(reg, principal)


@router.post(
    "/registrations/{reg_id}/refuse", summary="Refuse, with the reason the registrant reads"
)
async def refuse(
    reg_id: Ident, body: RefuseIn, principal: Review, db: DatabaseDep
) -> RegistrationOut:
    async with db.transaction() as s:
        reg = await service.get(s, reg_id, principal)
        reg = await service.refuse(s, reg, body.reason, principal)
        return service.registration_out(reg, principal)


# ------------------------------------------------------------------ platform keys


@router.post(
    "/platform-keys",
    status_code=201,
    summary="Issue an approved platform an API key for the given shops (shown once)",
)
async def issue_key(body: PlatformKeyIn, principal: Keys, db: DatabaseDep) -> NewPlatformKey:
    async with db.transaction() as s:
        return await service.issue_key(s, body, principal)


@router.get("/platform-keys", summary="Platforms' keys of the county with their shops")
async def list_keys(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: Annotated[str | None, Query()] = None,
) -> list[PlatformKeyOut]:
    async with db.session() as s:
        got = await fetch_page(
            s, service.keys_query(principal.counties(county)), (Key(PlatformKey.key_id),), page
        )
        out = await service.key_outs(s, got.rows)
    link_next(request, response, got.next_cursor)
    return out


@router.delete("/platform-keys/{key_id}", summary="Revoke a platform's key")
async def revoke_key(
    key_id: Annotated[str, Path(max_length=16)], principal: Keys, db: DatabaseDep
) -> PlatformKeyOut:
    async with db.transaction() as s:
        return await service.revoke_key(s, key_id, principal)
