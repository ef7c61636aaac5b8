"""The trace page's cache, per API process: a lot's page as built (the data, the HTML
of the view without a code, the JSON), served again while nothing it shows can have
changed.

An entry is served only when both hold:

- the **generation** (:mod:`.storage`, ``trace_page_generation.n``, bumped by database
  triggers at the commit of any write to a table the page reads, from any process or
  by hand) is the one read *before* the entry's data was read: one primary-key read per
  view. A write committed before a view begins is therefore always seen by that view:
  an event altered in the database shows the tamper warning on the very next view.
- the **UTC minute** is the one it was built in: what the page computes from the
  clock (certificates valid now, the brand's rules evaluated now, the live custody
  interval's chart up to now, the charts' devices and roll-ups, which are not watched)
  is at most that old, and the page says "as of" that minute.

Not cached: a view with a serial or a code (the code is checked and the scan recorded
and counted every time; its page is rendered from the cached data), the operators'
view (logged in, ``/api/v1/trace/lots/.../operator-view``), and anything but a lot's
default link. Builds of one lot are single-flight: concurrent misses wait for one
build instead of each building.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from cloud.db import Database

Key = tuple[str, str]  # (gtin, lot)

_READ = text("SELECT n FROM trace_page_generation WHERE id = 1")


async def generation(db: Database) -> int:
    """The page's generation (one primary-key read, on a bare connection)."""
    async with db.engine.connect() as conn:
        return int((await conn.execute(_READ)).scalar_one())


def minute_of(t: datetime) -> int:
    return int(t.timestamp()) // 60


@dataclass(frozen=True)
class Entry:
    """A lot's page as built under ``generation`` in UTC minute ``minute``. ``data`` is
    shared by every view that uses the entry: never mutate it."""

    generation: int
    minute: int
    data: dict[str, Any]
    html: bytes
    html_etag: str
    json: bytes
    json_etag: str


class PageCache:
    """A bounded LRU of :class:`Entry` by (GTIN, lot), with a lock per lot for builds."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._locks: dict[Key, asyncio.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Key, generation: int, minute: int) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.generation != generation or entry.minute != minute:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def candidate(self, key: Key, minute: int) -> bool:
        """An entry of this minute exists (the resolver then skips its own lot lookup:
        the entry's validity is still checked against the generation)."""
        entry = self._entries.get(key)
        return entry is not None and entry.minute == minute

    def put(self, key: Key, entry: Entry) -> None:
        if self.size <= 0:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            old, _ = self._entries.popitem(last=False)
            self._locks.pop(old, None)

    def lock(self, key: Key) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 4 * max(self.size, 1):
                # drop the idle ones (a lock held or waited on is kept)
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def __len__(self) -> int:
        return len(self._entries)


def cache_of(state: Any, size: int) -> PageCache:
    """The app's cache (``app.state.trace_page_cache``), made on first use."""
    cache: PageCache | None = getattr(state, "trace_page_cache", None)
    if cache is None:
        cache = PageCache(size)
        state.trace_page_cache = cache
    return cache
