"""API bodies of the showcase."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocol.ids import COUNTY_CODES

Kind = Literal["enterprise", "park", "product"]


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    county: str | None = Field(
        default=None,
        description="a park's county; an enterprise's or product's is its organisation's",
    )
    org_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="enterprise")
    product_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="product")
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="default: the organisation's or product's",
    )
    name_en: str | None = Field(default=None, max_length=200)
    intro: str = Field(default="", max_length=5000, description="plain text")
    intro_en: str | None = Field(default=None, max_length=5000)
    lon: float | None = Field(default=None, ge=97.0, le=99.5, description="WGS-84, in Dehong")
    lat: float | None = Field(default=None, ge=23.5, le=25.5)
    published: bool = False

    @field_validator("county")
    @classmethod
    def _county(cls, v: str | None) -> str | None:
        if v is not None and v not in COUNTY_CODES:
            raise ValueError(f"{v!r} is not one of Dehong's counties ({', '.join(COUNTY_CODES)})")
        return v


class ItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    intro: str | None = Field(default=None, max_length=5000)
    intro_en: str | None = Field(default=None, max_length=5000)
    lon: float | None = Field(default=None, ge=97.0, le=99.5)
    lat: float | None = Field(default=None, ge=23.5, le=25.5)
    published: bool | None = None


class PhotoOut(BaseModel):
    id: int
    content_type: str
    size: int
    caption: str | None
    url: str


class ItemOut(BaseModel):
    id: int
    kind: Kind
    county: str
    org_id: int | None
    product_id: int | None
    name: str
    name_en: str | None
    intro: str
    intro_en: str | None
    lon: float | None
    lat: float | None
    published: bool
    photos: list[PhotoOut]
    updated_at: datetime | None
