"""Articles (policies, news, notices), their attachments, what the public sees, the
CMS's monthly figures and demo data. Every write is audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.db import Database
from cloud.errors import ApiError
from cloud.services.cms.render import MarkdownRefused, check, render
from cloud.services.cms.schemas import ArticleIn, ArticleOut, ArticlePatch, AttachmentOut
from cloud.services.cms.storage import Article, Attachment
from protocol.ids import PREFECTURE

BEIJING = timezone(timedelta(hours=8))
#: The largest attachment taken (PDF, JPEG or PNG).
ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024
_FILENAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


def rendered(body_md: str, field: str = "body.body_md") -> str:
    """The sanitised HTML of ``body_md``; 422 naming ``field`` and the line at fault for
    raw HTML or an unsafe URL."""
    try:
        check(body_md)
    except MarkdownRefused as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None
    return render(body_md)


def check_write(principal: Principal, county: str) -> None:
    """Content of a county is written by the roles with the permission in that county
    (the prefecture's, 533100, by prefecture roles)."""
    if not principal.can_see(county):
        raise ApiError(
            403, f"a {principal.role.value} of {principal.county} may not write content of {county}"
        )


def state_of(a: Article, now: datetime) -> str:
    if a.draft or a.publish_at is None:
        return "draft"
    return "published" if a.publish_at <= now else "scheduled"


def is_public(a: Article, now: datetime) -> bool:
    return state_of(a, now) == "published"


async def create(s: AsyncSession, body: ArticleIn, principal: Principal) -> Article:
    check_write(principal, body.county)
    html = rendered(body.body_md)
    a = Article(**body.model_dump(), body_html=html, created_by=principal.actor)
    s.add(a)
    await s.flush()
    await record(
        s,
        principal.actor,
        "cms.article_created",
        f"article:{a.id}",
        a.county,
        {
            "kind": a.kind,
            "title": a.title,
            "draft": a.draft,
            "publish_at": a.publish_at.isoformat() if a.publish_at else None,
        },
    )
    return a


async def update(s: AsyncSession, a: Article, body: ArticlePatch, principal: Principal) -> Article:
    check_write(principal, a.county)
    changes = body.model_dump(exclude_unset=True)
    for k in ("title", "body_md", "draft"):
        if k in changes and changes[k] is None:
            raise ApiError(422, f"body.{k}: may not be null", field=f"body.{k}")
    if "body_md" in changes:
        a.body_html = rendered(changes["body_md"])
    before = {k: getattr(a, k) for k in changes}
    for k, v in changes.items():
        setattr(a, k, v)
    changed = sorted(k for k in changes if before[k] != changes[k])
    if changed:
        a.version += 1
        a.updated_at, a.updated_by = datetime.now(UTC), principal.actor
        shown = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in changes.items()
            if k in changed and k != "body_md"
        }
        await record(
            s,
            principal.actor,
            "cms.article_updated",
            f"article:{a.id}",
            a.county,
            {"changed": changed, "version": a.version, **shown},
        )
    return a


async def get(s: AsyncSession, article_id: int, principal: Principal) -> Article:
    """Another county's article is 404 (the prefecture's are every county's)."""
    a = await s.get(Article, article_id)
    if a is None or not (a.county == PREFECTURE or principal.can_see(a.county)):
        raise ApiError(404, f"article {article_id} not found")
    return a


def articles_query(counties: list[str] | None, kind: str | None) -> Select[Any]:
    q = select(Article)
    if counties is not None:
        q = q.where(Article.county.in_([*counties, PREFECTURE]))
    if kind is not None:
        q = q.where(Article.kind == kind)
    return q


async def attachments(
    s: AsyncSession, ids: list[int], public: bool
) -> dict[int, list[AttachmentOut]]:
    out: dict[int, list[AttachmentOut]] = {i: [] for i in ids}
    rows = await s.scalars(
        select(Attachment).where(Attachment.article_id.in_(ids or [0])).order_by(Attachment.id)
    )
    for r in rows:
        base = "/api/v1/public/policies" if public else "/api/v1/services/cms/articles"
        out[r.article_id].append(
            AttachmentOut(
                id=r.id,
                filename=r.filename,
                content_type=r.content_type,
                size=r.size,
                url=f"{base}/{r.article_id}/attachments/{r.id}",
            )
        )
    return out


async def article_outs(
    s: AsyncSession, rows: list[Article], now: datetime | None = None
) -> list[ArticleOut]:
    at = now or datetime.now(UTC)
    files = await attachments(s, [a.id for a in rows], public=False)
    return [
        ArticleOut(
            id=a.id,
            county=a.county,
            kind=a.kind,
            title=a.title,
            title_en=a.title_en,  # type: ignore[arg-type]
            summary=a.summary,
            body_md=a.body_md,
            body_html=a.body_html,
            draft=a.draft,
            publish_at=a.publish_at,
            state=state_of(a, at),
            version=a.version,  # type: ignore[arg-type]
            attachments=files[a.id],
            updated_at=a.updated_at,
        )
        for a in rows
    ]


def check_filename(name: str | None) -> str:
    if not name or not _FILENAME.match(name):
        raise ApiError(
            422,
            "query.filename: give the file's name (1-200 characters, no slashes)",
            field="query.filename",
        )
    return name


async def add_attachment(
    s: AsyncSession,
    a: Article,
    *,
    filename: str,
    sha256: str,
    content_type: str,
    size: int,
    principal: Principal,
) -> Attachment:
    check_write(principal, a.county)
    att = Attachment(
        article_id=a.id,
        filename=filename,
        sha256=sha256,
        content_type=content_type,
        size=size,
        uploaded_by=principal.actor,
    )
    s.add(att)
    await s.flush()
    await record(
        s,
        principal.actor,
        "cms.attachment_added",
        f"article:{a.id}",
        a.county,
        {"attachment": att.id, "filename": filename, "sha256": sha256, "size": size},
    )
    return att


async def attachment_of(s: AsyncSession, a: Article, att_id: int) -> Attachment:
    att = await s.get(Attachment, att_id)
    if att is None or att.article_id != a.id:
        raise ApiError(404, f"attachment {att_id} of article {a.id} not found")
    return att


# ------------------------------------------------------------------ public


def published_query(county: str | None, kind: str | None, now: datetime) -> Select[Any]:
    q = select(Article).where(Article.draft.is_(False), Article.publish_at <= now)
    if county is not None:
        q = q.where(or_(Article.county == county, Article.county == PREFECTURE))
    if kind is not None:
        q = q.where(Article.kind == kind)
    return q


def public_item(a: Article) -> dict[str, Any]:
    assert a.publish_at is not None
    return {
        "id": a.id,
        "county": a.county,
        "kind": a.kind,
        "title": a.title,
        "title_en": a.title_en,
        "summary": a.summary,
        "published_at": a.publish_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "published_on": a.publish_at.astimezone(BEIJING).date().isoformat(),
        "url": f"/h5/policies/{a.id}",
    }


async def public_article(
    s: AsyncSession, article_id: int, now: datetime
) -> tuple[Article, dict[str, Any]]:
    """A published article as the public reads it; drafts and scheduled ones are 404."""
    a = await s.get(Article, article_id)
    if a is None or not is_public(a, now):
        raise ApiError(404, f"article {article_id} not found")
    files = await attachments(s, [a.id], public=True)
    return a, {
        **public_item(a),
        "body_html": a.body_html,
        "attachments": [f.model_dump() for f in files[a.id]],
    }


async def monthly_figures(
    db_or_session: Database | AsyncSession, county: str, month: str
) -> dict[str, int | str | None]:
    """The CMS's figure of ``county`` for ``month`` (README.md)."""
    if isinstance(db_or_session, Database):
        async with db_or_session.session() as s:
            return await _figures(s, county, month)
    return await _figures(db_or_session, county, month)


async def _figures(s: AsyncSession, county: str, month: str) -> dict[str, int | str | None]:
    """Articles of ``county`` (its own, not the prefecture's) that appeared in ``month``."""
    y, m = (int(x) for x in month.split("-"))
    start = datetime(y, m, 1, tzinfo=BEIJING)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=BEIJING)
    n = await s.scalar(
        select(func.count())
        .select_from(Article)
        .where(
            Article.county == county,
            Article.draft.is_(False),
            Article.publish_at >= start,
            Article.publish_at < end,
        )
    )
    return {"articles_published": int(n or 0)}
