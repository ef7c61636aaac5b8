"""The export's field catalogue: every section, every field, its unit, and the figure of
MOFCOM's 农村电子商务和社区商业信息系统 it is meant for (FORMAT.md shows the same table).

That system's interface is not public: the mapping of each field is ours, and every
mapping we could not confirm from a published document carries ``assumption`` (the
reason). Nothing here describes MOFCOM's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The format's name and version: a reader checks both (FORMAT.md, "Versioning").
FORMAT_NAME = "dehong-mofcom-export"
FORMAT_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    zh: str
    en: str
    unit: str
    #: the national system's figure we mean it for (Chinese, as the bureau names it)
    national: str
    #: why the mapping is an assumption (empty: none beyond the section's)
    assumption: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    zh: str
    en: str
    #: where the figures come from (a module, or the provider slot the lead plugs)
    source: str
    fields: tuple[Field, ...]
    #: True: the figures come from a provider registered in :mod:`.providers`
    provided: bool = False


A = "ASSUMPTION: "

# fmt: off

SECTIONS: tuple[Section, ...] = (
    Section(
        "ecommerce",
        "电子商务",
        "E-commerce",
        "cloud.commerce.indicators (definitions: cloud/commerce/README.md)",
        (
            Field("online_retail_sales", "网络零售额", "online retail sales", "yuan",
                  "农村网络零售额",
                  A + "ours covers only the shops registered on this platform; the national "
                  "figure is estimated from the platforms' own data for the whole county"),
            Field("farm_online_retail_sales", "农产品网络零售额", "farm produce online sales",
                  "yuan", "农产品网络零售额",
                  A + "farm produce = lines of a catalog product of any category but "
                  "'other'; the national classification of 农产品 may differ"),
            Field("order_count", "订单数", "orders", "orders", "网络零售订单量",
                  A + "cancelled orders excluded, refunded ones counted"),
            Field("parcels_out", "快递出港量", "parcels out", "parcels", "快递业务量（出港）",
                  A + "one shipped order is one parcel; the postal bureau counts pieces"),
            Field("parcels_in", "快递进港量", "parcels in", "parcels", "快递业务量（进港）",
                  A + "only parcels from shops we record; inbound parcels from elsewhere "
                  "are unknown to us"),
            Field("local_produce_share", "本地农产品占比", "local produce share", "ratio 0-1",
                  "本地农产品网络销售占比", A + "no published national definition found"),
            Field("active_shops", "活跃网店数", "active shops", "shops", "网店数量",
                  A + "ours counts shops with at least one order in the month, not every "
                  "registered shop"),
            Field("online_retail_sales_yoy", "网络零售额同比", "online retail sales YoY",
                  "ratio", "农村网络零售额同比增长", A + "a ratio (0.12 = +12 %), not percent"),
            Field("online_retail_sales_mom", "网络零售额环比", "online retail sales MoM",
                  "ratio", "农村网络零售额环比增长", A + "a ratio (0.12 = +12 %), not percent"),
        ),
    ),
    Section(
        "logistics",
        "物流配送",
        "Logistics",
        "cloud.logistics (waybills, trips, tracked trips) and cloud.coldchain (alarms)",
        (
            Field("waybills_created", "新建运单数", "waybills created", "waybills",
                  "农村物流配送单量", A + "our county-logistics waybills only, not express"),
            Field("waybills_delivered", "签收运单数", "waybills delivered", "waybills",
                  "农村物流配送完成量", A + "counted in the month of the delivery event"),
            Field("trips_planned", "计划车次", "trips planned", "trips", "物流配送车次",
                  A + "planned trips of the day they run"),
            Field("tracked_trips", "行驶趟次（定位）", "tracked trips (GPS)", "trips",
                  "物流配送车次", A + "trips detected from vehicle positions; an alternative "
                  "to trips_planned where planning is not used"),
            Field("tracked_distance_km", "行驶里程", "distance driven", "km", "配送里程",
                  A + "no national figure of this name is confirmed"),
            Field("coldchain_alarms", "冷链告警数", "cold-chain alarms", "alarms",
                  "冷链物流温控异常次数", A + "no national figure of this name is confirmed"),
            Field("coldchain_excursions", "冷链温度偏离次数", "cold-chain excursions",
                  "excursions", "冷链物流温控异常次数", A + "as above"),
        ),
    ),
    Section(
        "stations",
        "电商服务站点",
        "Service stations",
        "provider 'stations' (cloud/services/stations monthly_figures)",
        (
            Field("county_centres", "县级运营中心数", "county operation centres", "sites",
                  "县级电子商务公共服务中心数量"),
            Field("township_stations", "乡镇服务站数", "township stations", "sites",
                  "乡镇电子商务服务站数量"),
            Field("village_points", "村级服务点数", "village points", "sites",
                  "村级电子商务服务点数量"),
            Field("stations_open", "运营中站点数", "stations open", "sites",
                  "正常运营站点数量", A + "status 'open' only"),
            Field("station_orders", "站点订单数", "station orders", "orders",
                  "服务站点代买代卖单量"),
            Field("station_sales", "站点销售额", "station sales", "yuan",
                  "服务站点代销额"),
            Field("households_served", "服务农户数", "households served", "households",
                  "服务站点服务农户数"),
        ),
        provided=True,
    ),
    Section(
        "training",
        "电商培训",
        "E-commerce training",
        "provider 'training' (cloud/services/training monthly_figures)",
        (
            Field("sessions", "培训场次", "training sessions", "sessions", "电商培训场次"),
            Field("trainees", "培训人次", "trainees", "person-times", "电商培训人次",
                  A + "attendances checked in, one per trainee and session"),
            Field("certificates", "结业证书数", "certificates issued", "certificates",
                  "电商培训结业人数", A + "one certificate = one trainee who finished"),
        ),
        provided=True,
    ),
    Section(
        "poverty",
        "电商扶贫",
        "E-commerce poverty alleviation",
        "provider 'poverty' (cloud/services/poverty monthly_figures; aggregates only)",
        (
            Field("households_linked", "带动农户数", "households linked", "households",
                  "电商带动贫困户（脱贫户）数",
                  A + "aggregates with small-cell suppression; a suppressed figure is null"),
            Field("income_brought", "带动增收", "income brought", "yuan",
                  "电商带动增收金额"),
        ),
        provided=True,
    ),
    Section(
        "registry",
        "入驻主体",
        "Registered organisations",
        "provider 'registry' (cloud/services/registry monthly_figures)",
        (
            Field("orgs_registered", "申请入驻主体数", "organisations registered",
                  "organisations", "电商主体数量", A + "applications made in the month"),
            Field("orgs_approved", "审核通过主体数", "organisations approved",
                  "organisations", "电商主体数量", A + "approvals made in the month"),
        ),
        provided=True,
    ),
)

# fmt: on

SECTION_BY_KEY = {s.key: s for s in SECTIONS}
