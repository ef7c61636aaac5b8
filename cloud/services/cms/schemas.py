"""API bodies of the CMS."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from protocol.ids import COUNTIES

Kind = Literal["policy", "news", "notice"]


def _county(v: str) -> str:
    if v not in COUNTIES:
        raise ValueError(
            f"{v!r} is not a county of Dehong or the prefecture ({', '.join(COUNTIES)})"
        )
    return v


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    county: str = Field(description="a county, or 533100 for the whole prefecture")
    kind: Kind
    title: str = Field(min_length=1, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=500)
    body_md: str = Field(
        max_length=200_000, description="Markdown; no raw HTML, http(s)/mailto links"
    )
    draft: bool = True
    publish_at: AwareDatetime | None = Field(default=None, description="when it appears")

    _c = field_validator("county")(_county)


class ArticlePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=500)
    body_md: str | None = Field(default=None, max_length=200_000)
    draft: bool | None = None
    publish_at: AwareDatetime | None = None


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    url: str


class ArticleOut(BaseModel):
    id: int
    county: str
    kind: Kind
    title: str
    title_en: str | None
    summary: str | None
    body_md: str
    body_html: str
    draft: bool
    publish_at: datetime | None
    #: draft, scheduled (its time has not come) or published
    state: Literal["draft", "scheduled", "published"]
    version: int
    attachments: list[AttachmentOut]
    updated_at: datetime | None
