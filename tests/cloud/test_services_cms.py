"""The CMS (issue 15): Markdown rendered by markdown-it-py and sanitised by nh3. Hostile
input: nothing executable survives rendering, and the API refuses Markdown with raw
HTML or an unsafe URL naming body.body_md; drafts and scheduled articles stay private
until their time; attachments refused by their declared size before they are read;
public JSON with ETags; every write audited."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.services.cms.render import TAGS, MarkdownRefused, check, render, sanitise
from cloud.services.cms.service import ATTACHMENT_MAX_BYTES
from tests.cloud.services_registry_cases import PDF, unlimited
from tests.support.api import HOME, OTHER, ApiEnv, api_env

S = "/api/v1/services/cms/articles"
P = "/api/v1/public/policies"

#: Hostile Markdown: each tries to run script in a reader's browser.
HOSTILE = [
    "<script>alert(1)</script>",
    "before\n\n<script src=https://evil.example/x.js></script>\n\nafter",
    "<SCRIPT>alert(1)</SCRIPT >",
    "text <img src=x onerror=alert(1)> text",
    '<img src="x" ONERROR="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](vbscript:msgbox(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[x](data:text/html,<script>alert(1)</script>)",
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    "<svg><a xlink:href=javascript:alert(1)><text>x</text></a></svg>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=javascript:alert(1)></iframe>",
    "<object data=javascript:alert(1)></object>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<a href='&#106;avascript:alert(1)'>x</a>",
    "[x](&#106;avascript:alert(1))",
    "<!-- --><script>alert(1)</script>",
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<base href="javascript:/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
]


class Elements(HTMLParser):
    """Every element and attribute of an HTML fragment, as a browser would parse them
    (entities decoded in attribute values)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))

    handle_startendtag = handle_starttag


def executable(html: str) -> list[str]:
    """What in ``html`` could run script or load something else: elements beyond the
    allow-list, event handlers, style, and URLs of any scheme but http, https, mailto."""
    parser = Elements()
    parser.feed(html)
    parser.close()
    bad = []
    for tag, attrs in parser.found:
        if tag not in TAGS:
            bad.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction", "xlink:href"):
                bad.append(f"{tag}[{name}]")
            if name in ("href", "src") and value is not None:
                scheme = re.match(r"\s*([a-zA-Z][a-zA-Z0-9+.-]*):", value)
                if scheme and scheme.group(1).lower() not in ("http", "https", "mailto"):
                    bad.append(f"{tag}[{name}={value}]")
    return bad


@pytest.mark.parametrize("md", HOSTILE)
def test_nothing_executable_survives_rendering(md: str) -> None:
    # the CMS's own rendering (raw HTML off: typed tags come out as text), and
    # markdown-it with raw HTML on: whatever markdown-it passes, nh3 leaves nothing
    # that runs
    for html in (render(md), render(md, allow_html=True)):
        assert executable(html) == [], html
        assert "<script" not in html.lower() and "<svg" not in html.lower(), html


def test_the_checker_sees_what_runs() -> None:
    assert executable('<p onclick="x">a</p><a href="&#106;avascript:1">b</a><svg></svg>') == [
        "p[onclick]", "a[href=javascript:1]", "<svg>"]  # fmt: skip


@pytest.mark.parametrize("md", HOSTILE)
def test_the_editor_is_told_where(md: str) -> None:
    with pytest.raises(MarkdownRefused) as err:
        check(md)
    assert err.value.refusal.line >= 1


def test_sanitise_alone_strips_hostile_html() -> None:
    html = ('<p onclick="x()">a<script>b()</script><img src="data:image/png;base64,AA" '
            'onerror="c()"><a href="javascript:d()">e</a><svg><circle/></svg>'
            '<a href="https://ok.example/" target="_blank">f</a></p>')  # fmt: skip
    out = sanitise(html)
    assert "script" not in out and "onclick" not in out and "onerror" not in out
    assert "javascript" not in out and "data:" not in out and "svg" not in out
    assert '<a href="https://ok.example/" rel="noopener noreferrer nofollow">f</a>' in out


def test_ordinary_markdown_renders() -> None:
    md = "# 标题\n\n**粗体** 与 *斜体*\n\n- 一\n- 二\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[商务部](https://www.mofcom.gov.cn/) 与 <not html?> ~~删除~~"
    check(
        "# 标题\n\n**粗体**\n\n[商务部](https://www.mofcom.gov.cn/) [相对](/h5/policies) [邮件](mailto:a@b.cn)"
    )
    html = render(md)
    assert "<h1>标题</h1>" in html and "<strong>粗体</strong>" in html and "<table>" in html
    assert '<a href="https://www.mofcom.gov.cn/" rel="noopener noreferrer nofollow">' in html
    assert "<s>删除</s>" in html and "&lt;not html?&gt;" in html


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        unlimited(e)
        yield e


def article(**extra: Any) -> dict[str, Any]:
    return {"county": HOME, "kind": "policy", "title": "扶持政策", "body_md": "## 条款\n\n内容",
            **extra}  # fmt: skip


async def test_markdown_with_script_is_refused_naming_the_field(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    for md in (
        "ok\n\n<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "<img src=x onerror=alert(1)>",
    ):
        r = await env.client.post(S, headers=h, json=article(body_md=md))
        assert r.status_code == 422 and r.json()["field"] == "body.body_md", r.text
        assert "line" in r.json()["detail"]
    r = await env.client.post(S, headers=h, json=article())
    aid = r.json()["id"]
    r = await env.client.patch(f"{S}/{aid}", headers=h, json={"body_md": "<style>x</style>"})
    assert r.status_code == 422 and r.json()["field"] == "body.body_md", r.text
    r = await env.client.get(f"{S}/{aid}", headers=h)
    assert r.json()["body_md"] == "## 条款\n\n内容" and r.json()["version"] == 1


async def test_drafts_scheduled_and_published(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    r = await env.client.post(S, headers=h, json=article(title="草稿"))
    draft = r.json()
    assert draft["state"] == "draft"
    r = await env.client.post(
        S, headers=h, json=article(title="定时", draft=False, publish_at=future)
    )
    scheduled = r.json()
    assert scheduled["state"] == "scheduled"
    listed = (await env.client.get(P)).json()["items"]
    assert listed == []
    for a in (draft, scheduled):
        assert (await env.client.get(f"{P}/{a['id']}")).status_code == 404
        assert (await env.client.get(f"/h5/policies/{a['id']}")).status_code == 404
    # its time comes: it is published without anyone acting (the clock moves it)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await env.client.patch(f"{S}/{scheduled['id']}", headers=h, json={"publish_at": past})
    assert r.json()["state"] == "published" and r.json()["version"] == 2
    r = await env.client.get(P)
    assert [x["id"] for x in r.json()["items"]] == [scheduled["id"]]
    tag = r.headers["etag"]
    assert r.headers["cache-control"] == "public, max-age=60"
    assert (await env.client.get(P, headers={"If-None-Match": tag})).status_code == 304
    one = (await env.client.get(f"{P}/{scheduled['id']}")).json()
    assert one["body_html"] == "<h2>条款</h2>\n<p>内容</p>\n" and "body_md" not in one
    # a prefecture article is in every county's list; another county's is not in HOME's
    pref = await env.headers(Role.PREFECTURE_ADMIN, "533100")
    await env.client.post(
        S, headers=pref, json=article(county="533100", title="全州", draft=False, publish_at=past)
    )
    other = await env.headers(Role.COUNTY_ADMIN, OTHER)
    await env.client.post(
        S, headers=other, json=article(county=OTHER, title="陇川专项", draft=False, publish_at=past)
    )
    titles = {
        x["title"] for x in (await env.client.get(P, params={"county": HOME})).json()["items"]
    }
    assert titles == {"定时", "全州"}
    assert (await env.client.get(P, params={"county": "999999"})).json()["field"] == "query.county"
    # the H5 page shows the same, Chinese first with English beside it
    page = await env.client.get("/h5/policies", params={"county": HOME})
    assert page.status_code == 200 and "定时" in page.text and "陇川专项" not in page.text
    assert (
        "content-security-policy" in page.headers
        and "script-src 'self'" in page.headers["content-security-policy"]
    )


async def test_attachments(env: ApiEnv) -> None:
    h = await env.headers(Role.OPERATING_COMPANY, HOME)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    aid = (await env.client.post(S, headers=h, json=article(draft=False, publish_at=past))).json()[
        "id"
    ]
    r = await env.client.post(f"{S}/{aid}/attachments", params={"filename": "申报表.pdf"}, content=PDF,
                              headers={**h, "Content-Type": "application/pdf"})  # fmt: skip
    assert r.status_code == 201, r.text
    got = (await env.client.get(f"{P}/{aid}")).json()["attachments"]
    assert [a["filename"] for a in got] == ["申报表.pdf"]
    r = await env.client.get(got[0]["url"])
    assert r.content == PDF and "attachment" in r.headers["content-disposition"]
    r = await env.client.post(f"{S}/{aid}/attachments", params={"filename": "x.html"}, content=b"<script>",
                              headers={**h, "Content-Type": "text/html"})  # fmt: skip
    assert r.status_code == 415 and r.json()["field"] == "header.Content-Type"
    r = await env.client.post(f"{S}/{aid}/attachments", params={"filename": "../x"}, content=PDF,
                              headers={**h, "Content-Type": "application/pdf"})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "query.filename"
    # 100 MB declared: refused before a byte of the body is read
    received: list[int] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": b"%PDF-", "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    declared = 100 * 1024 * 1024
    assert declared > ATTACHMENT_MAX_BYTES
    headers = [(b"content-length", str(declared).encode()), (b"content-type", b"application/pdf"),
               *((k.lower().encode(), v.encode()) for k, v in h.items())]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": f"{S}/{aid}/attachments", "raw_path": b"",
             "query_string": b"filename=big.pdf", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("api", 80)}  # fmt: skip
    await env.app(scope, receive, send)
    assert sent[0]["status"] == 413 and received == []
    assert b'"field":"body"' in sent[1]["body"]


async def test_every_write_is_audited(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    aid = (await env.client.post(S, headers=h, json=article())).json()["id"]
    await env.client.patch(f"{S}/{aid}", headers=h, json={"title": "新标题", "draft": False})
    await env.client.patch(f"{S}/{aid}", headers=h, json={"title": "新标题"})  # no change
    await env.client.post(f"{S}/{aid}/attachments", params={"filename": "a.pdf"}, content=PDF,
                          headers={**h, "Content-Type": "application/pdf"})  # fmt: skip
    async with env.db.session() as s:
        rows = list(await s.scalars(select(AuditEntry).where(AuditEntry.target == f"article:{aid}")
                                    .order_by(AuditEntry.id)))  # fmt: skip
    assert [e.action for e in rows] == ["cms.article_created", "cms.article_updated",
                                        "cms.attachment_added"]  # fmt: skip
    assert rows[1].detail["changed"] == ["draft", "title"] and rows[1].detail["title"] == "新标题"
    # a county's editor writes no other county's or the prefecture's content
    r = await env.client.post(S, headers=h, json=article(county="533100"))
    assert r.status_code == 403


async def test_monthly_figures(env: ApiEnv) -> None:
    from cloud.services.cms.service import monthly_figures

    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    # 2026-03-31T17:00Z is 1 April in Beijing
    for at in ("2026-03-15T10:00:00+08:00", "2026-03-31T17:00:00+00:00"):
        await env.client.post(S, headers=h, json=article(draft=False, publish_at=at))
    await env.client.post(
        S, headers=h, json=article(publish_at="2026-03-16T10:00:00+08:00")
    )  # draft
    assert await monthly_figures(env.db, HOME, "2026-03") == {"articles_published": 1}
    assert await monthly_figures(env.db, HOME, "2026-04") == {"articles_published": 1}
    assert await monthly_figures(env.db, OTHER, "2026-03") == {"articles_published": 0}
