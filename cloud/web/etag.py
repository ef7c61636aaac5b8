"""Conditional GET for public JSON and pages: a strong ETag of the body, 304 when the
client already holds it, and the cache headers a phone, a WeChat menu or a CDN obeys.

``cached_json(request, payload, max_age=60)`` serialises ``payload`` once (orjson),
tags it, and answers 304 to a matching ``If-None-Match``; ``fresh(...)`` does the same for
a body a caller built itself. Public answers carry ``Cache-Control: public,
max-age=N``; revalidation is cheap because the tag is a hash of the bytes sent.

``await served_json(request, make)`` goes one step further for public answers read
from the database: the serialised body and its tag are kept per app, path, query and
host, and served again while this process's :func:`cloud.db.write_generation` is the
one read before ``make`` ran and at most ``BODY_TTL_S`` seconds have passed (the bound
for writes by other processes); ``make`` runs only on a miss, and **ahead**: a request
in a kept body's last ``REFRESH_AHEAD`` of its life, or in the ``BODY_STALE_S`` after it
(while no write in this process made it stale), is answered with it and starts the next
computation beside it (one at a time), so that no client waits for one while the path is
asked at least once a minute; past that the next request waits as on a miss. Under
steady traffic a body is thus about ``BODY_TTL_S`` (10 s) behind another process's
write; the first answer after a quiet spell may be a minute old, the ``max-age=60`` the
answers give phones and proxies anyway. (At 100 clients flat out, all the clients of a
path waited for the computation at each expiry: its database round trips, each a turn of
a saturated event loop, were the path's p99, 0.6-1.9 s; and with 10 s of grace only, so
did the first clients of a path quiet for half a minute; ``dehong bench services``.)
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request, Response

from cloud.db import write_generation

#: how long a kept public body may be served without a write in this process
BODY_TTL_S = 10.0
#: how long past its bound a kept body is still answered while its next one is made:
#: to a minute in all, the ``max-age=60`` the public answers give phones and proxies
BODY_STALE_S = 50.0
#: the share of a kept body's life at its end in which a request refreshes it ahead
REFRESH_AHEAD = 0.2
#: kept bodies per app (least recently used dropped first)
BODY_CACHE_SIZE = 512


def etag(body: bytes) -> str:
    """A strong entity tag of ``body`` (quoted, as HTTP wants it)."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def fresh(request: Request, tag: str, headers: dict[str, str]) -> Response | None:
    """304 (with ``headers`` and the tag) when the client's ``If-None-Match`` names
    ``tag`` or ``*``; None when the full answer must be sent."""
    wanted = request.headers.get("if-none-match")
    if wanted and (wanted.strip() == "*" or tag in [t.strip() for t in wanted.split(",")]):
        return Response(status_code=304, headers={**headers, "ETag": tag})
    return None


def public_headers(max_age: int) -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={max_age}", "Vary": "Accept-Encoding"}


def cached_json(request: Request, payload: Any, *, max_age: int = 60) -> Response:
    """``payload`` as JSON with a strong ETag and public cache headers, or 304."""
    body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    tag = etag(body)
    headers = public_headers(max_age)
    return fresh(request, tag, headers) or Response(
        body, media_type="application/json", headers={**headers, "ETag": tag}
    )


@dataclass(frozen=True)
class Kept:
    """A serialised answer: its body, tag, the generation it was read at, and the
    payload's ``next`` cursor (a paged list's ``Link`` header is built from it)."""

    body: bytes
    tag: str
    generation: int
    until: float
    next: str | None


class BodyCache:
    """Serialised public answers by key, fresh while the write generation read before
    computing them is current and ``ttl`` has not passed; refreshed ahead from the last
    ``ahead`` share of ``ttl`` and served while refreshed for ``stale`` more (see the
    module's docstring)."""

    def __init__(
        self,
        ttl: float = BODY_TTL_S,
        size: int = BODY_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
        generation: Callable[[], int] = write_generation,
        ahead: float = REFRESH_AHEAD,
        stale: float = BODY_STALE_S,
    ) -> None:
        self.ttl, self.size, self.clock, self.generation = ttl, size, clock, generation
        self.ahead_s, self.stale = ttl * ahead, stale
        self._kept: OrderedDict[tuple[str, ...], Kept] = OrderedDict()
        self._running: dict[tuple[str, ...], tuple[int, asyncio.Future[Kept]]] = {}
        self.hits = self.misses = 0

    async def get(self, key: tuple[str, ...], make: Callable[[], Awaitable[Any]]) -> Kept:
        gen, now = self.generation(), self.clock()
        kept = self._kept.get(key)
        # past its time bound, a kept body is served for ``stale`` more while its next
        # one is made
        if kept is not None and kept.generation == gen and now < kept.until + self.stale:
            self._kept.move_to_end(key)
            self.hits += 1
            if now >= kept.until - self.ahead_s and key not in self._running:
                self._start(key, gen, now, make)  # the next one, while this one is served
            return kept
        # one computation per key and generation: the clients that miss together (the
        # first after a write, at 100 concurrent) wait for it instead of each running it
        running = self._running.get(key)
        if running is None or running[0] != gen:
            self.misses += 1
            running = self._start(key, gen, now, make)
        else:
            self.hits += 1
        return await asyncio.shield(running[1])

    def _start(
        self, key: tuple[str, ...], gen: int, now: float, make: Callable[[], Awaitable[Any]]
    ) -> tuple[int, asyncio.Future[Kept]]:
        task = asyncio.ensure_future(self._compute(key, gen, now, make))
        running = self._running[key] = (gen, task)
        task.add_done_callback(lambda t: self._done(key, t))
        return running

    def _done(self, key: tuple[str, ...], task: asyncio.Future[Kept]) -> None:
        running = self._running.get(key)
        if running is not None and running[1] is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved: its waiters raise it (a 404 for each of them)

    async def _compute(
        self, key: tuple[str, ...], gen: int, now: float, make: Callable[[], Awaitable[Any]]
    ) -> Kept:
        payload = await make()
        body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
        nxt = payload.get("next") if isinstance(payload, dict) else None
        kept = Kept(body, etag(body), gen, now + self.ttl, nxt)
        self._kept[key] = kept
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return kept


def body_cache(request: Request) -> BodyCache:
    """The app's cache of public bodies (one per app: tests' apps share nothing)."""
    state = request.app.state
    cache: BodyCache | None = getattr(state, "public_bodies", None)
    if cache is None:
        cache = state.public_bodies = BodyCache()
    return cache


async def served(request: Request, make: Callable[[], Awaitable[Any]]) -> Kept:
    """``make()``'s payload serialised, or the body kept for this path, query and host."""
    scope = request.scope
    key = (scope["path"], scope["query_string"].decode("latin-1"), request.headers.get("host", ""))
    return await body_cache(request).get(key, make)


def answer(request: Request, kept: Kept, max_age: int) -> Response:
    """The kept body with its tag and public cache headers, or 304."""
    headers = public_headers(max_age)
    return fresh(request, kept.tag, headers) or Response(
        kept.body, media_type="application/json", headers={**headers, "ETag": kept.tag}
    )


async def served_json(
    request: Request, make: Callable[[], Awaitable[Any]], *, max_age: int = 60
) -> Response:
    """As :func:`cached_json`, with the body kept (see the module's docstring)."""
    return answer(request, await served(request, make), max_age)
