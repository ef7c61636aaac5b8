"""Stations: their public-service attributes on a catalog location, status moves,
the shops attributed to them, monthly performance, the public map data and
:func:`monthly_figures` (MOFCOM export, monthly bulletins).

Every write is audited in the caller's transaction. Reads are county-scoped; a station
operator (an organisation role) sees only the stations its organisation operates.
Another county's station, or another organisation's, is 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.catalog.storage import Location
from cloud.commerce.storage import Order, Shop
from cloud.db import Database, utcnow
from cloud.errors import ApiError
from cloud.services.poverty.storage import HouseholdLink, LinkIncome
from cloud.services.statforms.storage import FormSubmission
from cloud.services.stations.divisions import DivisionError, check_division, name_of
from cloud.services.stations.schemas import (
    PerformanceRow,
    PublicStation,
    StationIn,
    StationOut,
    StationPatch,
    StatusIn,
)
from cloud.services.stations.storage import TIERS, TRANSITIONS, StationInfo, StationShop
from protocol.ids import COUNTIES, COUNTY_CODES, PREFECTURE

FEN = Decimal("0.01")
#: Counts under this are not published (small-cell suppression).
MIN_CELL = 5


def yuan(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) * FEN).quantize(FEN)


@asynccontextmanager
async def _session(db: Database | AsyncSession) -> AsyncIterator[AsyncSession]:
    if isinstance(db, AsyncSession):
        yield db
    else:
        async with db.session() as s:
            yield s


def org_of(principal: Principal) -> int | None:
    """The organisation an organisation role is confined to (-1: none yet, sees
    nothing); None for county roles."""
    if not policy.ROLES[principal.role].org_scoped:
        return None
    if principal.org_id is None or not principal.org_id.isdigit():
        return -1
    return int(principal.org_id)


def sees(principal: Principal, st: StationInfo) -> bool:
    if not principal.can_see(st.county):
        return False
    mine = org_of(principal)
    return mine is None or st.org_id == mine


def stations_query(
    principal: Principal, counties: list[str] | None, tier: str | None, status: str | None
) -> Select[Any]:
    q = select(StationInfo)
    if counties is not None:
        q = q.where(StationInfo.county.in_(counties))
    mine = org_of(principal)
    if mine is not None:
        q = q.where(StationInfo.org_id == mine)
    if tier is not None:
        q = q.where(StationInfo.tier == tier)
    if status is not None:
        q = q.where(StationInfo.status == status)
    return q


async def get_station(s: AsyncSession, location_id: int, principal: Principal) -> StationInfo:
    st = await s.get(StationInfo, location_id)
    if st is None or not sees(principal, st):
        raise ApiError(404, f"station {location_id} not found")
    return st


async def writable(s: AsyncSession, location_id: int, principal: Principal) -> StationInfo:
    st = await get_station(s, location_id, principal)
    principal.require_write(st.county)
    return st


def _codes(
    tier: str, county: str, township: str | None, village: str | None
) -> tuple[str | None, str | None]:
    """Check the division codes a station of ``tier`` needs; 422 naming the field."""
    try:
        if tier in ("township", "village") and township is None:
            raise DivisionError("body.township_code", f"a {tier} station needs its township")
        if tier == "village" and village is None:
            raise DivisionError("body.village_code", "a village point needs its village")
        if tier != "village" and village is not None:
            raise DivisionError("body.village_code", f"a {tier} station has no village")
        t = None
        if township is not None:
            t = check_division(township, "township", "body.township_code", county=county).code
        if village is not None:
            check_division(village, "village", "body.village_code", county=county, township=t)
    except DivisionError as exc:
        raise ApiError(422, str(exc), field=exc.field) from None
    return township, village


async def create_station(s: AsyncSession, body: StationIn, principal: Principal) -> StationInfo:
    loc = await s.get(Location, body.location_id)
    if loc is None or not principal.can_see(loc.county):
        raise ApiError(404, f"location {body.location_id} not found", field="body.location_id")
    principal.require_write(loc.county)
    if loc.kind != "station" or loc.tier is None:
        raise ApiError(422, f"body.location_id: location {loc.id} is a {loc.kind}, not a station",
                       field="body.location_id")  # fmt: skip
    if await s.get(StationInfo, loc.id) is not None:
        raise ApiError(409, f"station {loc.id} already has its attributes; PATCH them",
                       field="body.location_id")  # fmt: skip
    township, village = _codes(loc.tier, loc.county, body.township_code, body.village_code)
    st = StationInfo(
        location_id=loc.id, county=loc.county, tier=loc.tier, org_id=loc.org_id,
        lon=body.lon, lat=body.lat, township_code=township, village_code=village,
        operator_name=body.operator_name, hours=body.hours, services=list(body.services),
        status="building", status_changed_at=utcnow(), created_at=utcnow(),
        created_by=principal.actor,
    )  # fmt: skip
    s.add(st)
    await s.flush()
    await record(s, principal.actor, "station.created", f"station:{loc.id}", loc.county,
                 body.model_dump(mode="json"))  # fmt: skip
    return st


async def update_station(
    s: AsyncSession, st: StationInfo, body: StationPatch, principal: Principal
) -> StationInfo:
    changes = body.model_dump(exclude_unset=True)
    for key in ("lon", "lat", "operator_name", "hours", "services"):
        if key in changes and changes[key] is None:
            raise ApiError(422, f"body.{key}: may not be null", field=f"body.{key}")
    if "township_code" in changes or "village_code" in changes:
        _codes(st.tier, st.county, changes.get("township_code", st.township_code),
               changes.get("village_code", st.village_code))  # fmt: skip
    done = {k: v for k, v in changes.items() if getattr(st, k) != v}
    before = {k: getattr(st, k) for k in done}
    for k, v in done.items():
        setattr(st, k, v)
    if done:
        st.updated_at = utcnow()
        await s.flush()
        await record(s, principal.actor, "station.updated", f"station:{st.location_id}",
                     st.county, {"before": before, "after": done})  # fmt: skip
    return st


async def change_status(
    s: AsyncSession, st: StationInfo, body: StatusIn, principal: Principal
) -> StationInfo:
    if body.status == st.status:
        return st
    if body.status not in TRANSITIONS[st.status]:
        allowed = ", ".join(sorted(TRANSITIONS[st.status])) or "none (closed is final)"
        raise ApiError(409, f"body.status: a {st.status} station cannot become {body.status}; "
                       f"allowed: {allowed}", field="body.status")  # fmt: skip
    if body.status in ("suspended", "closed") and not body.reason:
        raise ApiError(422, f"body.reason: say why the station is {body.status}",
                       field="body.reason")  # fmt: skip
    before = st.status
    st.status, st.status_reason, st.status_changed_at = body.status, body.reason, utcnow()
    st.updated_at = utcnow()
    await s.flush()
    await record(s, principal.actor, "station.status", f"station:{st.location_id}", st.county,
                 {"before": before, "after": body.status, "reason": body.reason})  # fmt: skip
    return st


async def set_shops(
    s: AsyncSession, st: StationInfo, shop_ids: list[int], principal: Principal
) -> StationInfo:
    """The shops attributed to the station: each of its county, attributed to no other."""
    wanted = sorted(set(shop_ids))
    for sid in wanted:
        shop = await s.get(Shop, sid)
        if shop is None or shop.county != st.county:
            raise ApiError(404, f"shop {sid} not found in county {st.county}",
                           field=f"body.shop_ids[{shop_ids.index(sid)}]")  # fmt: skip
        other = await s.scalar(
            select(StationShop.station_id).where(
                StationShop.shop_id == sid, StationShop.station_id != st.location_id
            )
        )
        if other is not None:
            raise ApiError(409, f"shop {sid} is attributed to station {other}",
                           field=f"body.shop_ids[{shop_ids.index(sid)}]")  # fmt: skip
    rows = (
        await s.scalars(select(StationShop).where(StationShop.station_id == st.location_id))
    ).all()
    before = sorted(r.shop_id for r in rows)
    for r in rows:
        if r.shop_id not in wanted:
            await s.delete(r)
    for sid in wanted:
        if sid not in before:
            s.add(StationShop(station_id=st.location_id, shop_id=sid, created_by=principal.actor))
    await s.flush()
    if before != wanted:
        await record(s, principal.actor, "station.shops", f"station:{st.location_id}",
                     st.county, {"before": before, "after": wanted})  # fmt: skip
    return st


async def shops_of(s: AsyncSession, ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        rows = await s.execute(
            select(StationShop.station_id, StationShop.shop_id)
            .where(StationShop.station_id.in_(ids))
            .order_by(StationShop.shop_id)
        )
        for sid, shop in rows:
            out[sid].append(shop)
    return out


async def names_of(s: AsyncSession, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await s.execute(select(Location.id, Location.name).where(Location.id.in_(ids)))
    return {i: n for i, n in rows}


async def station_out(s: AsyncSession, rows: list[StationInfo]) -> list[StationOut]:
    ids = [r.location_id for r in rows]
    names, shops = await names_of(s, ids), await shops_of(s, ids)
    return [
        StationOut(
            location_id=r.location_id,
            name=names.get(r.location_id, ""),
            county=r.county,
            tier=r.tier,
            tier_zh=TIERS[r.tier][0],
            org_id=r.org_id,
            lon=r.lon,
            lat=r.lat,
            township_code=r.township_code,
            township_name=name_of(r.township_code),
            village_code=r.village_code,
            village_name=name_of(r.village_code),
            operator_name=r.operator_name,
            hours=r.hours,
            services=list(r.services),
            status=r.status,
            status_reason=r.status_reason,
            status_changed_at=r.status_changed_at,
            shop_ids=shops[r.location_id],
        )
        for r in rows
    ]


def _active_in(month: str) -> Any:
    return and_(
        HouseholdLink.since <= month,
        or_(HouseholdLink.until.is_(None), HouseholdLink.until >= month),
    )


async def performance(s: AsyncSession, st: StationInfo, months: list[str]) -> list[PerformanceRow]:
    """Each month's orders, parcels and net sales of the station's shops (commerce's
    definitions: cancelled orders excluded, a parcel is an order that was shipped),
    the households linked to it, and the offline sales of its monthly form."""
    shop_ids = (await shops_of(s, [st.location_id]))[st.location_id]
    sales: dict[str, tuple[int, int, int]] = {}
    if shop_ids:
        rows = await s.execute(
            select(
                Order.month,
                func.count(),
                func.count(Order.shipped_at),
                func.coalesce(func.sum(Order.amount_fen - Order.refunded_fen), 0),
            )
            .where(
                Order.shop_id.in_(shop_ids),
                Order.month.in_(months),
                Order.status != "cancelled",
            )
            .group_by(Order.month)
        )
        sales = {m: (int(n), int(p), int(f)) for m, n, p, f in rows}
    forms = {
        f.month: f.values.get("offline_sales")
        for f in await s.scalars(
            select(FormSubmission).where(
                FormSubmission.station_id == st.location_id,
                FormSubmission.kind == "station_monthly",
                FormSubmission.month.in_(months),
            )
        )
    }
    out = []
    for m in months:
        served = await s.scalar(
            select(func.count(distinct(HouseholdLink.household_id))).where(
                HouseholdLink.station_id == st.location_id, _active_in(m)
            )
        )
        n, p, f = sales.get(m, (0, 0, 0))
        off = forms.get(m)
        out.append(
            PerformanceRow(
                month=m,
                orders=n,
                parcels=p,
                sales=yuan(f),
                households_served=int(served or 0),
                offline_sales=None if off is None else Decimal(off),
            )
        )
    return out


async def public_stations(s: AsyncSession, county: str | None) -> list[dict[str, Any]]:
    """The map data: every station not closed, no personal data."""
    q = select(StationInfo, Location.name).join(Location, Location.id == StationInfo.location_id)
    q = q.where(StationInfo.status != "closed").order_by(StationInfo.location_id)
    if county is not None:
        q = q.where(StationInfo.county == county)
    out = []
    for st, name in (await s.execute(q)).all():
        out.append(
            PublicStation(
                id=st.location_id,
                name=name,
                tier=st.tier,
                tier_zh=TIERS[st.tier][0],
                status=st.status,
                county=st.county,
                county_name=COUNTIES[st.county][1],
                township=name_of(st.township_code),
                village=name_of(st.village_code),
                township_code=st.township_code,
                village_code=st.village_code,
                lon=round(st.lon, 5),
                lat=round(st.lat, 5),
                operator=st.operator_name,
                hours=st.hours,
                services=list(st.services),
            ).model_dump(mode="json")
        )
    return out


async def monthly_figures(
    db_or_session: Database | AsyncSession, county: str, month: str
) -> dict[str, int | str | None]:
    """The county's stations by tier and by status (as they stand now: a station's
    status history is in the audit log), the households linked in ``month`` and the
    income those links brought (yuan, a decimal string). Household figures under
    :data:`MIN_CELL` are None (suppressed). The prefecture (533100) is the sum of its
    counties; a household figure of it is None when any county's is, so that it never
    gives away a suppressed county by subtraction."""
    async with _session(db_or_session) as s:
        if county == PREFECTURE:
            parts = [await monthly_figures(s, c, month) for c in COUNTY_CODES]
            summed: dict[str, int | str | None] = {}
            for key in parts[0]:
                values = [p[key] for p in parts]
                if any(v is None for v in values):
                    summed[key] = None
                elif key == "income_yuan":
                    summed[key] = str(sum((Decimal(str(v)) for v in values), Decimal("0.00")))
                else:
                    summed[key] = sum(int(v or 0) for v in values)
            return summed
        rows = await s.execute(
            select(StationInfo.tier, StationInfo.status, func.count())
            .where(StationInfo.county == county)
            .group_by(StationInfo.tier, StationInfo.status)
        )
        out: dict[str, int | str | None] = {f"stations_{t}": 0 for t in TIERS}
        out.update({f"stations_{st}": 0 for st in TRANSITIONS})
        total = 0
        for tier, status, n in rows:
            out[f"stations_{tier}"] = int(out[f"stations_{tier}"] or 0) + int(n)
            out[f"stations_{status}"] = int(out[f"stations_{status}"] or 0) + int(n)
            total += int(n)
        out["stations_total"] = total
        households = int(
            await s.scalar(
                select(func.count(distinct(HouseholdLink.household_id))).where(
                    HouseholdLink.county == county, _active_in(month)
                )
            )
            or 0
        )
        income = await s.scalar(
            select(func.coalesce(func.sum(LinkIncome.amount_fen), 0)).where(
                LinkIncome.county == county, LinkIncome.month == month
            )
        )
        small = households < MIN_CELL
        out["households_linked"] = None if small else households
        out["income_yuan"] = None if small else str(yuan(int(income or 0)))
        return out
