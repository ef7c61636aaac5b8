"""Key rotation for logistics' sealed fields: re-wrap each value's data key with the
active master key (:func:`cloud.pii.rewrap`), in one transaction.
The ciphertext and the blind indexes are kept; a phone indexed under the old key is
re-indexed under the new one (searches span both keys meanwhile)."""

from __future__ import annotations

from sqlalchemy import select

from cloud.db import Database
from cloud.logistics.fleet.drivers import context as driver_context
from cloud.logistics.fleet.storage import Driver
from cloud.logistics.waybills.pod import name_context
from cloud.logistics.waybills.service import phone_context
from cloud.logistics.waybills.storage import ProofOfDelivery, Waybill
from cloud.pii import Keyring, blind_index, key_id_of, open_field, rewrap


async def rewrap_all(db: Database, ring: Keyring) -> dict[str, int]:
    """How many sealed values of each kind were re-wrapped (already active: not counted)."""
    counts = {"drivers": 0, "waybills": 0, "pods": 0}
    async with db.transaction() as s:
        for d in await s.scalars(select(Driver).order_by(Driver.id)):
            changed = False
            for field in ("name", "phone", "id_number"):
                token = getattr(d, f"{field}_sealed")
                if token is not None and key_id_of(token) != ring.active:
                    setattr(d, f"{field}_sealed", rewrap(ring, token, driver_context(d.ref, field)))
                    changed = True
            if changed:
                phone = open_field(ring, d.phone_sealed, driver_context(d.ref, "phone"))
                d.phone_index = blind_index(ring, "phone", phone)
                counts["drivers"] += 1
        for wb in await s.scalars(
            select(Waybill).where(Waybill.receiver_phone_sealed.is_not(None))
        ):
            token = wb.receiver_phone_sealed
            if token is not None and key_id_of(token) != ring.active:
                wb.receiver_phone_sealed = rewrap(ring, token, phone_context(wb.number))
                counts["waybills"] += 1
        pods = (
            await s.execute(
                select(ProofOfDelivery, Waybill).join(
                    Waybill, Waybill.id == ProofOfDelivery.waybill_id
                )
            )
        ).all()
        for pod, wb in pods:
            if key_id_of(pod.receiver_name_sealed) != ring.active:
                pod.receiver_name_sealed = rewrap(ring, pod.receiver_name_sealed, name_context(wb))
                counts["pods"] += 1
    return counts
