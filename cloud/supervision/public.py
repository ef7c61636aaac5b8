"""Public disclosure (信息公开): ``GET /disclosure`` (the page, in the prefecture
portal's style, desktop) and ``GET /api/v1/public/disclosure[/{publication_id}]`` (the
same data as JSON for the WeChat menus and the mini-program).

Public, rate-limited (:func:`cloud.web.ratelimit.rate_limit`), with strong ETags
(:mod:`cloud.web.etag`). They show only published, immutable versions, and no
personal data: no contract contact, no user names.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from cloud.auth.deps import require
from cloud.deps import SessionDep
from cloud.errors import ApiError, responses
from cloud.supervision import service as sv
from cloud.supervision.storage import Publication
from cloud.web.etag import cached_json, etag, fresh, public_headers
from cloud.web.ratelimit import rate_limit
from cloud.web.shell import environment, page_context

TEMPLATES = FsPath(__file__).resolve().parent / "templates"
PUBLIC = [require("public"), Depends(rate_limit)]
MAX_AGE = 60

api = APIRouter(prefix="/public/disclosure", tags=["public disclosure"], dependencies=PUBLIC)
pages = APIRouter(include_in_schema=False, dependencies=PUBLIC)

KINDS = (
    ("plan", "实施方案", "Implementation plan"),
    ("projects", "项目清单与资金安排", "Project list and fund allocation"),
    ("report", "运营月报", "Approved monthly reports"),
    ("decision", "决策公告", "Decisions"),
)


@api.get(
    "",
    summary="Everything published: the latest version of each, by kind, with its "
    "corrections (public, ETag)",
    responses=responses(429),
)
async def disclosure_json(request: Request, session: SessionDep) -> Response:
    return cached_json(request, await sv.public_disclosure(session), max_age=MAX_AGE)


@api.get(
    "/{publication_id}",
    summary="One published version and the versions of its series (public, ETag)",
    responses=responses(404, 422, 429),
)
async def publication_json(
    request: Request,
    session: SessionDep,
    publication_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    p = await session.get(Publication, publication_id)
    if p is None:
        raise ApiError(404, f"publication {publication_id} not found")
    series = (
        await session.scalars(
            select(Publication).where(Publication.series == p.series).order_by(Publication.version)
        )
    ).all()
    latest = series[-1]
    body = {
        **sv.public_item(p),
        "latest_id": latest.id,
        "versions": [
            {
                "id": v.id,
                "version": v.version,
                "reason": v.reason,
                "published_at": v.published_at.isoformat(),
                "sha256": v.sha256,
            }
            for v in series
        ],
    }
    return cached_json(request, body, max_age=MAX_AGE)


@pages.get("/disclosure", response_class=HTMLResponse)
async def disclosure_page(request: Request, session: SessionDep) -> Response:
    data = await sv.public_disclosure(session)
    html = (
        environment(TEMPLATES)
        .get_template("disclosure.html")
        .render(
            page_context(
                request.app.state.settings, data=data, kinds=KINDS, fmt=_fmt, wan=_wan, pct=_pct
            )
        )
    )
    body = html.encode()
    tag = etag(body)
    headers = public_headers(MAX_AGE)
    return fresh(request, tag, headers) or HTMLResponse(body, headers={**headers, "ETag": tag})


def _fmt(amount: str) -> str:
    """``1300000.00`` -> ``1,300,000.00`` (exact: the decimal string, never a float)."""
    return f"{Decimal(amount):,.2f}"


def _pct(ratio: str) -> str:
    """``0.6194`` -> ``61.9%``."""
    return f"{Decimal(ratio) * 100:.1f}%"


def _wan(amount: str) -> str:
    """``1300000.00`` -> ``130.00`` (万元)."""
    return f"{Decimal(amount) / 10000:,.2f}"


def install(app: FastAPI, prefix: str) -> None:
    app.include_router(api, prefix=prefix)
    app.include_router(pages)
