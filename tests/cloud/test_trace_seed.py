"""cloud/trace/seed: ``dehong trace seed`` writes a history that the event store, the
query interface, recall and the tamper-evident log all accept as their own, on SQLite
and PostgreSQL; deterministic given the seed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.auth.principal import Role
from cloud.catalog.gs1 import check_gtin, check_sscc
from cloud.catalog.storage import Product
from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.trace.epcis import event_hash, validate_document, validate_event
from cloud.trace.events.storage import TraceEvent, TraceEventObject
from cloud.trace.log import service as log
from cloud.trace.log.bundle import build_bundle
from cloud.trace.log.checkpoint import NoteSigner
from cloud.trace.lots.storage import TraceLot, TraceLotParent
from cloud.trace.seed.history import gtin, lot_number, lot_uri, seed_history
from tests.support.api import HOME, ApiEnv, api_env

SEED = 5
LOTS, PER_LOT = 12, 6


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _cli(*argv: str) -> tuple[int, str]:
    """``dehong ...`` in this process (its own event loop: run in a thread)."""
    import contextlib
    import io

    from dehong.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue()


async def test_seeded_history_is_queried_recalled_and_verified(env: ApiEnv, tmp_path: Path) -> None:
    code, out = await asyncio.to_thread(
        _cli, "trace", "seed", "--lots", str(LOTS), "--events-per-lot", str(PER_LOT),
        "--seed", str(SEED), "--database-url", env.settings.database_url,
    )  # fmt: skip
    assert code == 0, out
    summary = json.loads(out)
    assert summary["lots"] == LOTS and summary["events"] == LOTS * PER_LOT

    async with env.db.session() as s:
        bodies = (await s.scalars(select(TraceEvent.body).order_by(TraceEvent.seq))).all()
        assert len(bodies) == LOTS * PER_LOT
        assert await s.scalar(select(func.count()).select_from(TraceLot)) == LOTS
        parents = {(p.lot_id, p.parent_id) for p in (await s.scalars(select(TraceLotParent)))}
        assert len(parents) == 3 * (LOTS // 4)  # processed: 2 parents, finished: 1
        assert await log.tree_size(s) == LOTS * PER_LOT
        gtins = (await s.scalars(select(Product.gtin))).all()
        objects = (await s.scalars(select(TraceEventObject))).all()
    for g in gtins:
        check_gtin(g)
    kinds = {b["type"] for b in bodies}
    assert kinds == {"ObjectEvent", "TransformationEvent", "AggregationEvent"}
    steps = {b["bizStep"] for b in bodies}
    assert {"commissioning", "storing", "loading", "receiving", "packing"} <= steps
    for b in bodies:
        assert validate_event(b) == [], b
        rest = {k: v for k, v in b.items() if k not in ("eventID", "recordTime")}
        assert b["eventID"] == event_hash(rest) and b["eventID"].endswith("?ver=CBV2.0")
        if b["type"] == "ObjectEvent":
            assert b["readPoint"]["id"] and b["bizLocation"]["id"]
        if b["type"] == "AggregationEvent":
            check_sscc(b["parentID"].rsplit("/", 1)[1])
    # lots travel as classes: every lot is named in a quantity list, normalised
    assert {o.lot for o in objects if o.role == "quantity"} == {
        lot_number(SEED, i) for i in range(LOTS)
    }

    # the query interface finds a finished lot's events (made, packed, moved)
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    finished = (gtin(0, 2), lot_number(SEED, 3))
    r = await env.client.get(
        "/api/v1/epcis/events", params={"MATCH_anyEPCClass": lot_uri(*finished)}, headers=h
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert validate_document(doc) == []
    found = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(found) == PER_LOT
    assert [e["type"] for e in found][:2] == ["TransformationEvent", "AggregationEvent"]
    # a raw lot: its own events and the transformation that consumed it
    raw = (gtin(0, 0), lot_number(SEED, 0))
    r = await env.client.get(
        "/api/v1/epcis/events", params={"MATCH_anyEPCClass": lot_uri(*raw)}, headers=h
    )
    assert len(r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == PER_LOT + 1

    # recall walks the transformations and the packing
    r = await env.client.get(f"/api/v1/trace/lots/{raw[0]}/{raw[1]}/forward", headers=h)
    assert r.status_code == 200, r.text
    depth = {i.get("lot") or i.get("uri"): i["depth"] for i in r.json()["items"]}
    assert depth[lot_number(SEED, 2)] == 1 and depth[lot_number(SEED, 3)] == 2
    assert max(depth.values()) == 3  # the case
    r = await env.client.get(f"/api/v1/trace/lots/{finished[0]}/{finished[1]}/backward", headers=h)
    back = {i.get("lot"): i["depth"] for i in r.json()["items"]}
    assert back == {lot_number(SEED, 3): 0, lot_number(SEED, 2): 1,
                    lot_number(SEED, 0): 2, lot_number(SEED, 1): 2}  # fmt: skip

    # the log holds every event as stored: a bundle of the lot verifies offline
    signer = NoteSigner.generate("seed.dehong.test/trace-log")
    async with env.db.transaction() as s:
        bundle = await build_bundle(s, [(e["eventID"], e) for e in found], signer)
    path = tmp_path / "lot.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    code, out = await asyncio.to_thread(_cli, "trace", "verify", str(path))
    assert code == 0 and f"OK: {PER_LOT} events are in the log" in out
    bundle["entries"][1]["event"]["bizStep"] = "shipping"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    code, _ = await asyncio.to_thread(_cli, "trace", "verify", str(path))
    assert code == 1

    # captured after the seed: the store numbers on past the seeded rows
    from cloud.auth.principal import Principal
    from cloud.trace.events.service import store_events

    event = {**found[2], "eventTime": "2026-06-01T08:00:00.000+08:00"}
    for k in ("eventID", "recordTime"):
        event.pop(k)
    async with env.db.transaction() as s:
        stored = await store_events(s, [event], Principal("user", "admin", Role.COUNTY_ADMIN, HOME))
        assert stored[0].outcome == "stored"
        assert await log.tree_size(s) == LOTS * PER_LOT + 1


async def _ids(url: str, seed: int, lots: int) -> list[str]:
    db = Database(url)
    try:
        await seed_history(db, lots, events_per_lot=4, seed=seed)
        async with db.session() as s:
            return list((await s.scalars(select(TraceEvent.event_id))).all())
    finally:
        await db.dispose()


async def test_seed_is_deterministic_and_seeds_add_up(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'{n}.db'}" for n in "ab"]
    for url in urls:
        await upgrade_async(url)
    a = await _ids(urls[0], 7, 9)
    b = await _ids(urls[1], 7, 9)
    assert a == b and len(set(a)) == 36
    both = await _ids(urls[0], 8, 9)  # another seed adds its own lots to the same database
    assert len(set(both)) == 72
    db = Database(urls[0])
    try:
        with pytest.raises(ValueError, match="seed 7 are already in this database"):
            await seed_history(db, 3, seed=7)
        with pytest.raises(ValueError, match="events_per_lot"):
            await seed_history(db, 3, events_per_lot=1, seed=9)
    finally:
        await db.dispose()
