"""Kept public bodies (cloud/web/etag.py ``BodyCache``, ``served_json``) and the write
generation they are checked against (cloud/db ``write_generation``): served again while
nothing was written, recomputed after a write in this process or after the time bound."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select, text, update

from cloud.db import Database, write_generation
from cloud.errors import ApiError
from cloud.services.stations.seed import seed_demo
from cloud.services.stations.storage import StationInfo
from cloud.web.etag import BODY_STALE_S, BODY_TTL_S, BodyCache
from tests.support.api import api_env, unlimited


async def test_the_generation_moves_on_writes_and_their_commit_not_on_reads(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        async with db.transaction() as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))
        g0 = write_generation()
        async with db.transaction() as s:
            await s.execute(text("SELECT count(*) FROM t"))
        async with db.session() as s:
            await s.execute(select(text("1")))
        assert write_generation() == g0
        async with db.transaction() as s:
            await s.execute(text("INSERT INTO t VALUES (1)"))
            during = write_generation()
            assert during > g0
        # the commit moves it again: a reader that began before it is not kept
        assert write_generation() > during
    finally:
        await db.dispose()


async def test_a_kept_body_is_served_until_a_write_or_its_time_bound() -> None:
    now, gen, made = [0.0], [7], []

    async def make() -> dict[str, object]:
        made.append(1)
        return {"items": [len(made)], "next": "c"}

    cache = BodyCache(ttl=10.0, size=2, clock=lambda: now[0], generation=lambda: gen[0])
    first = await cache.get(("/a", ""), make)
    assert (await cache.get(("/a", ""), make)) is first and len(made) == 1
    assert first.next == "c" and first.body == b'{"items":[1],"next":"c"}'
    gen[0] += 1  # a write
    second = await cache.get(("/a", ""), make)
    assert len(made) == 2 and second.tag != first.tag
    now[0] = 10.0  # the bound for other processes' writes: served, and made again beside
    assert (await cache.get(("/a", ""), make)) is second
    await asyncio.sleep(0)
    assert len(made) == 3
    assert (await cache.get(("/a", ""), make)) is not second
    # at most `size` keys: the least recently used goes first
    await cache.get(("/b", ""), make)
    await cache.get(("/c", ""), make)
    await cache.get(("/a", ""), make)
    assert len(made) == 6 and (cache.hits, cache.misses) == (3, 5)


async def test_a_kept_body_is_made_again_beside_its_clients_not_before_them() -> None:
    """From the last 20 % of its time bound, and for ``stale`` seconds after it, a kept
    body is answered at once while its next one is made (one at a time); a body nobody
    asked for in that time is not served: the next client waits for a new one."""
    now, made, gate = [0.0], [], asyncio.Event()

    async def make() -> list[int]:
        made.append(1)
        if len(made) > 1:
            await gate.wait()
        return [len(made)]

    cache = BodyCache(ttl=10.0, stale=10.0, clock=lambda: now[0], generation=lambda: 1)
    first = await cache.get(("/s", ""), make)
    now[0] = 7.9
    assert (await cache.get(("/s", ""), make)) is first and len(made) == 1
    now[0] = 8.0  # the last 20 %: the next one starts beside
    assert (await cache.get(("/s", ""), make)) is first
    await asyncio.sleep(0)
    assert len(made) == 2
    now[0] = 15.0  # past its bound while the next one is made: nobody waits for it
    assert (await cache.get(("/s", ""), make)) is first and len(made) == 2
    gate.set()
    for _ in range(3):
        await asyncio.sleep(0)
    second = await cache.get(("/s", ""), make)
    assert second.body == b"[2]" and len(made) == 2
    now[0] = 28.0  # made at 8.0: bound 18.0, served while made again until 28.0
    third = await cache.get(("/s", ""), make)
    assert third.body == b"[3]" and len(made) == 3


async def test_a_path_quiet_for_under_a_minute_is_answered_at_once() -> None:
    """By default a kept body is served while its next one is made until it is a minute
    old (its bound, 10 s, and 50 s more): the ``max-age=60`` the answers give phones and
    proxies. With one bound more only (20 s), the first clients of a path that had been
    quiet for half a minute all waited for the computation, each of its database round
    trips a turn of a loop busy with the other paths (1-2 s at 100 connections flat out,
    the path's p99 in ``dehong bench services``)."""
    now, made = [0.0], []

    async def make() -> list[int]:
        made.append(1)
        return [len(made)]

    cache = BodyCache(clock=lambda: now[0], generation=lambda: 1)
    first = await cache.get(("/q", ""), make)
    now[0] = BODY_TTL_S + BODY_STALE_S - 0.5
    assert (await cache.get(("/q", ""), make)) is first  # at once, the next one beside
    for _ in range(2):
        await asyncio.sleep(0)
    assert len(made) == 2
    assert BODY_TTL_S + BODY_STALE_S == 60.0
    now[0] += 61.0  # older than a minute: waited for
    assert (await cache.get(("/q", ""), make)).body == b"[3]"


async def test_clients_missing_together_share_one_computation() -> None:
    started, gate = [], asyncio.Event()

    async def make() -> list[int]:
        started.append(1)
        await gate.wait()
        return [1]

    async def missing() -> None:
        raise ApiError(404, "showcase entry 9 not found")

    cache = BodyCache(generation=lambda: 1)
    waiting = [asyncio.create_task(cache.get(("/x", ""), make)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    kept = await asyncio.gather(*waiting)
    assert len(started) == 1 and all(k is kept[0] for k in kept)
    for got in await asyncio.gather(
        *(cache.get(("/y", ""), missing) for _ in range(3)), return_exceptions=True
    ):
        assert isinstance(got, ApiError) and got.status_code == 404
    assert ("/y", "") not in cache._kept


async def test_the_stations_map_is_kept_and_follows_a_write(tmp_path: Path) -> None:
    async with api_env("sqlite", tmp_path) as e:
        unlimited(e)
        async with e.db.transaction() as s:
            await seed_demo(s)
        url = "/api/v1/public/stations"
        one = await e.client.get(url)
        two = await e.client.get(url, headers={"If-None-Match": one.headers["ETag"]})
        assert one.status_code == 200 and two.status_code == 304
        assert e.app.state.public_bodies.hits == 1
        stations = one.json()["stations"]
        async with e.db.transaction() as s:
            first = await s.scalar(select(StationInfo).order_by(StationInfo.location_id))
            assert first is not None
            await s.execute(update(StationInfo).where(
                StationInfo.location_id == first.location_id).values(status="closed"))  # fmt: skip
        three = await e.client.get(url, headers={"If-None-Match": one.headers["ETag"]})
        assert three.status_code == 200 and three.headers["ETag"] != one.headers["ETag"]
        assert len(three.json()["stations"]) == len(stations) - 1
