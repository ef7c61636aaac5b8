"""承诺达标合格证 routes: issue one for a lot, a lot's certificates with whether it needs
one and the sales or shipments made without one, one certificate as JSON, and the
printable page (HTML, Chinese first).

Permissions: ``trace:read`` (county-scoped; another county's is 404); ``trace:write``
issues: admins of the lot's county, organisation roles for their own organisation's
lots. Issuing is audited. There is no delete: issuance records are kept at least two
years (``retain_until``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.catalog.storage import Organisation
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.trace.brand import service as brand
from cloud.trace.certificates import commitment
from cloud.trace.certificates.kinds import BASIS_NAMES
from cloud.trace.certificates.printing import render_commitment_html
from cloud.trace.certificates.schemas import (
    CommitmentCreate,
    CommitmentFlag,
    CommitmentOut,
    LotCommitment,
)
from cloud.trace.certificates.storage import TraceCommitmentCertificate
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.lotref import GtinPath, LotPath, lot_or_404

router = APIRouter(tags=["trace: 合格证"])

TraceRead = Annotated[Principal, require("trace:read")]
TraceWrite = Annotated[Principal, require("trace:write")]
CertificateId = Annotated[int, Path(ge=1, le=MAX_INT32)]


def commitment_out(c: TraceCommitmentCertificate, org: Organisation) -> CommitmentOut:
    return CommitmentOut(
        id=c.id,
        number=c.number,
        gtin=c.gtin,
        lot=c.lot,
        county=c.county,
        org_id=c.org_id,
        org_name=org.name,
        org_uscc=org.uscc,
        product_name=c.product_name,
        quantity=c.quantity,
        unit=c.unit,
        origin=c.origin,
        contact=c.contact,
        basis=c.basis,
        basis_zh=BASIS_NAMES[c.basis][0],
        basis_ref=c.basis_ref,
        issued_at=c.issued_at,
        retain_until=c.retain_until,
        created_at=c.created_at,
        print_url=f"/api/v1/trace/commitment-certificates/{c.id}/print",
    )


@router.post(
    "/trace/lots/{gtin}/{lot}/commitment-certificates",
    response_model=CommitmentOut,
    status_code=201,
    summary="Issue a 承诺达标合格证 for the lot, in the name of its organisation",
    responses=responses(401, 403, 404, 422),
)
async def issue(
    gtin: GtinPath,
    lot: LotPath,
    body: CommitmentCreate,
    principal: TraceWrite,
    db: DatabaseDep,
) -> CommitmentOut:
    async with db.transaction() as s:
        found = await lot_or_404(s, gtin, lot, principal)
        cert = await commitment.issue(s, found, body, principal)
        await brand.reevaluate(s, [found], "certificate")
        return commitment_out(cert, await s.get_one(Organisation, cert.org_id))


@router.get(
    "/trace/lots/{gtin}/{lot}/commitment-certificates",
    response_model=LotCommitment,
    summary="The lot's own 合格证, whether its category needs one, and its sales or "
    "shipments made without one (flags)",
    responses=responses(401, 404, 422),
)
async def of_lot(
    gtin: GtinPath, lot: LotPath, principal: TraceRead, session: SessionDep
) -> LotCommitment:
    found = await lot_or_404(session, gtin, lot, principal)
    need = await commitment.requirement(session, found)
    certs = await commitment.of_lot(session, found.id)
    flags = await commitment.flags(session, found, need, certs)
    org = await session.get_one(Organisation, found.org_id)
    if not need.required:
        detail = (
            f"category {need.category or 'unknown (GTIN not in the catalog)'} does not need a "
            "合格证 (allowed)"
        )
    elif certs:
        detail = f"category {need.category} needs a 合格证: {len(certs)} issued"
    else:
        detail = f"category {need.category} needs a 合格证 and none is issued"
    if need.derived:
        detail += "; made from other lots: only its own certificates count, not its parents'"
    return LotCommitment(
        gtin=found.gtin,
        lot=found.lot,
        category=need.category,
        required=need.required,
        derived=need.derived,
        certificates=[commitment_out(c, org) for c in certs],
        flags=[
            CommitmentFlag(
                event_id=f.event_id, event_time=f.event_time, biz_step=f.biz_step, reason=f.reason
            )
            for f in flags
        ],
        detail=detail,
    )


async def _one(
    session: Any, certificate_id: int, principal: Principal
) -> TraceCommitmentCertificate:
    cert = await session.get(TraceCommitmentCertificate, certificate_id)
    if cert is None or not principal.can_see(cert.county):
        raise ApiError(404, f"commitment certificate {certificate_id} not found")
    return cert  # type: ignore[no-any-return]


@router.get(
    "/trace/commitment-certificates/{certificate_id}",
    response_model=CommitmentOut,
    summary="One 承诺达标合格证 (its fields, as printed)",
    responses=responses(401, 404, 422),
)
async def get_one(
    certificate_id: CertificateId, principal: TraceRead, session: SessionDep
) -> CommitmentOut:
    cert = await _one(session, certificate_id, principal)
    return commitment_out(cert, await session.get_one(Organisation, cert.org_id))


@router.get(
    "/trace/commitment-certificates/{certificate_id}/print",
    response_class=HTMLResponse,
    summary="The 承诺达标合格证 as a printable page (HTML, Chinese first)",
    # errors answer JSON (the Error model), whatever the page's own media type
    responses={
        **{
            code: {
                "description": doc["description"],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            for code, doc in responses(401, 404, 422).items()
        },
        200: {"content": {"text/html": {}}},
    },
)
async def print_page(
    certificate_id: CertificateId, principal: TraceRead, session: SessionDep,
    settings: SettingsDep,
) -> HTMLResponse:  # fmt: skip
    cert = await _one(session, certificate_id, principal)
    org = await session.get_one(Organisation, cert.org_id)
    # the QR: the lot's Digital Link on the resolver's public host (cloud/resolver)
    uri = dl_uri(cert.gtin, cert.lot, base=settings.public_base_url)
    return HTMLResponse(
        render_commitment_html(cert, org.name, org.uscc, lot_uri=uri),
        headers={"Cache-Control": "private, no-store"},
    )
