"""Demo data of supervision (``seed_demo(session)``, idempotent; the lead wires it into
``dehong demo``): the programme's four budget lines (made by migration 1051; made here
when missing), the operating company, a contract and two disbursements, milestones with
evidence, the year's rhythm, an approved and published monthly report, the project list
and fund allocation, the implementation plan and a decision on the disclosure page.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.policy import Role
from cloud.auth.principal import Principal
from cloud.catalog.storage import Organisation
from cloud.catalog.uscc import check_char
from cloud.supervision import schemas as sc
from cloud.supervision import service as sv
from cloud.supervision.storage import PROGRAMME_LINES, BudgetLine, Contract, Publication
from protocol.ids import PREFECTURE

SEEDER = Principal(kind="user", name="demo-seed", role=Role.PREFECTURE_ADMIN, county=PREFECTURE)
OPERATOR_COUNTY = "533103"  # 芒市
OPERATOR_NAME = "德宏州农村电商运营服务有限公司（演示）"
TODAY = date(2026, 12, 4)


def demo_uscc() -> str:
    first17 = "91533103MA6D0E001"
    return first17 + check_char(first17)


async def _operator(s: AsyncSession) -> Organisation:
    org = await s.scalar(select(Organisation).where(Organisation.uscc == demo_uscc()))
    if org is None:
        org = Organisation(
            kind="operating_company",
            name=OPERATOR_NAME,
            uscc=demo_uscc(),
            county=OPERATOR_COUNTY,
            created_by=SEEDER.actor,
        )
        s.add(org)
        await s.flush()
    return org


async def seed_demo(session: AsyncSession) -> None:
    """Idempotent: a second run finds the contract and stops."""
    s = session
    lines = {x.code: x for x in await sv.list_lines(s, [PREFECTURE])}
    for code, name, en, fen, systems in PROGRAMME_LINES:
        if code not in lines:
            lines[code] = await sv.create_line(
                s,
                sc.LineIn(
                    county=PREFECTURE,
                    code=code,
                    name=name,
                    name_en=en,
                    amount=sv.yuan(fen),
                    systems=systems,
                ),
                SEEDER,
            )
    if await s.scalar(select(Contract.id).where(Contract.number == "DH-ECRP-2026-002")):
        return
    org = await _operator(s)
    contract = await sv.create_contract(
        s,
        sc.ContractIn(
            line_id=lines["2"].id,
            number="DH-ECRP-2026-002",
            title="农村电子商务信息系统建设（大数据、公共服务、物流）",
            counterparty="云南德宏数字科技有限公司（演示）",
            amount=Decimal("2180000.00"),
            signed_on=date(2026, 3, 18),
            contact_person="李工",
            contact_phone="0692-2100000",
        ),
        SEEDER,
    )
    for amount, paid_on, voucher in (
        (Decimal("654000.00"), date(2026, 4, 10), "DH-PZ-0410"),
        (Decimal("872000.00"), date(2026, 9, 28), "DH-PZ-0928"),
    ):
        await sv.create_disbursement(
            s,
            sc.DisbursementIn(
                contract_id=contract.id, amount=amount, paid_on=paid_on, voucher=voucher
            ),
            SEEDER,
        )
    centre = await sv.create_contract(
        s,
        sc.ContractIn(
            line_id=lines["1"].id,
            number="DH-ECRP-2026-001",
            title="电子商务公共服务中心装修及设备",
            counterparty="德宏建工装饰有限公司（演示）",
            amount=Decimal("1150000.00"),
            signed_on=date(2026, 2, 20),
        ),
        SEEDER,
    )
    await sv.create_disbursement(
        s,
        sc.DisbursementIn(
            contract_id=centre.id,
            amount=Decimal("805000.00"),
            paid_on=date(2026, 5, 15),
            voucher="DH-PZ-0515",
        ),
        SEEDER,
    )
    for line, title, deliverable, due, status in (
        ("1", "公共服务中心投入运营", "中心场地、设备验收报告", date(2026, 6, 30), "done"),
        ("2", "大数据平台上线", "大屏与指标接口验收", date(2026, 9, 30), "done"),
        ("2", "物流信息系统上线", "冷链与运单系统验收", date(2026, 11, 30), "in_progress"),
        ("3", "区域公共品牌发布", "品牌标准与授权规则", date(2026, 12, 20), "planned"),
        ("4", "半年自评报告", "2026 年上半年绩效自评", date(2026, 7, 15), "done"),
    ):
        m = await sv.create_milestone(
            s,
            sc.MilestoneIn(
                line_id=lines[line].id,
                title=title,
                deliverable=deliverable,
                due_on=due,
                status=status,
            ),
            SEEDER,
            TODAY,
        )
        if status == "done":
            await sv.add_evidence(
                s,
                m.id,
                sc.EvidenceIn(kind="link", title=f"{title} 验收材料", url="/disclosure#projects"),
                SEEDER,
            )
    await sv.plan(
        s,
        sc.PlanIn(
            county=OPERATOR_COUNTY, year=2026, owner="芒市商务局电商办", report_org_id=org.id
        ),
        SEEDER,
    )
    r = await sv.file_report(
        s,
        sc.ReportIn(
            org_id=org.id,
            month="2026-11",
            title="2026年11月运营工作月报",
            body="一、本月工作：完成服务站巡检 42 个，开展电商培训 3 场。\n"
            "二、下月计划：推进区域公共品牌发布，完成物流信息系统验收。",
        ),
        SEEDER,
    )
    await sv.review_report(s, r.id, SEEDER, approve=True, note="同意公开")
    await sv.publish_report(s, r.id, sc.PublishReportIn(), SEEDER)
    if not await s.scalar(select(Publication.id).where(Publication.kind == "plan")):
        await sv.publish(
            s,
            sc.PublicationIn(
                county=PREFECTURE,
                kind="plan",
                title="德宏州电子商务进农村综合示范项目实施方案",
                title_en="Implementation plan of the Dehong rural e-commerce programme",
                body="项目总投资 600 万元，建设电子商务公共服务中心、农村电子商务信息系统、"
                "区域公共品牌及质量溯源系统，建立项目监督审核机制。",
            ),
            SEEDER,
        )
        await sv.publish(
            s,
            sc.PublicationIn(
                county=PREFECTURE,
                kind="projects",
                title="项目清单与资金安排",
                title_en="Project list and fund allocation",
            ),
            SEEDER,
        )
        await sv.publish(
            s,
            sc.PublicationIn(
                county=PREFECTURE,
                kind="decision",
                title="关于物流信息系统验收时间调整的决定",
                title_en="Decision on the acceptance date of the logistics system",
                body="经州电商工作领导小组第 11 次周调度会议研究，物流信息系统验收调整至 2026 年 12 月 20 日前完成。",
            ),
            SEEDER,
        )
    await s.flush()


__all__ = ["BudgetLine", "seed_demo"]
