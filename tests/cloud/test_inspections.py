"""Inspections in the cloud: ingest of an inspection event end to end (relational
record, time-series point, thumbnail in the file store), bad thumbnails, the API
(list, detail, thumbnail) and the file store."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.db import Database
from cloud.devices.storage import Gateway
from cloud.ingest.pipeline import Ingest
from cloud.ingest.registry import KnownGateway
from cloud.ingest.storage import DeadLetter
from cloud.inspections.files import FileStoreError, LocalFileStore
from cloud.inspections.ingest import store_inspection
from cloud.inspections.storage import InspectionRecord
from cloud.inspections.thumbnails import MAX_THUMBNAIL_BYTES
from cloud.settings import get_settings
from cloud.timeseries.sqlite import SqliteStore
from protocol.codec import decode, encode
from protocol.messages import EventMessage, EventType, Inspection, WriteAck
from tests.support.api import HOME, OTHER, ApiEnv, api_env
from tests.support.data import now_ms
from tests.support.schema import migrate_async

GW = "mangshi-coop-01"
TOPIC = f"dh/v1/533103/{GW}/event"
#: the markers a JPEG must start and end with; the cloud never decodes pixels
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


def event(
    eid: str = "insp-1",
    *,
    thumb: str | None = None,
    lot: str = "LOT-000004",
    gw: str = GW,
    ts: int | None = None,
    device: str | None = None,
) -> EventMessage:
    return EventMessage(
        gw=gw,
        id=eid,
        ts=ts if ts is not None else now_ms(),
        type=EventType.INSPECTION,
        device=device or f"{gw}.cam1",
        inspection=Inspection(
            program="coffee",
            lot=lot,
            grade="specialty",
            counts={"beans": 290, "broken": 3, "sour": 1, "screen_16": 120},
            measurements={"width_mm_median": 6.61, "full_defects": 2.0},
            image_sha256=hashlib.sha256(b"original").hexdigest(),
            thumbnail_jpeg=base64.b64encode(JPEG).decode() if thumb is None else thumb,
        ),
    )


class Acks:
    def __init__(self) -> None:
        self.sent: list[WriteAck] = []

    async def __call__(self, topic: str, payload: bytes) -> None:
        self.sent.append(decode(WriteAck, payload))


@pytest.fixture
def filestore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Ingest finds its file store from the settings (DEHONG_FILESTORE_DIR)."""
    monkeypatch.setenv("DEHONG_FILESTORE_DIR", str(tmp_path / "files"))
    get_settings.cache_clear()
    yield tmp_path / "files"
    get_settings.cache_clear()


@pytest.fixture
async def ingest_env(
    tmp_path: Path, filestore: Path
) -> AsyncIterator[tuple[Ingest, Database, SqliteStore, Acks]]:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    db = Database(url)
    async with db.transaction() as s:
        s.add(Gateway(id=GW, county="533103", name=GW, site="site-m", mqtt_password_hash="x"))
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    acks = Acks()
    ingest = Ingest(db, ts, acks, linger_s=0.01)
    writer = asyncio.create_task(ingest.run_writer())  # inspection points are queued
    yield ingest, db, ts, acks
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    await ts.close()
    await db.dispose()


async def _records(db: Database) -> list[InspectionRecord]:
    async with db.session() as s:
        return list((await s.execute(select(InspectionRecord))).scalars())


async def test_inspection_event_is_stored_end_to_end(ingest_env, filestore: Path) -> None:
    ingest, db, ts, acks = ingest_env
    ev = event()
    for _ in range(2):  # a resend changes nothing
        assert await ingest.handle(TOPIC, encode(ev)) is None
        await asyncio.wait_for(ingest.drained(), 10)
    (rec,) = await _records(db)
    assert (rec.county, rec.site, rec.device, rec.lot) == ("533103", "site-m", f"{GW}.cam1", ev.inspection.lot)  # type: ignore[union-attr]  # fmt: skip
    assert rec.program == "coffee" and rec.grade == "specialty" and rec.usable
    assert rec.counts["broken"] == 3 and rec.measurements["width_mm_median"] == 6.61
    assert rec.thumbnail_key == hashlib.sha256(JPEG).hexdigest() and rec.thumbnail_error is None
    assert LocalFileStore(filestore).get(rec.thumbnail_key) == JPEG
    ((t, fields),) = await ts.raw_rows("inspection", f"{GW}.cam1", ev.ts, ev.ts + 1)
    assert fields["n_beans"] == 290.0 and fields["n_screen_16"] == 120.0
    assert fields["width_mm_median"] == 6.61 and fields["usable"] == 1.0
    assert [a.acks[0].kind for a in acks.sent] == ["event", "event"]


@pytest.mark.parametrize(
    ("thumb", "reason"),
    [
        ("not base64 at all!", "not valid base64"),
        (base64.b64encode(b"GIF89a" + b"\x00" * 50).decode(), "not a JPEG"),
        (base64.b64encode(JPEG[:200]).decode(), "JPEG truncated"),
        (
            base64.b64encode(JPEG[:-2] + b"\x00" * MAX_THUMBNAIL_BYTES + b"\xff\xd9").decode(),
            "byte limit",
        ),
    ],
)
async def test_bad_thumbnail_is_left_out_with_its_reason(ingest_env, thumb: str, reason: str) -> None:  # fmt: skip
    ingest, db, ts, acks = ingest_env
    assert await ingest.handle(TOPIC, encode(event(thumb=thumb))) is None
    (rec,) = await _records(db)
    assert rec.thumbnail_key is None
    assert rec.thumbnail_error is not None and reason in rec.thumbnail_error
    assert "inspection.thumbnail_jpeg" in rec.thumbnail_error
    # the worker goes on: the next event is stored with its thumbnail
    assert await ingest.handle(TOPIC, encode(event("insp-2"))) is None
    assert sum(r.thumbnail_key is not None for r in await _records(db)) == 1


async def test_thumbnail_beyond_the_wire_limit_is_dead_lettered(ingest_env) -> None:
    ingest, db, ts, acks = ingest_env
    raw = encode(event()).replace(
        base64.b64encode(JPEG), base64.b64encode(JPEG[:-2] + b"\x00" * 160_000 + b"\xff\xd9")
    )
    err = await ingest.handle(TOPIC, raw)
    assert err is not None and err.code == "invalid" and "thumbnail_jpeg" in err.field
    async with db.session() as s:
        (letter,) = (await s.execute(select(DeadLetter))).scalars()
    assert "thumbnail_jpeg" in letter.field
    assert await _records(db) == []


# ------------------------------------------------------------------------ API


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ApiEnv, LocalFileStore]]:
    """Records stored by the ingest path (upsert) on SQLite and PostgreSQL."""
    async with api_env(request.param, tmp_path) as env:
        files = LocalFileStore(tmp_path / "files")
        env.app.state.settings = env.settings.model_copy(update={"filestore_dir": files.root})
        home, other = (KnownGateway("gw-m1", HOME, "site-gw-m1", False), KnownGateway("gw-l1", OTHER, "site-gw-l1", False))  # fmt: skip
        t = 1_767_225_600_000
        for i in range(5):
            ev = event(f"insp-{i}", gw="gw-m1", ts=t + i * 60_000, lot="LOT-A" if i < 3 else "LOT-B")  # fmt: skip
            await store_inspection(env.db, env.tsdb, ev, home, files)
        await store_inspection(env.db, env.tsdb, event("bad", gw="gw-m1", thumb="!!", ts=t), home, files)  # fmt: skip
        await store_inspection(env.db, env.tsdb, event("x", gw="gw-l1", ts=t), other, files)
        yield env, files


async def test_list_filters_and_pages(api) -> None:
    env, _ = api
    from cloud.auth.principal import Role

    h = await env.headers(Role.OPERATOR, HOME)
    r = await env.client.get("/api/v1/inspections", params={"lot": "LOT-A"}, headers=h)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [i["event_id"] for i in page["items"]] == ["insp-2", "insp-1", "insp-0"]
    assert page["next_before_id"] is None
    r = await env.client.get(
        "/api/v1/inspections",
        params={"start": "2026-01-01T00:01:00Z", "end": "2026-01-01T00:03:00Z"},
        headers=h,
    )
    assert [i["event_id"] for i in r.json()["items"]] == ["insp-2", "insp-1"]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2, "device": "gw-m1.cam1"}
    while True:
        page = (await env.client.get("/api/v1/inspections", params=params, headers=h)).json()
        seen += [i["event_id"] for i in page["items"]]
        if page["next_before_id"] is None:
            break
        params["before_id"] = page["next_before_id"]
    assert sorted(seen) == ["bad", "insp-0", "insp-1", "insp-2", "insp-3", "insp-4"]
    r = await env.client.get(
        "/api/v1/inspections", params={"start": "2026-01-01T00:00:00"}, headers=h
    )
    assert r.status_code == 422 and r.json()["field"] == "query.start"


async def test_detail_and_thumbnail(api) -> None:
    env, files = api
    from cloud.auth.principal import Role

    h = await env.headers(Role.DISPATCHER, HOME)
    items = (await env.client.get("/api/v1/inspections", headers=h)).json()["items"]
    good = next(i for i in items if i["event_id"] == "insp-0")
    r = await env.client.get(f"/api/v1/inspections/{good['id']}", headers=h)
    assert r.status_code == 200 and r.json()["counts"]["beans"] == 290
    assert r.json()["thumbnail_url"] == f"/api/v1/inspections/{good['id']}/thumbnail"
    r = await env.client.get(good["thumbnail_url"], headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content == JPEG
    bad = next(i for i in items if i["event_id"] == "bad")
    assert bad["thumbnail_url"] is None and "not valid base64" in bad["thumbnail_error"]
    r = await env.client.get(f"/api/v1/inspections/{bad['id']}/thumbnail", headers=h)
    assert r.status_code == 404 and "not valid base64" in r.json()["detail"]
    r = await env.client.get("/api/v1/inspections/999999", headers=h)
    assert r.status_code == 404
    # a thumbnail lost from the file store is a clear 404, not a 500
    (files.root / good["thumbnail_sha256"][:2] / good["thumbnail_sha256"]).unlink()
    r = await env.client.get(good["thumbnail_url"], headers=h)
    assert r.status_code == 404 and "not in the file store" in r.json()["detail"]


# ------------------------------------------------------------------ file store


def test_file_store_is_content_addressed_and_checked(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    key = store.put(b"abc")
    assert key == hashlib.sha256(b"abc").hexdigest() and store.put(b"abc") == key
    assert store.get(key) == b"abc"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [key]  # no temp files left
    (tmp_path / key[:2] / key).write_bytes(b"abd")
    with pytest.raises(FileStoreError, match="damaged"):
        store.get(key)
    with pytest.raises(FileStoreError, match="not a SHA-256"):
        store.get("../../etc/passwd")
    with pytest.raises(FileStoreError, match="not in the file store"):
        store.get("0" * 64)


async def test_concurrent_puts_of_the_same_bytes(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    keys = await asyncio.gather(*(asyncio.to_thread(store.put, b"x" * 10_000) for _ in range(8)))
    assert len(set(keys)) == 1 and store.get(keys[0]) == b"x" * 10_000
