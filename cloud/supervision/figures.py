"""Live figures for monthly bulletins (月通报) and self-evaluations (自评), never typed in.

A figure comes from a system that has landed: the e-commerce indicators
(``cloud.commerce.indicators``), and supervision's own budget, milestones and reports.
The public-service figures (stations, training, poverty-alleviation links,
registrations) live in ``cloud/services``, on this same floor, which supervision may
not import: the app registers their ``monthly_figures`` functions with
:func:`register_source` at start-up. A figure whose source is not registered reads
**未接入** (value None), never a number; a registered source that withholds a figure
(a household count under 5, suppressed for privacy) reads **已抑制** (value None).
"""

from __future__ import annotations

import calendar
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.commerce.indicators import indicators
from cloud.supervision.schemas import Figure
from cloud.supervision.storage import BudgetLine, Disbursement, Milestone, Report
from protocol.ids import PREFECTURE

#: ``async def monthly_figures(session, county, month) -> {key: int | str | None}``
MonthlyFigures = Callable[[AsyncSession, str, str], Awaitable[dict[str, int | str | None]]]

NOT_CONNECTED = "未接入"
#: a connected source that withholds the figure (small-cell suppression of household
#: counts, cloud/services/poverty): not the same as a source that has not landed
SUPPRESSED = "已抑制"
FEN = Decimal("0.01")
RATIO = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Spec:
    key: str
    zh: str
    en: str
    unit: str
    source: str


#: Figures of other packages, by the source that serves them (the ``monthly_figures``
#: keys the helpers of issue 15 name in their READMEs).
EXTERNAL: tuple[Spec, ...] = (
    Spec("stations_open", "运营服务站点", "service stations open", "个", "services.stations"),
    Spec("households_linked", "带动脱贫户", "households linked", "户", "services.poverty"),
    Spec("income_brought", "带动增收", "income brought", "元", "services.poverty"),
    Spec("sessions", "培训场次", "training sessions", "场", "services.training"),
    Spec("trainees", "培训人次", "trainees", "人次", "services.training"),
    Spec("orgs_approved", "入驻企业", "organisations approved", "家", "services.registry"),
)

_sources: dict[str, MonthlyFigures] = {}


def register_source(name: str, fn: MonthlyFigures) -> None:
    """Connect a source (``services.training``: its ``monthly_figures``)."""
    _sources[name] = fn


def unregister_source(name: str) -> None:
    _sources.pop(name, None)


def months_of(period: str) -> list[str]:
    """``2026-11`` -> [it]; ``2026-H1`` -> Jan..Jun; ``2026`` -> Jan..Dec."""
    if len(period) == 7 and period[4] == "-" and period[5] != "H":
        return [period]
    year = int(period[:4])
    first, last = (1, 12) if len(period) == 4 else ((1, 6) if period.endswith("H1") else (7, 12))
    return [f"{year:04d}-{m:02d}" for m in range(first, last + 1)]


def month_end(month: str) -> date:
    y, m = int(month[:4]), int(month[5:])
    return date(y, m, calendar.monthrange(y, m)[1])


def _counties(county: str) -> list[str] | None:
    return None if county == PREFECTURE else [county]


def _fig(spec: Spec, value: object | None, *, connected: bool = False) -> Figure:
    """``value`` None reads 未接入, or 已抑制 when its source is ``connected``."""
    return Figure(
        key=spec.key,
        zh=spec.zh,
        en=spec.en,
        unit=spec.unit,
        source=spec.source,
        value=None if value is None else str(value),
        status="ok" if value is not None else SUPPRESSED if connected else NOT_CONNECTED,
    )


COMMERCE = (
    Spec("online_retail_sales", "网络零售额", "online retail sales", "元", "commerce.indicators"),
    Spec(
        "farm_online_retail_sales",
        "农产品网络零售额",
        "farm produce online sales",
        "元",
        "commerce.indicators",
    ),
    Spec("order_count", "订单数", "orders", "单", "commerce.indicators"),
    Spec("parcels_out", "快递出港包裹", "parcels out", "件", "commerce.indicators"),
    Spec("active_shops", "活跃网店", "active shops", "家", "commerce.indicators"),
)
BUDGET = (
    Spec("disbursed", "资金拨付", "funds disbursed", "元", "supervision.budget"),
    Spec(
        "execution_rate", "累计预算执行率", "cumulative budget execution", "", "supervision.budget"
    ),
    Spec("milestones_done", "累计完成里程碑", "milestones done", "个", "supervision.milestones"),
    Spec("milestones_overdue", "逾期里程碑", "milestones overdue", "个", "supervision.milestones"),
    Spec(
        "reports_submitted",
        "已报送运营月报",
        "monthly reports submitted",
        "份",
        "supervision.reports",
    ),
)


async def period_figures(s: AsyncSession, county: str, period: str) -> list[Figure]:
    """The figures of ``county`` (533100: the programme) over ``period`` (a month, a
    half-year or a year): sums of monthly flows, cumulative rates at the period's end."""
    months = months_of(period)
    counties = _counties(county)
    out: list[Figure] = []
    (row,) = await indicators(
        s, counties=counties, start_month=months[0], end_month=months[-1], group_by=[]
    )
    for spec in COMMERCE:
        out.append(_fig(spec, getattr(row, spec.key)))
    out.extend(await _own(s, counties, months))
    for spec in EXTERNAL:
        fn = _sources.get(spec.source)
        if fn is None:
            out.append(_fig(spec, None))
            continue
        # counts are integers, money a decimal string (yuan): summed exactly as Decimal
        total: Decimal | None = Decimal(0)
        for month in months[-1:] if spec.key in STOCKS else months:
            got = (await fn(s, county, month)).get(spec.key)
            if got is None or total is None:
                total = None
            else:
                total += Decimal(str(got))
        out.append(_fig(spec, total, connected=True))
    return out


async def _own(s: AsyncSession, counties: list[str] | None, months: list[str]) -> list[Figure]:
    end = month_end(months[-1])

    def scoped(q, col):  # type: ignore[no-untyped-def]
        return q if counties is None else q.where(col.in_(counties))

    disbursed = await s.scalar(
        scoped(
            select(func.coalesce(func.sum(Disbursement.amount_fen), 0)), Disbursement.county
        ).where(Disbursement.month.in_(months))
    )
    cumulative = await s.scalar(
        scoped(
            select(func.coalesce(func.sum(Disbursement.amount_fen), 0)), Disbursement.county
        ).where(Disbursement.paid_on <= end)
    )
    budget = await s.scalar(
        scoped(select(func.coalesce(func.sum(BudgetLine.amount_fen), 0)), BudgetLine.county)
    )
    done = await s.scalar(
        scoped(select(func.count()).select_from(Milestone), Milestone.county).where(
            Milestone.status == "done", Milestone.done_on <= end
        )
    )
    overdue = await s.scalar(
        scoped(select(func.count()).select_from(Milestone), Milestone.county).where(
            Milestone.due_on <= end,
            (Milestone.done_on.is_(None)) | (Milestone.done_on > end),
            Milestone.status != "cancelled",
        )
    )
    reports = await s.scalar(
        scoped(select(func.count()).select_from(Report), Report.county).where(
            Report.month.in_(months), Report.submitted_at.is_not(None)
        )
    )
    rate = (
        (Decimal(int(cumulative or 0)) / Decimal(int(budget))).quantize(RATIO) if budget else None
    )
    values = [
        (Decimal(int(disbursed or 0)) * FEN).quantize(FEN),
        rate,
        int(done or 0),
        int(overdue or 0),
        int(reports or 0),
    ]
    return [_fig(spec, v) for spec, v in zip(BUDGET, values, strict=True)]


#: The performance targets of the self-evaluation (绩效目标) per year, by figure key.
#: A half-year's target is half the year's for flows, the same for rates. Planning
#: values, stated in the README as assumptions until the programme's approved
#: performance table (绩效目标表) is entered.
ANNUAL_TARGETS: dict[str, Decimal] = {
    "online_retail_sales": Decimal("120000000"),
    "farm_online_retail_sales": Decimal("40000000"),
    "parcels_out": Decimal("3000000"),
    "execution_rate": Decimal("1"),
    "trainees": Decimal("3000"),
    "stations_open": Decimal("150"),
    "households_linked": Decimal("1000"),
}
RATES = frozenset({"execution_rate"})
#: figures that are a stock (read at the period's last month), not a flow summed
STOCKS = frozenset({"stations_open"})
