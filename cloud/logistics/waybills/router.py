"""``/api/v1/logistics/trips`` and ``/waybills``: trips, waybills, their transitions,
delivery with its proof, one-time codes, the PDF.

County-scoped (another county's record is 404). Reads ``logistics:read``; creating a
waybill ``supply:write`` or ``logistics:write`` (an operator for its own organisation's
goods); trips and assignment ``logistics:write``; moving a waybill (loading, departure,
arrival, delivery, exceptions) ``logistics:write`` or ``waybills:drive`` (a driver: the
waybills of its own trip). Bad input: 422 naming the field; an illegal transition: 409
naming ``body.to``; nothing is half-stored (one transaction per request).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from cloud.audit.service import record
from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, KeyringDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.inspections.files import FileStoreError, files_for
from cloud.logistics.access import not_found
from cloud.logistics.waybills import codes, document, lifecycle, pod, service, states
from cloud.logistics.waybills.excursions import excursions_of_waybill
from cloud.logistics.waybills.schemas import (
    CodeOut,
    DeliverIn,
    TransitionIn,
    TripIn,
    TripOut,
    WaybillIn,
    WaybillOut,
)
from cloud.logistics.waybills.storage import ProofOfDelivery, Trip, Waybill
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.pii import open_field

router = APIRouter(tags=["logistics"], responses=responses(401, 403, 404, 409, 422))

Read = Annotated[Principal, require("logistics:read")]
Write = Annotated[Principal, require("logistics:write")]
Create = Annotated[Principal, require("logistics:write", "supply:write")]
Move = Annotated[Principal, require("logistics:write", "waybills:drive")]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
CountyQ = Annotated[str | None, Query(description="one county (GB/T 2260)")]
Source = Annotated[Literal["api", "phone"], Query(description="who records it")]


@router.post("/logistics/trips", status_code=201, summary="Plan a trip: a vehicle and its "
             "driver on one day")  # fmt: skip
async def create_trip(body: TripIn, principal: Write, db: DatabaseDep) -> TripOut:
    async with db.transaction() as s:
        trip = await service.create_trip(s, body, principal)
        return await service.trip_out(s, trip)


@router.get("/logistics/trips", summary="Trips (a driver: its own), newest first")
async def list_trips(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    day: date | None = None,
) -> list[TripOut]:
    q = service.trips_query(principal, principal.counties(county), day)
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Trip.id, desc=True, kind=int),), page)
        out = [await service.trip_out(s, t) for t in got.rows]
    link_next(request, response, got.next_cursor)
    return out


@router.get("/logistics/trips/{trip_id}", summary="A trip with its stops and waybills")
async def get_trip(trip_id: Ident, principal: Read, db: DatabaseDep) -> TripOut:
    async with db.session() as s:
        return await service.trip_out(s, await service.get_trip(s, trip_id, principal))


@router.post("/logistics/waybills", status_code=201, summary="Make a waybill for a "
             "shipper's lots")  # fmt: skip
async def create_waybill(
    body: WaybillIn, principal: Create, db: DatabaseDep, keyring: KeyringDep
) -> WaybillOut:
    async with db.transaction() as s:
        return service.waybill_out(await service.create_waybill(s, body, principal, keyring))


@router.get("/logistics/waybills", summary="The waybill board, newest first (filters: status, "
            "vehicle, trip)")  # fmt: skip
async def list_waybills(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    status: Annotated[Literal[states.STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
    vehicle_id: Annotated[str | None, Query(max_length=128)] = None,
    trip_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[WaybillOut]:
    q = service.waybills_query(
        principal, principal.counties(county), status=status, vehicle_id=vehicle_id,
        trip_id=trip_id,
    )  # fmt: skip
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Waybill.id, desc=True, kind=int),), page)
    link_next(request, response, got.next_cursor)
    return [service.waybill_out(w) for w in got.rows]


@router.get("/logistics/waybills/{waybill_id}", summary="A waybill with its events and proof "
            "of delivery")  # fmt: skip
async def get_waybill(
    waybill_id: Ident, principal: Read, db: DatabaseDep, keyring: KeyringDep
) -> WaybillOut:
    async with db.transaction() as s:  # revealing the receiver's name is audited
        wb = await service.get_waybill(s, waybill_id, principal)
        out = service.waybill_out(wb)
        out.events = await service.events_of(s, wb.id)
        out.excursions = await excursions_of_waybill(s, wb)
        proof = await s.get(ProofOfDelivery, wb.id)
        if proof is not None:
            out.pod = await pod.pod_out(s, proof, wb, principal, keyring)
        return out


@router.post("/logistics/waybills/{waybill_id}/transitions", summary="Move a waybill: "
             "assigned (with trip_id), loaded, departed, arrived, rejected, damaged, returned")  # fmt: skip
async def transition(
    waybill_id: Ident,
    body: TransitionIn,
    principal: Move,
    db: DatabaseDep,
    response: Response,
    source: Source = "api",
) -> WaybillOut:
    async with db.transaction() as s:
        moved = await lifecycle.transition(s, waybill_id, body, principal, source)
        out = service.waybill_out(moved.waybill)
    response.status_code = 200 if moved.outcome == "unchanged" else 201
    return out


_CODE_REFUSALS = {
    "missing": "a one-time code was sent to the receiver: type the code the receiver reads out",
    "wrong": "the code is wrong (each wrong try counts; 5 lock it: send a new one)",
    "expired": "the code has expired: send a new one",
    "locked": "too many wrong codes: send a new one",
}


@router.post("/logistics/waybills/{waybill_id}/deliver", summary="Deliver with the proof: "
             "photo and/or signature, receiver's name, GPS fix, optional one-time code")  # fmt: skip
async def deliver(
    waybill_id: Ident,
    body: DeliverIn,
    principal: Move,
    db: DatabaseDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    response: Response,
    source: Source = "api",
) -> WaybillOut:
    async with db.transaction() as s:  # the code first: a wrong try is counted and kept
        wb = await service.get_waybill(s, waybill_id, principal, lock=True)
        lifecycle.check_may_move(principal, wb)
        if await lifecycle.replayed(s, wb, body.request_id):
            response.status_code = 200
            return service.waybill_out(wb)
        verdict = await codes.check(s, wb, body.code, consume=False)
    if verdict in _CODE_REFUSALS:
        raise ApiError(422, f"body.code: {_CODE_REFUSALS[verdict]}", field="body.code")
    try:
        keys = await pod.store_images(files_for(settings), body)
    except FileStoreError as exc:  # pragma: no cover - disk trouble
        raise ApiError(503, f"the file store failed: {exc}") from None
    async with db.transaction() as s:
        wb = await service.get_waybill(s, waybill_id, principal, lock=True)
        verified = (await codes.check(s, wb, body.code)) == "ok"
        await pod.deliver(s, wb, body, principal, keyring, keys, otp_verified=verified,
                          source=source)  # fmt: skip
        out = service.waybill_out(wb)
    response.status_code = 201
    return out


@router.post("/logistics/waybills/{waybill_id}/code", summary="Send the receiver a one-time "
             "delivery code (through the configured SMS channel)")  # fmt: skip
async def send_code(
    waybill_id: Ident, principal: Move, db: DatabaseDep, keyring: KeyringDep, request: Request
) -> CodeOut:
    sender: codes.CodeSender = getattr(request.app.state, "delivery_code_sender", codes.log_sender)
    async with db.transaction() as s:
        wb = await service.get_waybill(s, waybill_id, principal, lock=True)
        lifecycle.check_may_move(principal, wb)
        if wb.receiver_phone_sealed is None:
            raise ApiError(422, "path.waybill_id: the waybill has no receiver phone for a code",
                           field="path.waybill_id")  # fmt: skip
        if wb.status in states.TERMINAL:
            raise ApiError(409, f"path.waybill_id: the waybill is {wb.status}",
                           field="path.waybill_id")  # fmt: skip
        phone = open_field(keyring, wb.receiver_phone_sealed, service.phone_context(wb.number))
        code, expires = await codes.issue(s, wb)
        await record(s, principal.actor, "waybill.code_sent", f"waybill:{wb.number}", wb.county,
                     {"field": "receiver_phone"})  # fmt: skip
    try:
        await sender(phone, f"【德宏冷链】运单 {wb.number} 签收码 {code}，24 小时内有效。")
    except Exception as exc:  # the channel's own failure: say so, the code can be sent again
        raise ApiError(
            502, f"the code could not be sent ({type(exc).__name__}); try again"
        ) from exc
    return CodeOut(sent_to=codes.masked_phone(phone), expires_at=expires)


@router.get("/logistics/waybills/{waybill_id}/pod/{part}", summary="The proof's photo (JPEG) "
            "or signature (PNG)")  # fmt: skip
async def pod_image(
    waybill_id: Ident,
    part: Literal["photo", "signature"],
    principal: Read,
    db: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    async with db.session() as s:
        wb = await service.get_waybill(s, waybill_id, principal)
        proof = await s.get(ProofOfDelivery, wb.id)
    key = None if proof is None else (proof.photo_key if part == "photo" else proof.signature_key)
    if key is None:
        raise not_found(f"{part} of waybill", waybill_id)
    try:
        data = await asyncio.to_thread(files_for(settings).get, key)
    except FileStoreError as exc:
        raise ApiError(503, str(exc)) from None
    media = "image/jpeg" if part == "photo" else "image/png"
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/logistics/waybills/{waybill_id}/pdf", summary="The printable waybill (A4 PDF "
            "with its QR code)")  # fmt: skip
async def waybill_document(
    waybill_id: Ident, principal: Read, db: DatabaseDep, settings: SettingsDep
) -> Response:
    async with db.session() as s:
        wb = await service.get_waybill(s, waybill_id, principal)
        data = await document.render(s, wb, settings.public_base_url)
    return Response(
        data, media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{wb.number}.pdf"'},
    )  # fmt: skip
