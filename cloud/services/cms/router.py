"""The CMS's routes: the editors' API (``/api/v1/services/cms``), the public JSON
(``/api/v1/public/policies``) and the H5 pages (``/h5/policies``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.deps import DatabaseDep, SettingsDep
from cloud.errors import ApiError, Error, responses
from cloud.inspections.files import FileStoreError, files_for
from cloud.pagination import Key, PageDep, PageParams, fetch_page, link_next
from cloud.services.cms import service
from cloud.services.cms.schemas import ArticleIn, ArticleOut, ArticlePatch, AttachmentOut, Kind
from cloud.services.cms.storage import Article
from cloud.trace.certificates import scans
from cloud.web.etag import cached_json, etag, fresh, public_headers
from cloud.web.ratelimit import rate_limit
from cloud.web.shell import environment, page_context
from protocol.ids import COUNTIES, COUNTY_CODES

router = APIRouter(
    prefix="/services/cms", tags=["services: cms"], responses=responses(401, 403, 404, 409, 422)
)
public = APIRouter(
    prefix="/public/policies", tags=["public: policies"], responses=responses(404, 422)
)
pages = APIRouter(tags=["h5"])

Read = Annotated[Principal, require("services:read")]
Write = Annotated[Principal, require("cms:write")]
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
PUBLIC = [require("public"), Depends(rate_limit)]
PUBLIC_KEYS = (
    Key(Article.publish_at, desc=True, kind=datetime),
    Key(Article.id, desc=True, kind=int),
)
TEMPLATES = FsPath(__file__).resolve().parent / "templates"
_FILE = {
    413: {"model": Error, "description": "Larger than 20 MiB (declared or sent)."},
    415: {"model": Error, "description": "Not a PDF, JPEG or PNG."},
}


def paged_json(request: Request, data: dict[str, Any]) -> Response:
    """A public page ``{items, next}`` with its ETag and, when there is more, the same
    ``Link: <...>; rel="next"`` header every list of the API carries."""
    response = cached_json(request, data)
    link_next(request, response, data["next"])
    return response


async def h5_page(
    after: Annotated[
        str | None, Query(max_length=512, description="the next page's cursor")
    ] = None,
) -> PageParams:
    """An H5 list page: 20 entries, the next ones from ``?after=`` (its "more" link)."""
    return PageParams(20, after)


H5Page = Annotated[PageParams, Depends(h5_page)]


def _county(county: str | None) -> str | None:
    if county is not None and county not in COUNTY_CODES:
        raise ApiError(
            422,
            f"query.county: {county!r} is not one of Dehong's counties ({', '.join(COUNTY_CODES)})",
            field="query.county",
        )
    return county


CountyQ = Annotated[
    str | None,
    Query(description="a county (GB/T 2260); the prefecture's articles are in every county's list"),
]


# ------------------------------------------------------------------ editors


@router.get("/articles", summary="Articles of the county and the prefecture, drafts included")
async def list_articles(
    principal: Read,
    db: DatabaseDep,
    page: PageDep,
    request: Request,
    response: Response,
    county: CountyQ = None,
    kind: Kind | None = None,
) -> list[ArticleOut]:
    q = service.articles_query(principal.counties(county), kind)
    async with db.session() as s:
        got = await fetch_page(s, q, (Key(Article.id, kind=int),), page)
        out = await service.article_outs(s, got.rows)
    link_next(request, response, got.next_cursor)
    return out


@router.post(
    "/articles",
    status_code=201,
    summary="Write an article (a draft unless "
    "draft=false; it appears at publish_at). Markdown with raw HTML or an unsafe URL "
    "is a 422 naming body.body_md",
)
async def create_article(body: ArticleIn, principal: Write, db: DatabaseDep) -> ArticleOut:
    async with db.transaction() as s:
        a = await service.create(s, body, principal)
        return (await service.article_outs(s, [a]))[0]


@router.get("/articles/{article_id}", summary="One article")
async def get_article(article_id: Ident, principal: Read, db: DatabaseDep) -> ArticleOut:
    async with db.session() as s:
        return (await service.article_outs(s, [await service.get(s, article_id, principal)]))[0]


@router.patch("/articles/{article_id}", summary="Change an article (a new version)")
async def patch_article(
    article_id: Ident, body: ArticlePatch, principal: Write, db: DatabaseDep
) -> ArticleOut:
    async with db.transaction() as s:
        a = await service.update(s, await service.get(s, article_id, principal), body, principal)
        return (await service.article_outs(s, [a]))[0]


@router.post(
    "/articles/{article_id}/attachments",
    status_code=201,
    responses=_FILE,  # type: ignore[arg-type]
    summary="Attach a file (the body; PDF, JPEG or PNG; at most 20 MiB: a larger "
    "declared Content-Length is refused before a byte is read)",
)
async def add_attachment(
    article_id: Ident,
    request: Request,
    principal: Write,
    db: DatabaseDep,
    settings: SettingsDep,
    filename: Annotated[str, Query(max_length=200)],
) -> AttachmentOut:
    async with db.session() as s:
        a = await service.get(s, article_id, principal)
        service.check_write(principal, a.county)
    name = service.check_filename(filename)
    content_type = scans.media_type(request.headers.get("content-type"))
    data = await scans.read_limited(
        request.stream(), request.headers.get("content-length"), service.ATTACHMENT_MAX_BYTES
    )
    stored = await scans.store_scan(files_for(settings), data, content_type)
    async with db.transaction() as s:
        a = await service.get(s, article_id, principal)
        att = await service.add_attachment(
            s,
            a,
            filename=name,
            sha256=stored.sha256,
            content_type=stored.content_type,
            size=stored.size,
            principal=principal,
        )
        files = await service.attachments(s, [a.id], public=False)
    return next(f for f in files[a.id] if f.id == att.id)


async def _file(
    settings: Any, sha256: str, content_type: str, filename: str, *, public: bool
) -> Response:
    try:
        data = await scans.load_scan(files_for(settings), sha256)
    except FileStoreError as exc:
        raise ApiError(503, str(exc)) from None
    cache = "public, max-age=3600" if public else "private, no-store"
    return Response(
        data,
        media_type=content_type,
        headers={
            "Cache-Control": cache,
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}",
        },
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@router.get("/articles/{article_id}/attachments/{attachment_id}", summary="An attachment")
async def get_attachment(
    article_id: Ident, attachment_id: Ident, principal: Read, db: DatabaseDep, settings: SettingsDep
) -> Response:
    async with db.session() as s:
        att = await service.attachment_of(
            s, await service.get(s, article_id, principal), attachment_id
        )
    return await _file(settings, att.sha256, att.content_type, att.filename, public=False)


# ------------------------------------------------------------------ public JSON


async def public_list(
    db: Any, county: str | None, kind: str | None, page: PageParams
) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with db.session() as s:
        got = await fetch_page(
            s,
            service.published_query(county, kind, now),
            PUBLIC_KEYS,
            page,
            key_of=lambda a: [a.publish_at, a.id],
        )
    return {"items": [service.public_item(a) for a in got.rows], "next": got.next_cursor}


@public.get(
    "",
    dependencies=PUBLIC,
    summary="Published policies, news and notices, newest "
    "first ({items, next}: pass next as ?cursor=); ETag, cached 60 s",
)
async def public_articles(
    request: Request,
    db: DatabaseDep,
    page: PageDep,
    county: CountyQ = None,
    kind: Kind | None = None,
) -> Response:
    data = await public_list(db, _county(county), kind, page)
    return paged_json(request, data)


@public.get(
    "/{article_id}",
    dependencies=PUBLIC,
    summary="A published article: sanitised HTML and its attachments",
)
async def public_article(article_id: Ident, request: Request, db: DatabaseDep) -> Response:
    async with db.session() as s:
        _, item = await service.public_article(s, article_id, datetime.now(UTC))
    return cached_json(request, item)


@public.get(
    "/{article_id}/attachments/{attachment_id}",
    dependencies=PUBLIC,
    summary="An attachment of a published article",
)
async def public_attachment(
    article_id: Ident, attachment_id: Ident, db: DatabaseDep, settings: SettingsDep
) -> Response:
    async with db.session() as s:
        a, _ = await service.public_article(s, article_id, datetime.now(UTC))
        att = await service.attachment_of(s, a, attachment_id)
    return await _file(settings, att.sha256, att.content_type, att.filename, public=True)


# ------------------------------------------------------------------ H5 pages


KIND_NAMES = {
    "policy": ("政策法规", "Policies"),
    "news": ("新闻动态", "News"),
    "notice": ("通知公告", "Notices"),
}


#: Our scripts, styles and images only: even a sanitiser bug could run nothing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
STATIC = FsPath(__file__).resolve().parent / "static"
STATIC_URL = "/static/services-h5"


def html_page(request: Request, templates: FsPath, name: str, **ctx: Any) -> Response:
    """A public H5 page: rendered, tagged (ETag, 304), cached 60 s, under :data:`CSP`."""
    settings = request.app.state.settings
    body = (
        environment(templates)
        .get_template(name)
        .render(page_context(settings, counties=COUNTIES, **ctx))
        .encode()
    )
    tag = etag(body)
    headers = {
        **public_headers(60),
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return fresh(request, tag, headers) or HTMLResponse(body, headers={**headers, "ETag": tag})


def _html(request: Request, name: str, **ctx: Any) -> Response:
    return html_page(request, TEMPLATES, name, kinds=KIND_NAMES, **ctx)


def install(app: FastAPI) -> None:
    """Serve the H5 pages' stylesheet (public: it holds no data)."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="services-h5-static")


@pages.get(
    "/h5/policies",
    dependencies=PUBLIC,
    summary="H5: policies, news and notices (the same data as /api/v1/public/policies)",
)
async def policies_page(
    request: Request,
    db: DatabaseDep,
    page: H5Page,
    county: CountyQ = None,
    kind: Kind | None = None,
) -> Response:
    data = await public_list(db, _county(county), kind, page)
    return _html(request, "policies.html", data=data, county=county, kind=kind)


@pages.get(
    "/h5/policies/{article_id}",
    dependencies=PUBLIC,
    summary="H5: one published article",
)
async def article_page(article_id: Ident, request: Request, db: DatabaseDep) -> Response:
    async with db.session() as s:
        _, item = await service.public_article(s, article_id, datetime.now(UTC))
    return _html(request, "article.html", item=item)
