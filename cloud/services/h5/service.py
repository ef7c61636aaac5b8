"""The home page's data (``/api/v1/public/home`` and ``/h5/``): the programme's headline
public figures and the site's sections.

Public aggregates only: the commerce indicators over all four counties (and each
county's online retail sales) for the last complete Beijing month, with the same
month a year before. Figures whose source has not landed (stations, trainees,
households linked) are slots: ``status`` ``not_connected`` (未接入) and ``value`` null
until a provider is registered (:func:`register_figure`). A section's page that is not
mounted yet is ``not_connected`` too.

The answer is computed at most once per ``CACHE_S`` per process (one computation at a
time; the others wait for it), so a burst of phones costs one set of queries. A request
in the answer's last ``REFRESH_AHEAD_S``, or in the ``CACHE_S`` after its end, starts
the next computation beside it and is answered with the current one, so under steady
traffic nobody waits for the queries (at 100 clients flat out, every client of the home
waited for them at each expiry: 3-4 s, the path's p99; ``dehong bench services``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.commerce.indicators import indicators
from cloud.db import Database
from protocol.ids import COUNTIES, COUNTY_CODES

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
#: How long one computed answer is served (the JSON's max-age too).
CACHE_S = 60.0
#: A request this close to the answer's end refreshes it ahead, s.
REFRESH_AHEAD_S = 10.0

FigureProvider = Callable[[AsyncSession], Awaitable[int | str | None]]


@dataclass(frozen=True, slots=True)
class Slot:
    key: str
    zh: str
    en: str
    unit_zh: str
    unit_en: str


#: Headline figures of other packages: (slot, who plugs it) — 未接入 until registered.
SLOTS: tuple[Slot, ...] = (
    Slot("stations_open", "运营中的服务站点", "Service stations open", "个", "sites"),
    Slot("trainees_year", "今年电商培训人次", "E-commerce trainees this year", "人次", "trainees"),
    Slot("households_linked", "电商带动农户", "Households linked", "户", "households"),
)
FIGURE_PROVIDERS: dict[str, FigureProvider] = {}


def register_figure(key: str, provider: FigureProvider) -> None:
    """Plug a headline figure's provider (``async def f(session) -> value``; a public
    aggregate, never a person's data)."""
    if key not in {s.key for s in SLOTS}:
        raise ValueError(f"no headline slot {key!r}; slots: {', '.join(s.key for s in SLOTS)}")
    FIGURE_PROVIDERS[key] = provider


@dataclass(frozen=True, slots=True)
class SectionLink:
    key: str
    path: str
    zh: str
    en: str
    note_zh: str
    note_en: str


SECTIONS: tuple[SectionLink, ...] = (
    SectionLink("stations", "/h5/stations", "服务站点", "Service stations",
                "县乡村三级站点地图", "Map of county, township and village stations"),
    SectionLink("showcase", "/h5/showcase", "产品展示", "Showcase",
                "企业、园区与特色产品", "Enterprises, parks and products"),
    SectionLink("policies", "/h5/policies", "政策资讯", "Policies & news",
                "政策法规、新闻与通知", "Policies, news and notices"),
    SectionLink("training", "/h5/training", "电商培训", "Training",
                "电商学院培训日历", "The e-commerce academy's calendar"),
    SectionLink("trace", "/h5/trace", "溯源查询", "Trace lookup",
                "输入或扫描批次码", "Enter or scan a lot code"),
    SectionLink("disclosure", "/disclosure", "信息公开", "Disclosure",
                "项目计划、资金与月报", "Plan, funds and monthly reports"),
)  # fmt: skip


def last_month(now: datetime) -> str:
    first = now.astimezone(BEIJING).date().replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def _s(v: Any) -> Any:
    """Decimals (money, ratios) as their exact text; counts stay numbers."""
    return str(v) if isinstance(v, Decimal) else v


async def compute(db: Database, mounted: set[str], now: datetime | None = None) -> dict[str, Any]:
    """The home page's data (see the module's docstring)."""
    when = now or datetime.now(UTC)
    month = last_month(when)
    async with db.session() as s:
        (total,) = await indicators(s, counties=None, start_month=month, end_month=month,
                                    group_by=[])  # fmt: skip
        rows = await indicators(s, counties=None, start_month=month, end_month=month,
                                group_by=["county"])  # fmt: skip
        by_county = {r.county: r for r in rows}
        slots = []
        for slot in SLOTS:
            provider = FIGURE_PROVIDERS.get(slot.key)
            value = await provider(s) if provider else None
            slots.append({
                "key": slot.key, "zh": slot.zh, "en": slot.en, "value": value,
                "unit_zh": slot.unit_zh, "unit_en": slot.unit_en, "yoy": None,
                "status": "connected" if provider else "not_connected",
                "status_zh": "已接入" if provider else "未接入",
            })  # fmt: skip
    commerce = [
        ("online_retail_sales", "网络零售额", "Online retail sales", "元", "yuan"),
        ("farm_online_retail_sales", "农产品网络零售额", "Farm produce sold online", "元", "yuan"),
        ("order_count", "订单数", "Orders", "单", "orders"),
        ("parcels_out", "快递出港", "Parcels out", "件", "parcels"),
        ("active_shops", "活跃网店", "Active shops", "家", "shops"),
    ]
    figures = [
        {"key": k, "zh": zh, "en": en, "unit_zh": uz, "unit_en": ue,
         "value": _s(getattr(total, k)), "yoy": _s(total.yoy.get(k)),
         "status": "connected", "status_zh": "已接入"}
        for k, zh, en, uz, ue in commerce
    ]  # fmt: skip
    counties = []
    for code in COUNTY_CODES:
        row = by_county.get(code)
        en, zh = COUNTIES[code]
        counties.append({
            "county": code, "zh": zh, "en": en,
            "online_retail_sales": _s(row.online_retail_sales) if row else "0.00",
            "order_count": row.order_count if row else 0,
        })  # fmt: skip
    sections = [
        {"key": x.key, "path": x.path, "zh": x.zh, "en": x.en, "note_zh": x.note_zh,
         "note_en": x.note_en,
         "status": "connected" if x.path in mounted else "not_connected",
         "status_zh": "已接入" if x.path in mounted else "未接入"}
        for x in SECTIONS
    ]  # fmt: skip
    return {
        "month": month,
        "generated_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "figures": figures + slots,
        "counties": counties,
        "sections": sections,
        "source": "cloud.commerce.indicators: public aggregates of the four counties",
    }


class HomeCache:
    """One computed answer per ``ttl`` seconds; concurrent misses share one computation;
    a request in its last ``ahead`` seconds, or in the ``ttl`` after it, is answered with
    it and starts the next one in the background (one at a time)."""

    def __init__(
        self,
        ttl: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
        ahead: float = REFRESH_AHEAD_S,
    ) -> None:
        self.ttl, self.clock, self.ahead = ttl, clock, ahead
        self._value: dict[str, Any] | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    async def get(self, make: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        now = self.clock()
        if self._value is not None and now < self._until + self.ttl:
            if now >= self._until - self.ahead and self._refresh is None:
                self._refresh = asyncio.ensure_future(self._refreshed(make))
            return self._value
        async with self._lock:
            if self._value is None or self.clock() >= self._until + self.ttl:
                await self._make(make)
            assert self._value is not None
            return self._value

    async def _make(self, make: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        started = self.clock()
        self._value = await make()
        self._until = started + self.ttl

    async def _refreshed(self, make: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """The next answer, computed ahead; a failure leaves the current one to expire
        (the first request after it computes in the open and sees the error)."""
        try:
            async with self._lock:
                if self.clock() >= self._until - self.ahead:
                    await self._make(make)
        except Exception:  # logged; the current answer stays until its end
            log.warning("h5 home: computing the next answer ahead failed", exc_info=True)
        finally:
            self._refresh = None
