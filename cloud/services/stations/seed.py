"""Demo data of the stations, poverty-alleviation and statistics-forms part
(``seed_demo(session)``, idempotent on natural keys: each station's GLN, each
household's ID number index). The lead wires it into ``dehong demo``.

Stations of the four counties in three tiers, at approximate WGS-84 positions of the
real towns, and a few households with consent; their names, ID numbers (valid check
digits, fictitious) and phones are made up.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.gs1 import gs1_check_digit
from cloud.catalog.storage import Location
from cloud.db import utcnow
from cloud.pii import Keyring, blind_index, keyring_for, seal
from cloud.services.poverty.idnumber import check_char
from cloud.services.poverty.service import context
from cloud.services.poverty.storage import PERSONAL, Household, HouseholdLink, LinkIncome
from cloud.services.stations.storage import StationInfo
from protocol.ids import COUNTIES

ACTOR = "seed:services"
ALL = ["buy_on_behalf", "sell_on_behalf", "parcels", "payments", "training"]
#: (county, tier, name, lon, lat, township code, village code, status)
STATIONS = [
    ("533103", "county", "芒市电子商务公共服务中心", 98.5886, 24.4337, None, None, "open"),
    ("533103", "township", "遮放镇电商服务站", 98.2846, 24.2549, "533103102000", None, "open"),
    ("533103", "township", "风平镇电商服务站", 98.5210, 24.3930, "533103105000", None, "open"),
    (
        "533103",
        "village",
        "弄坎村电商服务点",
        98.2650,
        24.2400,
        "533103102000",
        "533103102201",
        "open",
    ),
    (
        "533103",
        "village",
        "户拉村电商服务点",
        98.3080,
        24.2750,
        "533103102000",
        "533103102202",
        "suspended",
    ),
    (
        "533103",
        "village",
        "芒里村电商服务点",
        98.5050,
        24.3700,
        "533103105000",
        "533103105201",
        "building",
    ),
    ("533124", "county", "陇川县电子商务运营中心", 97.7920, 24.1830, None, None, "open"),
    ("533124", "township", "景罕镇电商服务站", 97.9450, 24.2760, "533124103000", None, "open"),
    ("533124", "township", "户撒乡电商服务站", 98.0000, 24.4450, "533124201000", None, "open"),
    (
        "533124",
        "village",
        "曼胆村电商服务点",
        97.9600,
        24.2500,
        "533124103000",
        "533124103202",
        "open",
    ),
    (
        "533124",
        "village",
        "腊撒村电商服务点",
        98.0200,
        24.4250,
        "533124201000",
        "533124201202",
        "open",
    ),
    ("533123", "county", "盈江县电子商务公共服务中心", 97.9330, 24.7070, None, None, "open"),
    ("533123", "township", "弄璋镇电商服务站", 97.8830, 24.6370, "533123104000", None, "open"),
    (
        "533123",
        "village",
        "允燕村电商服务点",
        97.9500,
        24.7200,
        "533123101000",
        "533123101201",
        "open",
    ),
    (
        "533123",
        "village",
        "南算村电商服务点",
        97.8600,
        24.6100,
        "533123104000",
        "533123104202",
        "building",
    ),
    ("533122", "county", "梁河县电子商务公共服务中心", 98.2970, 24.8040, None, None, "open"),
    ("533122", "township", "九保乡电商服务站", 98.2230, 24.7550, "533122204000", None, "open"),
    (
        "533122",
        "village",
        "九保村电商服务点",
        98.2300,
        24.7450,
        "533122204000",
        "533122204201",
        "open",
    ),
    (
        "533122",
        "village",
        "永和村电商服务点",
        98.3200,
        24.8200,
        "533122101000",
        "533122101203",
        "open",
    ),
]
SERVICES = {"county": ALL, "township": ALL, "village": ["buy_on_behalf", "sell_on_behalf", "parcels", "payments"]}  # fmt: skip
#: (name, birth date, sequence, phone, village, township, station index, income yuan)
HOUSEHOLDS = [
    ("岳示例", "19720315", "231", "13800000001", "533103102201", "533103102000", 3, 860),
    ("线示例", "19800611", "142", "13800000002", "533103102201", "533103102000", 3, 540),
    ("排示例", "19651102", "353", "13800000003", "533103102202", "533103102000", 4, 300),
    ("金示例", "19880720", "124", "13800000004", "533124103202", "533124103000", 9, 720),
]


def gln_of(i: int) -> str:
    body = f"692000{99000 + i:06d}"
    return body + gs1_check_digit(body)


def id_number(county: str, born: str, seq: str) -> str:
    body = f"{county}{born}{seq}"
    return body + check_char(body)


async def seed_demo(session: AsyncSession, keyring: Keyring | None = None) -> dict[str, int]:
    """Stations and households (idempotent); ``keyring`` defaults to the marked demo key."""
    ring = keyring or keyring_for("", None, demo=True)
    made = {"stations": 0, "households": 0}
    ids: list[int] = []
    for i, (county, tier, name, lon, lat, town, village, status) in enumerate(STATIONS):
        gln = gln_of(i)
        loc = await session.scalar(select(Location).where(Location.gln == gln))
        if loc is None:
            loc = Location(kind="station", name=name, county=county, tier=tier, gln=gln,
                           gln_extension="", created_at=utcnow(), created_by=ACTOR)  # fmt: skip
            session.add(loc)
            await session.flush()
        ids.append(loc.id)
        if await session.get(StationInfo, loc.id) is None:
            session.add(
                StationInfo(
                    location_id=loc.id,
                    county=county,
                    tier=tier,
                    org_id=None,
                    lon=lon,
                    lat=lat,
                    township_code=town,
                    village_code=village,
                    operator_name=f"{COUNTIES[county][1]}电商运营服务公司"
                    if tier == "county"
                    else name,
                    hours="周一至周日 08:30-18:00" if tier != "village" else "每日 09:00-20:00",
                    services=SERVICES[tier],
                    status=status,
                    created_by=ACTOR,
                )
            )
            made["stations"] += 1
    await session.flush()
    month = f"{(datetime.now(timezone(timedelta(hours=8))).date().replace(day=1) - timedelta(days=1)):%Y-%m}"  # fmt: skip
    for name, born, seq, phone, village, town, station, income in HOUSEHOLDS:
        number = id_number(village[:6], born, seq)
        ix = blind_index(ring, "id_number", number)
        if await session.scalar(select(Household.id).where(Household.id_number_index == ix)):
            continue
        ref = f"demo{ix[:12]}"
        values = {"name": name, "id_number": number, "phone": phone, "bank_account": None}
        hh = Household(
            ref=ref, county=village[:6], township_code=town, village_code=village,
            id_number_index=ix, legal_basis="consent", consent_at=date(2026, 1, 5),
            purpose="电商帮扶联农带农统计与收入核实", retention_until=date(2031, 12, 31),
            created_by=ACTOR,
        )  # fmt: skip
        for f in PERSONAL:
            v = values[f]
            setattr(hh, f"{f}_sealed", None if v is None else seal(ring, v, context(ref, f)))
        session.add(hh)
        await session.flush()
        link = HouseholdLink(household_id=hh.id, county=hh.county, link_type="purchase_agreement",
                             partner_kind="station", station_id=ids[station], since="2026-01",
                             created_by=ACTOR)  # fmt: skip
        session.add(link)
        await session.flush()
        session.add(LinkIncome(link_id=link.id, household_id=hh.id, county=hh.county,
                               month=month, amount_fen=income * 100, recorded_by=ACTOR))  # fmt: skip
        made["households"] += 1
    await session.flush()
    return made
