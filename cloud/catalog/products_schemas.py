"""Request and response models of products and commodity profiles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cloud.catalog.categories import Categories, CategoryCode
from cloud.catalog.gs1 import check_gtin
from cloud.catalog.schemas import PushOut
from cloud.db import MAX_INT32
from protocol.ids import check_county, check_owning_county

Id = Annotated[int, Field(ge=1, le=MAX_INT32)]
Gtin = Annotated[
    str,
    Field(description="GTIN-8, -12, -13 or -14 with its check digit; kept as the GTIN-14"),
    AfterValidator(check_gtin),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin: Gtin
    name: Name = Field(description="名称 (Chinese)")
    name_en: Name | None = None
    category: CategoryCode
    org_id: Id = Field(description="The brand owner or maker")
    county: Annotated[str, AfterValidator(check_owning_county)] | None = Field(
        default=None, description="Optional: the organisation's county (a product is its county's)"
    )
    profile_id: Id | None = Field(default=None, description="Its commodity profile")


class ProductUpdate(BaseModel):
    """The fields to change (``profile_id: null`` removes the profile). The GTIN and
    owner do not change: a new product is registered instead."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    name_en: Name | None = None
    category: CategoryCode | None = None
    profile_id: Id | None = None

    @model_validator(mode="after")
    def _required_stay(self) -> ProductUpdate:
        for name in ("name", "category"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name}: a product keeps its {name}; give a new one")
        return self


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    gtin: str = Field(description="GTIN-14")
    name: str
    name_en: str | None
    category: CategoryCode
    org_id: int
    county: str
    profile_id: int | None
    created_at: datetime
    updated_at: datetime | None


class ProductPage(BaseModel):
    items: list[ProductOut]


Celsius = Annotated[float, Field(ge=-60, le=60)]
Seconds = Annotated[int, Field(ge=0, le=90 * 86_400)]
Percent = Annotated[float, Field(ge=0, le=100)]


def _check_profile(
    lo: float, hi: float, single: int, total: int, rh_lo: float | None, rh_hi: float | None
) -> None:
    if not lo < hi:
        raise ValueError(f"temp_max_c: {hi} must be above temp_min_c ({lo})")
    if single > total:
        raise ValueError(
            f"single_excursion_max_s: {single} is more than cumulative_excursion_max_s "
            f"({total}); one excursion cannot outlast all of them"
        )
    if (rh_lo is None) != (rh_hi is None):
        raise ValueError(
            ("rh_max" if rh_hi is None else "rh_min") + ": give both ends of the humidity range"
        )
    if rh_lo is not None and rh_hi is not None and not rh_lo < rh_hi:
        raise ValueError(f"rh_max: {rh_hi} must be above rh_min ({rh_lo})")


class ProfileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    name_en: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    county: Annotated[str, AfterValidator(check_county)] = Field(
        description="533100: a profile of the whole prefecture (prefecture admins); or a "
        "county's own"
    )
    temp_min_c: Celsius
    temp_max_c: Celsius
    single_excursion_max_s: Seconds = Field(
        description="Longest one excursion outside the range may last, s"
    )
    cumulative_excursion_max_s: Seconds = Field(
        description="Longest all excursions of one stay may last together, s"
    )
    rh_min: Percent | None = None
    rh_max: Percent | None = None
    categories: Categories
    note: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ProfileCreate:
        _check_profile(
            self.temp_min_c, self.temp_max_c, self.single_excursion_max_s,
            self.cumulative_excursion_max_s, self.rh_min, self.rh_max,
        )  # fmt: skip
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories: a category appears twice")
        return self


class ProfileUpdate(BaseModel):
    """The fields to change; the result is checked as a whole (``rh_min: null`` with
    ``rh_max: null`` removes the humidity range). A change is pushed to the gateways of
    every room with this profile."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    name_en: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    temp_min_c: Celsius | None = None
    temp_max_c: Celsius | None = None
    single_excursion_max_s: Seconds | None = None
    cumulative_excursion_max_s: Seconds | None = None
    rh_min: Percent | None = None
    rh_max: Percent | None = None
    categories: Categories | None = None
    note: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _required_stay(self) -> ProfileUpdate:
        for name in (
            "name", "temp_min_c", "temp_max_c", "single_excursion_max_s",
            "cumulative_excursion_max_s", "categories",
        ):  # fmt: skip
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name}: a profile keeps its {name}; give a new value")
        if self.categories is not None and len(set(self.categories)) != len(self.categories):
            raise ValueError("categories: a category appears twice")
        return self


def check_profile_values(
    lo: float, hi: float, single: int, total: int, rh_lo: float | None, rh_hi: float | None
) -> None:
    """ValueError (``field: reason``) unless the profile's values hang together."""
    _check_profile(lo, hi, single, total, rh_lo, rh_hi)


class ProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    county: str = Field(description="533100: the whole prefecture's")
    name: str
    name_en: str | None
    temp_min_c: float
    temp_max_c: float
    single_excursion_max_s: int
    cumulative_excursion_max_s: int
    rh_min: float | None
    rh_max: float | None
    categories: list[CategoryCode]
    note: str | None
    created_at: datetime
    updated_at: datetime | None
    pushes: list[PushOut] = Field(
        default=[], description="set-config commands this write sent to gateways"
    )


class ProfilePage(BaseModel):
    items: list[ProfileOut]
