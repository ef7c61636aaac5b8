"""Supply posts (货源), the capacity board (vehicles free by day and temperature class)
and matching a post to capacity (best fit: the earliest day, then the vehicle whose
free capacity fits the post most tightly)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.catalog.storage import Location, Organisation, Product
from cloud.errors import ApiError
from cloud.logistics.access import not_found, org_of, sees
from cloud.logistics.fleet.storage import TEMP_CLASSES, VehicleInfo
from cloud.logistics.supply.schemas import CapacityDay, FreeVehicle, Match, SupplyIn, SupplyOut
from cloud.logistics.supply.storage import SupplyPost
from cloud.logistics.waybills.storage import Trip, Waybill

MAX_DAYS = 31


async def create_post(session: AsyncSession, body: SupplyIn, principal: Principal) -> SupplyPost:
    org = await session.get(Organisation, body.org_id)
    if org is None or not sees(principal, org.county, org.id):
        raise not_found("organisation", body.org_id, "body.org_id")
    principal.require_write(org.county, str(org.id))
    for field, loc_id in (
        ("body.origin_id", body.origin_id),
        ("body.destination_id", body.destination_id),
    ):
        if loc_id is None:
            continue
        loc = await session.get(Location, loc_id)
        if loc is None or loc.county != org.county:
            raise not_found("location", loc_id, field)
    if body.product_id is not None:
        product = await session.get(Product, body.product_id)
        if product is None or product.org_id != org.id:
            raise not_found("product", body.product_id, "body.product_id")
    post = SupplyPost(**body.model_dump(), county=org.county, created_by=principal.actor)
    session.add(post)
    await session.flush()
    await record(session, principal.actor, "supply.posted", f"supply:{post.id}", org.county,
                 {"quantity_kg": body.quantity_kg, "temp_class": body.temp_class})  # fmt: skip
    return post


def post_out(p: SupplyPost) -> SupplyOut:
    return SupplyOut.model_validate(p, from_attributes=True)


def posts_query(
    principal: Principal, counties: list[str] | None, status: str | None
) -> Select[Any]:
    q = select(SupplyPost)
    if counties is not None:
        q = q.where(SupplyPost.county.in_(counties))
    if status is not None:
        q = q.where(SupplyPost.status == status)
    org = org_of(principal)
    if org is not None:
        q = q.where(SupplyPost.org_id == org)
    return q


async def get_post(session: AsyncSession, post_id: int, principal: Principal) -> SupplyPost:
    post = await session.get(SupplyPost, post_id)
    if post is None or not sees(principal, post.county, post.org_id):
        raise not_found("supply post", post_id)
    return post


async def free_by_day(
    session: AsyncSession,
    principal: Principal | None,
    counties: list[str] | None,
    start: date,
    days: int,
) -> dict[date, list[tuple[VehicleInfo, float, int | None]]]:
    """Each day: every vehicle in scope with its free kg and its trip that day
    (``principal`` None: every vehicle of ``counties``, as a county role sees them)."""
    q = select(VehicleInfo)
    if counties is not None:
        q = q.where(VehicleInfo.county.in_(counties))
    org = None if principal is None else org_of(principal)
    if org is not None:
        q = q.where(VehicleInfo.carrier_id == org)
    vehicles = list(await session.scalars(q.order_by(VehicleInfo.plate)))
    end = start + timedelta(days=days - 1)
    trips = (
        await session.execute(
            select(Trip.id, Trip.vehicle_id, Trip.day).where(
                Trip.day >= start, Trip.day <= end,
                Trip.vehicle_id.in_([v.device_id for v in vehicles] or [""]),
            )
        )
    ).all()  # fmt: skip
    loads = dict(
        (
            await session.execute(
                select(Waybill.trip_id, func.sum(Waybill.weight_kg))
                .where(
                    Waybill.trip_id.in_([t.id for t in trips] or [0]),
                    Waybill.status.not_in(("rejected", "returned")),
                )
                .group_by(Waybill.trip_id)
            )
        ).all()
    )
    trip_of = {(t.vehicle_id, t.day): t.id for t in trips}
    out: dict[date, list[tuple[VehicleInfo, float, int | None]]] = {}
    for i in range(days):
        day = start + timedelta(days=i)
        out[day] = []
        for v in vehicles:
            trip = trip_of.get((v.device_id, day))
            used = float(loads.get(trip, 0.0) or 0.0) if trip is not None else 0.0
            out[day].append((v, v.capacity_kg - used, trip))
    return out


def _fv(v: VehicleInfo, free: float, trip: int | None) -> FreeVehicle:
    return FreeVehicle(device_id=v.device_id, plate=v.plate, carrier_id=v.carrier_id,
                       capacity_kg=v.capacity_kg, free_kg=free, trip_id=trip)  # fmt: skip


async def capacity_board(
    session: AsyncSession,
    principal: Principal,
    counties: list[str] | None,
    start: date,
    days: int,
    temp_class: str | None,
) -> list[CapacityDay]:
    if not 1 <= days <= MAX_DAYS:
        raise ApiError(422, f"query.days: 1 to {MAX_DAYS}", field="query.days")
    free = await free_by_day(session, principal, counties, start, days)
    classes = [temp_class] if temp_class else list(TEMP_CLASSES)
    board = []
    for day, rows in free.items():
        for tc in classes:
            vs = [_fv(v, f, t) for v, f, t in rows if tc in v.temp_classes and f > 0]
            board.append(CapacityDay(day=day, temp_class=tc, free_kg=sum(x.free_kg for x in vs),
                                     vehicles=vs))  # fmt: skip
    return board


async def matches(
    session: AsyncSession, post: SupplyPost, principal: Principal, today: date
) -> list[Match]:
    start = max(post.ready_from, today)
    if start > post.ready_until:
        return []
    days = min((post.ready_until - start).days + 1, MAX_DAYS)
    free = await free_by_day(session, principal, [post.county], start, days)
    found = [
        Match(day=day, vehicle=_fv(v, f, t), spare_kg=f - post.quantity_kg)
        for day, rows in free.items()
        for v, f, t in rows
        if post.temp_class in v.temp_classes and f >= post.quantity_kg
    ]
    return sorted(found, key=lambda m: (m.day, m.spare_kg, m.vehicle.plate))
