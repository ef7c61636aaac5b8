"""Households, their links and income; personal data sealed (cloud/pii) and revealed,
each read audited, only to the poverty-alleviation officer of the household's own
county; PIPL export and erasure; the public aggregates with suppression.

Every write is audited in the caller's transaction, personal fields named, never
valued.
"""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.catalog.storage import Organisation
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.pii import (
    Keyring,
    blind_index,
    blind_indexes,
    key_id_of,
    open_field,
    reveal,
    rewrap,
    seal,
)
from cloud.services.poverty.schemas import (
    EraseIn,
    HouseholdIn,
    HouseholdOut,
    IncomeIn,
    IncomeOut,
    LinkIn,
    LinkOut,
)
from cloud.services.poverty.storage import PERSONAL, Household, HouseholdLink, LinkIncome
from cloud.services.poverty.suppress import MIN_CELL, build, suppress
from cloud.services.stations.divisions import DivisionError, check_division, name_of
from cloud.services.stations.storage import StationInfo
from protocol.ids import COUNTIES

FEN = Decimal("0.01")


def context(ref: str, field: str) -> str:
    return f"poverty_households.{field}:{ref}"


def yuan(fen: int) -> Decimal:
    return (Decimal(fen) * FEN).quantize(FEN)


def sees_personal(principal: Principal, hh: Household) -> bool:
    """Only a poverty-alleviation officer of the household's own county (not one homed
    at the prefecture) reads the personal fields."""
    return policy.allows(principal.role, "poverty:personal") and principal.county == hh.county


def households_query(principal: Principal, counties: list[str] | None,
                     village: str | None) -> Select[Any]:  # fmt: skip
    q = select(Household)
    if counties is not None:
        q = q.where(Household.county.in_(counties))
    if village is not None:
        q = q.where(Household.village_code == village)
    return q


async def get_household(s: AsyncSession, ident: int, principal: Principal) -> Household:
    hh = await s.get(Household, ident)
    if hh is None or not principal.can_see(hh.county):
        raise ApiError(404, f"household {ident} not found")
    return hh


async def writable(s: AsyncSession, ident: int, principal: Principal) -> Household:
    hh = await get_household(s, ident, principal)
    principal.require_write(hh.county)
    return hh


async def create_household(
    s: AsyncSession, body: HouseholdIn, principal: Principal, keyring: Keyring
) -> Household:
    try:
        t = check_division(body.township_code, "township", "body.township_code")
        v = check_division(body.village_code, "village", "body.village_code",
                           county=t.county, township=t.code)  # fmt: skip
    except DivisionError as exc:
        raise ApiError(422, str(exc), field=exc.field) from None
    principal.require_write(v.county)
    taken = await s.scalar(
        select(Household.id).where(
            Household.id_number_index.in_(blind_indexes(keyring, "id_number", body.id_number))
        )
    )
    if taken is not None:
        raise ApiError(409, "body.id_number: a household with this ID number is recorded "
                       f"(household {taken})", field="body.id_number")  # fmt: skip
    ref = secrets.token_hex(8)
    values = {"name": body.name, "id_number": body.id_number, "phone": body.phone,
              "bank_account": body.bank_account}  # fmt: skip
    hh = Household(
        ref=ref, county=v.county, township_code=t.code, village_code=v.code,
        id_number_index=blind_index(keyring, "id_number", body.id_number),
        legal_basis=body.consent.legal_basis, consent_at=body.consent.consent_at,
        purpose=body.consent.purpose, retention_until=body.consent.retention_until,
        created_at=utcnow(), created_by=principal.actor,
    )  # fmt: skip
    for f in PERSONAL:
        val = values[f]
        setattr(hh, f"{f}_sealed", None if val is None else seal(keyring, val, context(ref, f)))
    s.add(hh)
    await s.flush()
    await record(
        s, principal.actor, "household.created", f"household:{hh.id}", hh.county,
        {"village_code": v.code, "legal_basis": hh.legal_basis,
         "consent_at": str(hh.consent_at), "retention_until": str(hh.retention_until),
         "purpose": hh.purpose},
        personal_changed=[f for f in PERSONAL if values[f] is not None],
    )  # fmt: skip
    return hh


async def _links(s: AsyncSession, hh: Household) -> list[LinkOut]:
    links = (
        await s.scalars(
            select(HouseholdLink)
            .where(HouseholdLink.household_id == hh.id)
            .order_by(HouseholdLink.id)
        )
    ).all()
    income: dict[int, list[IncomeOut]] = {x.id: [] for x in links}
    for row in await s.scalars(
        select(LinkIncome).where(LinkIncome.household_id == hh.id).order_by(LinkIncome.month)
    ):
        income.setdefault(row.link_id, []).append(
            IncomeOut(month=row.month, amount=yuan(row.amount_fen))
        )
    return [
        LinkOut(
            id=x.id,
            link_type=x.link_type,
            partner_kind=x.partner_kind,
            org_id=x.org_id,
            station_id=x.station_id,
            since=x.since,
            until=x.until,
            income=income[x.id],
        )
        for x in links
    ]


async def household_out(
    s: AsyncSession, hh: Household, principal: Principal, keyring: Keyring
) -> HouseholdOut:
    """Personal fields revealed (each read audited by cloud.pii) for the county's
    officer, masked for the others, None once erased."""
    personal: dict[str, str | None] = {}
    show = sees_personal(principal, hh)
    for f in PERSONAL:
        token = getattr(hh, f"{f}_sealed")
        if token is None:
            personal[f] = None
        elif not show:
            personal[f] = policy.MASK
        else:
            personal[f] = await reveal(
                s, keyring, token, context=context(hh.ref, f), actor=principal.actor,
                county=hh.county, target=f"household:{hh.id}", field=f,
            )  # fmt: skip
    return HouseholdOut(
        id=hh.id, county=hh.county, township_code=hh.township_code,
        township_name=name_of(hh.township_code), village_code=hh.village_code,
        village_name=name_of(hh.village_code), legal_basis=hh.legal_basis,
        consent_at=hh.consent_at, purpose=hh.purpose, retention_until=hh.retention_until,
        erased_at=hh.erased_at, erased_reason=hh.erased_reason, links=await _links(s, hh),
        **personal,
    )  # fmt: skip


async def add_link(s: AsyncSession, hh: Household, body: LinkIn, principal: Principal) -> int:
    if body.station_id is not None:
        st = await s.get(StationInfo, body.station_id)
        if st is None or st.county != hh.county:
            raise ApiError(404, f"station {body.station_id} not found in county {hh.county}",
                           field="body.station_id")  # fmt: skip
    else:
        org = await s.get(Organisation, body.org_id)
        if org is None or org.county != hh.county:
            raise ApiError(404, f"organisation {body.org_id} not found in county {hh.county}",
                           field="body.org_id")  # fmt: skip
        if org.kind != body.partner_kind:
            raise ApiError(422, f"body.partner_kind: organisation {org.id} is a {org.kind}",
                           field="body.partner_kind")  # fmt: skip
    link = HouseholdLink(
        household_id=hh.id, county=hh.county, link_type=body.link_type,
        partner_kind=body.partner_kind, org_id=body.org_id, station_id=body.station_id,
        since=body.since, until=body.until, created_at=utcnow(), created_by=principal.actor,
    )  # fmt: skip
    s.add(link)
    await s.flush()
    await record(s, principal.actor, "household.linked", f"household:{hh.id}", hh.county,
                 {"link_id": link.id, **body.model_dump(mode="json")})  # fmt: skip
    return link.id


async def set_income(
    s: AsyncSession, link_id: int, month: str, body: IncomeIn, principal: Principal
) -> HouseholdLink:
    link = await s.get(HouseholdLink, link_id)
    if link is None or not principal.can_see(link.county):
        raise ApiError(404, f"link {link_id} not found")
    principal.require_write(link.county)
    if month < link.since or (link.until is not None and month > link.until):
        raise ApiError(422, f"path.month: {month} is outside the link ({link.since} to "
                       f"{link.until or 'now'})", field="path.month")  # fmt: skip
    fen = int(body.amount * 100)
    row = await s.scalar(
        select(LinkIncome).where(LinkIncome.link_id == link_id, LinkIncome.month == month)
    )
    before = None if row is None else str(yuan(row.amount_fen))
    if row is None:
        row = LinkIncome(link_id=link_id, household_id=link.household_id, county=link.county,
                         month=month, amount_fen=fen, recorded_by=principal.actor)  # fmt: skip
        s.add(row)
    else:
        row.amount_fen, row.recorded_at, row.recorded_by = fen, utcnow(), principal.actor
    await s.flush()
    await record(s, principal.actor, "household.income", f"household:{link.household_id}",
                 link.county, {"link_id": link_id, "month": month, "before": before,
                               "after": str(yuan(fen))})  # fmt: skip
    return link


async def export(
    s: AsyncSession, hh: Household, principal: Principal, keyring: Keyring
) -> dict[str, Any]:
    """Everything held about the household (PIPL art. 45), audited."""
    if not sees_personal(principal, hh):
        raise ApiError(403, "only the poverty-alleviation officer of the household's county "
                       "exports its personal data")  # fmt: skip
    out = await household_out(s, hh, principal, keyring)
    await record(s, principal.actor, "household.exported", f"household:{hh.id}", hh.county,
                 {"fields": list(PERSONAL)})  # fmt: skip
    return {"format": "dehong.poverty.household/1", "exported_at": utcnow().isoformat(),
            "household": out.model_dump(mode="json")}  # fmt: skip


async def erase(
    s: AsyncSession, hh: Household, body: EraseIn, principal: Principal, today: date
) -> Household:
    """Drop the sealed personal fields and the ID index (PIPL art. 47). ``retention``
    only once the retention period has ended."""
    if hh.erased_at is not None:
        raise ApiError(409, f"household {hh.id} was erased on {hh.erased_at:%Y-%m-%d}")
    if body.reason == "retention" and hh.retention_until >= today:
        raise ApiError(409, f"body.reason: the retention period runs until "
                       f"{hh.retention_until}", field="body.reason")  # fmt: skip
    await _erase(s, hh, f"{body.reason}: {body.note}", principal.actor)
    return hh


async def _erase(s: AsyncSession, hh: Household, reason: str, actor: str) -> None:
    held = [f for f in PERSONAL if getattr(hh, f"{f}_sealed") is not None]
    for f in PERSONAL:
        setattr(hh, f"{f}_sealed", None)
    hh.id_number_index = None
    hh.erased_at, hh.erased_reason = utcnow(), reason[:300]
    await s.flush()
    await record(s, actor, "household.erased", f"household:{hh.id}", hh.county,
                 {"reason": reason[:300]}, personal_changed=held)  # fmt: skip


async def erase_expired(
    s: AsyncSession, counties: list[str] | None, today: date, actor: str
) -> list[int]:
    """Erase every household whose retention ended before ``today`` (each audited)."""
    q = select(Household).where(Household.erased_at.is_(None), Household.retention_until < today)
    if counties is not None:
        q = q.where(Household.county.in_(counties))
    done = []
    for hh in (await s.scalars(q.order_by(Household.id))).all():
        await _erase(s, hh, f"retention: ended {hh.retention_until}", actor)
        done.append(hh.id)
    return done


async def aggregates(s: AsyncSession, month: str, level: str, county: str | None) -> dict[str, Any]:
    """Households linked in ``month`` and the income they were brought, by village,
    township or county, small cells and their complements suppressed
    (:mod:`cloud.services.poverty.suppress`). The mask is computed on the whole
    hierarchy, so every level and county filter shows the same cells."""
    active = and_(
        HouseholdLink.since <= month,
        or_(HouseholdLink.until.is_(None), HouseholdLink.until >= month),
    )
    linked = (
        select(Household.id, Household.county, Household.township_code, Household.village_code)
        .where(Household.id.in_(select(HouseholdLink.household_id).where(active)))
        .subquery()
    )
    counts = await s.execute(
        select(linked.c.county, linked.c.township_code, linked.c.village_code, func.count())
        .group_by(linked.c.county, linked.c.township_code, linked.c.village_code)
    )  # fmt: skip
    income = dict(
        (
            v,
            int(f),
        )
        for v, f in await s.execute(
            select(Household.village_code, func.sum(LinkIncome.amount_fen))
            .join(Household, Household.id == LinkIncome.household_id)
            .where(LinkIncome.month == month)
            .group_by(Household.village_code)
        )
    )
    rows = [(c, t, v, int(n), income.get(v, 0)) for c, t, v, n in counts]
    cells = suppress(build(rows))
    out = []
    for cell in sorted(cells.values(), key=lambda x: x.key):
        if cell.level != level:
            continue
        c = cell.key[:6]
        if county is not None and c != county:
            continue
        shown = not cell.suppressed
        out.append({
            "county": c, "county_name": COUNTIES[c][1],
            "township_code": None if level == "county" else
            (cell.key if level == "township" else cell.parent),
            "township": None if level == "county" else
            name_of(cell.key if level == "township" else cell.parent),
            "village_code": cell.key if level == "village" else None,
            "village": name_of(cell.key) if level == "village" else None,
            "households": cell.households if shown else None,
            "income_yuan": str(yuan(cell.income_fen)) if shown else None,
            "suppressed": not shown,
        })  # fmt: skip
    return {"month": month, "level": level, "min_cell": MIN_CELL, "rows": out,
            "note": "counts under 5, and the cells that would reveal them from totals, are "
                    "suppressed (null)"}  # fmt: skip


async def rewrap_all(s: AsyncSession, ring: Keyring) -> int:
    """Key rotation: re-wrap every household's sealed fields with the active master key
    and re-index its ID number under it (cloud/pii/README.md, "Rotation"). How many
    households changed; 0 once none is left on an older key."""
    changed = 0
    for hh in await s.scalars(select(Household).order_by(Household.id)):
        moved = False
        for f in PERSONAL:
            token = getattr(hh, f"{f}_sealed")
            if token is not None and key_id_of(token) != ring.active:
                setattr(hh, f"{f}_sealed", rewrap(ring, token, context(hh.ref, f)))
                moved = True
        if moved:
            if hh.id_number_sealed is not None:
                number = open_field(ring, hh.id_number_sealed, context(hh.ref, "id_number"))
                hh.id_number_index = blind_index(ring, "id_number", number)
            changed += 1
    await s.flush()
    return changed
