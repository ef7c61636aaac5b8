"""Phone trackers: create one for a vehicle, rotate its device id, revoke it.

A device id is the only credential of the OsmAnd protocol, so it is a secret: 24
characters of ``A-Z a-z 0-9`` from :mod:`secrets` (about 142 bits), shown once (with
a QR code Traccar Client scans to configure itself), and kept only as its SHA-256
(unique index: a fix finds its tracker with one lookup; a plain hash suffices since
the id is random, not a password).
"""

from __future__ import annotations

import hashlib
import io
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import segno
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.catalog.storage import MobileDevice
from cloud.db import utcnow
from cloud.logistics.positions.storage import SPEED_UNITS, Tracker

TOKEN_LENGTH = 24
_ALPHABET = string.ascii_letters + string.digits


class TrackerError(ValueError):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True, slots=True)
class Issued:
    """A tracker with its device id in clear: returned once, never stored."""

    tracker: Tracker
    device_id: str
    config_uri: str
    qr_svg: str


def new_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))


def token_hash(device_id: str) -> str:
    return hashlib.sha256(device_id.encode("utf-8", "surrogatepass")).hexdigest()


def config_uri(device_id: str, server_url: str, *, interval_s: int = 30) -> str:
    """The Traccar Client configuration link: ``org.traccar.client://config?url=&id=...``
    (the app's deep-link scheme: any host but ``action``; scanned from a QR code or
    opened as a link, the app asks whether to apply it). ``url`` is our OsmAnd
    endpoint; the rest are the app's tracking settings (seconds, metres)."""
    params = {
        "url": server_url,
        "id": device_id,
        "accuracy": "high",
        "interval": str(interval_s),
        "distance": "0",
        "buffer": "true",
    }
    return "org.traccar.client://config?" + urlencode(params)


def qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(out, kind="svg", scale=4, xmldecl=False)
    return out.getvalue().decode()


async def vehicle_of(session: AsyncSession, vehicle: str) -> MobileDevice | None:
    """The registered mobile device of kind ``vehicle`` (None: none such)."""
    reg = await session.get(MobileDevice, vehicle)
    return reg if reg is not None and reg.kind == "vehicle" else None


def _check_unit(speed_unit: str) -> str:
    if speed_unit not in SPEED_UNITS:
        raise TrackerError(
            422, f"speed_unit must be one of {', '.join(SPEED_UNITS)}", field="body.speed_unit"
        )
    return speed_unit


async def create(
    session: AsyncSession,
    reg: MobileDevice,
    *,
    label: str,
    speed_unit: str,
    server_url: str,
    actor: str,
) -> Issued:
    """A new tracker for the vehicle ``reg`` (audited; the caller commits)."""
    _check_unit(speed_unit)
    token = new_token()
    tracker = Tracker(
        token_sha256=token_hash(token),
        vehicle=reg.device_id,
        county=reg.county,
        label=label,
        speed_unit=speed_unit,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(tracker)
    await session.flush()
    await record(
        session,
        actor,
        "logistics.tracker.created",
        f"tracker:{tracker.id}",
        tracker.county,
        {"vehicle": reg.device_id, "speed_unit": speed_unit, "label": label},
    )
    uri = config_uri(token, server_url)
    return Issued(tracker, token, uri, qr_svg(uri))


async def rotate(session: AsyncSession, tracker: Tracker, *, server_url: str, actor: str) -> Issued:
    """A new device id for the tracker; the old one stops working at once."""
    if tracker.revoked_at is not None:
        raise TrackerError(409, f"tracker {tracker.id} is revoked")
    token = new_token()
    tracker.token_sha256 = token_hash(token)
    tracker.rotated_at = utcnow()
    await record(
        session, actor, "logistics.tracker.rotated", f"tracker:{tracker.id}", tracker.county
    )
    uri = config_uri(token, server_url)
    return Issued(tracker, token, uri, qr_svg(uri))


async def revoke(session: AsyncSession, tracker: Tracker, *, actor: str) -> Tracker:
    if tracker.revoked_at is None:
        tracker.revoked_at = utcnow()
        tracker.revoked_by = actor
        await record(
            session, actor, "logistics.tracker.revoked", f"tracker:{tracker.id}", tracker.county
        )
    return tracker


async def set_speed_unit(
    session: AsyncSession, tracker: Tracker, speed_unit: str, *, actor: str
) -> Tracker:
    tracker.speed_unit = _check_unit(speed_unit)
    await record(
        session,
        actor,
        "logistics.tracker.updated",
        f"tracker:{tracker.id}",
        tracker.county,
        {"speed_unit": speed_unit},
    )
    return tracker


async def by_device_id(session: AsyncSession, device_id: str) -> Tracker | None:
    """The live (not revoked) tracker of a device id; None for an unknown or revoked one."""
    row = await session.scalar(select(Tracker).where(Tracker.token_sha256 == token_hash(device_id)))
    return row if row is not None and row.revoked_at is None else None


async def by_token_hashes(session: AsyncSession, hashes: Sequence[str]) -> dict[str, Tracker]:
    """The live trackers of these device ids' hashes (:func:`token_hash`), in one query."""
    if not hashes:
        return {}
    rows = await session.scalars(select(Tracker).where(Tracker.token_sha256.in_(list(hashes))))
    return {r.token_sha256: r for r in rows if r.revoked_at is None}
