"""The trace page's cache (cloud/resolver/page/cache.py): a warm page is served again
only while the generation (bumped by triggers on every table the page reads) and the
UTC minute are unchanged. An event altered directly in the database (not through the
app), or a new event, shows on the very next view, on SQLite and PostgreSQL; the
operators' view is never cached; overload answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from cloud.auth.principal import Role
from cloud.db import utcnow
from cloud.resolver.page import views
from cloud.resolver.page.admission import Admission
from cloud.resolver.page.cache import PageCache
from cloud.resolver.page.storage import UNWATCHED, WATCHED
from cloud.trace.events.service import store_events
from cloud.trace.events.storage import TraceEvent
from tests.cloud.custody_support import admin, event
from tests.cloud.test_trace_page import _verify
from tests.cloud.trace_page_support import PageWorld, seed
from tests.support.api import ApiEnv, api_env

MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "cloud/db/migrations/versions/0605_trace_page_generation.py"
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def cache(env: ApiEnv) -> PageCache:
    pages: PageCache = env.app.state.trace_page_cache
    return pages


def page_url(pw: PageWorld) -> str:
    return f"/01/{pw.gtin}/10/{pw.lot}"


HTML = {"Accept": "text/html"}


async def by_hand(env: ApiEnv, sql: str, **params: Any) -> None:
    """A write that does not go through the app: its own client, as psql or sqlite3."""
    url = make_url(env.settings.database_url)
    if url.drivername.startswith("sqlite"):
        conn = sqlite3.connect(str(url.database))
        try:
            conn.execute(sql.replace("%(", ":").replace(")s", ""), params)
            conn.commit()
        finally:
            conn.close()
    else:
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            await conn.execute(sql, params)  # type: ignore[arg-type]


async def warm(env: ApiEnv, pw: PageWorld, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Two views of the HTML and of the JSON: the second of each from the cache.

    The page's clock stands still from here on: a cached page lives until the end of its
    UTC minute, and a minute that turned between two of these views made a new page (a
    200 where the 304 was due: a CI run of 2026-12-04 failed so)."""
    now = views.utcnow()
    monkeypatch.setattr(views, "utcnow", lambda: now)
    for _ in range(2):  # a build may sign the log's new head: the next one is cached
        html = await env.client.get(page_url(pw), headers=HTML)
        js = await env.client.get(f"/api/v1/public/trace/{pw.gtin}/{pw.lot}")
        assert html.status_code == js.status_code == 200
    hits = cache(env).hits
    again = await env.client.get(page_url(pw), headers=HTML)
    js_again = await env.client.get(f"/api/v1/public/trace/{pw.gtin}/{pw.lot}")
    assert cache(env).hits == hits + 2
    assert again.content == html.content and js_again.content == js.content
    assert again.headers["etag"] == html.headers["etag"]
    assert again.headers["cache-control"] == "no-cache"
    # a repeat view with the ETag: 304, no body
    r304 = await env.client.get(
        page_url(pw), headers={**HTML, "If-None-Match": html.headers["etag"]}
    )
    assert r304.status_code == 304 and r304.content == b""
    return html.headers["etag"], js.headers["etag"]


async def test_warm_then_tamper_shows_the_warning(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = await seed(env, n=8)
    html_tag, json_tag = await warm(env, pw, monkeypatch)
    r = await env.client.get(f"/api/v1/public/trace/{pw.gtin}/{pw.lot}")
    assert _verify(r.json()["verification"]) == []
    async with env.db.session() as s:
        body = await s.scalar(select(TraceEvent.body).where(TraceEvent.event_id == pw.test_event))
    assert body is not None
    tampered = {**body, "eventTime": body["eventTime"].replace(":00.000", ":01.000", 1)}
    assert tampered != body
    await by_hand(
        env,
        "UPDATE trace_events SET body = %(body)s WHERE event_id = %(id)s",
        body=json.dumps(tampered),
        id=pw.test_event,
    )
    # the very next view, with the old ETag: the page changed (200), the proof fails
    r = await env.client.get(
        f"/api/v1/public/trace/{pw.gtin}/{pw.lot}", headers={"If-None-Match": json_tag}
    )
    assert r.status_code == 200
    assert _verify(r.json()["verification"]) == [pw.test_event]
    html = await env.client.get(page_url(pw), headers={**HTML, "If-None-Match": html_tag})
    assert html.status_code == 200 and html.headers["etag"] != html_tag
    assert tampered["eventTime"] in html.text  # the bundle the browser checks


async def test_warm_then_new_event_shows_it(env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = await seed(env, n=9)
    await warm(env, pw, monkeypatch)
    h = await env.headers(Role.COUNTY_ADMIN, pw.county)
    op = await env.client.get(f"/api/v1/trace/lots/{pw.gtin}/{pw.lot}/operator-view", headers=h)
    before = len(op.json()["events"])
    async with env.db.transaction() as s:
        stored = await store_events(s, [event(pw.world, 400, "storing", "B")], admin(pw.county))
    new_id = stored[0].event_id
    r = await env.client.get(f"/api/v1/public/trace/{pw.gtin}/{pw.lot}")
    ids = [e["event_id"] for e in r.json()["verification"]["entries"]]
    assert new_id in ids and _verify(r.json()["verification"]) == []
    assert new_id in [t["event_id"] for t in r.json()["timeline"]]
    html = await env.client.get(page_url(pw), headers=HTML)
    assert new_id in html.text
    # the operators' view (logged in) is never served from the page's cache
    op = await env.client.get(f"/api/v1/trace/lots/{pw.gtin}/{pw.lot}/operator-view", headers=h)
    assert len(op.json()["events"]) == before + 1


async def test_a_cached_page_lives_until_the_end_of_its_minute(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = await seed(env, n=10)
    await warm(env, pw, monkeypatch)
    first = (await env.client.get(f"/api/v1/public/trace/{pw.gtin}/{pw.lot}")).json()
    later = utcnow() + timedelta(minutes=1)
    monkeypatch.setattr(views, "utcnow", lambda: later)
    r = await env.client.get(f"/api/v1/public/trace/{pw.gtin}/{pw.lot}")
    assert r.json()["generated_at"] > first["generated_at"]
    html = await env.client.get(page_url(pw), headers=HTML)
    assert 'id="as-of"' in html.text and views.local(r.json()["generated_at"]) in html.text


async def test_a_scan_is_recorded_on_every_view_of_a_cached_page(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = await seed(env, n=11)
    await warm(env, pw, monkeypatch)
    # a forged code on the cached lot: checked on each view, never the cached page
    for _ in range(2):
        r = await env.client.get(f"{page_url(pw)}/21/1?c=AAAAAAAAAA", headers=HTML)
        assert r.status_code == 200 and "此码非本平台发放" in r.text
        assert r.headers["cache-control"] == "no-store" and "etag" not in r.headers


async def test_watched_tables_cover_what_the_page_reads(env: ApiEnv) -> None:
    pw = await seed(env, n=12)
    h = await env.headers(Role.COUNTY_ADMIN, pw.county)
    tables: set[str] = set()

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        tables.update(re.findall(r'(?:FROM|JOIN|UPDATE|INTO)\s+"?(\w+)"?', statement, re.I))

    sa_event.listen(env.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        for url in (page_url(pw), f"{page_url(pw)}/21/1?c=AAAAAAAAAA"):
            assert (await env.client.get(url, headers=HTML)).status_code == 200
        r = await env.client.get(f"/api/v1/public/trace/{pw.gtin}/{pw.lot}", headers=h)
        assert r.status_code == 200
    finally:
        sa_event.remove(env.db.engine.sync_engine, "before_cursor_execute", seen)
    tables -= {"users", "api_keys", "login_throttle", "service_accounts"}  # the login
    tables.discard("SET")  # ON CONFLICT ... DO UPDATE SET
    assert tables - set(WATCHED) - set(UNWATCHED) == set()
    assert "trace_events" in tables and "trace_page_generation" in tables
    # the migration watches the same tables, and its triggers are in the database
    spec = importlib.util.spec_from_file_location("m0605", MIGRATION)
    assert spec is not None and spec.loader is not None
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    assert tuple(m.WATCHED) == WATCHED
    if env.db.engine.dialect.name == "postgresql":
        query = (
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = 'trace_page_touch'"
        )
    else:
        query = (
            "SELECT DISTINCT tbl_name FROM sqlite_master "
            "WHERE type = 'trigger' AND name LIKE 'trace_page_bump_%'"
        )
    async with env.db.session() as s:
        assert set((await s.execute(text(query))).scalars()) == set(WATCHED)
        n0 = await s.scalar(text("SELECT n FROM trace_page_generation"))
    for table in ("trace_lots", "organisations"):
        await by_hand(env, f"UPDATE {table} SET id = id WHERE id = (SELECT min(id) FROM {table})")
        async with env.db.session() as s:
            n1 = await s.scalar(text("SELECT n FROM trace_page_generation"))
        assert n1 is not None and n0 is not None and n1 > n0, table
        n0 = n1


async def test_one_bump_per_transaction_and_none_when_rolled_back(env: ApiEnv) -> None:
    pw = await seed(env, n=13)

    async def n() -> int:
        async with env.db.session() as s:
            return int((await s.scalar(text("SELECT n FROM trace_page_generation"))) or 0)

    n0 = await n()
    with pytest.raises(RuntimeError):
        async with env.db.transaction() as s:
            await s.execute(text("UPDATE trace_lots SET quantity = 1"))
            raise RuntimeError("roll back")
    assert await n() == n0
    async with env.db.transaction() as s:
        await s.execute(text("UPDATE trace_lots SET quantity = 2"))
        await s.execute(text("UPDATE organisations SET name = name"))
    bumped = await n() - n0
    # PostgreSQL: once per transaction (deferred, flagged); SQLite: once per row written
    assert bumped == 1 if env.db.engine.dialect.name == "postgresql" else bumped >= 2
    assert pw.lot


async def test_overload_answers_503_with_retry_after(env: ApiEnv) -> None:
    pw = await seed(env, n=14)
    adm = Admission(1, 0, 0.2)
    env.app.state.trace_page_admission = adm
    async with adm.slot():  # the one build slot taken: a cold page cannot be built
        r = await env.client.get(page_url(pw), headers=HTML)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "请稍后再试" in r.json()["zh"] or "稍后" in r.json()["detail"]
        js = await env.client.get(f"/api/v1/public/trace/{pw.gtin}/{pw.lot}")
        assert js.status_code == 503
    assert adm.shed == 2
    # a queue of one: the waiter is served when the slot frees in time, shed when not
    adm = Admission(1, 1, 5.0)
    env.app.state.trace_page_admission = adm
    async with adm.slot():
        waiting = asyncio.create_task(env.client.get(page_url(pw), headers=HTML))
        async with asyncio.timeout(5):
            await adm.queued.wait()  # the view has reached the queue
        third = await env.client.get(f"{page_url(pw)}/21/1?c=AAAAAAAAAA", headers=HTML)
        assert third.status_code == 503  # the queue is full: at once, not after 5 s
    assert (await waiting).status_code == 200
    # the build signed the log's new head (a write: built once more), then cached: a
    # view without a code needs no build slot
    assert (await env.client.get(page_url(pw), headers=HTML)).status_code == 200
    async with adm.slot():
        assert (await env.client.get(page_url(pw), headers=HTML)).status_code == 200
