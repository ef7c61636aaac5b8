"""A waybill's cold chain: the excursions of its vehicle's probes while the load was on
board, from the cold chain's engine (``cloud.coldchain.service.excursions``).

The interval is the waybill's ``loaded`` event time to its ``delivered`` (or
``returned``) event time, still open (to now) while the load is on board; a waybill
never loaded has none. The vehicle is the waybill's (its trip's), judged by its first
compartment's profile (the fleet links the vehicle's device to it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.coldchain.service import excursions
from cloud.coldchain.storage import ColdchainExcursion
from cloud.logistics.waybills.schemas import ExcursionOut
from cloud.logistics.waybills.storage import Waybill, WaybillEvent

ENDS = ("delivered", "returned")


def _ms(t: datetime) -> int:
    return round(t.astimezone(UTC).timestamp() * 1000)


async def on_board_interval(s: AsyncSession, wb: Waybill) -> tuple[int, int | None] | None:
    """``(loaded_ms, unloaded_ms | None)`` of the waybill's last loading, or None."""
    rows = (
        await s.execute(
            select(WaybillEvent.to_status, WaybillEvent.at)
            .where(WaybillEvent.waybill_id == wb.id)
            .order_by(WaybillEvent.at, WaybillEvent.id)
        )
    ).all()
    start: int | None = None
    end: int | None = None
    for status, at in rows:
        if status == "loaded":
            start, end = _ms(at), None
        elif status in ENDS and start is not None:
            end = _ms(at)
    return None if start is None else (start, end)


async def excursions_of_waybill(s: AsyncSession, wb: Waybill) -> list[ExcursionOut]:
    if wb.vehicle_id is None:
        return []
    span = await on_board_interval(s, wb)
    if span is None:
        return []
    rows = await excursions(
        s, device=wb.vehicle_id, start_ms=span[0], end_ms=span[1], counties=[wb.county],
        kinds=("excursion", "door"),
    )  # fmt: skip
    return [_out(r) for r in rows]


def _out(r: ColdchainExcursion) -> ExcursionOut:
    return ExcursionOut(
        device=r.device, metric=r.metric, kind=r.kind, start_ms=r.start_ms, end_ms=r.end_ms,
        duration_s=r.duration_s, direction="above" if r.direction > 0 else "below",
        peak_c=r.peak_c, low_c=r.low_c, high_c=r.high_c, door=r.door,
        single_limit_passed=r.single_breach_ms is not None, alarm_id=r.alarm_id,
    )  # fmt: skip
