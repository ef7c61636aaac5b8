"""``/api/v1/supervision``: budget, milestones, rhythm, reports, inspections,
evaluations and publications (authenticated, county-scoped); the public disclosure
JSON ``/api/v1/public/disclosure`` and page ``/disclosure`` are in :mod:`.public`.

Permissions (docs/roles.md): ``supervision:read`` (admins, the auditor, the operating
company), ``supervision:write`` (admins), ``reports:file`` (the operating company: its
own organisation's reports), ``disclosure:publish`` (admins).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import SessionDep
from cloud.errors import responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from cloud.supervision import schemas as sc
from cloud.supervision import service as sv
from cloud.supervision.storage import (
    Bulletin,
    Contract,
    Disbursement,
    Evaluation,
    Inspection,
    Meeting,
    Milestone,
    Publication,
    ScheduleItem,
)

router = APIRouter(prefix="/supervision", tags=["supervision"])

Read = Annotated[Principal, require("supervision:read")]
Write = Annotated[Principal, require("supervision:write")]
File = Annotated[Principal, require("reports:file")]
Publish = Annotated[Principal, require("disclosure:publish")]
CountyQ = Annotated[str | None, Query(description="GB/T 2260 code; default: what you see")]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
BEIJING = ZoneInfo("Asia/Shanghai")
R = responses(401, 403, 404, 409, 422)


async def today_of(request: Request) -> date:
    """Beijing's date, or the app's injected clock (``app.state.supervision_today``)."""
    clock = getattr(request.app.state, "supervision_today", None)
    return clock() if clock is not None else datetime.now(BEIJING).date()


Today = Annotated[date, Depends(today_of)]


def _id_keys(model: Any) -> tuple[Key, ...]:
    return (Key(model.id, desc=True, kind=int),)


# ------------------------------------------------------------------------ budget


@router.get(
    "/lines",
    response_model=list[sc.LineOut],
    responses=R,
    summary="Budget lines with contracted, disbursed, remaining (a handful: no pages)",
)
async def list_lines(principal: Read, session: SessionDep, county: CountyQ = None) -> Any:
    return await sv.lines_out(session, await sv.list_lines(session, principal.counties(county)))


@router.post(
    "/lines", response_model=sc.LineOut, status_code=201, responses=R, summary="Add a budget line"
)
async def create_line(body: sc.LineIn, principal: Write, session: SessionDep) -> Any:
    line = await sv.create_line(session, body, principal)
    (out,) = await sv.lines_out(session, [line])
    await session.commit()
    return out


@router.get(
    "/execution",
    response_model=list[sc.ExecutionRow],
    responses=R,
    summary="Budget execution per line and month of a year (at most lines x 12)",
)
async def execution(
    principal: Read,
    session: SessionDep,
    year: Annotated[int, Query(ge=2020, le=2100)],
    county: CountyQ = None,
) -> Any:
    return await sv.execution(session, principal.counties(county), year)


@router.get(
    "/contracts",
    response_model=list[sc.ContractOut],
    responses=R,
    summary="Contracts, newest first (Link rel=next); contacts masked without personal:read",
)
async def list_contracts(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQ = None,
    line_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Any:
    q = sv.scoped(select(Contract), Contract.county, principal.counties(county))
    if line_id is not None:
        q = q.where(Contract.line_id == line_id)
    found = await fetch_page(session, q, _id_keys(Contract), page)
    link_next(request, response, found.next_cursor)
    return await sv.contracts_out(session, found.rows, principal)


@router.post(
    "/contracts",
    response_model=sc.ContractOut,
    status_code=201,
    responses=R,
    summary="Record a contract (refused past its line's amount)",
)
async def create_contract(body: sc.ContractIn, principal: Write, session: SessionDep) -> Any:
    c = await sv.create_contract(session, body, principal)
    (out,) = await sv.contracts_out(session, [c], principal)
    await session.commit()
    return out


@router.patch(
    "/contracts/{contract_id}",
    response_model=sc.ContractOut,
    responses=R,
    summary="Change a contract's title, counterparty or contact (audited)",
)
async def patch_contract(
    contract_id: Ident, body: sc.ContractPatch, principal: Write, session: SessionDep
) -> Any:
    c = await sv.patch_contract(session, contract_id, body, principal)
    (out,) = await sv.contracts_out(session, [c], principal)
    await session.commit()
    return out


@router.get(
    "/disbursements",
    response_model=list[sc.DisbursementOut],
    responses=R,
    summary="Disbursements, newest first (Link rel=next)",
)
async def list_disbursements(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQ = None,
    line_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Any:
    q = sv.scoped(select(Disbursement), Disbursement.county, principal.counties(county))
    if line_id is not None:
        q = q.where(Disbursement.line_id == line_id)
    found = await fetch_page(session, q, _id_keys(Disbursement), page)
    link_next(request, response, found.next_cursor)
    return [sv.disbursement_out(d) for d in found.rows]


@router.post(
    "/disbursements",
    response_model=sc.DisbursementOut,
    status_code=201,
    responses=R,
    summary="Record a disbursement (refused past its line or contract, body.amount)",
)
async def create_disbursement(
    body: sc.DisbursementIn, principal: Write, session: SessionDep
) -> Any:
    d = await sv.create_disbursement(session, body, principal)
    await session.commit()
    return sv.disbursement_out(d)


# -------------------------------------------------------------------- milestones


@router.get(
    "/milestones",
    response_model=list[sc.MilestoneOut],
    responses=R,
    summary="Milestones with evidence and the overdue flag, by due date (Link rel=next)",
)
async def list_milestones(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    today: Today,
    county: CountyQ = None,
    overdue: Annotated[bool | None, Query(description="true: only the overdue")] = None,
) -> Any:
    q = sv.scoped(select(Milestone), Milestone.county, principal.counties(county))
    if overdue:
        q = q.where(Milestone.due_on < today, Milestone.status.not_in(("done", "cancelled")))
    keys = (Key(Milestone.due_on, kind=date), Key(Milestone.id, kind=int))
    found = await fetch_page(session, q, keys, page)
    link_next(request, response, found.next_cursor)
    return await sv.milestones_out(session, found.rows, today)


@router.post(
    "/milestones",
    response_model=sc.MilestoneOut,
    status_code=201,
    responses=R,
    summary="Add a milestone (a deliverable of a line)",
)
async def create_milestone(
    body: sc.MilestoneIn, principal: Write, session: SessionDep, today: Today
) -> Any:
    m = await sv.create_milestone(session, body, principal, today)
    (out,) = await sv.milestones_out(session, [m], today)
    await session.commit()
    return out


@router.patch(
    "/milestones/{milestone_id}",
    response_model=sc.MilestoneOut,
    responses=R,
    summary="Change a milestone's status or due date",
)
async def patch_milestone(
    milestone_id: Ident,
    body: sc.MilestonePatch,
    principal: Write,
    session: SessionDep,
    today: Today,
) -> Any:
    m = await sv.patch_milestone(session, milestone_id, body, principal, today)
    (out,) = await sv.milestones_out(session, [m], today)
    await session.commit()
    return out


@router.post(
    "/milestones/{milestone_id}/evidence",
    response_model=sc.MilestoneOut,
    status_code=201,
    responses=R,
    summary="Attach evidence (a document or a link)",
)
async def add_evidence(
    milestone_id: Ident,
    body: sc.EvidenceIn,
    principal: Write,
    session: SessionDep,
    today: Today,
) -> Any:
    await sv.add_evidence(session, milestone_id, body, principal)
    m = await sv.get_milestone(session, milestone_id, principal)
    (out,) = await sv.milestones_out(session, [m], today)
    await session.commit()
    return out


# ------------------------------------------------------------------------ rhythm


@router.get(
    "/schedule",
    response_model=list[sc.ScheduleOut],
    responses=R,
    summary="The rhythm's items by due date, with the overdue flag (Link rel=next)",
)
async def list_schedule(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    today: Today,
    county: CountyQ = None,
    kind: Annotated[sc.ScheduleKind | None, Query()] = None,
    status: Annotated[str | None, Query(pattern="^(open|done)$")] = None,
) -> Any:
    q = sv.scoped(select(ScheduleItem), ScheduleItem.county, principal.counties(county))
    if kind is not None:
        q = q.where(ScheduleItem.kind == kind)
    if status is not None:
        q = q.where(ScheduleItem.status == status)
    keys = (Key(ScheduleItem.due_on, kind=date), Key(ScheduleItem.id, kind=int))
    found = await fetch_page(session, q, keys, page)
    link_next(request, response, found.next_cursor)
    return [sv.item_out(x, today) for x in found.rows]


@router.post(
    "/schedule",
    response_model=sc.ScheduleOut,
    status_code=201,
    responses=R,
    summary="Schedule one item",
)
async def create_item(
    body: sc.ScheduleIn, principal: Write, session: SessionDep, today: Today
) -> Any:
    it = await sv.create_item(session, body, principal)
    await session.commit()
    return sv.item_out(it, today)


@router.post(
    "/schedule/plan",
    response_model=sc.PlanOut,
    responses=R,
    summary="Schedule a year's rhythm (周调度、月通报、季督导、半年自评、年终考核, monthly reports)",
)
async def plan(body: sc.PlanIn, principal: Write, session: SessionDep) -> Any:
    out = await sv.plan(session, body, principal)
    await session.commit()
    return out


@router.post(
    "/schedule/{item_id}/done",
    response_model=sc.ScheduleOut,
    responses=R,
    summary="Mark a scheduled item done",
)
async def complete_item(item_id: Ident, principal: Write, session: SessionDep, today: Today) -> Any:
    it = await sv.complete_item(session, item_id, principal)
    await session.commit()
    return sv.item_out(it, today)


@router.get(
    "/meetings",
    response_model=list[sc.MeetingOut],
    responses=R,
    summary="Weekly dispatch meetings with minutes and action items (Link rel=next)",
)
async def list_meetings(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQ = None,
) -> Any:
    q = sv.scoped(select(Meeting), Meeting.county, principal.counties(county))
    found = await fetch_page(session, q, _id_keys(Meeting), page)
    link_next(request, response, found.next_cursor)
    return await sv.meetings_out(session, found.rows)


@router.post(
    "/meetings",
    response_model=sc.MeetingOut,
    status_code=201,
    responses=R,
    summary="Record a meeting's minutes and action items",
)
async def create_meeting(body: sc.MeetingIn, principal: Write, session: SessionDep) -> Any:
    m = await sv.create_meeting(session, body, principal)
    (out,) = await sv.meetings_out(session, [m])
    await session.commit()
    return out


@router.post(
    "/actions/{action_id}/close",
    response_model=sc.ActionOut,
    responses=R,
    summary="Close an action item",
)
async def close_action(action_id: Ident, principal: Write, session: SessionDep) -> Any:
    a = await sv.close_action(session, action_id, principal)
    await session.commit()
    return sc.ActionOut.model_validate(a)


@router.get(
    "/bulletins",
    response_model=list[sc.BulletinOut],
    responses=R,
    summary="Monthly bulletins, newest first (Link rel=next)",
)
async def list_bulletins(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQ = None,
) -> Any:
    q = sv.scoped(select(Bulletin), Bulletin.county, principal.counties(county))
    found = await fetch_page(session, q, _id_keys(Bulletin), page)
    link_next(request, response, found.next_cursor)
    return found.rows


@router.post(
    "/bulletins",
    response_model=sc.BulletinOut,
    status_code=201,
    responses=R,
    summary="Assemble a month's bulletin from the live figures (未接入 if a source is not)",
)
async def assemble_bulletin(body: sc.BulletinIn, principal: Write, session: SessionDep) -> Any:
    b = await sv.assemble_bulletin(session, body, principal)
    await session.commit()
    return b


# ----------------------------------------------------------------------- reports


@router.get(
    "/reports",
    response_model=list[sc.ReportOut],
    responses=R,
    summary="Monthly reports, newest first (operating company: its own; Link rel=next)",
)
async def list_reports(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    today: Today,
    county: CountyQ = None,
) -> Any:
    q = sv.reports_query(principal, principal.counties(county))
    found = await fetch_page(session, q, (Key(sv.Report.id, desc=True, kind=int),), page)
    link_next(request, response, found.next_cursor)
    return [sv.report_out(r, today) for r in found.rows]


@router.post(
    "/reports",
    response_model=sc.ReportDetail,
    status_code=201,
    responses=R,
    summary="File the month's report or a new version of it (operating company)",
)
async def file_report(body: sc.ReportIn, principal: File, session: SessionDep, today: Today) -> Any:
    r = await sv.file_report(session, body, principal)
    out = await _detail(session, r, today)
    await session.commit()
    return out


async def _detail(session: Any, r: Any, today: date) -> sc.ReportDetail:
    versions = await sv.report_versions(session, r)
    return sc.ReportDetail(
        **sv.report_out(r, today).model_dump(),
        versions=[sc.ReportVersionOut.model_validate(v) for v in versions],
    )


@router.get(
    "/reports/{report_id}",
    response_model=sc.ReportDetail,
    responses=R,
    summary="A report with all its versions",
)
async def get_report(report_id: Ident, principal: Read, session: SessionDep, today: Today) -> Any:
    return await _detail(session, await sv.get_report(session, report_id, principal), today)


@router.post(
    "/reports/{report_id}/approve",
    response_model=sc.ReportOut,
    responses=R,
    summary="Approve a submitted report",
)
async def approve_report(
    report_id: Ident, body: sc.ReviewIn, principal: Write, session: SessionDep, today: Today
) -> Any:
    r = await sv.review_report(session, report_id, principal, approve=True, note=body.note)
    await session.commit()
    return sv.report_out(r, today)


@router.post(
    "/reports/{report_id}/reject",
    response_model=sc.ReportOut,
    responses=R,
    summary="Send a submitted report back with the reason",
)
async def reject_report(
    report_id: Ident, body: sc.RejectIn, principal: Write, session: SessionDep, today: Today
) -> Any:
    r = await sv.review_report(session, report_id, principal, approve=False, note=body.note)
    await session.commit()
    return sv.report_out(r, today)


@router.post(
    "/reports/{report_id}/publish",
    response_model=sc.PublicationOut,
    status_code=201,
    responses=R,
    summary="Publish an approved report on the disclosure page",
)
async def publish_report(
    report_id: Ident, body: sc.PublishReportIn, principal: Publish, session: SessionDep
) -> Any:
    p = await sv.publish_report(session, report_id, body, principal)
    await session.commit()
    return p


# ------------------------------------------------------------------- inspections


@router.get(
    "/inspections",
    response_model=list[sc.InspectionOut],
    responses=R,
    summary="Inspections (督查), newest first, with open and overdue rectifications",
)
async def list_inspections(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    today: Today,
    county: CountyQ = None,
) -> Any:
    q = sv.scoped(select(Inspection), Inspection.county, principal.counties(county))
    found = await fetch_page(session, q, _id_keys(Inspection), page)
    link_next(request, response, found.next_cursor)
    return await sv.inspections_out(session, found.rows, today)


@router.post(
    "/inspections",
    response_model=sc.InspectionDetail,
    status_code=201,
    responses=R,
    summary="Record an inspection with its findings and rectification items",
)
async def create_inspection(
    body: sc.InspectionIn, principal: Write, session: SessionDep, today: Today
) -> Any:
    i = await sv.create_inspection(session, body, principal)
    out = await sv.inspection_detail(session, i, today)
    await session.commit()
    return out


@router.get(
    "/inspections/{inspection_id}",
    response_model=sc.InspectionDetail,
    responses=R,
    summary="An inspection with findings and rectifications",
)
async def get_inspection(
    inspection_id: Ident, principal: Read, session: SessionDep, today: Today
) -> Any:
    i = await sv.get_inspection(session, inspection_id, principal)
    return await sv.inspection_detail(session, i, today)


@router.post(
    "/rectifications/{rectification_id}/close",
    response_model=sc.RectificationOut,
    responses=R,
    summary="Close a rectification item (the inspection with its last)",
)
async def close_rectification(
    rectification_id: Ident,
    body: sc.CloseIn,
    principal: Write,
    session: SessionDep,
    today: Today,
) -> Any:
    r = await sv.close_rectification(session, rectification_id, body, principal)
    await session.commit()
    return sv.rect_out(r, today)


# ------------------------------------------------------------------- evaluations


@router.get(
    "/evaluations",
    response_model=list[sc.EvaluationOut],
    responses=R,
    summary="Self-evaluations and annual reviews, newest first (Link rel=next)",
)
async def list_evaluations(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQ = None,
) -> Any:
    q = sv.scoped(select(Evaluation), Evaluation.county, principal.counties(county))
    found = await fetch_page(session, q, _id_keys(Evaluation), page)
    link_next(request, response, found.next_cursor)
    return found.rows


@router.post(
    "/evaluations",
    response_model=sc.EvaluationOut,
    status_code=201,
    responses=R,
    summary="A half-year (2026-H1) or annual (2026) evaluation from the live figures",
)
async def create_evaluation(body: sc.EvaluationIn, principal: Write, session: SessionDep) -> Any:
    e = await sv.create_evaluation(session, body, principal)
    await session.commit()
    return e


# -------------------------------------------------------------------- disclosure


@router.get(
    "/publications",
    response_model=list[sc.PublicationOut],
    responses=R,
    summary="Every published version, newest first (Link rel=next)",
)
async def list_publications(
    principal: Read,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: CountyQ = None,
) -> Any:
    q = sv.scoped(select(Publication), Publication.county, principal.counties(county))
    found = await fetch_page(session, q, _id_keys(Publication), page)
    link_next(request, response, found.next_cursor)
    return found.rows


@router.post(
    "/publications",
    response_model=sc.PublicationOut,
    status_code=201,
    responses=R,
    summary="Publish (immutable) the plan, the project list and fund allocation, or a "
    "decision; corrects=: a new version with its reason",
)
async def publish(body: sc.PublicationIn, principal: Publish, session: SessionDep) -> Any:
    p = await sv.publish(session, body, principal)
    await session.commit()
    return p
