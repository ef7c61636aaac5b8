"""Proof of delivery: the photo (a JPEG, checked and stored in the content-addressed
file store as the inspections' thumbnails are), the receiver's signature (a PNG,
likewise), the receiver's name (personal: sealed by cloud/pii), the GPS fix and its
time, and whether a one-time code was given. Recording it delivers the waybill
(``arrived`` -> ``delivered``, or ``damaged`` -> ``delivered``) and writes the trace's
receiving event, in one transaction."""

from __future__ import annotations

import asyncio
import base64
import binascii

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.errors import ApiError
from cloud.inspections.files import FileStore
from cloud.inspections.thumbnails import ThumbnailError, decode_thumbnail
from cloud.logistics.waybills import states
from cloud.logistics.waybills.lifecycle import apply, check_may_move, refused
from cloud.logistics.waybills.schemas import DeliverIn, PodOut
from cloud.logistics.waybills.storage import ProofOfDelivery, Waybill
from cloud.pii import Keyring, reveal, seal

MAX_IMAGE_BYTES = 120_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def name_context(wb: Waybill) -> str:
    return f"logistics_pods.receiver_name:{wb.number}"


def photo(text: str) -> bytes:
    try:
        return decode_thumbnail(text, MAX_IMAGE_BYTES)
    except ThumbnailError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise ApiError(422, f"body.photo_jpeg: {reason}", field="body.photo_jpeg") from None


def signature(text: str) -> bytes:
    field = "body.signature_png"
    if len(text) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise ApiError(422, f"{field}: more than {MAX_IMAGE_BYTES} bytes", field=field)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, f"{field}: not valid base64", field=field) from None
    if not data.startswith(PNG_MAGIC) or len(data) < 60:
        raise ApiError(422, f"{field}: not a PNG image", field=field)
    return data


async def store_images(files: FileStore, body: DeliverIn) -> tuple[str | None, str | None]:
    """Check and store the images (before the transaction: content-addressed files, so a
    refused delivery leaves at most an unreferenced file, never a half-stored record)."""
    jpeg = None if body.photo_jpeg is None else photo(body.photo_jpeg)
    png = None if body.signature_png is None else signature(body.signature_png)
    photo_key = None if jpeg is None else await asyncio.to_thread(files.put, jpeg)
    sign_key = None if png is None else await asyncio.to_thread(files.put, png)
    return photo_key, sign_key


async def deliver(
    session: AsyncSession,
    wb: Waybill,
    body: DeliverIn,
    principal: Principal,
    keyring: Keyring,
    keys: tuple[str | None, str | None],
    *,
    otp_verified: bool,
    source: str,
) -> None:
    check_may_move(principal, wb)
    if body.photo_jpeg is None and body.signature_png is None:
        raise ApiError(422, "body.photo_jpeg: a proof of delivery needs a photo or a signature",
                       field="body.photo_jpeg")  # fmt: skip
    at = body.at or body.fix_at
    try:
        await apply(
            session, wb, "delivered", actor=principal, at=at, source=source,
            request_id=body.request_id, lat=body.lat, lon=body.lon, note=body.note,
        )  # fmt: skip
    except states.IllegalTransition as exc:
        raise refused(exc) from None
    session.add(
        ProofOfDelivery(
            waybill_id=wb.id,
            stop_id=wb.stop_id,
            photo_key=keys[0],
            signature_key=keys[1],
            receiver_name_sealed=seal(keyring, body.receiver_name, name_context(wb)),
            lat=body.lat,
            lon=body.lon,
            accuracy_m=body.accuracy_m,
            fix_at=body.fix_at,
            otp_verified=otp_verified,
            recorded_by=principal.actor,
        )
    )
    await session.flush()


async def pod_out(
    session: AsyncSession, pod: ProofOfDelivery, wb: Waybill, principal: Principal, keyring: Keyring
) -> PodOut:
    if policy.sees_personal_data(principal):
        name = await reveal(
            session, keyring, pod.receiver_name_sealed, context=name_context(wb),
            actor=principal.actor, county=wb.county, target=f"waybill:{wb.number}",
            field="receiver_name",
        )  # fmt: skip
    else:
        name = policy.MASK
    return PodOut(
        stop_id=pod.stop_id, has_photo=pod.photo_key is not None,
        has_signature=pod.signature_key is not None, receiver_name=name or "", lat=pod.lat,
        lon=pod.lon, accuracy_m=pod.accuracy_m, fix_at=pod.fix_at, otp_verified=pod.otp_verified,
        recorded_at=pod.recorded_at, recorded_by=pod.recorded_by,
    )  # fmt: skip
