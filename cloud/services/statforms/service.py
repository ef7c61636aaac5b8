"""Fill in, validate and flag the monthly statistics forms.

A form of month M may be filed once M is over; it is due by its kind's ``due_day`` of
M+1 (Beijing). Filed after that it is ``late``; not filed by then ``missing`` (for
stations open or suspended: a station building or closed owes none). A second filing
corrects the first: ``version`` rises, ``late`` stays as the first filing set it, and
the audit log keeps the values before and after.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.catalog.storage import Location
from cloud.db import utcnow
from cloud.errors import ApiError
from cloud.services.statforms.schemas import (
    KINDS,
    Board,
    BoardRow,
    FormKind,
    SubmissionIn,
    SubmissionOut,
)
from cloud.services.statforms.storage import FormSubmission
from cloud.services.stations.service import org_of, sees
from cloud.services.stations.storage import StationInfo

BEIJING = timezone(timedelta(hours=8))
YUAN = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


def due_date(kind: FormKind, month: str) -> date:
    y, m = int(month[:4]), int(month[5:7])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return date(y, m, kind.due_day)


def month_end(month: str) -> date:
    y, m = int(month[:4]), int(month[5:7])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return date(y, m, 1)


def validate(kind: FormKind, values: dict[str, Any]) -> dict[str, Any]:
    """The values checked and normalised; 422 naming ``body.values.<field>``."""
    known = {f.name: f for f in kind.fields}
    for name in values:
        if name not in known:
            raise ApiError(422, f"body.values.{name}: not a field of {kind.code} "
                           f"({', '.join(known)})", field=f"body.values.{name}")  # fmt: skip
    out: dict[str, Any] = {}
    for f in kind.fields:
        where = f"body.values.{f.name}"
        v = values.get(f.name)
        if v is None:
            if f.required:
                raise ApiError(422, f"{where}: required ({f.zh})", field=where)
            continue
        if f.kind == "int":
            if type(v) is not int or not 0 <= v <= f.maximum:
                raise ApiError(422, f"{where}: a whole number 0..{f.maximum}", field=where)
            out[f.name] = v
        elif f.kind == "yuan":
            text = str(v)
            try:
                ok = YUAN.match(text) is not None and Decimal(text) <= f.maximum
            except InvalidOperation:
                ok = False
            if isinstance(v, float) or not ok:
                raise ApiError(422, f"{where}: yuan as a string or integer, never negative, at "
                               f"most 2 decimals, at most {f.maximum}", field=where)  # fmt: skip
            out[f.name] = str(Decimal(text).quantize(Decimal("0.01")))
        else:
            if not isinstance(v, str) or len(v) > f.maximum:
                raise ApiError(422, f"{where}: text of at most {f.maximum} characters",
                               field=where)  # fmt: skip
            out[f.name] = v
    if kind.code == "station_monthly":
        if Decimal(out["offline_sales"]) > 0 and out["offline_orders"] == 0:
            raise ApiError(422, "body.values.offline_orders: sales without orders",
                           field="body.values.offline_orders")  # fmt: skip
        if out["offline_orders"] > 0 and Decimal(out["offline_sales"]) == 0:
            raise ApiError(422, "body.values.offline_sales: orders without sales",
                           field="body.values.offline_sales")  # fmt: skip
    return out


async def _station(s: AsyncSession, ident: int, principal: Principal, field: str) -> StationInfo:
    st = await s.get(StationInfo, ident)
    if st is None or not sees(principal, st):
        raise ApiError(404, f"station {ident} not found", field=field)
    return st


async def submit(
    s: AsyncSession, body: SubmissionIn, principal: Principal, now: datetime
) -> tuple[FormSubmission, bool]:
    kind = KINDS[body.kind]
    st = await _station(s, body.station_id, principal, "body.station_id")
    principal.require_write(st.county, None if st.org_id is None else str(st.org_id))
    today = now.astimezone(BEIJING).date()
    if month_end(body.month) > today:
        raise ApiError(422, f"body.month: {body.month} is not over yet", field="body.month")
    values = validate(kind, body.values)
    row = await s.scalar(
        select(FormSubmission).where(
            FormSubmission.station_id == st.location_id,
            FormSubmission.kind == body.kind,
            FormSubmission.month == body.month,
        )
    )
    created = row is None
    if row is None:
        row = FormSubmission(
            station_id=st.location_id, county=st.county, kind=body.kind, month=body.month,
            values=values, version=1, late=today > due_date(kind, body.month),
            submitted_at=now, submitted_by=principal.actor,
        )  # fmt: skip
        s.add(row)
        before = None
    else:
        before = dict(row.values)
        if before == values:
            return row, False
        row.values, row.version, row.updated_at = values, row.version + 1, now
    await s.flush()
    await record(s, principal.actor, "statform.submitted", f"statform:{row.id}", st.county,
                 {"station_id": st.location_id, "kind": body.kind, "month": body.month,
                  "version": row.version, "late": row.late, "before": before,
                  "after": values})  # fmt: skip
    return row, created


def out(row: FormSubmission) -> SubmissionOut:
    return SubmissionOut(
        id=row.id, station_id=row.station_id, county=row.county, kind=row.kind,
        month=row.month, values=row.values, version=row.version, late=row.late,
        submitted_at=row.submitted_at, submitted_by=row.submitted_by, updated_at=row.updated_at,
    )  # fmt: skip


def submissions_query(
    principal: Principal, counties: list[str] | None, station_id: int | None,
    month: str | None, kind: str | None,
) -> Select[Any]:  # fmt: skip
    q = select(FormSubmission)
    if counties is not None:
        q = q.where(FormSubmission.county.in_(counties))
    mine = org_of(principal)
    if mine is not None:
        q = q.where(
            FormSubmission.station_id.in_(
                select(StationInfo.location_id).where(StationInfo.org_id == mine)
            )
        )
    if station_id is not None:
        q = q.where(FormSubmission.station_id == station_id)
    if month is not None:
        q = q.where(FormSubmission.month == month)
    if kind is not None:
        q = q.where(FormSubmission.kind == kind)
    return q


async def get_submission(s: AsyncSession, ident: int, principal: Principal) -> FormSubmission:
    row = await s.get(FormSubmission, ident)
    st = None if row is None else await s.get(StationInfo, row.station_id)
    if row is None or st is None or not sees(principal, st):
        raise ApiError(404, f"submission {ident} not found")
    return row


async def board(
    s: AsyncSession, principal: Principal, counties: list[str] | None, kind_code: str,
    month: str, now: datetime,
) -> Board:  # fmt: skip
    """Each station that owes the form (open or suspended): submitted, late, missing
    (past due, not filed) or pending (not yet due)."""
    kind = KINDS[kind_code]
    due = due_date(kind, month)
    today = now.astimezone(BEIJING).date()
    q = (
        select(StationInfo, Location.name)
        .join(Location, Location.id == StationInfo.location_id)
        .where(StationInfo.status.in_(("open", "suspended")))
        .order_by(StationInfo.location_id)
    )
    if counties is not None:
        q = q.where(StationInfo.county.in_(counties))
    mine = org_of(principal)
    if mine is not None:
        q = q.where(StationInfo.org_id == mine)
    stations = (await s.execute(q)).all()
    filed = {
        r.station_id: r
        for r in await s.scalars(
            select(FormSubmission).where(
                FormSubmission.kind == kind_code,
                FormSubmission.month == month,
                FormSubmission.station_id.in_([st.location_id for st, _ in stations]),
            )
        )
    }
    rows = []
    for st, name in stations:
        r = filed.get(st.location_id)
        if r is not None:
            state = "late" if r.late else "submitted"
        else:
            state = "missing" if today > due else "pending"
        rows.append(BoardRow(station_id=st.location_id, station=name, county=st.county,
                             state=state, submission_id=None if r is None else r.id))  # fmt: skip
    counts = {k: sum(1 for r in rows if r.state == k)
              for k in ("submitted", "late", "missing", "pending")}  # fmt: skip
    return Board(kind=kind_code, month=month, due=due.isoformat(), counts=counts, rows=rows)


def now_utc() -> datetime:
    return utcnow()
