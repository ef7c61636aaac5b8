"""Supervision (cloud/supervision, issue 15): budget lines of the 600 万元 programme,
contracts and disbursements never past a line (also two at once, on PostgreSQL),
execution per line and month, milestones, the rhythm and its reminders (an injected
clock: the 20th reminder, the 26th overdue flag, through a real webhook receiver),
reports approved then published, inspections, evaluations from live figures,
immutable publications, the audit of every write, the public page and JSON."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.auth.service import issue_token
from cloud.auth.storage import User
from cloud.db import utcnow
from cloud.notify import Channel, Notifier
from cloud.supervision import figures
from cloud.supervision.reminders import tick
from cloud.supervision.storage import Publication
from tests.support.api import HOME, OTHER, ApiEnv, api_env, unwired
from tests.support.http_receiver import http_receiver
from tests.support.trace_records import add_org

API = "/api/v1/supervision"
PUBLIC = "/api/v1/public/disclosure"
H = dict[str, str]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


@pytest.fixture
async def pg_env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("postgres", tmp_path) as e:
        yield e


async def org_user(env: ApiEnv, role: Role, county: str, org_id: int) -> H:
    async with env.db.transaction() as s:
        user = User(
            username=f"u{secrets.token_hex(4)}",
            password_hash="x",
            role=role.value,
            county=county,
            display_name="",
            disabled=False,
            created_at=utcnow(),
            token_version=0,
            org_id=str(org_id),
        )
        s.add(user)
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}


async def home_line(env: ApiEnv, h: H, amount: str = "100000.00", code: str = "9") -> int:
    r = await env.client.post(
        f"{API}/lines",
        headers=h,
        json={
            "county": HOME,
            "code": code,
            "name": "测试线",
            "amount": amount,
            "systems": ["cloud/commerce"],
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def contract(env: ApiEnv, h: H, line: int, amount: str, number: str | None = None) -> int:
    r = await env.client.post(
        f"{API}/contracts",
        headers=h,
        json={
            "line_id": line,
            "number": number or f"C-{secrets.token_hex(3)}",
            "title": "建设合同",
            "counterparty": "某公司",
            "amount": amount,
            "signed_on": "2026-03-01",
            "contact_person": "张三",
            "contact_phone": "13800000000",
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def pay(c: int, amount: str, on: str = "2026-04-10") -> dict[str, Any]:
    return {
        "contract_id": c,
        "amount": amount,
        "paid_on": on,
        "voucher": f"V{secrets.token_hex(3)}",
    }


# ------------------------------------------------------------------------ budget


async def test_the_four_lines_of_the_programme(env: ApiEnv) -> None:
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    r = await env.client.get(f"{API}/lines", headers=h, params={"county": "533100"})
    lines = r.json()
    assert [(x["code"], x["amount"]) for x in lines] == [
        ("1", "1300000.00"),
        ("2", "2400000.00"),
        ("3", "1800000.00"),
        ("4", "500000.00"),
    ]
    assert sum(Decimal(x["amount"]) for x in lines) == Decimal("6000000.00")  # 600 万元
    assert all(x["systems"] for x in lines)  # each tied to the systems it funds
    # a county admin sees none of the prefecture's lines
    hc = await env.headers(Role.COUNTY_ADMIN, HOME)
    assert (await env.client.get(f"{API}/lines", headers=hc)).json() == []


async def test_disbursements_never_exceed_their_line(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    line = await home_line(env, h, "100000.00")
    c1 = await contract(env, h, line, "70000.00")
    c2 = await contract(env, h, line, "30000.00")
    assert (
        await env.client.post(f"{API}/disbursements", headers=h, json=pay(c1, "60000.00"))
    ).status_code == 201
    r = await env.client.post(f"{API}/disbursements", headers=h, json=pay(c1, "10000.01"))
    assert r.status_code == 422 and r.json()["field"] == "body.amount"
    assert "contract" in r.json()["detail"]
    assert (
        await env.client.post(
            f"{API}/disbursements", headers=h, json=pay(c2, "30000.00", "2026-05-02")
        )
    ).status_code == 201
    # the line is spent: 90,000 + 10,000 fits, one fen more does not
    assert (
        await env.client.post(
            f"{API}/disbursements", headers=h, json=pay(c1, "10000.00", "2026-05-20")
        )
    ).status_code == 201
    r = await env.client.post(f"{API}/disbursements", headers=h, json=pay(c2, "0.01"))
    assert r.status_code == 422 and r.json()["field"] == "body.amount", r.text
    (row,) = [
        x for x in (await env.client.get(f"{API}/lines", headers=h)).json() if x["id"] == line
    ]
    assert row["disbursed"] == "100000.00" and row["remaining"] == "0.00"
    assert row["execution_rate"] == "1.0000"
    r = await env.client.get(f"{API}/execution", headers=h, params={"year": 2026})
    mine = {x["month"]: x for x in r.json() if x["line_id"] == line}
    assert len(mine) == 12
    assert (mine["2026-04"]["disbursed"], mine["2026-05"]["disbursed"]) == ("60000.00", "40000.00")
    assert (
        mine["2026-04"]["cumulative_rate"] == "0.6000"
        and mine["2026-12"]["cumulative"] == "100000.00"
    )


BAD_DISBURSEMENTS: list[tuple[dict[str, Any], str]] = [
    ({"amount": "12.345"}, "body.amount"),  # decimal yuan: two decimals
    ({"amount": 12.5}, "body.amount"),  # never a float
    ({"amount": "-1.00"}, "body.amount"),
    ({"paid_on": "2026-13-01"}, "body.paid_on"),
    ({"voucher": ""}, "body.voucher"),
    ({"contract_id": 999999}, "body.contract_id"),
]


async def test_bad_disbursements_name_the_field(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    line = await home_line(env, h)
    c = await contract(env, h, line, "100.00")
    for body, field in BAD_DISBURSEMENTS:
        r = await env.client.post(
            f"{API}/disbursements", headers=h, json={**pay(c, "1.00"), **body}
        )
        assert r.status_code in (404, 422) and r.json()["field"] == field, (body, r.text)
    r = await env.client.get(f"{API}/disbursements", headers=h)
    assert r.json() == []


async def test_bad_input_names_the_field(env: ApiEnv) -> None:
    h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    cases = [
        (
            f"{API}/lines",
            {"county": "123456", "code": "x", "name": "n", "amount": "1.00"},
            "body.county",
        ),
        (
            f"{API}/milestones",
            {"line_id": 1, "title": "t", "deliverable": "d", "due_on": "x"},
            "body.due_on",
        ),
        (f"{API}/bulletins", {"county": HOME, "month": "2026-13"}, "body.month"),
        (f"{API}/evaluations", {"county": HOME, "period": "2026-Q1"}, "body.period"),
        (f"{API}/publications", {"county": HOME, "kind": "report", "title": "t"}, "body.kind"),
        (
            f"{API}/milestones/1/evidence",
            {"kind": "link", "title": "t", "url": "javascript:x"},
            "body.url",
        ),
    ]
    for url, body, field in cases:
        r = await env.client.post(url, headers=h, json=body)
        assert r.status_code == 422 and r.json()["field"] == field, (url, r.text)


@pytest.mark.postgres
async def test_concurrent_disbursements_past_the_line_one_is_refused(pg_env: ApiEnv) -> None:
    """Two disbursements that each fit the line but together exceed it, sent at once on
    PostgreSQL: the line's row lock orders them; the second is refused naming its field."""
    env = pg_env
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    line = await home_line(env, h, "100000.00")
    # co-funded contracts: together more than the line; the line limits what is paid out
    c1 = await contract(env, h, line, "80000.00")
    c2 = await contract(env, h, line, "80000.00")
    assert (
        await env.client.post(f"{API}/disbursements", headers=h, json=pay(c2, "10000.00"))
    ).status_code == 201
    # each fits the 90,000 left; together (100,000) they do not
    rs = await asyncio.gather(
        env.client.post(f"{API}/disbursements", headers=h, json=pay(c1, "50000.00")),
        env.client.post(f"{API}/disbursements", headers=h, json=pay(c2, "50000.00")),
    )
    assert sorted(r.status_code for r in rs) == [201, 422], [r.text for r in rs]
    (refused,) = [r for r in rs if r.status_code == 422]
    assert refused.json()["field"] == "body.amount" and "budget line" in refused.json()["detail"]
    lines = (await env.client.get(f"{API}/lines", headers=h)).json()
    (row,) = [x for x in lines if x["id"] == line]
    assert row["disbursed"] == "60000.00", row


@pytest.mark.postgres
async def test_a_disbursement_waits_for_the_one_in_flight_on_its_line(pg_env: ApiEnv) -> None:
    """Deterministic interleaving: A holds its transaction open after its disbursement;
    B (its own transaction) must wait for A's line lock, then see A's row and be
    refused. Without the lock B would read the old sum and both would commit."""
    from cloud.auth.principal import Principal
    from cloud.errors import ApiError
    from cloud.supervision import schemas as sc
    from cloud.supervision import service as sv

    env = pg_env
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    line = await home_line(env, h, "100000.00")
    c1 = await contract(env, h, line, "80000.00")
    c2 = await contract(env, h, line, "80000.00")
    who = Principal(kind="user", name="t", role=Role.COUNTY_ADMIN, county=HOME)

    async def b() -> None:
        async with env.db.transaction() as s:
            await sv.create_disbursement(s, sc.DisbursementIn(**pay(c2, "50000.00")), who)

    async with env.db.transaction() as s:
        await sv.create_disbursement(s, sc.DisbursementIn(**pay(c1, "60000.00")), who)
        task = asyncio.create_task(b())
        done, _ = await asyncio.wait({task}, timeout=1.0)
        assert not done, "B did not wait for the line's lock"
    with pytest.raises(ApiError) as refused:
        await task
    assert refused.value.status_code == 422 and refused.value.field == "body.amount"


# -------------------------------------------------------------------- milestones


async def test_milestones_flag_overdue_and_keep_evidence(env: ApiEnv) -> None:
    env.app.state.supervision_today = lambda: date(2026, 10, 1)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    line = await home_line(env, h)
    r = await env.client.post(
        f"{API}/milestones",
        headers=h,
        json={
            "line_id": line,
            "title": "物流系统上线",
            "deliverable": "验收报告",
            "due_on": "2026-09-30",
        },
    )
    m = r.json()
    assert r.status_code == 201 and m["overdue"] is True and m["status"] == "planned"
    r = await env.client.post(
        f"{API}/milestones/{m['id']}/evidence",
        headers=h,
        json={
            "kind": "document",
            "title": "验收报告",
            "url": "https://example.org/a.pdf",
            "sha256": "a" * 64,
        },
    )
    assert r.status_code == 201 and r.json()["evidence"][0]["title"] == "验收报告"
    r = await env.client.get(f"{API}/milestones", headers=h, params={"overdue": True})
    assert [x["id"] for x in r.json()] == [m["id"]]
    r = await env.client.patch(f"{API}/milestones/{m['id']}", headers=h, json={"status": "done"})
    assert r.json()["overdue"] is False and r.json()["done_on"] == "2026-10-01"
    assert (
        await env.client.get(f"{API}/milestones", headers=h, params={"overdue": True})
    ).json() == []


# ------------------------------------------------------- rhythm, reports, reminders


async def test_plan_schedules_the_rhythm_once(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    org = await add_org(env, HOME, 31)
    body = {"county": HOME, "year": 2026, "owner": "芒市商务局", "report_org_id": org.id}
    r = await env.client.post(f"{API}/schedule/plan", headers=h, json=body)
    assert r.json() == {"created": 53 + 12 + 12 + 4 + 2, "existing": 0}, r.text
    r = await env.client.post(f"{API}/schedule/plan", headers=h, json=body)
    assert r.json()["created"] == 0
    r = await env.client.get(
        f"{API}/schedule", headers=h, params={"kind": "monthly_report", "limit": 1000}
    )
    nov = next(x for x in r.json() if x["ref"] == f"2026-11:org:{org.id}")
    assert (nov["due_on"], nov["remind_on"]) == ("2026-11-25", "2026-11-20")
    kinds = {
        x["kind"]
        for x in (await env.client.get(f"{API}/schedule", headers=h, params={"limit": 1000})).json()
    }
    assert kinds == {
        "weekly_dispatch",
        "monthly_bulletin",
        "quarterly_inspection",
        "half_year_evaluation",
        "annual_review",
        "monthly_report",
    }


async def test_report_reminded_on_the_20th_overdue_on_the_26th_then_published(
    env: ApiEnv,
) -> None:
    day = {"today": date(2026, 11, 19)}
    env.app.state.supervision_today = lambda: day["today"]
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    org = await add_org(env, HOME, 32)
    company = await org_user(env, Role.OPERATING_COMPANY, HOME, org.id)
    r = await env.client.post(
        f"{API}/schedule",
        headers=admin,
        json={
            "county": HOME,
            "kind": "monthly_report",
            "ref": f"2026-11:org:{org.id}",
            "title": "运营公司月报 2026-11",
            "owner": "运营公司",
            "org_id": org.id,
            "due_on": "2026-11-25",
            "remind_on": "2026-11-20",
        },
    )
    assert r.status_code == 201, r.text
    item = r.json()["id"]
    with http_receiver() as rec:
        channel = Channel(name="ops", kind="webhook", url=rec.url)
        notifier = Notifier(env.db, {"ops": channel}, sleep=_no_sleep)
        try:
            assert await tick(env.db, notifier, ["ops"], date(2026, 11, 19)) == []
            sent = await tick(env.db, notifier, ["ops"], date(2026, 11, 20))
            assert [(x.item_id, x.what, x.statuses) for x in sent] == [
                (item, "reminder", ("sent",))
            ]
            assert await tick(env.db, notifier, ["ops"], date(2026, 11, 21)) == []  # once
            assert await tick(env.db, notifier, ["ops"], date(2026, 11, 25)) == []  # due today
            day["today"] = date(2026, 11, 26)
            sent = await tick(env.db, notifier, ["ops"], date(2026, 11, 26))
            assert [(x.item_id, x.what) for x in sent] == [(item, "overdue")]
            assert await tick(env.db, notifier, ["ops"], date(2026, 11, 27)) == []
        finally:
            await notifier.aclose()
        bodies = [q.body for q in rec.requests]
    assert [b["key"] for b in bodies] == [
        f"supervision:{item}:reminder",
        f"supervision:{item}:overdue",
    ]
    assert "提醒" in bodies[0]["title"] and "逾期" in bodies[1]["title"]
    r = await env.client.get(f"{API}/schedule", headers=admin, params={"kind": "monthly_report"})
    (row,) = r.json()
    assert row["overdue"] is True and row["overdue_at"] and row["reminded_at"]

    # the company files late; the county approves, then publishes
    r = await env.client.post(
        f"{API}/reports",
        headers=company,
        json={"org_id": org.id, "month": "2026-11", "title": "11月运营月报", "body": "本月完成……"},
    )
    assert r.status_code == 201, r.text
    rep = r.json()
    assert (rep["status"], rep["version"], rep["due_on"]) == ("submitted", 1, "2026-11-25")
    assert rep["late"] is True  # filed after the 25th
    r = await env.client.get(f"{API}/schedule", headers=admin, params={"kind": "monthly_report"})
    assert r.json()[0]["status"] == "done"
    # not before approval
    r = await env.client.post(f"{API}/reports/{rep['id']}/publish", headers=admin, json={})
    assert r.status_code == 409
    # the company may not approve its own report
    r = await env.client.post(f"{API}/reports/{rep['id']}/approve", headers=company, json={})
    assert r.status_code == 403
    r = await env.client.post(
        f"{API}/reports/{rep['id']}/reject", headers=admin, json={"note": "请补充培训数据"}
    )
    assert r.json()["status"] == "rejected"
    r = await env.client.post(
        f"{API}/reports",
        headers=company,
        json={
            "org_id": org.id,
            "month": "2026-11",
            "title": "11月运营月报（修订）",
            "body": "培训 3 场",
        },
    )
    assert (r.json()["version"], r.json()["status"]) == (2, "submitted")
    assert [v["version"] for v in r.json()["versions"]] == [1, 2]
    r = await env.client.post(f"{API}/reports/{rep['id']}/approve", headers=admin, json={})
    assert r.json()["status"] == "approved"
    r = await env.client.post(f"{API}/reports/{rep['id']}/publish", headers=admin, json={})
    assert r.status_code == 201, r.text
    pub = r.json()
    assert (pub["kind"], pub["version"], pub["body"]) == ("report", 1, "培训 3 场")
    r = await env.client.get(PUBLIC)
    assert [x["title"] for x in r.json()["report"]] == ["11月运营月报（修订）"]
    tag = r.headers["etag"]
    assert (await env.client.get(PUBLIC, headers={"If-None-Match": tag})).status_code == 304
    page = (await env.client.get("/disclosure")).text
    assert "11月运营月报（修订）" in page and "信息公开" in page


async def _no_sleep(_s: float) -> None:
    return None


async def test_operating_company_files_only_its_own(env: ApiEnv) -> None:
    mine = await add_org(env, HOME, 33)
    theirs = await add_org(env, HOME, 34)
    company = await org_user(env, Role.OPERATING_COMPANY, HOME, mine.id)
    body = {"month": "2026-10", "title": "t", "body": "b"}
    r = await env.client.post(f"{API}/reports", headers=company, json={**body, "org_id": theirs.id})
    assert r.status_code == 404 and r.json()["field"] == "body.org_id"
    r = await env.client.post(
        f"{API}/reports", headers=company, json={**body, "org_id": mine.id, "submit": False}
    )
    assert r.json()["status"] == "draft"
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    await env.client.post(f"{API}/reports", headers=admin, json={**body, "org_id": theirs.id})
    seen = {x["org_id"] for x in (await env.client.get(f"{API}/reports", headers=company)).json()}
    assert seen == {mine.id}
    assert len((await env.client.get(f"{API}/reports", headers=admin)).json()) == 2


# ----------------------------------------------------------- meetings, bulletins


async def test_meeting_minutes_and_action_items(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        f"{API}/meetings",
        headers=h,
        json={
            "county": HOME,
            "held_on": "2026-11-23",
            "title": "第47周调度会",
            "minutes": "议定事项……",
            "actions": [{"text": "完成物流系统验收", "owner": "运营公司", "due_on": "2026-11-30"}],
        },
    )
    assert r.status_code == 201, r.text
    (action,) = r.json()["actions"]
    r = await env.client.post(f"{API}/actions/{action['id']}/close", headers=h)
    assert r.json()["status"] == "closed"
    (m,) = (await env.client.get(f"{API}/meetings", headers=h)).json()
    assert m["actions"][0]["status"] == "closed"


async def test_bulletin_from_live_figures_not_connected_reads_weijieru(env: ApiEnv) -> None:
    with unwired():
        await _test_bulletin_from_live_figures_not_connected_reads_weijieru(env)


async def _test_bulletin_from_live_figures_not_connected_reads_weijieru(env: ApiEnv) -> None:
    from tests.cloud.commerce_cases import world

    await world(env, HOME)  # an order of 257.00 yuan in March 2026 (two lines of 128.50)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        f"{API}/bulletins", headers=h, json={"county": HOME, "month": "2026-03"}
    )
    assert r.status_code == 201, r.text
    got = {f["key"]: f for f in r.json()["figures"]}
    assert got["order_count"]["value"] == "1" and got["order_count"]["status"] == "ok"
    assert Decimal(got["online_retail_sales"]["value"]) > 0
    assert got["trainees"] == {**got["trainees"], "value": None, "status": "未接入"}
    assert got["stations_open"]["status"] == "未接入"

    async def training(_s: Any, county: str, month: str) -> dict[str, int | str | None]:
        return {"sessions": 2, "trainees": 57}

    async def bulletin_with(source: str, fn: Any) -> dict[str, Any]:
        """The March bulletin's figures by key, with ``fn`` registered as ``source``."""
        figures.register_source(source, fn)
        try:
            r = await env.client.post(
                f"{API}/bulletins", headers=h, json={"county": HOME, "month": "2026-03"}
            )
        finally:
            figures.unregister_source(source)
        return {f["key"]: f for f in r.json()["figures"]}

    got = await bulletin_with("services.training", training)
    assert (got["trainees"]["value"], got["trainees"]["status"]) == ("57", "ok")

    async def poverty(_s: Any, county: str, month: str) -> dict[str, int | str | None]:
        return {"households_linked": None, "income_brought": "1200.00"}  # under 5: suppressed

    got = await bulletin_with("services.poverty", poverty)
    # connected, but a small cell: suppressed, not "not connected"
    assert (got["households_linked"]["value"], got["households_linked"]["status"]) == (
        None, "已抑制")  # fmt: skip
    assert (got["income_brought"]["value"], got["income_brought"]["status"]) == ("1200.00", "ok")


# ------------------------------------------------------ inspections, evaluations


async def test_inspection_tracked_to_closure(env: ApiEnv) -> None:
    env.app.state.supervision_today = lambda: date(2026, 12, 10)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        f"{API}/inspections",
        headers=h,
        json={
            "county": HOME,
            "title": "第四季度资金督查",
            "kind": "quarterly",
            "inspected_on": "2026-11-28",
            "inspectors": "州商务局、州财政局",
            "findings": [
                {
                    "text": "两笔拨付凭证缺签字",
                    "severity": "major",
                    "rectifications": [
                        {"action": "补签凭证", "owner": "芒市商务局", "deadline": "2026-12-05"},
                        {"action": "建立双签制度", "owner": "芒市财政局", "deadline": "2026-12-31"},
                    ],
                }
            ],
        },
    )
    assert r.status_code == 201, r.text
    ins = r.json()
    assert (ins["status"], ins["open_rectifications"], ins["overdue_rectifications"]) == (
        "open",
        2,
        1,
    )
    rects = ins["findings"][0]["rectifications"]
    for i, x in enumerate(rects):
        r = await env.client.post(
            f"{API}/rectifications/{x['id']}/close", headers=h, json={"note": "已完成"}
        )
        assert r.json()["status"] == "closed"
        detail = (await env.client.get(f"{API}/inspections/{ins['id']}", headers=h)).json()
        assert detail["status"] == ("closed" if i == 1 else "open")
    r = await env.client.post(
        f"{API}/rectifications/{rects[0]['id']}/close", headers=h, json={"note": "x"}
    )
    assert r.status_code == 409
    r = await env.client.post(
        f"{API}/rectifications/{rects[0]['id']}/close", headers=h, json={"note": ""}
    )
    assert r.status_code == 422 and r.json()["field"] == "body.note"


async def test_evaluation_pulls_live_figures_against_targets(env: ApiEnv) -> None:
    with unwired():
        await _test_evaluation_pulls_live_figures_against_targets(env)


async def _test_evaluation_pulls_live_figures_against_targets(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    line = await home_line(env, h, "100000.00")
    c = await contract(env, h, line, "100000.00")
    await env.client.post(f"{API}/disbursements", headers=h, json=pay(c, "25000.00", "2026-03-03"))
    r = await env.client.post(
        f"{API}/evaluations",
        headers=h,
        json={"county": HOME, "period": "2026-H1", "narrative": "上半年进展顺利"},
    )
    assert r.status_code == 201, r.text
    got = {f["key"]: f for f in r.json()["figures"]}
    assert got["execution_rate"]["value"] == "0.2500"
    assert (
        got["execution_rate"]["target"] == "0.5" and got["execution_rate"]["attainment"] == "0.5000"
    )
    assert got["disbursed"]["value"] == "25000.00"
    assert got["trainees"]["status"] == "未接入" and got["trainees"]["attainment"] is None


# ------------------------------------------------------------- disclosure, audit


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_publications_are_immutable(backend: str, tmp_path: Path) -> None:
    async with api_env(backend, tmp_path) as env:
        h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
        r = await env.client.post(
            f"{API}/publications",
            headers=h,
            json={
                "county": "533100",
                "kind": "decision",
                "title": "关于调整验收时间的决定",
                "body": "12 月 20 日",
            },
        )
        assert r.status_code == 201, r.text
        first = r.json()
        for sql in (
            "UPDATE supervision_publications SET body = 'changed' WHERE id = :i",
            "DELETE FROM supervision_publications WHERE id = :i",
        ):
            with pytest.raises(Exception, match="immutable"):
                async with env.db.transaction() as s:
                    await s.execute(text(sql), {"i": first["id"]})
        # the ORM has no way round it either
        with pytest.raises(Exception, match="immutable"):
            async with env.db.transaction() as s:
                p = await s.get(Publication, first["id"])
                assert p is not None
                p.title = "changed"
        async with env.db.session() as s:
            p = await s.get(Publication, first["id"])
            assert p is not None and p.body == "12 月 20 日"
        # a correction is a new version with its reason
        body = {
            "county": "533100",
            "kind": "decision",
            "title": "关于调整验收时间的决定",
            "body": "12 月 25 日",
            "corrects": first["id"],
        }
        r = await env.client.post(f"{API}/publications", headers=h, json=body)
        assert r.status_code == 422 and r.json()["field"] == "body.reason"
        r = await env.client.post(
            f"{API}/publications", headers=h, json={**body, "reason": "日期笔误"}
        )
        second = r.json()
        assert (second["version"], second["supersedes_id"], second["series"]) == (
            2,
            first["id"],
            first["series"],
        )
        r = await env.client.post(
            f"{API}/publications", headers=h, json={**body, "reason": "again"}
        )
        assert r.status_code == 409 and r.json()["field"] == "body.corrects"
        (d,) = (await env.client.get(PUBLIC)).json()["decision"]
        assert (d["version"], d["body"], d["reason"]) == (2, "12 月 25 日", "日期笔误")
        assert [v["version"] for v in d["versions"]] == [1, 2]
        old = (await env.client.get(f"{PUBLIC}/{first['id']}")).json()
        assert (old["body"], old["latest_id"]) == ("12 月 20 日", second["id"])


async def test_every_write_is_audited_personal_fields_by_name_only(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    line = await home_line(env, h)
    c = await contract(env, h, line, "500.00")
    r = await env.client.patch(
        f"{API}/contracts/{c}", headers=h, json={"title": "新标题", "contact_phone": "13911112222"}
    )
    assert r.status_code == 200 and r.json()["contact_phone"] == "13911112222"
    async with env.db.session() as s:
        entries = list(
            (
                await s.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.action.like("supervision.%"))
                    .order_by(AuditEntry.id)
                )
            ).all()
        )
    assert [e.action for e in entries] == [
        "supervision.line.created",
        "supervision.contract.created",
        "supervision.contract.changed",
    ]
    changed = entries[-1]
    assert changed.actor.startswith("user:") and changed.at is not None
    assert changed.detail["before"] == {"title": "建设合同"} and changed.detail["after"] == {
        "title": "新标题"
    }
    assert changed.detail["personal_fields_changed"] == ["contact_phone"]
    for e in entries:
        blob = str(e.detail)
        assert "13911112222" not in blob and "13800000000" not in blob and "张三" not in blob
    # the auditor reads everything, personal data masked, the audit log included; writes nothing
    auditor = await env.headers(Role.AUDITOR, HOME)
    (row,) = (await env.client.get(f"{API}/contracts", headers=auditor)).json()
    assert (row["contact_person"], row["contact_phone"], row["title"]) == ("***", "***", "新标题")
    log = (
        await env.client.get(
            "/api/v1/audit", headers=auditor, params={"action": "supervision.contract.changed"}
        )
    ).json()
    assert log[0]["detail"]["personal_fields_changed"] == ["contact_phone"]
    r = await env.client.post(f"{API}/disbursements", headers=auditor, json=pay(c, "1.00"))
    assert r.status_code == 403


async def test_public_disclosure_carries_no_personal_data_and_is_rate_limited(env: ApiEnv) -> None:
    from cloud.supervision.seed import seed_demo

    async with env.db.transaction() as s:
        await seed_demo(s)
    async with env.db.transaction() as s:
        await seed_demo(s)  # idempotent
    async with env.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Publication)) == 4
    r = await env.client.get(PUBLIC)
    data = r.json()
    assert r.headers["cache-control"].startswith("public")
    assert {k: len(v) for k, v in data.items()} == {
        "plan": 1,
        "projects": 1,
        "report": 1,
        "decision": 1,
    }
    (projects,) = data["projects"]
    assert projects["data"]["total"] == "6000000.00"
    assert [x["disbursed"] for x in projects["data"]["lines"]] == [
        "805000.00",
        "1526000.00",
        "0.00",
        "0.00",
    ]
    page = (await env.client.get("/disclosure")).text
    for leak in ("0692-2100000", "李工", "demo-seed", "user:"):
        assert leak not in r.text and leak not in page, leak
    assert "项目清单与资金安排" in page and "130.00" in page
    # the shared per-address budget of the public routes (cloud.web.ratelimit)
    from cloud.web.ratelimit import Limiter, TokenBuckets

    env.app.state.resolver_limiter = Limiter(TokenBuckets(rate=0.001, burst=2), ())
    codes = [(await env.client.get(url)).status_code for url in (PUBLIC, "/disclosure", PUBLIC)]
    assert codes == [200, 200, 429], codes


async def test_county_isolation_of_writes(env: ApiEnv) -> None:
    theirs = await env.headers(Role.COUNTY_ADMIN, OTHER)
    line = await home_line(env, await env.headers(Role.COUNTY_ADMIN, HOME))
    r = await env.client.post(
        f"{API}/contracts",
        headers=theirs,
        json={
            "line_id": line,
            "number": "X",
            "title": "x",
            "counterparty": "y",
            "amount": "1.00",
            "signed_on": "2026-01-01",
        },
    )
    assert r.status_code == 404 and r.json()["field"] == "body.line_id"
    r = await env.client.post(
        f"{API}/lines",
        headers=theirs,
        json={"county": HOME, "code": "z", "name": "n", "amount": "1.00"},
    )
    assert r.status_code == 403


async def test_cli_tick_sends_through_the_configured_channels(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from cloud.settings import get_settings
    from dehong.cli import main

    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        f"{API}/schedule",
        headers=h,
        json={
            "county": HOME,
            "kind": "half_year_evaluation",
            "ref": "2026-H1",
            "title": "半年自评",
            "owner": "芒市商务局",
            "due_on": "2026-07-15",
            "remind_on": "2026-07-01",
        },
    )
    item = r.json()["id"]
    with http_receiver() as rec:
        monkeypatch.setenv("DEHONG_DATABASE_URL", env.settings.database_url)
        monkeypatch.setenv(
            "DEHONG_NOTIFY_CHANNELS",
            json.dumps([{"name": "ops", "kind": "webhook", "url": rec.url}]),
        )
        get_settings.cache_clear()
        try:
            with pytest.raises(SystemExit) as done:
                await asyncio.to_thread(main, ["supervision", "tick", "--today", "2026-07-02"])
            assert done.value.code == 0
            with pytest.raises(SystemExit) as bad:
                await asyncio.to_thread(main, ["supervision", "tick", "--today", "2026-7-2"])
            assert bad.value.code == 2
        finally:
            get_settings.cache_clear()
        assert [q.body["key"] for q in rec.requests] == [f"supervision:{item}:reminder"]
    out = capsys.readouterr()
    (line,) = out.out.strip().splitlines()
    assert json.loads(line)["statuses"] == ["sent"] and "--today" in out.err


async def test_migrations_1050_1051_make_the_tables_the_models_declare() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base
    from tests.support.schema import sqlite_template

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if "supervision_" in repr(d)] == []


@pytest.mark.slow
async def test_the_supervision_branch_goes_down_and_up(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from cloud.db.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url)
    await asyncio.to_thread(command.upgrade, cfg, "heads")
    await asyncio.to_thread(command.downgrade, cfg, "supervision@0303")
    engine = create_engine(url)
    try:
        assert not [t for t in inspect(engine).get_table_names() if t.startswith("supervision_")]
    finally:
        engine.dispose()
    await asyncio.to_thread(command.upgrade, cfg, "heads")
