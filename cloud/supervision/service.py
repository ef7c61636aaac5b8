"""Supervision's rules: budget lines, contracts and disbursements (never past a line or
a contract, also when two arrive at once), milestones, the rhythm, meetings, bulletins,
monthly reports, inspections, evaluations and publications.

Every write is audited (:func:`audit`): who, when, the fields before and after; for
personal fields (a contract's contact person and phone) only their names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth import policy
from cloud.auth.principal import Principal
from cloud.catalog.storage import Organisation
from cloud.db.base import utcnow
from cloud.errors import ApiError
from cloud.supervision import figures as figs
from cloud.supervision import schemas as sc
from cloud.supervision.storage import (
    ActionItem,
    BudgetLine,
    Bulletin,
    Contract,
    Disbursement,
    Evaluation,
    Evidence,
    Finding,
    Inspection,
    Meeting,
    Milestone,
    Publication,
    Rectification,
    Report,
    ReportVersion,
    ScheduleItem,
)
from protocol.ids import PREFECTURE

BEIJING = ZoneInfo("Asia/Shanghai")

FEN = Decimal("0.01")
RATIO = Decimal("0.0001")
#: personal fields of supervision's records: masked without personal:read; the audit
#: log names them when they change, never their values
PERSONAL = frozenset({"contact_person", "contact_phone"})
#: monthly reports: due the 25th, reminded the 20th (overdue from the 26th)
REPORT_DUE_DAY = 25
REPORT_REMIND_DAY = 20


def yuan(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) * FEN).quantize(FEN)


def to_fen(amount: Decimal) -> int:
    return int((amount / FEN).to_integral_value())


def not_found(what: str, ident: object, field: str | None = None) -> ApiError:
    prefix = f"{field}: " if field else ""
    return ApiError(404, f"{prefix}{what} {ident} not found", field=field)


def own_org(principal: Principal) -> int | None:
    """The organisation an organisation role acts for (None: a county role)."""
    if not policy.ROLES[principal.role].org_scoped:
        return None
    org = principal.org_id
    return int(org) if org is not None and org.isdigit() else -1


def scoped(q: Select[Any], column: Any, counties: list[str] | None) -> Select[Any]:
    return q if counties is None else q.where(column.in_(counties))


def _plain(v: object) -> object:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, date | datetime):
        return v.isoformat()
    return v


async def audit(
    s: AsyncSession,
    principal: Principal,
    action: str,
    target: str,
    county: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """One audit entry: the changed fields' values before and after; personal fields by
    name only (``personal_fields_changed``)."""
    changed = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    detail = {
        "before": {k: _plain(before[k]) for k in changed if k in before and k not in PERSONAL},
        "after": {k: _plain(after[k]) for k in changed if k in after and k not in PERSONAL},
    }
    await record(
        s,
        principal.actor,
        action,
        target,
        county,
        detail,
        personal_changed=[k for k in changed if k in PERSONAL],
    )


def fields(row: object, names: Sequence[str]) -> dict[str, Any]:
    return {n: getattr(row, n) for n in names}


# ------------------------------------------------------------------------ budget

LINE_FIELDS = ("county", "code", "name", "name_en", "amount_fen", "systems")
CONTRACT_FIELDS = (
    "line_id",
    "county",
    "number",
    "title",
    "counterparty",
    "amount_fen",
    "signed_on",
    "contact_person",
    "contact_phone",
)
DISBURSEMENT_FIELDS = ("contract_id", "line_id", "county", "amount_fen", "paid_on", "voucher")


async def create_line(s: AsyncSession, body: sc.LineIn, principal: Principal) -> BudgetLine:
    principal.require_write(body.county)
    taken = await s.scalar(
        select(BudgetLine.id).where(BudgetLine.county == body.county, BudgetLine.code == body.code)
    )
    if taken is not None:
        raise ApiError(
            409, f"body.code: county {body.county} already has line {body.code}", field="body.code"
        )
    line = BudgetLine(
        county=body.county,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        amount_fen=to_fen(body.amount),
        systems=body.systems,
        created_by=principal.actor,
    )
    s.add(line)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.line.created",
        f"line:{line.id}",
        line.county,
        {},
        fields(line, LINE_FIELDS),
    )
    return line


async def get_line(
    s: AsyncSession, line_id: int, principal: Principal, field: str | None = None
) -> BudgetLine:
    line = await s.get(BudgetLine, line_id)
    if line is None or not principal.can_see(line.county):
        raise not_found("budget line", line_id, field)
    return line


async def _sums(s: AsyncSession, column: Any, key: Any, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = await s.execute(
        select(key, func.coalesce(func.sum(column), 0)).where(key.in_(ids)).group_by(key)
    )
    return {int(k): int(v) for k, v in rows}


async def lines_out(s: AsyncSession, lines: list[BudgetLine]) -> list[sc.LineOut]:
    ids = [x.id for x in lines]
    contracted = await _sums(s, Contract.amount_fen, Contract.line_id, ids)
    disbursed = await _sums(s, Disbursement.amount_fen, Disbursement.line_id, ids)
    out = []
    for x in lines:
        d = disbursed.get(x.id, 0)
        out.append(
            sc.LineOut(
                id=x.id,
                county=x.county,
                code=x.code,
                name=x.name,
                name_en=x.name_en,
                amount=yuan(x.amount_fen),
                systems=list(x.systems),
                contracted=yuan(contracted.get(x.id, 0)),
                disbursed=yuan(d),
                remaining=yuan(x.amount_fen - d),
                execution_rate=(Decimal(d) / Decimal(x.amount_fen)).quantize(RATIO),
            )
        )
    return out


async def list_lines(s: AsyncSession, counties: list[str] | None) -> list[BudgetLine]:
    q = scoped(select(BudgetLine), BudgetLine.county, counties)
    return list((await s.scalars(q.order_by(BudgetLine.county, BudgetLine.code))).all())


async def _locked_line(s: AsyncSession, line_id: int) -> BudgetLine:
    """The line, locked until the transaction ends (PostgreSQL: ``FOR UPDATE``), so two
    contracts or disbursements against it are checked one after the other."""
    line = await s.get(BudgetLine, line_id, with_for_update=True, populate_existing=True)
    assert line is not None
    return line


async def create_contract(s: AsyncSession, body: sc.ContractIn, principal: Principal) -> Contract:
    """A contract funded (in part: it may be co-funded) by a line; what the line limits is
    the programme's money paid out, the disbursements."""
    line = await get_line(s, body.line_id, principal, "body.line_id")
    principal.require_write(line.county)
    amount = to_fen(body.amount)
    taken = await s.scalar(
        select(Contract.id).where(Contract.county == line.county, Contract.number == body.number)
    )
    if taken is not None:
        raise ApiError(409, f"body.number: contract {body.number} exists", field="body.number")
    c = Contract(
        line_id=line.id,
        county=line.county,
        number=body.number,
        title=body.title,
        counterparty=body.counterparty,
        amount_fen=amount,
        signed_on=body.signed_on,
        contact_person=body.contact_person,
        contact_phone=body.contact_phone,
        created_by=principal.actor,
    )
    s.add(c)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.contract.created",
        f"contract:{c.id}",
        c.county,
        {},
        fields(c, CONTRACT_FIELDS),
    )
    return c


async def get_contract(
    s: AsyncSession, contract_id: int, principal: Principal, field: str | None = None
) -> Contract:
    c = await s.get(Contract, contract_id)
    if c is None or not principal.can_see(c.county):
        raise not_found("contract", contract_id, field)
    return c


async def patch_contract(
    s: AsyncSession, contract_id: int, body: sc.ContractPatch, principal: Principal
) -> Contract:
    c = await get_contract(s, contract_id, principal)
    principal.require_write(c.county)
    before = fields(c, CONTRACT_FIELDS)
    for k, v in body.model_dump(exclude_unset=True).items():
        if v is None:
            raise ApiError(422, f"body.{k}: may not be null", field=f"body.{k}")
        setattr(c, k, v)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.contract.changed",
        f"contract:{c.id}",
        c.county,
        before,
        fields(c, CONTRACT_FIELDS),
    )
    return c


async def contracts_out(
    s: AsyncSession, rows: list[Contract], principal: Principal
) -> list[sc.ContractOut]:
    paid = await _sums(s, Disbursement.amount_fen, Disbursement.contract_id, [c.id for c in rows])
    return [
        sc.ContractOut(
            id=c.id,
            line_id=c.line_id,
            county=c.county,
            number=c.number,
            title=c.title,
            counterparty=c.counterparty,
            amount=yuan(c.amount_fen),
            signed_on=c.signed_on,
            contact_person=policy.mask(principal, c.contact_person),
            contact_phone=policy.mask(principal, c.contact_phone),
            disbursed=yuan(paid.get(c.id, 0)),
        )
        for c in rows
    ]


async def create_disbursement(
    s: AsyncSession, body: sc.DisbursementIn, principal: Principal
) -> Disbursement:
    """Refused (422, ``body.amount``) when it would take its line's or its contract's
    disbursements past the amount; the line is locked first, so two concurrent ones
    that each fit but together do not: the second is refused."""
    c = await get_contract(s, body.contract_id, principal, "body.contract_id")
    principal.require_write(c.county)
    line = await _locked_line(s, c.line_id)
    amount = to_fen(body.amount)
    on_line = int(
        await s.scalar(
            select(func.coalesce(func.sum(Disbursement.amount_fen), 0)).where(
                Disbursement.line_id == line.id
            )
        )
        or 0
    )
    if on_line + amount > line.amount_fen:
        raise ApiError(
            422,
            f"body.amount: {body.amount} yuan would exceed budget line "
            f"{line.code} {line.name} ({yuan(line.amount_fen)} yuan): "
            f"{yuan(on_line)} disbursed, {yuan(line.amount_fen - on_line)} left",
            field="body.amount",
        )
    on_contract = int(
        await s.scalar(
            select(func.coalesce(func.sum(Disbursement.amount_fen), 0)).where(
                Disbursement.contract_id == c.id
            )
        )
        or 0
    )
    if on_contract + amount > c.amount_fen:
        raise ApiError(
            422,
            f"body.amount: {body.amount} yuan would exceed contract {c.number} "
            f"({yuan(c.amount_fen)} yuan): {yuan(on_contract)} disbursed",
            field="body.amount",
        )
    d = Disbursement(
        contract_id=c.id,
        line_id=line.id,
        county=c.county,
        amount_fen=amount,
        paid_on=body.paid_on,
        month=body.paid_on.strftime("%Y-%m"),
        voucher=body.voucher,
        created_by=principal.actor,
    )
    s.add(d)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.disbursement.created",
        f"disbursement:{d.id}",
        d.county,
        {},
        fields(d, DISBURSEMENT_FIELDS),
    )
    return d


def disbursement_out(d: Disbursement) -> sc.DisbursementOut:
    return sc.DisbursementOut(
        id=d.id,
        contract_id=d.contract_id,
        line_id=d.line_id,
        county=d.county,
        amount=yuan(d.amount_fen),
        paid_on=d.paid_on,
        month=d.month,
        voucher=d.voucher,
        created_by=d.created_by,
    )


async def execution(
    s: AsyncSession, counties: list[str] | None, year: int
) -> list[sc.ExecutionRow]:
    """Per line and month of ``year``: disbursed, cumulative (from the start), its rate."""
    lines = await list_lines(s, counties)
    if not lines:
        return []
    rows = await s.execute(
        select(Disbursement.line_id, Disbursement.month, func.sum(Disbursement.amount_fen))
        .where(Disbursement.line_id.in_([x.id for x in lines]))
        .group_by(Disbursement.line_id, Disbursement.month)
    )
    by: dict[tuple[int, str], int] = {(int(a), str(m)): int(v) for a, m, v in rows}
    out = []
    for x in lines:
        before = sum(v for (lid, m), v in by.items() if lid == x.id and m < f"{year}-01")
        cum = before
        for month in figs.months_of(str(year)):
            got = by.get((x.id, month), 0)
            cum += got
            out.append(
                sc.ExecutionRow(
                    line_id=x.id,
                    code=x.code,
                    name=x.name,
                    county=x.county,
                    month=month,
                    disbursed=yuan(got),
                    cumulative=yuan(cum),
                    cumulative_rate=(Decimal(cum) / Decimal(x.amount_fen)).quantize(RATIO),
                )
            )
    return out


# -------------------------------------------------------------------- milestones

MILESTONE_FIELDS = ("line_id", "county", "title", "deliverable", "due_on", "status", "done_on")


def is_overdue(due_on: date, status: str, today: date) -> bool:
    return due_on < today and status not in ("done", "cancelled", "closed")


async def create_milestone(
    s: AsyncSession, body: sc.MilestoneIn, principal: Principal, today: date
) -> Milestone:
    line = await get_line(s, body.line_id, principal, "body.line_id")
    principal.require_write(line.county)
    m = Milestone(
        line_id=line.id,
        county=line.county,
        title=body.title,
        deliverable=body.deliverable,
        due_on=body.due_on,
        status=body.status,
        done_on=today if body.status == "done" else None,
        created_by=principal.actor,
    )
    s.add(m)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.milestone.created",
        f"milestone:{m.id}",
        m.county,
        {},
        fields(m, MILESTONE_FIELDS),
    )
    return m


async def get_milestone(s: AsyncSession, ident: int, principal: Principal) -> Milestone:
    m = await s.get(Milestone, ident)
    if m is None or not principal.can_see(m.county):
        raise not_found("milestone", ident)
    return m


async def patch_milestone(
    s: AsyncSession, ident: int, body: sc.MilestonePatch, principal: Principal, today: date
) -> Milestone:
    m = await get_milestone(s, ident, principal)
    principal.require_write(m.county)
    before = fields(m, MILESTONE_FIELDS)
    if body.status is not None:
        m.status = body.status
        m.done_on = today if body.status == "done" else None
    if body.due_on is not None:
        m.due_on = body.due_on
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.milestone.changed",
        f"milestone:{m.id}",
        m.county,
        before,
        fields(m, MILESTONE_FIELDS),
    )
    return m


async def add_evidence(
    s: AsyncSession, ident: int, body: sc.EvidenceIn, principal: Principal
) -> Evidence:
    m = await get_milestone(s, ident, principal)
    principal.require_write(m.county)
    e = Evidence(
        milestone_id=m.id,
        county=m.county,
        kind=body.kind,
        title=body.title,
        url=body.url,
        sha256=body.sha256,
        added_by=principal.actor,
    )
    s.add(e)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.evidence.added",
        f"milestone:{m.id}",
        m.county,
        {},
        body.model_dump(),
    )
    return e


async def milestones_out(
    s: AsyncSession, rows: list[Milestone], today: date
) -> list[sc.MilestoneOut]:
    ev: dict[int, list[Evidence]] = {}
    if rows:
        for e in await s.scalars(
            select(Evidence)
            .where(Evidence.milestone_id.in_([m.id for m in rows]))
            .order_by(Evidence.id)
        ):
            ev.setdefault(e.milestone_id, []).append(e)
    return [
        sc.MilestoneOut(
            id=m.id,
            line_id=m.line_id,
            county=m.county,
            title=m.title,
            deliverable=m.deliverable,
            due_on=m.due_on,
            status=m.status,
            done_on=m.done_on,
            overdue=is_overdue(m.due_on, m.status, today),
            evidence=[sc.EvidenceOut.model_validate(e) for e in ev.get(m.id, [])],
        )
        for m in rows
    ]


# ------------------------------------------------------------------------ rhythm

SCHEDULE_FIELDS = (
    "county",
    "kind",
    "ref",
    "title",
    "owner",
    "org_id",
    "due_on",
    "remind_on",
    "status",
)


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def year_plan(
    county: str, year: int, owner: str, report_org_id: int | None
) -> list[dict[str, Any]]:
    """The rhythm of a year: a dispatch meeting every Monday (周调度), a bulletin by the
    5th of the next month (月通报), an inspection in each quarter's last month (季督导),
    the half-year self-evaluation by 15 July (半年自评), the annual review by 15
    January (年终考核), and the operating company's monthly report by the 25th
    (reminded the 20th)."""
    items: list[dict[str, Any]] = []
    d = _monday(date(year, 1, 4))  # ISO week 1
    while d.isocalendar()[0] == year:
        wk = d.isocalendar()[1]
        items.append(
            dict(
                kind="weekly_dispatch",
                ref=f"{year}-W{wk:02d}",
                due_on=d,
                remind_on=d - timedelta(days=1),
                title=f"周调度 第{wk}周 Weekly dispatch W{wk}",
            )
        )
        d += timedelta(days=7)
    for m in range(1, 13):
        month = f"{year}-{m:02d}"
        nxt = date(year + (m == 12), m % 12 + 1, 5)
        items.append(
            dict(
                kind="monthly_bulletin",
                ref=month,
                due_on=nxt,
                remind_on=nxt - timedelta(days=3),
                title=f"月通报 {month} Monthly bulletin",
            )
        )
        if report_org_id is not None:
            items.append(
                dict(
                    kind="monthly_report",
                    ref=f"{month}:org:{report_org_id}",
                    org_id=report_org_id,
                    due_on=date(year, m, REPORT_DUE_DAY),
                    remind_on=date(year, m, REPORT_REMIND_DAY),
                    title=f"运营公司月报 {month} Operating company's monthly report",
                )
            )
    for q in range(1, 5):
        due = date(year, q * 3, 28)
        items.append(
            dict(
                kind="quarterly_inspection",
                ref=f"{year}-Q{q}",
                due_on=due,
                remind_on=due - timedelta(days=7),
                title=f"季督导 {year}年第{q}季度 Quarterly inspection Q{q}",
            )
        )
    items.append(
        dict(
            kind="half_year_evaluation",
            ref=f"{year}-H1",
            due_on=date(year, 7, 15),
            remind_on=date(year, 7, 1),
            title=f"半年自评 {year} Half-year self-evaluation",
        )
    )
    items.append(
        dict(
            kind="annual_review",
            ref=str(year),
            due_on=date(year + 1, 1, 15),
            remind_on=date(year + 1, 1, 1),
            title=f"年终考核 {year} Annual review",
        )
    )
    for it in items:
        it.setdefault("org_id", None)
        it["county"] = county
        it["owner"] = owner
    return items


async def plan(s: AsyncSession, body: sc.PlanIn, principal: Principal) -> sc.PlanOut:
    principal.require_write(body.county)
    if body.report_org_id is not None:
        org = await s.get(Organisation, body.report_org_id)
        if org is None or not principal.can_see(org.county):
            raise not_found("organisation", body.report_org_id, "body.report_org_id")
    rows = await s.execute(
        select(ScheduleItem.kind, ScheduleItem.ref).where(ScheduleItem.county == body.county)
    )
    have = {(str(k), str(r)) for k, r in rows}
    created = existing = 0
    for it in year_plan(body.county, body.year, body.owner, body.report_org_id):
        if (it["kind"], it["ref"]) in have:
            existing += 1
            continue
        s.add(ScheduleItem(**it, created_by=principal.actor))
        created += 1
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.schedule.planned",
        f"schedule:{body.county}:{body.year}",
        body.county,
        {},
        {"year": body.year, "created": created, "report_org_id": body.report_org_id},
    )
    return sc.PlanOut(created=created, existing=existing)


async def create_item(s: AsyncSession, body: sc.ScheduleIn, principal: Principal) -> ScheduleItem:
    principal.require_write(body.county)
    if body.remind_on > body.due_on:
        raise ApiError(
            422,
            "body.remind_on: the reminder must come before the due date",
            field="body.remind_on",
        )
    if body.org_id is not None:
        org = await s.get(Organisation, body.org_id)
        if org is None or not principal.can_see(org.county):
            raise not_found("organisation", body.org_id, "body.org_id")
    taken = await s.scalar(
        select(ScheduleItem.id).where(
            ScheduleItem.county == body.county,
            ScheduleItem.kind == body.kind,
            ScheduleItem.ref == body.ref,
        )
    )
    if taken is not None:
        raise ApiError(
            409, f"body.ref: {body.kind} {body.ref} is already scheduled", field="body.ref"
        )
    it = ScheduleItem(**body.model_dump(), created_by=principal.actor)
    s.add(it)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.schedule.created",
        f"schedule:{it.id}",
        it.county,
        {},
        fields(it, SCHEDULE_FIELDS),
    )
    return it


async def complete_item(s: AsyncSession, ident: int, principal: Principal) -> ScheduleItem:
    it = await s.get(ScheduleItem, ident)
    if it is None or not principal.can_see(it.county):
        raise not_found("schedule item", ident)
    principal.require_write(it.county)
    before = fields(it, SCHEDULE_FIELDS)
    it.status, it.done_at = "done", utcnow()
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.schedule.done",
        f"schedule:{it.id}",
        it.county,
        before,
        fields(it, SCHEDULE_FIELDS),
    )
    return it


def item_out(it: ScheduleItem, today: date) -> sc.ScheduleOut:
    return sc.ScheduleOut.model_validate(
        {
            **{k: getattr(it, k) for k in sc.ScheduleOut.model_fields if k != "overdue"},
            "overdue": is_overdue(it.due_on, it.status, today),
        }
    )


async def create_meeting(s: AsyncSession, body: sc.MeetingIn, principal: Principal) -> Meeting:
    principal.require_write(body.county)
    if body.schedule_id is not None:
        it = await s.get(ScheduleItem, body.schedule_id)
        if it is None or it.county != body.county or not principal.can_see(it.county):
            raise not_found("schedule item", body.schedule_id, "body.schedule_id")
        if it.status != "done":
            it.status, it.done_at = "done", utcnow()
    m = Meeting(
        county=body.county,
        schedule_id=body.schedule_id,
        held_on=body.held_on,
        title=body.title,
        minutes=body.minutes,
        created_by=principal.actor,
    )
    s.add(m)
    await s.flush()
    for a in body.actions:
        s.add(
            ActionItem(
                meeting_id=m.id, county=m.county, text=a.text, owner=a.owner, due_on=a.due_on
            )
        )
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.meeting.created",
        f"meeting:{m.id}",
        m.county,
        {},
        {
            "held_on": m.held_on,
            "title": m.title,
            "actions": len(body.actions),
            "schedule_id": m.schedule_id,
        },
    )
    return m


async def meetings_out(s: AsyncSession, rows: list[Meeting]) -> list[sc.MeetingOut]:
    acts: dict[int, list[ActionItem]] = {}
    if rows:
        for a in await s.scalars(
            select(ActionItem)
            .where(ActionItem.meeting_id.in_([m.id for m in rows]))
            .order_by(ActionItem.id)
        ):
            acts.setdefault(a.meeting_id, []).append(a)
    return [
        sc.MeetingOut(
            id=m.id,
            county=m.county,
            schedule_id=m.schedule_id,
            held_on=m.held_on,
            title=m.title,
            minutes=m.minutes,
            created_by=m.created_by,
            actions=[sc.ActionOut.model_validate(a) for a in acts.get(m.id, [])],
        )
        for m in rows
    ]


async def close_action(s: AsyncSession, ident: int, principal: Principal) -> ActionItem:
    a = await s.get(ActionItem, ident)
    if a is None or not principal.can_see(a.county):
        raise not_found("action item", ident)
    principal.require_write(a.county)
    if a.status != "closed":
        a.status, a.closed_at = "closed", utcnow()
        await s.flush()
        await audit(
            s,
            principal,
            "supervision.action.closed",
            f"action:{a.id}",
            a.county,
            {"status": "open"},
            {"status": "closed"},
        )
    return a


async def assemble_bulletin(s: AsyncSession, body: sc.BulletinIn, principal: Principal) -> Bulletin:
    """A bulletin of the month's live figures (a source not connected reads 未接入)."""
    principal.require_write(body.county)
    got = await figs.period_figures(s, body.county, body.month)
    b = Bulletin(
        county=body.county,
        month=body.month,
        figures=[f.model_dump() for f in got],
        assembled_by=principal.actor,
    )
    s.add(b)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.bulletin.assembled",
        f"bulletin:{b.id}",
        b.county,
        {},
        {"month": b.month, "figures": len(got)},
    )
    return b


# ----------------------------------------------------------------------- reports


def report_due(month: str) -> date:
    return date(int(month[:4]), int(month[5:]), REPORT_DUE_DAY)


def report_out(r: Report, today: date) -> sc.ReportOut:
    """``late``: submitted after its due date (Beijing), or not submitted by ``today``
    past it."""
    submitted = r.submitted_at.astimezone(BEIJING).date() if r.submitted_at else None
    late = (submitted is not None and submitted > r.due_on) or (
        submitted is None and today > r.due_on
    )
    return sc.ReportOut.model_validate(
        {**{k: getattr(r, k) for k in sc.ReportOut.model_fields if k != "late"}, "late": late}
    )


def reports_query(principal: Principal, counties: list[str] | None) -> Select[Any]:
    q = scoped(select(Report), Report.county, counties)
    mine = own_org(principal)
    return q if mine is None else q.where(Report.org_id == mine)


async def get_report(s: AsyncSession, ident: int, principal: Principal) -> Report:
    r = await s.get(Report, ident)
    mine = own_org(principal)
    if r is None or not principal.can_see(r.county) or (mine is not None and r.org_id != mine):
        raise not_found("report", ident)
    return r


async def file_report(s: AsyncSession, body: sc.ReportIn, principal: Principal) -> Report:
    """A new report, or a new version of the month's report (a draft, a rejected one,
    or a published one being corrected); ``submit`` hands it in for review."""
    org = await s.get(Organisation, body.org_id)
    mine = own_org(principal)
    if org is None or not principal.can_see(org.county) or (mine is not None and mine != org.id):
        raise not_found("organisation", body.org_id, "body.org_id")
    principal.require_write(org.county, str(org.id))
    r = await s.scalar(
        select(Report)
        .where(Report.county == org.county, Report.org_id == org.id, Report.month == body.month)
        .with_for_update()
    )
    before: dict[str, Any] = {}
    if r is None:
        r = Report(
            county=org.county,
            org_id=org.id,
            month=body.month,
            status="draft",
            version=1,
            due_on=report_due(body.month),
        )
        s.add(r)
        await s.flush()
    else:
        if r.status in ("submitted", "approved"):
            raise ApiError(
                409,
                f"body.month: the report of {body.month} is {r.status}; "
                "it can change once reviewed (rejected) or after publication "
                "(a correction)",
                field="body.month",
            )
        before = {"status": r.status, "version": r.version}
        r.version += 1
        if r.status == "published":
            r.status = "draft"
    s.add(
        ReportVersion(
            report_id=r.id,
            version=r.version,
            title=body.title,
            body=body.body,
            filed_by=principal.actor,
        )
    )
    if body.submit:
        r.status, r.submitted_at = "submitted", utcnow()
        r.reviewed_by, r.reviewed_at, r.review_note = None, None, ""
        item = await s.scalar(
            select(ScheduleItem).where(
                ScheduleItem.county == r.county,
                ScheduleItem.kind == "monthly_report",
                ScheduleItem.ref == f"{r.month}:org:{r.org_id}",
            )
        )
        if item is not None and item.status != "done":
            item.status, item.done_at = "done", utcnow()
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.report.filed",
        f"report:{r.id}",
        r.county,
        before,
        {"status": r.status, "version": r.version, "month": r.month},
    )
    return r


async def review_report(
    s: AsyncSession, ident: int, principal: Principal, *, approve: bool, note: str
) -> Report:
    r = await get_report(s, ident, principal)
    principal.require_write(r.county)
    if r.status != "submitted":
        raise ApiError(409, f"report {ident} is {r.status}; only a submitted report is reviewed")
    before = {"status": r.status}
    r.status = "approved" if approve else "rejected"
    r.reviewed_by, r.reviewed_at, r.review_note = principal.actor, utcnow(), note
    await s.flush()
    await audit(
        s,
        principal,
        f"supervision.report.{r.status}",
        f"report:{r.id}",
        r.county,
        before,
        {"status": r.status, "review_note": note},
    )
    return r


async def report_versions(s: AsyncSession, r: Report) -> list[ReportVersion]:
    return list(
        (
            await s.scalars(
                select(ReportVersion)
                .where(ReportVersion.report_id == r.id)
                .order_by(ReportVersion.version)
            )
        ).all()
    )


async def publish_report(
    s: AsyncSession, ident: int, body: sc.PublishReportIn, principal: Principal
) -> Publication:
    """An approved report onto the disclosure page: its latest version, immutable; a
    report published before is a correction (a new version of its series, with reason)."""
    r = await get_report(s, ident, principal)
    principal.require_write(r.county)
    if r.status != "approved":
        raise ApiError(409, f"report {ident} is {r.status}; only an approved report is published")
    latest = (await report_versions(s, r))[-1]
    org = await s.get(Organisation, r.org_id)
    series = f"report-{r.id}"
    pub = await _publish(
        s,
        principal,
        county=r.county,
        series=series,
        kind="report",
        title=latest.title,
        title_en=f"Monthly report {r.month}",
        body=latest.body,
        data={
            "month": r.month,
            "organisation": org.name if org else "",
            "report_version": latest.version,
        },
        reason=body.reason,
    )
    r.status, r.publication_id = "published", pub.id
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.report.published",
        f"report:{r.id}",
        r.county,
        {"status": "approved"},
        {"status": "published", "publication_id": pub.id},
    )
    return pub


# ------------------------------------------------------------------- inspections


async def create_inspection(
    s: AsyncSession, body: sc.InspectionIn, principal: Principal
) -> Inspection:
    principal.require_write(body.county)
    i = Inspection(
        county=body.county,
        title=body.title,
        kind=body.kind,
        inspected_on=body.inspected_on,
        inspectors=body.inspectors,
        created_by=principal.actor,
    )
    s.add(i)
    await s.flush()
    n = 0
    for f in body.findings:
        fd = Finding(inspection_id=i.id, county=i.county, text=f.text, severity=f.severity)
        s.add(fd)
        await s.flush()
        for r in f.rectifications:
            s.add(
                Rectification(
                    finding_id=fd.id,
                    inspection_id=i.id,
                    county=i.county,
                    action=r.action,
                    owner=r.owner,
                    deadline=r.deadline,
                )
            )
            n += 1
    if n == 0:
        i.status = "closed"
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.inspection.created",
        f"inspection:{i.id}",
        i.county,
        {},
        {"title": i.title, "kind": i.kind, "findings": len(body.findings), "rectifications": n},
    )
    return i


async def get_inspection(s: AsyncSession, ident: int, principal: Principal) -> Inspection:
    i = await s.get(Inspection, ident)
    if i is None or not principal.can_see(i.county):
        raise not_found("inspection", ident)
    return i


async def inspections_out(
    s: AsyncSession, rows: list[Inspection], today: date
) -> list[sc.InspectionOut]:
    rect: dict[int, list[Rectification]] = {}
    if rows:
        for r in await s.scalars(
            select(Rectification).where(Rectification.inspection_id.in_([i.id for i in rows]))
        ):
            rect.setdefault(r.inspection_id, []).append(r)
    out = []
    for i in rows:
        rs = rect.get(i.id, [])
        out.append(
            sc.InspectionOut(
                id=i.id,
                county=i.county,
                title=i.title,
                kind=i.kind,
                inspected_on=i.inspected_on,
                inspectors=i.inspectors,
                status=i.status,
                open_rectifications=sum(r.status == "open" for r in rs),
                overdue_rectifications=sum(is_overdue(r.deadline, r.status, today) for r in rs),
            )
        )
    return out


async def inspection_detail(s: AsyncSession, i: Inspection, today: date) -> sc.InspectionDetail:
    (head,) = await inspections_out(s, [i], today)
    findings = list(
        (
            await s.scalars(
                select(Finding).where(Finding.inspection_id == i.id).order_by(Finding.id)
            )
        ).all()
    )
    rects = list(
        (
            await s.scalars(
                select(Rectification)
                .where(Rectification.inspection_id == i.id)
                .order_by(Rectification.id)
            )
        ).all()
    )
    return sc.InspectionDetail(
        **head.model_dump(),
        findings=[
            sc.FindingOut(
                id=f.id,
                text=f.text,
                severity=f.severity,
                rectifications=[rect_out(r, today) for r in rects if r.finding_id == f.id],
            )
            for f in findings
        ],
    )


def rect_out(r: Rectification, today: date) -> sc.RectificationOut:
    return sc.RectificationOut(
        id=r.id,
        finding_id=r.finding_id,
        action=r.action,
        owner=r.owner,
        deadline=r.deadline,
        status=r.status,
        closed_at=r.closed_at,
        closure_note=r.closure_note,
        overdue=is_overdue(r.deadline, r.status, today),
    )


async def close_rectification(
    s: AsyncSession, ident: int, body: sc.CloseIn, principal: Principal
) -> Rectification:
    """Close one rectification; the inspection closes with its last open one."""
    r = await s.get(Rectification, ident)
    if r is None or not principal.can_see(r.county):
        raise not_found("rectification", ident)
    principal.require_write(r.county)
    if r.status == "closed":
        raise ApiError(409, f"rectification {ident} is already closed")
    r.status, r.closed_at, r.closure_note = "closed", utcnow(), body.note
    await s.flush()
    left = await s.scalar(
        select(func.count())
        .select_from(Rectification)
        .where(Rectification.inspection_id == r.inspection_id, Rectification.status == "open")
    )
    if not left:
        i = await s.get(Inspection, r.inspection_id)
        assert i is not None
        i.status = "closed"
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.rectification.closed",
        f"rectification:{r.id}",
        r.county,
        {"status": "open"},
        {"status": "closed", "closure_note": body.note},
    )
    return r


# ------------------------------------------------------------------- evaluations


async def create_evaluation(
    s: AsyncSession, body: sc.EvaluationIn, principal: Principal
) -> Evaluation:
    """Figures of the period pulled from the live systems against the targets."""
    principal.require_write(body.county)
    half = "-H" in body.period
    out: list[dict[str, Any]] = []
    for f in await figs.period_figures(s, body.county, body.period):
        annual = figs.ANNUAL_TARGETS.get(f.key)
        # a half-year's target is half the year's (flows and the cumulative rate alike)
        target = None if annual is None else (annual / 2 if half else annual)
        att = None
        if target and f.value is not None:
            att = str((Decimal(f.value) / target).quantize(RATIO))
        out.append(
            sc.TargetFigure(
                **f.model_dump(), target=None if target is None else str(target), attainment=att
            ).model_dump()
        )
    e = Evaluation(
        county=body.county,
        period=body.period,
        figures=out,
        narrative=body.narrative,
        created_by=principal.actor,
    )
    s.add(e)
    await s.flush()
    await audit(
        s,
        principal,
        "supervision.evaluation.created",
        f"evaluation:{e.id}",
        e.county,
        {},
        {"period": e.period},
    )
    return e


# -------------------------------------------------------------------- disclosure


def _digest(**content: Any) -> str:
    blob = json.dumps(content, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


async def _publish(
    s: AsyncSession,
    principal: Principal,
    *,
    county: str,
    series: str,
    kind: str,
    title: str,
    title_en: str,
    body: str,
    data: dict[str, Any],
    reason: str,
) -> Publication:
    prev = await s.scalar(
        select(Publication)
        .where(Publication.series == series)
        .order_by(Publication.version.desc())
        .limit(1)
    )
    if prev is not None and not reason.strip():
        raise ApiError(
            422,
            f"body.reason: {series} was published before (version "
            f"{prev.version}); a correction states its reason",
            field="body.reason",
        )
    version = 1 if prev is None else prev.version + 1
    p = Publication(
        county=county,
        series=series,
        version=version,
        kind=kind,
        title=title,
        title_en=title_en,
        body=body,
        data=data,
        reason=reason.strip(),
        supersedes_id=None if prev is None else prev.id,
        sha256=_digest(
            series=series,
            version=version,
            kind=kind,
            title=title,
            title_en=title_en,
            body=body,
            data=data,
            reason=reason.strip(),
        ),
        published_by=principal.actor,
    )
    s.add(p)
    await s.flush()
    await record(
        s,
        principal.actor,
        "supervision.publication.published",
        f"publication:{p.id}",
        county,
        {
            "after": {
                "series": series,
                "version": version,
                "kind": kind,
                "title": title,
                "sha256": p.sha256,
                "reason": p.reason,
            }
        },
    )
    return p


async def fund_allocation(s: AsyncSession, county: str) -> dict[str, Any]:
    """The project list and fund allocation, from the live budget (never typed in)."""
    lines = await list_lines(s, None if county == PREFECTURE else [county])
    outs = await lines_out(s, lines)
    contracts = (
        list(
            (
                await s.scalars(
                    select(Contract)
                    .where(Contract.line_id.in_([x.id for x in lines]))
                    .order_by(Contract.id)
                )
            ).all()
        )
        if lines
        else []
    )
    paid = await _sums(
        s, Disbursement.amount_fen, Disbursement.contract_id, [c.id for c in contracts]
    )
    return {
        "total": str(sum((x.amount for x in outs), Decimal("0.00"))),
        "lines": [
            {
                "code": x.code,
                "name": x.name,
                "name_en": x.name_en,
                "amount": str(x.amount),
                "systems": x.systems,
                "contracted": str(x.contracted),
                "disbursed": str(x.disbursed),
                "execution_rate": str(x.execution_rate),
                "projects": [
                    {
                        "number": c.number,
                        "title": c.title,
                        "counterparty": c.counterparty,
                        "amount": str(yuan(c.amount_fen)),
                        "disbursed": str(yuan(paid.get(c.id, 0))),
                    }
                    for c in contracts
                    if c.line_id == x.id
                ],
            }
            for x in outs
        ],
    }


async def publish(s: AsyncSession, body: sc.PublicationIn, principal: Principal) -> Publication:
    principal.require_write(body.county)
    if body.corrects is not None:
        prev = await s.get(Publication, body.corrects)
        if prev is None or not principal.can_see(prev.county):
            raise not_found("publication", body.corrects, "body.corrects")
        if prev.kind != body.kind or prev.county != body.county:
            raise ApiError(
                422,
                f"body.kind: a correction of {prev.series} is a {prev.kind} of "
                f"county {prev.county}",
                field="body.kind",
            )
        latest = await s.scalar(
            select(func.max(Publication.version)).where(Publication.series == prev.series)
        )
        if latest != prev.version:
            raise ApiError(
                409,
                f"body.corrects: {prev.series} version {prev.version} was "
                f"already corrected (latest is version {latest})",
                field="body.corrects",
            )
        if not body.reason.strip():
            raise ApiError(422, "body.reason: a correction states its reason", field="body.reason")
        series = prev.series
    else:
        n = int(await s.scalar(select(func.count()).select_from(Publication)) or 0) + 1
        series = f"{body.kind}-{n}"
        while await s.scalar(select(Publication.id).where(Publication.series == series)):
            n += 1
            series = f"{body.kind}-{n}"
        if body.reason.strip():
            raise ApiError(
                422,
                "body.reason: a first publication corrects nothing; give corrects= to correct one",
                field="body.reason",
            )
    data = await fund_allocation(s, body.county) if body.kind == "projects" else {}
    return await _publish(
        s,
        principal,
        county=body.county,
        series=series,
        kind=body.kind,
        title=body.title,
        title_en=body.title_en,
        body=body.body,
        data=data,
        reason=body.reason,
    )


async def public_disclosure(s: AsyncSession) -> dict[str, Any]:
    """What the public page and JSON show: the latest version of every series, by kind,
    each with its corrections (earlier versions, their reasons); no personal data."""
    rows = list(
        (
            await s.scalars(
                select(Publication).order_by(Publication.published_at.desc(), Publication.id.desc())
            )
        ).all()
    )
    latest: dict[str, Publication] = {}
    history: dict[str, list[Publication]] = {}
    for p in rows:
        history.setdefault(p.series, []).append(p)
        if p.series not in latest or p.version > latest[p.series].version:
            latest[p.series] = p
    out: dict[str, Any] = {k: [] for k in ("plan", "projects", "report", "decision")}
    for series, p in sorted(
        latest.items(), key=lambda kv: (kv[1].published_at, kv[1].id), reverse=True
    ):
        item = public_item(p)
        item["versions"] = [
            {
                "id": v.id,
                "version": v.version,
                "reason": v.reason,
                "published_at": v.published_at.isoformat(),
                "sha256": v.sha256,
            }
            for v in sorted(history[series], key=lambda v: v.version)
        ]
        out[p.kind].append(item)
    return out


def public_item(p: Publication) -> dict[str, Any]:
    return {
        "id": p.id,
        "county": p.county,
        "series": p.series,
        "version": p.version,
        "kind": p.kind,
        "title": p.title,
        "title_en": p.title_en,
        "body": p.body,
        "data": p.data,
        "reason": p.reason,
        "supersedes_id": p.supersedes_id,
        "sha256": p.sha256,
        "published_at": p.published_at.isoformat(),
    }
