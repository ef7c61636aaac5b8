"""Request and response models of production bases and locations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cloud.catalog.geo import Geometry
from cloud.catalog.gln import LocationKey, check_extension, location_key
from cloud.catalog.schemas import PushOut
from cloud.db import MAX_INT32
from protocol.ids import check_device_id, check_owning_county

BaseKind = Literal[
    "farm", "garden", "orchard", "tea_garden", "plantation", "pasture", "aquaculture",
    "processing_site",
]  # fmt: skip
LocationKind = Literal[
    "cold_room", "warehouse", "vehicle_compartment", "station", "customer_site", "processing_site"
]
Tier = Literal["county", "township", "village"]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("out of the range of dates") from None


#: An instant with its time zone, kept in UTC (a date off the calendar in UTC: 422).
Instant = Annotated[AwareDatetime, AfterValidator(_to_utc)]

Id = Annotated[int, Field(ge=1, le=MAX_INT32)]
County = Annotated[str, AfterValidator(check_owning_county)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
AreaHa = Annotated[float, Field(gt=0, le=1_000_000, description="Area in hectares (1 ha = 15 亩)")]


class BaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: BaseKind
    org_id: Id = Field(description="The enterprise or cooperative that runs it")
    county: County | None = Field(
        default=None, description="Optional: the organisation's county (a base is its county's)"
    )
    geometry: Geometry
    area_ha: AreaHa | None = None


class BaseUpdate(BaseModel):
    """The fields to change (``area_ha: null`` clears the area)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    kind: BaseKind | None = None
    geometry: Geometry | None = None
    area_ha: AreaHa | None = None

    @model_validator(mode="after")
    def _required_stay(self) -> BaseUpdate:
        for name in ("name", "kind", "geometry"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name}: a base keeps its {name}; give a new one")
        return self


class BaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    org_id: int
    county: str
    name: str
    kind: BaseKind
    geometry: dict[str, Any] = Field(description="GeoJSON Point or Polygon, WGS-84")
    lon: float = Field(description="A representative point: the point, or the ring's mean")
    lat: float
    area_ha: float | None
    created_at: datetime
    updated_at: datetime | None


class BasePage(BaseModel):
    items: list[BaseOut]


def _valid_key(value: str) -> str:
    location_key(value)  # ValueError names what is wrong (the check digit expected)
    return value.strip()


GlnInput = Annotated[
    str,
    AfterValidator(_valid_key),
    Field(
        min_length=1,
        max_length=300,
        description="A GLN (13 digits), an SGLN URN (urn:epc:id:sgln:...) or a GS1 Digital "
        "Link (/414/{gln}[/254/{extension}])",
    ),
]


class LocationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: LocationKind
    name: Name
    gln: GlnInput
    gln_extension: Annotated[str, AfterValidator(check_extension)] | None = Field(
        default=None, description="AI 254 extension, when gln is a bare GLN (an SGLN)"
    )
    org_id: Id | None = Field(
        default=None, description="Who runs it; none for a county's own station (admins only)"
    )
    county: County | None = Field(
        default=None, description="Required without org_id; else the organisation's county"
    )
    base_id: Id | None = None
    tier: Tier | None = Field(default=None, description="A station's tier: 县/乡/村")

    @model_validator(mode="after")
    def _consistent(self) -> LocationCreate:
        key = location_key(self.gln)
        if self.gln_extension is not None:
            if key.extension and key.extension != self.gln_extension:
                raise ValueError(
                    f"gln_extension: {self.gln_extension!r} differs from the extension "
                    f"{key.extension!r} in gln; give it once"
                )
        if self.kind == "station" and self.tier is None:
            raise ValueError("tier: a station is county, township or village (县/乡/村)")
        if self.kind != "station" and self.tier is not None:
            raise ValueError(f"tier: only a station has a tier, not a {self.kind}")
        if self.org_id is None and self.county is None:
            raise ValueError("county: give the county of a location without org_id")
        return self

    def key(self) -> LocationKey:
        key = location_key(self.gln)
        return LocationKey(key.gln, key.extension or self.gln_extension or "")


class LocationUpdate(BaseModel):
    """The fields to change (``base_id: null`` detaches it from its base). The GLN, kind
    and owner do not change: a new location is registered instead."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    base_id: Id | None = None
    tier: Tier | None = None

    @model_validator(mode="after")
    def _required_stay(self) -> LocationUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name: a location keeps its name; give a new one")
        if "tier" in self.model_fields_set and self.tier is None:
            raise ValueError("tier: a station keeps a tier; give county, township or village")
        return self


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: LocationKind
    name: str
    county: str
    org_id: int | None
    base_id: int | None
    tier: Tier | None
    gln: str
    gln_extension: str = Field(description="AI 254; '' for none")
    digital_link: str = Field(description="GS1 Digital Link URI of the GLN/SGLN")
    profile_id: int | None
    devices: list[str] = Field(description="The devices measuring it now")
    created_at: datetime
    updated_at: datetime | None
    pushes: list[PushOut] = Field(
        default=[], description="set-config commands this write sent to gateways"
    )


class LocationPage(BaseModel):
    items: list[LocationOut]


class ProfileAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile_id: Id | None = Field(description="The commodity profile; null removes it")


DeviceId = Annotated[str, AfterValidator(check_device_id)]


class DeviceLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: DeviceId = Field(
        description="A device wired to a gateway ({gateway}.{local}, e.g. a room sensor) or "
        "a registered BLE tag or vehicle"
    )
    since: Instant | None = Field(
        default=None, description="When it began measuring here (default now; not future)"
    )


class LocationDeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    location_id: int
    device_id: str
    since: datetime
    until: datetime | None
    created_by: str
    ended_by: str | None
    pushes: list[PushOut] = Field(
        default=[], description="set-config commands this write sent to gateways"
    )


class LocationDevicePage(BaseModel):
    items: list[LocationDeviceOut]
