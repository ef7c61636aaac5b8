"""``/api/v1/trace/log/...`` on PostgreSQL and SQLite: the public checkpoint, key and
consistency proofs; inclusion proofs scoped to the event's county; the key made by
``dehong cloud init-db``.

Events are put in ``trace_events`` by :func:`put_events` with the columns TRACE.md
fixes. TODO(h/events): once the event store lands, store them with
``cloud.trace.events.service.store_events`` instead (it appends to the log itself).
"""

from __future__ import annotations

import base64
import os
import stat
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, MetaData, String, Table, Text

from cloud.auth.principal import Role
from cloud.db.base import UTCDateTime
from cloud.trace.log import merkle, service
from cloud.trace.log.canonical import canonical_json
from cloud.trace.log.checkpoint import NoteVerifier, open_checkpoint
from cloud.trace.log.keys import ensure_key, key_path
from tests.support.api import HOME, OTHER, ApiEnv, api_env

_events = Table(
    "trace_events",
    MetaData(),
    Column("event_id", Text, primary_key=True),
    Column("event_type", String(32)),
    Column("event_time", UTCDateTime),
    Column("event_tz_offset", String(6)),
    Column("record_time", UTCDateTime),
    Column("county", String(6)),
    Column("body", JSON),
    Column("created_by", String(128)),
)


def body(event_id: str, county: str) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": event_id,
        "eventTime": "2026-01-01T08:00:00.000Z",
        "eventTimeZoneOffset": "+08:00",
        "recordTime": "2026-01-01T08:00:01.000Z",
        "action": "OBSERVE",
        "bizStep": "storing",
        "readPoint": {"id": f"https://id.gs1.org/414/690123456789{county[-1]}"},
    }


async def put_events(env: ApiEnv, county: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    """``n`` events of ``county`` in the event table and in the log."""
    async with env.db.engine.begin() as conn:
        await conn.run_sync(lambda c: _events.create(c, checkfirst=True))
    made = []
    async with env.db.transaction() as s:
        for _ in range(n):
            event_id = f"urn:uuid:{os.urandom(16).hex()}"
            made.append((event_id, body(event_id, county)))
            await s.execute(
                _events.insert().values(
                    event_id=event_id,
                    event_type="ObjectEvent",
                    event_time=datetime(2026, 1, 1, tzinfo=UTC),
                    event_tz_offset="+08:00",
                    record_time=datetime(2026, 1, 1, tzinfo=UTC),
                    county=county,
                    body=made[-1][1],
                    created_by="test",
                )
            )
        await service.append_events(s, made)
    return made


def give_key(env: ApiEnv) -> NoteVerifier:
    """The log's key in a private folder (as init-db makes it)."""
    if env.settings.trace_log_key_file is None:
        env.settings.trace_log_key_file = Path(tempfile.mkdtemp()) / "keys" / "trace-log.key"
    signer, _ = ensure_key(env.settings)
    return signer.verifier


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        e.settings.trace_log_key_file = tmp_path / "keys" / "trace-log.key"
        yield e


async def checkpoint(env: ApiEnv, verifier: NoteVerifier) -> Any:
    r = await env.client.get("/api/v1/trace/log/checkpoint")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return open_checkpoint(r.text, verifier)


async def test_public_checkpoint_key_and_consistency_proofs_verify(env: ApiEnv) -> None:
    r = await env.client.get("/api/v1/trace/log/key")
    assert r.status_code == 503 and "dehong cloud init-db" in r.json()["detail"]
    give_key(env)
    key = (await env.client.get("/api/v1/trace/log/key")).json()
    verifier = NoteVerifier.from_vkey(key["verifier_key"])
    assert key["origin"] == env.settings.trace_log_origin == verifier.name
    assert key["key_id"] == f"{verifier.key_id:08x}"
    assert base64.b64decode(key["public_key"]) == verifier.public_key
    assert "BEGIN PUBLIC KEY" in key["public_key_pem"]

    first = await checkpoint(env, verifier)
    assert (first.size, first.root_hash) == (0, merkle.EMPTY_ROOT)
    made = await put_events(env, HOME, 5)
    mid = await checkpoint(env, verifier)
    made += await put_events(env, OTHER, 6)
    last = await checkpoint(env, verifier)
    leaves = [merkle.leaf_hash(canonical_json(b)) for _, b in made]
    assert (mid.size, mid.root_hash) == (5, merkle.mth(leaves[:5]))
    assert (last.size, last.root_hash) == (11, merkle.mth(leaves))

    r = await env.client.get("/api/v1/trace/log/proof/consistency?first=5&second=11")
    assert r.status_code == 200, r.text
    got = r.json()
    hashes = [base64.b64decode(h) for h in got["hashes"]]
    merkle.verify_consistency(5, 11, mid.root_hash, last.root_hash, hashes)
    assert base64.b64decode(got["second_root"]) == last.root_hash

    for query, field, status in (
        ("first=5&second=12", "query.second", 404), ("first=12&second=5", "query.first", 404),
        ("first=6&second=5", "query.first", 422), ("first=-1&second=5", "query.first", 422),
        ("first=x&second=5", "query.first", 422), (f"first=0&second={2**31}", "query.second", 422),
    ):  # fmt: skip
        r = await env.client.get(f"/api/v1/trace/log/proof/consistency?{query}")
        assert (r.status_code, r.json()["field"]) == (status, field), (query, r.text)


async def test_inclusion_proofs_are_county_scoped_and_verify(env: ApiEnv) -> None:
    verifier = give_key(env)
    home = await put_events(env, HOME, 3)
    other = await put_events(env, OTHER, 4)
    head = await checkpoint(env, verifier)
    url = "/api/v1/trace/log/proof/inclusion"
    h_home = await env.headers(Role.COUNTY_ADMIN, HOME)
    h_pref = await env.headers(Role.PREFECTURE_ADMIN, "533100")

    r = await env.client.get(url, params={"event_id": home[1][0]}, headers=h_home)
    assert r.status_code == 200, r.text
    proof = r.json()
    assert (proof["leaf_index"], proof["tree_size"], proof["event_id"]) == (1, 7, home[1][0])
    leaf = merkle.leaf_hash(canonical_json(home[1][1]))
    assert base64.b64decode(proof["leaf_hash"]) == leaf
    merkle.verify_inclusion(1, 7, leaf, [base64.b64decode(x) for x in proof["hashes"]],
                            head.root_hash)  # fmt: skip

    r = await env.client.get(url, params={"index": 2, "tree_size": 3}, headers=h_home)
    assert r.status_code == 200 and r.json()["tree_size"] == 3, r.text

    # another county's event: 404 by id and by index, exactly as a missing one
    for params in ({"event_id": other[0][0]}, {"index": 4}, {"index": 4, "tree_size": 2}):
        r = await env.client.get(url, params=params, headers=h_home)
        assert r.status_code == 404, (params, r.text)
        assert "not in the log" in r.json()["detail"]
    for params in ({"event_id": "urn:uuid:none"}, {"index": 99}):
        assert (await env.client.get(url, params=params, headers=h_home)).status_code == 404
    r = await env.client.get(url, params={"index": 4}, headers=h_pref)
    assert r.status_code == 200 and r.json()["event_id"] == other[1][0]

    assert (await env.client.get(url, params={"index": 0})).status_code == 401
    bad = [({}, "query.event_id"), ({"index": 0, "event_id": home[0][0]}, "query.event_id"),
           ({"index": -1}, "query.index"), ({"index": 2, "tree_size": 2}, "query.tree_size")]  # fmt: skip
    for params, field in bad:
        r = await env.client.get(url, params=params, headers=h_home)
        assert r.status_code == 422 and r.json()["field"] == field, (params, r.text)
    r = await env.client.get(url, params={"index": 0, "tree_size": 8}, headers=h_home)
    assert r.status_code == 404 and r.json()["field"] == "query.tree_size", r.text


async def test_the_endpoints_are_in_openapi_with_their_access() -> None:
    from cloud.app import create_app
    from cloud.settings import Settings

    paths = create_app(Settings(demo=True)).openapi()["paths"]
    for path in ("checkpoint", "key", "proof/inclusion", "proof/consistency"):
        op = paths[f"/api/v1/trace/log/{path}"]["get"]
        assert op["summary"], path
    assert (
        "text/plain" in paths["/api/v1/trace/log/checkpoint"]["get"]["responses"]["200"]["content"]
    )


def test_init_db_makes_the_key_once_private_and_prints_the_verifier_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloud.settings import Settings, get_settings
    from dehong.cli import main

    monkeypatch.setenv("DEHONG_DATABASE_URL", f"sqlite:///{tmp_path / 'd.db'}")
    monkeypatch.setenv("DEHONG_TSDB_PATH", str(tmp_path / "ts.db"))
    monkeypatch.setenv("DEHONG_KEYS_DIR", str(tmp_path / "keys"))
    get_settings.cache_clear()
    try:
        for _ in range(2):
            with pytest.raises(SystemExit) as exc:
                main(["cloud", "init-db"])
            assert exc.value.code == 0
        out = capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    path = key_path(Settings(keys_dir=tmp_path / "keys"))
    assert path == tmp_path / "keys" / "trace-log.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().startswith("PRIVATE+KEY+dehong.local/trace-log+")
    assert "(made;" in out and "(kept;" in out
    vkeys = {line.split(": ")[1] for line in out.splitlines() if "verifier key" in line}
    assert len(vkeys) == 1  # the same key both times
    NoteVerifier.from_vkey(vkeys.pop())
    # the serials' code key is made beside it, once (cloud/resolver/serials/keys.py)
    serials = tmp_path / "keys" / "serials.key"
    assert stat.S_IMODE(serials.stat().st_mode) == 0o600
    assert sum("serials code key" in line and "(made;" in line for line in out.splitlines()) == 1
    assert sum("serials code key" in line and "(kept;" in line for line in out.splitlines()) == 1


def test_a_key_readable_by_others_or_of_another_log_is_refused(tmp_path: Path) -> None:
    from cloud.settings import Settings
    from cloud.trace.log.keys import LogKeyError, load_signer

    settings = Settings(keys_dir=tmp_path)
    ensure_key(settings)
    key_path(settings).chmod(0o644)
    with pytest.raises(LogKeyError, match="chmod 600"):
        load_signer(settings)
    key_path(settings).chmod(0o600)
    with pytest.raises(LogKeyError, match="keeps its name"):
        load_signer(Settings(keys_dir=tmp_path, trace_log_origin="another.example/log"))


# ---------------------------------------------------- shared route tables (roles, isolation)


async def _inclusion_home(env: ApiEnv, h: dict[str, str]) -> Any:
    give_key(env)
    made = await put_events(env, HOME, 1)
    return await env.client.get(
        "/api/v1/trace/log/proof/inclusion", params={"event_id": made[0][0]}, headers=h
    )


#: One request per route, for tests/cloud/test_api_roles.py's REQUESTS.
TLOG_REQUESTS = {
    ("GET", "/api/v1/trace/log/checkpoint"): lambda e, h: _public(e, "checkpoint"),
    ("GET", "/api/v1/trace/log/key"): lambda e, h: _public(e, "key"),
    ("GET", "/api/v1/trace/log/proof/consistency"): lambda e, h: _public(
        e, "proof/consistency?first=0&second=0"
    ),
    ("GET", "/api/v1/trace/log/proof/inclusion"): _inclusion_home,
}


async def _public(env: ApiEnv, path: str) -> Any:
    give_key(env)
    return await env.client.get(f"/api/v1/trace/log/{path}")


async def _other_county_inclusion(env: ApiEnv, h: dict[str, str]) -> None:
    """An event of OTHER: 404 by event id and by leaf index."""
    give_key(env)
    made = await put_events(env, OTHER, 1)
    url = "/api/v1/trace/log/proof/inclusion"
    r = await env.client.get(url, params={"event_id": made[0][0]}, headers=h)
    assert r.status_code == 404, r.text
    async with env.db.session() as s:
        index = (await service.inclusion_proof(s, event_id=made[0][0])).leaf_index
    r = await env.client.get(url, params={"index": index}, headers=h)
    assert r.status_code == 404, r.text


async def _public_log(env: ApiEnv, h: dict[str, str]) -> None:
    """Public: the same for every caller; no event content in it."""
    give_key(env)
    for path in ("checkpoint", "key", "proof/consistency?first=0&second=0"):
        r = await env.client.get(f"/api/v1/trace/log/{path}", headers=h)
        assert r.status_code == 200, (path, r.text)
        assert "ObjectEvent" not in r.text


#: County-isolation cases, for tests/cloud/test_api_isolation.py's CASES.
TLOG_CASES = {
    ("GET", "/api/v1/trace/log/proof/inclusion"): _other_county_inclusion,
    ("GET", "/api/v1/trace/log/checkpoint"): _public_log,
    ("GET", "/api/v1/trace/log/key"): _public_log,
    ("GET", "/api/v1/trace/log/proof/consistency"): _public_log,
}
