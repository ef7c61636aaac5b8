"""``/api/v1/trace/certificates``: 三品一标 certificates, their scans, and the
certificates covering a lot (with their validity at each of its events).

Permissions (docs/roles.md): ``trace:read`` reads the certificates of one's county
(another county's is 404), scans included (never public); ``trace:write`` registers a
certificate and uploads its scan: admins of the holder's county, organisation roles
only for certificates their own organisation holds. Writes are audited.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from cloud.audit.service import record
from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.gs1 import check_gtin
from cloud.catalog.uscc import check_uscc
from cloud.db import MAX_INT32, utcnow
from cloud.deps import DatabaseDep, SessionDep, SettingsDep
from cloud.errors import ApiError, Error, responses
from cloud.inspections.files import FileStoreError, files_for
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.trace.brand import service as brand
from cloud.trace.certificates import scans, service
from cloud.trace.certificates.kinds import CERTIFICATE_TYPES, TYPE_NAMES
from cloud.trace.certificates.schemas import (
    CertificateCreate,
    CertificateOut,
    CertificatePage,
    EventCoverage,
    Instant,
    LotCertificates,
    ScanOut,
)
from cloud.trace.certificates.storage import TraceCertificate
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.lotref import GtinPath, LotPath, lot_or_404

router = APIRouter(tags=["trace: certificates"])

TraceRead = Annotated[Principal, require("trace:read")]
TraceWrite = Annotated[Principal, require("trace:write")]
CertificateId = Annotated[int, Path(ge=1, le=MAX_INT32)]

#: Keyset order (cloud/pagination.py): registration order.
CERT_KEYS = (Key(TraceCertificate.id, kind=int),)
#: a lot's events shown with the certificates valid at each, newest first
EVENTS_SHOWN = 500

_SCAN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **responses(401, 403, 404, 422),
    413: {
        "model": Error,
        "description": "The scan is larger than DEHONG_CERTIFICATE_SCAN_MAX_BYTES",
    },
    415: {"model": Error, "description": "Not a PDF, JPEG or PNG (Content-Type)"},
}


def certificate_out(cov: service.Coverage, at: datetime) -> CertificateOut:
    c = cov.certificate
    scan = None
    if c.scan_sha256 is not None:
        assert c.scan_content_type is not None and c.scan_size is not None
        assert c.scan_uploaded_at is not None
        scan = ScanOut(
            sha256=c.scan_sha256,
            content_type=c.scan_content_type,
            size=c.scan_size,
            uploaded_at=c.scan_uploaded_at,
            url=f"/api/v1/trace/certificates/{c.id}/scan",
        )
    return CertificateOut(
        id=c.id,
        type=c.type,
        type_zh=TYPE_NAMES[c.type][0],
        number=c.number,
        holder_uscc=c.holder_uscc,
        holder_org_id=c.holder_org_id,
        holder_name=c.holder_name,
        county=c.county,
        products=list(cov.products),
        base_ids=list(cov.base_ids),
        valid_from=c.valid_from,
        valid_to=c.valid_to,
        issuer=c.issuer,
        scan=scan,
        created_at=c.created_at,
        valid=cov.valid_at(at),
    )


@router.post(
    "/trace/certificates",
    response_model=CertificateOut,
    status_code=201,
    summary="Register a 三品一标 certificate (admins of the holder's county; organisation "
    "roles for certificates their organisation holds)",
    responses=responses(401, 403, 409, 422),
)
async def create_certificate(
    body: CertificateCreate, principal: TraceWrite, db: DatabaseDep
) -> CertificateOut:
    async with db.transaction() as s:
        cov = await service.create_certificate(s, body, principal)
        await brand.reevaluate_matching(s, service.lots_covered(cov), "certificate")
        return certificate_out(cov, utcnow())


@router.get(
    "/trace/certificates",
    response_model=CertificatePage,
    summary="Certificates of the counties you can see, in registration order (keyset pages: "
    "Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_certificates(
    principal: TraceRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: Annotated[str | None, Query(description="Only this county")] = None,
    type: Annotated[str | None, Query(description="Only this type")] = None,
    holder_uscc: Annotated[str | None, Query(description="Only this holder")] = None,
    gtin: Annotated[str | None, Query(description="Only certificates covering this GTIN")] = None,
    valid_on: Annotated[date | None, Query(description="Only those valid on this day")] = None,
) -> CertificatePage:
    if type is not None and type not in CERTIFICATE_TYPES:
        raise ApiError(
            422,
            f"query.type: unknown certificate type {type!r}; use one of: "
            f"{', '.join(CERTIFICATE_TYPES)}",
            field="query.type",
        )
    try:
        uscc = None if holder_uscc is None else check_uscc(holder_uscc)
    except ValueError as exc:
        raise ApiError(422, f"query.holder_uscc: {exc}", field="query.holder_uscc") from None
    try:
        key = None if gtin is None else check_gtin(gtin)
    except ValueError as exc:
        raise ApiError(422, f"query.gtin: {exc}", field="query.gtin") from None
    q = service.certificates_query(
        principal.counties(county), type=type, holder_uscc=uscc, gtin=key, valid_on=valid_on
    )
    found = await fetch_page(session, q, CERT_KEYS, page)
    link_next(request, response, found.next_cursor)
    now = utcnow()
    return CertificatePage(
        items=[certificate_out(c, now) for c in await service.with_coverage(session, found.rows)]
    )


async def _certificate(session: Any, certificate_id: int, principal: Principal) -> service.Coverage:
    cov = await service.get_certificate(session, certificate_id, principal)
    if cov is None:
        raise ApiError(404, f"certificate {certificate_id} not found")
    return cov


@router.get(
    "/trace/certificates/{certificate_id}",
    response_model=CertificateOut,
    summary="One certificate, with its validity now (or at ?at=)",
    responses=responses(401, 404, 422),
)
async def get_certificate(
    certificate_id: CertificateId,
    principal: TraceRead,
    session: SessionDep,
    at: Annotated[Instant | None, Query(description="Validity at this time (with offset)")] = None,
) -> CertificateOut:
    cov = await _certificate(session, certificate_id, principal)
    return certificate_out(cov, at or utcnow())


def _may_write(cert: TraceCertificate, principal: Principal) -> None:
    """Admins of its county; organisation roles when their organisation holds it."""
    principal.require_write(
        cert.county, None if cert.holder_org_id is None else str(cert.holder_org_id)
    )


@router.put(
    "/trace/certificates/{certificate_id}/scan",
    response_model=CertificateOut,
    summary="Upload the scan of the certificate: the file as the body, Content-Type "
    "application/pdf, image/jpeg or image/png; replaces an earlier scan (kept in the file "
    "store, named in the audit log)",
    responses=_SCAN_RESPONSES,
)
async def put_scan(
    certificate_id: CertificateId,
    request: Request,
    principal: TraceWrite,
    db: DatabaseDep,
    settings: SettingsDep,
) -> CertificateOut:
    async with db.session() as s:  # 404 and 403 before reading the body
        _may_write((await _certificate(s, certificate_id, principal)).certificate, principal)
    content_type = scans.media_type(request.headers.get("content-type"))
    data = await scans.read_limited(
        request.stream(), request.headers.get("content-length"), settings.certificate_scan_max_bytes
    )
    scans.check_content(data, content_type)
    async with db.transaction() as s:
        cov = await _certificate(s, certificate_id, principal)
        cert = cov.certificate
        _may_write(cert, principal)
        scan = await scans.store_scan(files_for(settings), data, content_type)
        previous = cert.scan_sha256
        cert.scan_sha256 = scan.sha256
        cert.scan_content_type = scan.content_type
        cert.scan_size = scan.size
        cert.scan_uploaded_at = utcnow()
        await s.flush()
        await record(
            s, principal.actor, "certificate.scan_uploaded", f"certificate:{cert.id}",
            cert.county,
            {"sha256": scan.sha256, "content_type": scan.content_type, "size": scan.size,
             "replaced_sha256": previous},
        )  # fmt: skip
        return certificate_out(cov, utcnow())


@router.get(
    "/trace/certificates/{certificate_id}/scan",
    summary="The scan of the certificate (PDF, JPEG or PNG); never public",
    responses={
        **responses(401, 404, 422, 503),
        200: {"content": {t: {} for t in scans.MEDIA_TYPES}, "description": "The scan"},
    },
    response_class=Response,
)
async def get_scan(
    certificate_id: CertificateId,
    principal: TraceRead,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    cov = await _certificate(session, certificate_id, principal)
    cert = cov.certificate
    if cert.scan_sha256 is None or cert.scan_content_type is None:
        raise ApiError(404, f"certificate {certificate_id} has no scan; upload one (PUT) first")
    try:
        data = await scans.load_scan(files_for(settings), cert.scan_sha256)
    except FileStoreError as exc:
        raise ApiError(503, f"the scan cannot be read: {exc}") from None
    ext = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[
        cert.scan_content_type
    ]
    return Response(
        data,
        media_type=cert.scan_content_type,
        headers={
            "Content-Disposition": f'inline; filename="certificate-{cert.id}.{ext}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{cert.scan_sha256}"',
        },
    )


@router.get(
    "/trace/lots/{gtin}/{lot}/certificates",
    response_model=LotCertificates,
    summary="The 三品一标 certificates covering a lot, valid or not at ?at= (default now), "
    "and which were valid at each of the lot's events",
    responses=responses(401, 404, 422),
)
async def lot_certificates(
    gtin: GtinPath,
    lot: LotPath,
    principal: TraceRead,
    session: SessionDep,
    at: Annotated[Instant | None, Query(description="Validity at this time (with offset)")] = None,
) -> LotCertificates:
    found = await lot_or_404(session, gtin, lot, principal)
    when = at or utcnow()
    certs = (await service.covering(session, [found]))[found.id]
    q = (
        select(TraceEvent.event_id, TraceEvent.event_time, TraceEvent.biz_step)
        .join(TraceEventObject, TraceEventObject.event_seq == TraceEvent.seq)
        .where(
            TraceEventObject.gtin == found.gtin,
            TraceEventObject.lot == found.lot,
            TraceEvent.county == found.county,
            TraceEvent.error_declaration.is_(None),
        )
        .distinct()
        .order_by(TraceEvent.event_time.desc(), TraceEvent.event_id)
        .limit(EVENTS_SHOWN)
    )
    events = [
        EventCoverage(
            event_id=event_id,
            event_time=t,
            biz_step=step,
            valid_certificates=[c.certificate.id for c in certs if c.valid_at(t)],
        )
        for event_id, t, step in await session.execute(q)
    ]
    return LotCertificates(
        gtin=found.gtin,
        lot=found.lot,
        at=when,
        certificates=[certificate_out(c, when) for c in certs],
        events=events,
    )
