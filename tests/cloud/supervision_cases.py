"""Records and cases of the supervision API (cloud/supervision): one of each record per
county (``world``), ``SUPERVISION_CASES`` (tests/cloud/test_api_isolation.py: a role of
HOME sees and changes nothing of OTHER's), ``SUPERVISION_REQUESTS`` (tests/cloud/
test_api_roles.py: one request per route on HOME's records) and ``seed_paged``
(tests/cloud/test_pagination.py)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.auth.principal import Principal, Role
from cloud.supervision import schemas as sc
from cloud.supervision import service as sv
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
from tests.support.api import HOME, OTHER, ApiEnv
from tests.support.trace_records import add_org

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
API = "/api/v1/supervision"
V = "/api/v1/supervision"
TABLES = (
    BudgetLine,
    Contract,
    Disbursement,
    Milestone,
    Evidence,
    ScheduleItem,
    Meeting,
    ActionItem,
    Bulletin,
    Report,
    ReportVersion,
    Inspection,
    Finding,
    Rectification,
    Evaluation,
    Publication,
)
TODAY = date(2026, 12, 4)


def _admin(county: str) -> Principal:
    return Principal(kind="user", name="world", role=Role.COUNTY_ADMIN, county=county)


async def world(env: ApiEnv, county: str) -> dict[str, int]:
    """One of each supervision record of ``county`` (HOME's report: of the organisation
    the roles table's organisation roles belong to), made once per API under test."""
    cache: dict[str, Any] = env.__dict__.setdefault("_supervision_worlds", {})
    if county in cache:
        return cache[county]  # type: ignore[no-any-return]
    if county == HOME:
        from tests.cloud.test_api_roles import _home_org

        org = await _home_org(env)
    else:
        org = (await add_org(env, county, 950)).id
    who = _admin(county)
    async with env.db.transaction() as s:
        line = await sv.create_line(
            s,
            sc.LineIn(
                county=county, code=f"W{county[-2:]}", name="线", amount=Decimal("100000.00")
            ),
            who,
        )
        c = await sv.create_contract(
            s,
            sc.ContractIn(
                line_id=line.id,
                number=f"W-{county}",
                title="合同",
                counterparty="公司",
                amount=Decimal("90000.00"),
                signed_on=date(2026, 3, 1),
                contact_phone="13800000001",
            ),
            who,
        )
        d = await sv.create_disbursement(
            s,
            sc.DisbursementIn(
                contract_id=c.id, amount=Decimal("100.00"), paid_on=date(2026, 4, 1), voucher="V1"
            ),
            who,
        )
        m = await sv.create_milestone(
            s,
            sc.MilestoneIn(
                line_id=line.id, title="里程碑", deliverable="交付物", due_on=date(2026, 9, 30)
            ),
            who,
            TODAY,
        )
        it = await sv.create_item(
            s,
            sc.ScheduleIn(
                county=county,
                kind="monthly_bulletin",
                ref="2026-11",
                title="月通报",
                owner="办公室",
                due_on=date(2026, 12, 5),
                remind_on=date(2026, 12, 2),
            ),
            who,
        )
        mt = await sv.create_meeting(
            s,
            sc.MeetingIn(
                county=county,
                held_on=date(2026, 11, 23),
                title="周调度",
                minutes="纪要",
                actions=[sc.ActionIn(text="事项", owner="某人", due_on=date(2026, 11, 30))],
            ),
            who,
        )
        action = await s.scalar(select(ActionItem.id).where(ActionItem.meeting_id == mt.id))
        b = await sv.assemble_bulletin(s, sc.BulletinIn(county=county, month="2026-11"), who)
        r = await sv.file_report(
            s, sc.ReportIn(org_id=org, month="2026-11", title="月报", body="正文"), who
        )
        i = await sv.create_inspection(
            s,
            sc.InspectionIn(
                county=county,
                title="督查",
                kind="quarterly",
                inspected_on=date(2026, 11, 28),
                inspectors="州商务局",
                findings=[
                    sc.FindingIn(
                        text="问题",
                        severity="minor",
                        rectifications=[
                            sc.RectificationIn(
                                action="整改", owner="某人", deadline=date(2026, 12, 31)
                            )
                        ],
                    )
                ],
            ),
            who,
        )
        rect = await s.scalar(select(Rectification.id).where(Rectification.inspection_id == i.id))
        e = await sv.create_evaluation(s, sc.EvaluationIn(county=county, period="2026-H1"), who)
        p = await sv.publish(s, sc.PublicationIn(county=county, kind="decision", title="决定"), who)
    cache[county] = {
        "org": org,
        "line": line.id,
        "contract": c.id,
        "disbursement": d.id,
        "milestone": m.id,
        "item": it.id,
        "meeting": mt.id,
        "action": int(action or 0),
        "bulletin": b.id,
        "report": r.id,
        "inspection": i.id,
        "rectification": int(rect or 0),
        "evaluation": e.id,
        "publication": p.id,
    }
    return cache[county]  # type: ignore[no-any-return]


async def _both(env: ApiEnv) -> tuple[dict[str, int], dict[str, int]]:
    return await world(env, HOME), await world(env, OTHER)


async def counts(env: ApiEnv) -> list[int]:
    async with env.db.session() as s:
        return [int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES]


# ------------------------------------------------------------------- county isolation


def _nf(r: httpx.Response, field: str | None = None) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert "not found" in r.json()["detail"], r.text
    if field is not None:
        assert r.json()["field"] == field, r.text


def _list(path: str, key: str) -> Case:
    """Lists: none of OTHER's rows; asking for OTHER's county is 403."""

    async def case(env: ApiEnv, h: Headers) -> None:
        mine, theirs = await _both(env)
        r = await env.client.get(f"{API}{path}", headers=h, params={"year": 2026})
        assert r.status_code == 200, r.text
        rows = r.json()
        assert {x["county"] for x in rows} <= {HOME}, rows
        assert theirs[key] not in {x.get("id", x.get("line_id")) for x in rows}
        r = await env.client.get(f"{API}{path}", params={"county": OTHER, "year": 2026}, headers=h)
        assert r.status_code == 403, r.text

    return case


def _unchanged(
    f: Callable[[ApiEnv, Headers, dict[str, int]], Awaitable[httpx.Response]],
    field: str | None = None,
) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        _, theirs = await _both(env)
        before = await counts(env)
        _nf(await f(env, h, theirs), field)
        assert await counts(env) == before

    return case


def _refused_county(path: str, body: dict[str, Any]) -> Case:
    """A record made in OTHER's county: 403, nothing written."""

    async def case(env: ApiEnv, h: Headers) -> None:
        await _both(env)
        before = await counts(env)
        r = await env.client.post(f"{API}{path}", headers=h, json={**body, "county": OTHER})
        assert r.status_code == 403, r.text
        assert await counts(env) == before

    return case


async def _public_index(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    r = await env.client.get("/api/v1/public/disclosure", headers=h)
    ids = {x["id"] for x in r.json()["decision"]}
    assert {mine["publication"], theirs["publication"]} <= ids  # public: every county's
    assert "13800000001" not in r.text and "user:" not in r.text


async def _public_one(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    r = await env.client.get(f"/api/v1/public/disclosure/{theirs['publication']}", headers=h)
    assert r.status_code == 200 and "published_by" not in r.json()


SUPERVISION_CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{V}/lines"): _list("/lines", "line"),
    ("GET", f"{V}/execution"): _list("/execution", "line"),
    ("GET", f"{V}/contracts"): _list("/contracts", "contract"),
    ("GET", f"{V}/disbursements"): _list("/disbursements", "disbursement"),
    ("GET", f"{V}/milestones"): _list("/milestones", "milestone"),
    ("GET", f"{V}/schedule"): _list("/schedule", "item"),
    ("GET", f"{V}/meetings"): _list("/meetings", "meeting"),
    ("GET", f"{V}/bulletins"): _list("/bulletins", "bulletin"),
    ("GET", f"{V}/reports"): _list("/reports", "report"),
    ("GET", f"{V}/inspections"): _list("/inspections", "inspection"),
    ("GET", f"{V}/evaluations"): _list("/evaluations", "evaluation"),
    ("GET", f"{V}/publications"): _list("/publications", "publication"),
    ("POST", f"{V}/lines"): _refused_county("/lines", {"code": "X", "name": "n", "amount": "1.00"}),
    ("POST", f"{V}/contracts"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/contracts",
            headers=h,
            json={
                "line_id": t["line"],
                "number": "X",
                "title": "t",
                "counterparty": "c",
                "amount": "1.00",
                "signed_on": "2026-01-01",
            },
        ),
        "body.line_id",
    ),
    ("PATCH", f"{V}/contracts/{{contract_id}}"): _unchanged(
        lambda e, h, t: e.client.patch(
            f"{API}/contracts/{t['contract']}", headers=h, json={"title": "x"}
        )
    ),
    ("POST", f"{V}/disbursements"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/disbursements",
            headers=h,
            json={
                "contract_id": t["contract"],
                "amount": "1.00",
                "paid_on": "2026-05-01",
                "voucher": "V",
            },
        ),
        "body.contract_id",
    ),
    ("POST", f"{V}/milestones"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/milestones",
            headers=h,
            json={"line_id": t["line"], "title": "t", "deliverable": "d", "due_on": "2026-12-01"},
        ),
        "body.line_id",
    ),
    ("PATCH", f"{V}/milestones/{{milestone_id}}"): _unchanged(
        lambda e, h, t: e.client.patch(
            f"{API}/milestones/{t['milestone']}", headers=h, json={"status": "done"}
        )
    ),
    ("POST", f"{V}/milestones/{{milestone_id}}/evidence"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/milestones/{t['milestone']}/evidence",
            headers=h,
            json={"kind": "link", "title": "t", "url": "/x"},
        )
    ),
    ("POST", f"{V}/schedule"): _refused_county(
        "/schedule",
        {
            "kind": "annual_review",
            "ref": "2030",
            "title": "t",
            "owner": "o",
            "due_on": "2031-01-15",
            "remind_on": "2031-01-01",
        },
    ),
    ("POST", f"{V}/schedule/plan"): _refused_county("/schedule/plan", {"year": 2027, "owner": "o"}),
    ("POST", f"{V}/schedule/{{item_id}}/done"): _unchanged(
        lambda e, h, t: e.client.post(f"{API}/schedule/{t['item']}/done", headers=h)
    ),
    ("POST", f"{V}/meetings"): _refused_county(
        "/meetings", {"held_on": "2026-11-30", "title": "t", "minutes": "m"}
    ),
    ("POST", f"{V}/actions/{{action_id}}/close"): _unchanged(
        lambda e, h, t: e.client.post(f"{API}/actions/{t['action']}/close", headers=h)
    ),
    ("POST", f"{V}/bulletins"): _refused_county("/bulletins", {"month": "2026-10"}),
    ("POST", f"{V}/reports"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/reports",
            headers=h,
            json={"org_id": t["org"], "month": "2026-12", "title": "t", "body": "b"},
        ),
        "body.org_id",
    ),
    ("GET", f"{V}/reports/{{report_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/reports/{t['report']}", headers=h)
    ),
    ("POST", f"{V}/reports/{{report_id}}/approve"): _unchanged(
        lambda e, h, t: e.client.post(f"{API}/reports/{t['report']}/approve", headers=h, json={})
    ),
    ("POST", f"{V}/reports/{{report_id}}/reject"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/reports/{t['report']}/reject", headers=h, json={"note": "n"}
        )
    ),
    ("POST", f"{V}/reports/{{report_id}}/publish"): _unchanged(
        lambda e, h, t: e.client.post(f"{API}/reports/{t['report']}/publish", headers=h, json={})
    ),
    ("POST", f"{V}/inspections"): _refused_county(
        "/inspections",
        {"title": "t", "kind": "special", "inspected_on": "2026-11-01", "inspectors": "i"},
    ),
    ("GET", f"{V}/inspections/{{inspection_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{API}/inspections/{t['inspection']}", headers=h)
    ),
    ("POST", f"{V}/rectifications/{{rectification_id}}/close"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/rectifications/{t['rectification']}/close", headers=h, json={"note": "n"}
        )
    ),
    ("POST", f"{V}/evaluations"): _refused_county("/evaluations", {"period": "2026"}),
    ("POST", f"{V}/publications"): _unchanged(
        lambda e, h, t: e.client.post(
            f"{API}/publications",
            headers=h,
            json={
                "county": HOME,
                "kind": "decision",
                "title": "t",
                "corrects": t["publication"],
                "reason": "r",
            },
        ),
        "body.corrects",
    ),
    ("GET", "/api/v1/public/disclosure"): _public_index,
    ("GET", "/api/v1/public/disclosure/{publication_id}"): _public_one,
}


# ---------------------------------------------------------------- roles x endpoints


def _call(f: Callable[[ApiEnv, Headers, dict[str, int]], Awaitable[httpx.Response]]) -> Call:
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        return await f(env, h, await world(env, HOME))

    return call


def _get(path: str) -> Call:
    return _call(lambda e, h, w: e.client.get(f"{API}{path}", headers=h, params={"year": 2026}))


SUPERVISION_REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", f"{V}/lines"): _get("/lines"),
    ("GET", f"{V}/execution"): _get("/execution"),
    ("GET", f"{V}/contracts"): _get("/contracts"),
    ("GET", f"{V}/disbursements"): _get("/disbursements"),
    ("GET", f"{V}/milestones"): _get("/milestones"),
    ("GET", f"{V}/schedule"): _get("/schedule"),
    ("GET", f"{V}/meetings"): _get("/meetings"),
    ("GET", f"{V}/bulletins"): _get("/bulletins"),
    ("GET", f"{V}/reports"): _get("/reports"),
    ("GET", f"{V}/inspections"): _get("/inspections"),
    ("GET", f"{V}/evaluations"): _get("/evaluations"),
    ("GET", f"{V}/publications"): _get("/publications"),
    ("POST", f"{V}/lines"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/lines",
            headers=h,
            json={"county": HOME, "code": secrets.token_hex(3), "name": "n", "amount": "1.00"},
        )
    ),
    ("POST", f"{V}/contracts"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/contracts",
            headers=h,
            json={
                "line_id": w["line"],
                "number": secrets.token_hex(4),
                "title": "t",
                "counterparty": "c",
                "amount": "1.00",
                "signed_on": "2026-01-01",
            },
        )
    ),
    ("PATCH", f"{V}/contracts/{{contract_id}}"): _call(
        lambda e, h, w: e.client.patch(
            f"{API}/contracts/{w['contract']}", headers=h, json={"title": "合同"}
        )
    ),
    ("POST", f"{V}/disbursements"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/disbursements",
            headers=h,
            json={
                "contract_id": w["contract"],
                "amount": "0.01",
                "paid_on": "2026-05-01",
                "voucher": "V",
            },
        )
    ),
    ("POST", f"{V}/milestones"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/milestones",
            headers=h,
            json={"line_id": w["line"], "title": "t", "deliverable": "d", "due_on": "2026-12-01"},
        )
    ),
    ("PATCH", f"{V}/milestones/{{milestone_id}}"): _call(
        lambda e, h, w: e.client.patch(
            f"{API}/milestones/{w['milestone']}", headers=h, json={"status": "in_progress"}
        )
    ),
    ("POST", f"{V}/milestones/{{milestone_id}}/evidence"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/milestones/{w['milestone']}/evidence",
            headers=h,
            json={"kind": "link", "title": "t", "url": "/disclosure"},
        )
    ),
    ("POST", f"{V}/schedule"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/schedule",
            headers=h,
            json={
                "county": HOME,
                "kind": "annual_review",
                "ref": secrets.token_hex(4),
                "title": "t",
                "owner": "o",
                "due_on": "2031-01-15",
                "remind_on": "2031-01-01",
            },
        )
    ),
    ("POST", f"{V}/schedule/plan"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/schedule/plan", headers=h, json={"county": HOME, "year": 2027, "owner": "o"}
        )
    ),
    ("POST", f"{V}/schedule/{{item_id}}/done"): _call(
        lambda e, h, w: e.client.post(f"{API}/schedule/{w['item']}/done", headers=h)
    ),
    ("POST", f"{V}/meetings"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/meetings",
            headers=h,
            json={"county": HOME, "held_on": "2026-11-30", "title": "t", "minutes": "m"},
        )
    ),
    ("POST", f"{V}/actions/{{action_id}}/close"): _call(
        lambda e, h, w: e.client.post(f"{API}/actions/{w['action']}/close", headers=h)
    ),
    ("POST", f"{V}/bulletins"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/bulletins", headers=h, json={"county": HOME, "month": "2026-10"}
        )
    ),
    ("POST", f"{V}/reports"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/reports",
            headers=h,
            json={"org_id": w["org"], "month": "2026-10", "title": "t", "body": "b"},
        )
    ),
    ("GET", f"{V}/reports/{{report_id}}"): _call(
        lambda e, h, w: e.client.get(f"{API}/reports/{w['report']}", headers=h)
    ),
    ("POST", f"{V}/reports/{{report_id}}/approve"): _call(
        lambda e, h, w: e.client.post(f"{API}/reports/{w['report']}/approve", headers=h, json={})
    ),
    ("POST", f"{V}/reports/{{report_id}}/reject"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/reports/{w['report']}/reject", headers=h, json={"note": "n"}
        )
    ),
    ("POST", f"{V}/reports/{{report_id}}/publish"): _call(
        lambda e, h, w: e.client.post(f"{API}/reports/{w['report']}/publish", headers=h, json={})
    ),
    ("POST", f"{V}/inspections"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/inspections",
            headers=h,
            json={
                "county": HOME,
                "title": "t",
                "kind": "special",
                "inspected_on": "2026-11-01",
                "inspectors": "i",
            },
        )
    ),
    ("GET", f"{V}/inspections/{{inspection_id}}"): _call(
        lambda e, h, w: e.client.get(f"{API}/inspections/{w['inspection']}", headers=h)
    ),
    ("POST", f"{V}/rectifications/{{rectification_id}}/close"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/rectifications/{w['rectification']}/close", headers=h, json={"note": "n"}
        )
    ),
    ("POST", f"{V}/evaluations"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/evaluations", headers=h, json={"county": HOME, "period": "2026"}
        )
    ),
    ("POST", f"{V}/publications"): _call(
        lambda e, h, w: e.client.post(
            f"{API}/publications",
            headers=h,
            json={"county": HOME, "kind": "decision", "title": "t"},
        )
    ),
    ("GET", "/api/v1/public/disclosure"): _call(
        lambda e, h, w: e.client.get("/api/v1/public/disclosure", headers=h)
    ),
    ("GET", "/api/v1/public/disclosure/{publication_id}"): _call(
        lambda e, h, w: e.client.get(f"/api/v1/public/disclosure/{w['publication']}", headers=h)
    ),
    ("GET", "/disclosure"): _call(lambda e, h, w: e.client.get("/disclosure", headers=h)),
}


# ------------------------------------------------------------------------ pagination


async def seed_paged(s: Any, county: str, i: int, org_id: int) -> None:
    """One of each paged record of ``county`` (one per call), for the list walks."""
    who = _admin(county)
    line = BudgetLine(
        county=county,
        code=f"P{i}",
        name="n",
        name_en="",
        amount_fen=10_000_00,
        systems=[],
        created_by="test",
    )
    s.add(line)
    await s.flush()
    c = Contract(
        line_id=line.id,
        county=county,
        number=f"P-{county}-{i}",
        title="t",
        counterparty="c",
        amount_fen=100,
        signed_on=date(2026, 1, 1),
        created_by="t",
    )
    s.add(c)
    await s.flush()
    s.add(
        Disbursement(
            contract_id=c.id,
            line_id=line.id,
            county=county,
            amount_fen=1,
            paid_on=date(2026, 2, 1),
            month="2026-02",
            voucher="v",
            created_by="t",
        )
    )
    # the same due date for several: the id breaks the tie
    s.add(
        Milestone(
            line_id=line.id,
            county=county,
            title="m",
            deliverable="d",
            due_on=date(2026, 6, 1 + i % 2),
            created_by="t",
        )
    )
    s.add(
        ScheduleItem(
            county=county,
            kind="weekly_dispatch",
            ref=f"P-{i}",
            title="t",
            owner="o",
            due_on=date(2026, 6, 1 + i % 2),
            remind_on=date(2026, 5, 30),
            created_by="t",
        )
    )
    s.add(Meeting(county=county, held_on=date(2026, 6, 1), title="t", minutes="m", created_by="t"))
    s.add(Bulletin(county=county, month="2026-05", figures=[], assembled_by="t"))
    s.add(
        Report(
            county=county,
            org_id=org_id,
            month=f"2025-{i + 1:02d}",
            status="draft",
            version=1,
            due_on=date(2025, i + 1, 25),
        )
    )
    s.add(
        Inspection(
            county=county,
            title="t",
            kind="special",
            inspected_on=date(2026, 6, 1),
            inspectors="i",
            created_by="t",
        )
    )
    s.add(Evaluation(county=county, period="2026", figures=[], created_by="t"))
    s.add(
        Publication(
            county=county,
            series=f"decision-p-{county}-{i}",
            version=1,
            kind="decision",
            title="t",
            sha256="0" * 64,
            published_by=who.actor,
        )
    )
    await s.flush()


LISTS = (
    "/api/v1/supervision/contracts",
    "/api/v1/supervision/disbursements",
    "/api/v1/supervision/milestones",
    "/api/v1/supervision/schedule",
    "/api/v1/supervision/meetings",
    "/api/v1/supervision/bulletins",
    "/api/v1/supervision/reports",
    "/api/v1/supervision/inspections",
    "/api/v1/supervision/evaluations",
    "/api/v1/supervision/publications",
)
BOUNDED = {
    "/api/v1/supervision/lines": "a programme's budget lines: a handful per county",
    "/api/v1/supervision/execution": "one row per line and month of one year (lines x 12)",
}
