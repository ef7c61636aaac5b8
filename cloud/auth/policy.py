"""The role table and the one place that decides who may do what (docs/roles.md).

Every route declares one permission (``require("gateways:write")`` in
:mod:`cloud.auth.deps`; ``require("public")`` for the few public routes), and this
module answers three questions:

- may this role do this at all (:func:`authorize`: 403 otherwise);
- in which county, organisation or own record may it write
  (:func:`check_write_scope`, :func:`check_own_record`);
- does it see personal data, or a mask (:func:`sees_personal_data`, :func:`mask`).

Reads are scoped by county through :class:`cloud.auth.principal.Principal`
(``counties()``/``visible()``): another county's record is 404, never revealed.

Organisations live in ``cloud/catalog`` (floor 2); here an organisation is only an
opaque id carried by the principal, so floor 1 imports nothing of the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from cloud.errors import ApiError
from protocol.ids import COUNTIES, COUNTY_CODES, PREFECTURE

if TYPE_CHECKING:
    from cloud.auth.principal import Principal


class Role(StrEnum):
    # prefecture and county roles
    PREFECTURE_ADMIN = "prefecture_admin"
    COUNTY_ADMIN = "county_admin"
    #: county dispatcher (logistics); the stored name predates the table
    DISPATCHER = "dispatcher"
    POVERTY_OFFICER = "poverty_officer"
    AUDITOR = "auditor"
    #: read-only token for wall screens (an API key)
    DISPLAY = "display"
    #: anonymous; never assigned to a user or key
    PUBLIC = "public"
    #: a gateway authenticated as itself (its id and broker password, HTTP Basic); never
    #: assigned to a user or key
    GATEWAY = "gateway"
    # organisation roles
    #: enterprise or cooperative operator; the stored name predates the table
    OPERATOR = "operator"
    CARRIER = "carrier"
    DRIVER = "driver"
    STATION_OPERATOR = "station_operator"
    TRAINER = "trainer"
    OPERATING_COMPANY = "operating_company"
    #: a third-party or local e-commerce platform's API key: pushes orders and products
    #: (SKU mappings) of the shops granted to the key, nothing else (cloud/services/registry)
    PLATFORM = "platform"


class Scope(StrEnum):
    """What a role's writes (and, for the own-record scope, reads) are confined to."""

    COUNTY = "county"  # its county; the prefecture (533100) means every county
    ORGANISATION = "organisation"  # its organisation's records, within its county
    OWN_RECORD = "own record"  # the records that name it (a driver's own trips)
    OWN_GATEWAY = "own gateway"  # a gateway: its own assignments and nodes
    PUBLIC = "public"  # published data only
    OWN_SHOPS = "own shops"  # a platform's key: the shops granted to it


class Home(StrEnum):
    """Which county code a principal of the role may carry."""

    PREFECTURE = "prefecture"  # 533100 only
    COUNTY = "county"  # one of the four counties
    EITHER = "either"  # 533100 (all counties) or one county


#: Every permission a route may declare, and what it allows.
PERMISSIONS: dict[str, str] = {
    "public": "no credentials needed (login, health)",
    "self": "read who I am, change my own password",
    "gateways:read": "gateways, their state, completeness and commands",
    "gateways:write": "provision, revoke, rotate gateways; send them commands",
    "devices:read": "devices, latest values and series",
    "inspections:read": "camera inspection records and thumbnails",
    "users:read": "the users of a county",
    "users:write": "create users",
    "apikeys:read": "the API keys of a county",
    "apikeys:write": "create and revoke API keys",
    "audit:read": "the audit log",
    "dead_letters:read": "what ingest refused, with payloads",
    "dead_letters:replay": "run dead letters through ingest again",
    "ingest:read": "alerts about the time-series store (ingest holds the data and retries)",
    "catalog:read": "organisations, bases, locations and their devices, products, commodity "
    "profiles, and which organisation owns each BLE tag or vehicle",
    "catalog:write": "create organisations; enter the bases, locations, products and commodity "
    "profiles of any organisation of the county; wire devices to locations",
    "mobile_devices:write": "register a BLE tag or vehicle to an organisation "
    "(organisation roles: to their own)",
    "trace:read": "lots, EPCIS events, custody and sensor evidence, certificates, brand, recall",
    "trace:write": "record trace steps and capture EPCIS documents "
    "(organisation roles: for their own organisation's lots)",
    "org_records:write": "enter and correct its own organisation's records (its contact, "
    "bases, locations, products)",
    "personal:read": "personal data of households, farmers, drivers, unmasked",
    "console:read": "the dispatcher console: live vehicles, places, boards, replay",
    "console:write": "act from the dispatcher console (acknowledge and comment alarms)",
    "coldchain:read": "cold-chain excursions, alarms, and MKT of any device over any interval",
    "coldchain:write": "acknowledge cold-chain alarms with a comment "
    "(organisation roles: of their own organisation's locations)",
    "positions:read": "vehicles' positions, daily tracks and phone trackers (never their ids); "
    "tracked trips, stops, geofences and their events, trip replays",
    "geofences:write": "create, change and delete the geofences of the county's locations",
    "trackers:write": "create, rotate and revoke the phone trackers of vehicles",
    "logistics:read": "vehicles, drivers, cold stores, supply, the capacity board, trips, "
    "waybills and their proofs of delivery (organisation roles: their own organisation's)",
    "logistics:write": "register vehicles, drivers and cold stores; plan trips; create, assign "
    "and move waybills (carriers: their own vehicles, drivers and trips)",
    "supply:write": "post supply (goods ready to ship) and waybills for them "
    "(organisation roles: for their own organisation)",
    "firmware:read": "signed firmware images of MCU nodes, rollouts and each node's update "
    "state; a gateway's assignments and the image bytes it downloads",
    "firmware:write": "upload signed firmware images, start and stop rollouts; correct a "
    "node's reported update state",
    "firmware:report": "a gateway, authenticated as itself (its id and broker password): read "
    "its own assignments, download their images, report the update state of its own nodes",
    "screen:read": "the big-data wall screen's panels (/screen): aggregates of the county's "
    "cold chain, logistics, traceability and e-commerce, no personal data",
    "waybills:drive": "a driver's own trip: loading, departure, arrival and delivery with its "
    "proof",
    "commerce:read": "e-commerce shops, orders and the programme's indicators (网络零售额, "
    "parcels, active shops, YoY/MoM)",
    "services:read": "the public-service registry's showcase entries and CMS articles, "
    "drafts included (cloud/services)",
    "registrations:read": "organisations' self-registrations of the county, with their "
    "licence scans (contacts masked without personal:read)",
    "registrations:review": "approve a registration (it becomes a catalog organisation) or "
    "refuse it with a reason",
    "registrations:keys": "issue and revoke e-commerce platforms' API keys, each scoped to "
    "the shops granted to it",
    "showcase:write": "the showcase: enterprises, industrial parks, products and their photos",
    "cms:write": "policies, news and notices: drafts, publish times, attachments",
    "commerce:write": "register shops, map their SKUs, record and import orders, their status "
    "changes and refunds (organisation roles: for their own organisation's shops, which they "
    "also read)",
    "supervision:read": "the programme's supervision: budget lines, contracts, disbursements "
    "and execution, milestones, the rhythm (schedule, meetings, bulletins), monthly reports "
    "(organisation roles: their own organisation's), inspections, evaluations, publications",
    "supervision:write": "enter budget lines, contracts, disbursements, milestones and their "
    "evidence; plan the rhythm, record meetings, assemble bulletins; review monthly reports; "
    "record inspections and close rectifications; run evaluations",
    "reports:file": "file the operating company's monthly report and its new versions "
    "(organisation roles: their own organisation's)",
    "disclosure:publish": "publish on the disclosure page (信息公开): the plan, the project list "
    "and fund allocation, approved monthly reports, decisions; corrections as new versions",
    "training:read": "电商学院: courses, trainers, sessions, enrolments (trainees' names and phones "
    "masked without personal:read), attendance, certificates and the training totals "
    "(trainers: their own sessions)",
    "training:write": "schedule and change sessions, enrol trainees, show a session's check-in "
    "QR, issue certificates (trainers: for their own sessions)",
    "training:manage": "create courses and trainers, revoke certificates",
    "stations:read": "service stations (县/乡/村), their attributes, status and monthly "
    "performance (a station operator: its own station)",
    "stations:write": "enter a station's public-service attributes (location, division codes, "
    "operator, hours, services), move its status, attribute shops to it",
    "poverty:read": "poverty-alleviation households, their links and income, personal data masked",
    "poverty:write": "record households (with consent, basis and retention), their links and "
    "monthly income; erase a household's personal data on request or at retention end",
    "poverty:personal": "the personal data of the county's poverty-alleviation households "
    "unmasked, and their export on request (each read audited)",
    "statforms:read": "monthly statistics forms, their submissions and the late/missing flags "
    "(a station operator: its own station's)",
    "statforms:write": "fill in a station's monthly statistics forms (organisation roles: for "
    "the stations their organisation operates)",
    "mofcom:read": "the MOFCOM export of the programme's monthly statistics (a county role: its "
    "own county's) and the log of its pushes",
    "mofcom:write": "push the MOFCOM export to the national system's endpoint (the prefecture's "
    "commerce bureau docks with MOFCOM)",
}

_READ_BACKBONE = frozenset(
    {
        "self",
        "gateways:read",
        "devices:read",
        "inspections:read",
        "catalog:read",
        "trace:read",
        "coldchain:read",
    }
)
_READ_ALL = frozenset(
    {"self"} | {p for p in PERMISSIONS if p.endswith(":read") and p != "personal:read"}
)
#: a gateway's own permission is no person's
_GATEWAY_ONLY = frozenset({"firmware:report"})
#: the poverty-alleviation officer's own: households' personal data (issue 15)
_OFFICER_ONLY = frozenset({"poverty:personal"})
_ADMIN = frozenset(PERMISSIONS) - {"org_records:write"} - _GATEWAY_ONLY - _OFFICER_ONLY
#: the prefecture's own acts (a county admin has the rest of an admin's permissions)
_PREFECTURE_ONLY = frozenset({"mofcom:write"})


@dataclass(frozen=True, slots=True)
class RoleSpec:
    zh: str
    en: str
    scope: Scope
    home: Home
    permissions: frozenset[str]

    @property
    def org_scoped(self) -> bool:
        return self.scope in (Scope.ORGANISATION, Scope.OWN_RECORD)


#: THE role table. docs/roles.md shows it; tests/cloud/test_roles.py checks they agree.
ROLES: dict[Role, RoleSpec] = {
    Role.PREFECTURE_ADMIN: RoleSpec(
        "州级管理员", "prefecture admin", Scope.COUNTY, Home.PREFECTURE, _ADMIN
    ),
    Role.COUNTY_ADMIN: RoleSpec(
        "县级管理员", "county admin", Scope.COUNTY, Home.COUNTY, _ADMIN - _PREFECTURE_ONLY
    ),
    Role.DISPATCHER: RoleSpec(
        "县级调度员",
        "county dispatcher",
        Scope.COUNTY,
        Home.COUNTY,
        _READ_BACKBONE
        | {
            "personal:read",
            "console:read",
            "console:write",
            "coldchain:write",
            "positions:read",
            "trackers:write",
            "geofences:write",
            "logistics:read",
            "logistics:write",
            "supply:write",
            "screen:read",
            "waybills:drive",
        },
    ),
    Role.POVERTY_OFFICER: RoleSpec(
        "帮扶干部",
        "poverty-alleviation officer",
        Scope.COUNTY,
        Home.EITHER,
        frozenset(
            {
                "self",
                "devices:read",
                "inspections:read",
                "personal:read",
                "catalog:read",
                "commerce:read",
                "stations:read",
                "poverty:read",
                "poverty:write",
                "poverty:personal",
            }
        ),
    ),
    Role.AUDITOR: RoleSpec("审计员", "auditor", Scope.COUNTY, Home.EITHER, _READ_ALL),
    Role.DISPLAY: RoleSpec(
        "大屏展示",
        "display (wall screen)",
        Scope.COUNTY,
        Home.EITHER,
        _READ_BACKBONE | {"commerce:read", "screen:read", "stations:read"},
    ),
    Role.PUBLIC: RoleSpec("公众", "public", Scope.PUBLIC, Home.EITHER, frozenset()),
    Role.GATEWAY: RoleSpec("网关", "gateway", Scope.OWN_GATEWAY, Home.COUNTY, _GATEWAY_ONLY),
    Role.OPERATOR: RoleSpec(
        "企业/合作社操作员",
        "enterprise or cooperative operator",
        Scope.ORGANISATION,
        Home.COUNTY,
        _READ_BACKBONE
        | {
            "org_records:write",
            "mobile_devices:write",
            "trace:write",
            "coldchain:write",
            "supply:write",
            "commerce:write",
        },
    ),
    Role.CARRIER: RoleSpec(
        "承运商",
        "carrier",
        Scope.ORGANISATION,
        Home.COUNTY,
        frozenset(
            {
                "self",
                "devices:read",
                "catalog:read",
                "trace:read",
                "trace:write",
                "org_records:write",
                "mobile_devices:write",
                "coldchain:read",
                "coldchain:write",
                "logistics:read",
                "logistics:write",
                "waybills:drive",
            }
        ),
    ),
    Role.DRIVER: RoleSpec(
        "司机",
        "driver",
        Scope.OWN_RECORD,
        Home.COUNTY,
        frozenset(
            {"self", "catalog:read", "org_records:write", "logistics:read", "waybills:drive"}
        ),
    ),
    Role.STATION_OPERATOR: RoleSpec(
        "服务站操作员",
        "station operator",
        Scope.ORGANISATION,
        Home.COUNTY,
        frozenset(
            {
                "self",
                "devices:read",
                "inspections:read",
                "catalog:read",
                "trace:read",
                "trace:write",
                "org_records:write",
                "commerce:write",
                "stations:read",
                "statforms:read",
                "statforms:write",
            }
        ),
    ),
    Role.TRAINER: RoleSpec(
        "培训师",
        "trainer",
        Scope.ORGANISATION,
        Home.COUNTY,
        frozenset({"self", "catalog:read", "org_records:write", "training:read", "training:write"}),
    ),
    Role.OPERATING_COMPANY: RoleSpec(
        "运营公司",
        "operating company",
        Scope.ORGANISATION,
        Home.COUNTY,
        _READ_BACKBONE
        | {
            "org_records:write",
            "mobile_devices:write",
            "trace:write",
            "coldchain:write",
            "commerce:write",
            "supervision:read",
            "reports:file",
            "stations:read",
            "statforms:read",
            "statforms:write",
            "services:read",
            "showcase:write",
            "cms:write",
        },
    ),
    Role.PLATFORM: RoleSpec(
        "电商平台",
        "e-commerce platform (API key)",
        Scope.OWN_SHOPS,
        Home.COUNTY,
        frozenset({"self", "commerce:write"}),
    ),
}

#: What a masked personal field reads as for roles without ``personal:read``.
MASK = "***"


#: How a route that admits either of several permissions names them
#: (``require("catalog:write", "org_records:write")``: ``catalog:write|org_records:write``).
ALTERNATIVES = "|"


def allows(role: Role, permission: str) -> bool:
    """``permission`` may name alternatives (``a|b``): any one of them is enough."""
    if ALTERNATIVES in permission:
        return any(allows(role, p) for p in permission.split(ALTERNATIVES))
    return permission == "public" or permission in ROLES[role].permissions


def roles_with(permission: str) -> list[Role]:
    return [r for r in ROLES if allows(r, permission)]


def authorize(principal: Principal, permission: str) -> None:
    """403 unless the principal's role has ``permission`` (or one of its alternatives)."""
    if not allows(principal.role, permission):
        who = ", ".join(r.value for r in roles_with(permission)) or "no role"
        named = " or ".join(permission.split(ALTERNATIVES))
        raise ApiError(
            403, f"role {principal.role.value} may not do this ({named}); allowed: {who}"
        )


def check_role_home(role: Role, county: str, org_id: str | None = None) -> None:
    """ValueError unless ``role`` may belong to ``county`` (and ``org_id``)."""
    if role is Role.PUBLIC:
        raise ValueError("public is the anonymous role; it is never given to a user or key")
    if role is Role.GATEWAY:
        raise ValueError(
            "gateway is a gateway's own role (its id and broker password); "
            "it is never given to a user or key"
        )
    if county not in COUNTIES:
        raise ValueError(
            f"unknown county code {county!r}; use a GB/T 2260 code: {', '.join(COUNTIES)}"
        )
    spec = ROLES[role]
    if spec.home is Home.PREFECTURE and county != PREFECTURE:
        raise ValueError(f"a {role.value} belongs to county {PREFECTURE}, not {county}")
    if spec.home is Home.COUNTY and county not in COUNTY_CODES:
        raise ValueError(
            f"a {role.value} belongs to one county ({', '.join(COUNTY_CODES)}), not {county}"
        )
    if org_id is not None and not spec.org_scoped:
        raise ValueError(f"a {role.value} has no organisation; leave org_id out")


def check_write_scope(principal: Principal, county: str, org_id: str | None = None) -> None:
    """403 unless ``principal`` may write a record of ``county`` (and ``org_id``).

    County roles write in their county (prefecture: every county). Organisation roles
    write only their own organisation's records: ``org_id`` must be theirs.
    """
    if not principal.can_see(county):
        raise ApiError(
            403, f"a {principal.role.value} of {principal.county} may not write in county {county}"
        )
    if ROLES[principal.role].org_scoped:
        if principal.org_id is None:
            raise ApiError(
                403,
                f"this {principal.role.value} belongs to no organisation; "
                "an admin must set its org_id first",
            )
        if org_id != principal.org_id:
            raise ApiError(
                403,
                f"a {principal.role.value} writes only its own organisation's records "
                f"({principal.org_id}), not {org_id}",
            )


def check_own_record(principal: Principal, owner: str) -> None:
    """403 unless an own-record role (a driver) is the ``owner`` (``user:<name>``)."""
    if ROLES[principal.role].scope is Scope.OWN_RECORD and owner != principal.actor:
        raise ApiError(403, f"a {principal.role.value} may only act on its own records")


def check_own_gateway(principal: Principal, gateway_id: str) -> None:
    """403 unless a gateway acts for itself (its own assignments and nodes); other roles
    pass (their county scope is checked as always)."""
    if ROLES[principal.role].scope is Scope.OWN_GATEWAY and gateway_id != principal.name:
        raise ApiError(
            403, f"gateway {principal.name} acts only for itself, not for gateway {gateway_id}"
        )


def shop_scope(principal: Principal) -> frozenset[int] | None:
    """The shops a platform's key acts for (None: not confined to shops). A platform
    principal without granted shops (a user given the role by mistake) acts for none."""
    if ROLES[principal.role].scope is Scope.OWN_SHOPS:
        return principal.shops or frozenset()
    return None


def sees_personal_data(principal: Principal) -> bool:
    return allows(principal.role, "personal:read")


def mask(principal: Principal, value: str) -> str:
    """``value`` for roles that read personal data; :data:`MASK` for the others
    (auditors read everything, personal data masked)."""
    return value if not value or sees_personal_data(principal) else MASK


def markdown_table() -> str:
    """The role table as docs/roles.md shows it (``python -m cloud.auth.policy``)."""
    perms = [p for p in PERMISSIONS if p != "public"]
    head = "| role | 角色 | scope | county | " + " | ".join(f"`{p}`" for p in perms) + " |"
    rule = "|" + "---|" * (4 + len(perms))
    rows = [head, rule]
    for role, spec in ROLES.items():
        cells = ["✓" if p in spec.permissions else "" for p in perms]
        rows.append(
            f"| `{role.value}` ({spec.en}) | {spec.zh} | {spec.scope.value} | {spec.home.value} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
