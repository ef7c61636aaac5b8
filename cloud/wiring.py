"""Issue 15's figures wired across one floor: the public-service packages
(``cloud/services/*``) answer ``monthly_figures``, and three consumers on the same floor
read them through registries, since a package never imports its own floor:

- the MOFCOM export's provider slots (:mod:`cloud.services.mofcom.providers`);
- the H5 home page's headline figures (:mod:`cloud.services.h5.service`);
- supervision's bulletins and self-evaluations (:mod:`cloud.supervision.figures`).

Each adapter here maps a package's own keys to the names the consumer documents
(FORMAT.md, cloud/supervision/README.md). Like :mod:`cloud.app`, this module stands above
every floor; :func:`wire` is called by ``create_app`` and by the commands that build
exports without the app (``dehong report mofcom``). Calling it again changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.ids import COUNTY_CODES, PREFECTURE

Figures = dict[str, int | str | None]

#: Beijing time (UTC+8, no daylight saving): the programme's months
_BEIJING = timedelta(hours=8)


async def stations_section(s: AsyncSession, county: str, month: str) -> Figures:
    """Stations by tier, those open, and their shops' orders and sales and the
    households they served in ``month`` (summed over the county's stations)."""
    from cloud.services.stations import service
    from cloud.services.stations.storage import StationInfo

    own = await service.monthly_figures(s, county, month)
    q = select(StationInfo)
    if county != PREFECTURE:
        q = q.where(StationInfo.county == county)
    orders = served = 0
    sales = Decimal("0.00")
    for st in (await s.scalars(q)).all():
        (row,) = await service.performance(s, st, [month])
        orders += row.orders
        served += row.households_served
        sales += row.sales
    return {
        "county_centres": own.get("stations_county"),
        "township_stations": own.get("stations_township"),
        "village_points": own.get("stations_village"),
        "stations_open": own.get("stations_open"),
        "station_orders": orders,
        "station_sales": str(sales),
        "households_served": served,
    }


async def poverty_section(s: AsyncSession, county: str, month: str) -> Figures:
    """Households linked and the income they brought (None where suppressed: fewer
    than the smallest cell shown)."""
    from cloud.services.stations import service

    own = await service.monthly_figures(s, county, month)
    return {
        "households_linked": own.get("households_linked"),
        "income_brought": own.get("income_yuan"),
    }


async def training_section(s: AsyncSession, county: str, month: str) -> Figures:
    from cloud.services.training import service

    own = await service.monthly_figures(s, county, month)
    return {
        "sessions": own.get("training_sessions"),
        "trainees": own.get("training_attended"),
        "certificates": own.get("training_certificates"),
    }


async def registry_section(s: AsyncSession, county: str, month: str) -> Figures:
    from cloud.services.registry import service

    counties = list(COUNTY_CODES) if county == PREFECTURE else [county]
    received = approved = 0
    for c in counties:
        own = await service.monthly_figures(s, c, month)
        received += int(own.get("registrations_received") or 0)
        approved += int(own.get("registrations_approved") or 0)
    return {"orgs_registered": received, "orgs_approved": approved}


def _beijing_now() -> datetime:
    return datetime.now(UTC) + _BEIJING


async def _stations_open(s: AsyncSession) -> int:
    from cloud.services.stations.storage import StationInfo

    n = await s.scalar(select(func.count()).where(StationInfo.status == "open"))
    return int(n or 0)


async def _trainees_year(s: AsyncSession) -> int:
    now = _beijing_now()
    total = 0
    for m in range(1, now.month + 1):
        got = await training_section(s, PREFECTURE, f"{now.year}-{m:02d}")
        total += int(got["trainees"] or 0)
    return total


async def _households_linked(s: AsyncSession) -> int | None:
    now = _beijing_now()
    got = await poverty_section(s, PREFECTURE, f"{now.year}-{now.month:02d}")
    value = got["households_linked"]
    return None if value is None else int(value)


#: section (MOFCOM) and source ``services.<section>`` (supervision) -> its adapter
SECTIONS = {
    "stations": stations_section,
    "poverty": poverty_section,
    "training": training_section,
    "registry": registry_section,
}
#: the H5 home's headline slot -> its provider
HEADLINES = {
    "stations_open": _stations_open,
    "trainees_year": _trainees_year,
    "households_linked": _households_linked,
}


def wire() -> None:
    """Register every adapter with its consumer (idempotent)."""
    from cloud.services.h5.service import register_figure
    from cloud.services.mofcom.providers import register
    from cloud.supervision.figures import register_source

    for section, fn in SECTIONS.items():
        register(section, fn)
        register_source(f"services.{section}", fn)
    for key, provider in HEADLINES.items():
        register_figure(key, provider)


def unwire() -> None:
    """Undo :func:`wire` (tests of the consumers' 未接入 state)."""
    from cloud.services.h5.service import FIGURE_PROVIDERS
    from cloud.services.mofcom.providers import unregister
    from cloud.supervision.figures import unregister_source

    for section in SECTIONS:
        unregister(section)
        unregister_source(f"services.{section}")
    for key in HEADLINES:
        FIGURE_PROVIDERS.pop(key, None)
