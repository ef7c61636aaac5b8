"""The query layer the API and later views use: windows over a range, for one or many
devices, from the coarsest resolution that answers them exactly.

Windows of whole hours are read from the 1-h roll-ups and windows of whole minutes
from the 1-min roll-ups, however short the range: a roll-up point stands for up to
3600 raw points. Raw points answer only what the roll-ups cannot:

- windows narrower than a minute (resolution ``raw``);
- the minutes not rolled up yet, as the roll-up marks say: the last minutes of the
  live hour, and late data marked for recomputation (a marked hour's other minutes
  are read from the 1-min roll-ups, which the job keeps current minute by minute);
- the partial roll-up windows at the two ends of the range.

Raw points read for a roll-up answer are folded into the same parts the roll-ups
hold (Σ, min, max, count, Σexp(−ΔH/RT)), so the result equals the one from raw
points (mean, min, max, count) and carries mean kinetic temperature throughout.

Every read covers ``counties`` (None: every county): raw points and roll-ups alike
are those stored under them, and the hours and minutes pending are those of the
device's series in them (roll-ups are per device and county).

What does not change until the job recomputes it is cached per process and store,
keyed by the county scope of the read and the generations of the device's series in
it (:func:`cloud.timeseries.rollup.rollup_state` reads them with the marks):

- :class:`HourCache`: the buckets of whole hours not marked, from the 1-min
  roll-ups, valid while the series' generation is the same (the job bumps it as it
  clears an hour's mark);
- :class:`MinuteCache`: the 1-min roll-ups of the other hours read from them: of a
  marked hour valid while both generations are the same (the job bumps the minute
  generation as it clears minutes' marks), of an unmarked hour (a partial hour at an
  end) while the roll-up generation is (its minutes are settled with it). A minute
  marked since is read raw while marked, and once its mark is cleared the
  generation has changed. The raw points of minutes, marked (live) or not (the
  partial minutes at the ends), by the series' write generations: they change with
  writes only, and every write's marks bump them.
- **Hand-over**: when the job's minute pass settles minutes of a marked hour (a new
  minute generation), a read made by the same write generations as the last read of
  that hour (no write since) takes the hour's 1-min roll-ups from that read and the
  minutes settled from the live minutes cached, with no store request; it is kept
  for reads by those write generations only (:meth:`_Read._hand_over`).
- Store requests are **single-flight**: reads that miss the same parts by the same
  generations at once (16 clients after a write) wait for one request.

Roll-ups are written by the job only.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cloud.timeseries.base import Bucket, Counties, TimeSeriesStore
from cloud.timeseries.windows import (
    HOUR_MS,
    MINUTE_MS,
    Parts,
    PartsByDevice,
    Resolution,
    Span,
    choose_resolution,
    is_temperature,
    merge_parts,
    plan_spans,
    window_start,
)

if TYPE_CHECKING:
    from cloud.timeseries.rollup import RollupState

#: ``(measurement, devices, start_ms, end_ms, counties) -> RollupState``:
#: ``functools.partial(cloud.timeseries.rollup.rollup_state, session)``.
RollupStateOf = Callable[[str, Sequence[str], int, int, Counties], Awaitable["RollupState"]]

#: The counties a read covers, as a cache key: None (every county) or sorted codes.
Scope = tuple[str, ...] | None

#: The roll-up generation of a device's series in a scope: ``(county, generation)`` of
#: each series whose roll-ups the job has written (see :class:`RollupState`).
Generation = tuple[tuple[str, int], ...]

#: The roll-up generations of a device's series in a scope, hour and minute:
#: ``(county, generation, minute generation)`` of each series (see :class:`RollupState`).
MinuteGeneration = tuple[tuple[str, int, int], ...]

#: (measurement, device, metric, every_ms, hour_ms, scope, generation): an hour read
#: for one scope is never served to another (a prefecture admin's hour of a tag heard
#: by two counties holds both counties' readings; a county user's, its own only).
_Key = tuple[str, str, str, int, int, Scope, Generation]

#: The write generations of a device's series in a scope: ``(county, writes)`` of each
#: series written to since migration 0311 (see :class:`RollupState`).
WriteGeneration = tuple[tuple[str, int], ...]

#: (resolution, measurement, device, metric, hour_ms or minute_ms, scope, generations):
#: an hour's 1-min roll-ups ("1m"), an unmarked minute's raw points ("raw", both by the
#: roll-up generations) or a marked minute's raw points ("live", by the write
#: generations) as read.
_MinuteKey = tuple[str, str, str, str, int, Scope, MinuteGeneration | WriteGeneration]

#: Store requests answered kept for reads by the same generations (see ``_Caches``):
#: at most this many, each at most ``RECENT_S`` seconds.
RECENT_REQUESTS = 64
RECENT_S = 1.0

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """Least recently used out, at most ``max_hours`` entries (each an hour or a minute
    of one device)."""

    def __init__(self, max_hours: int) -> None:
        self.max_hours = max_hours
        self._hours: OrderedDict[K, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        got = self._hours.get(key)
        if got is not None:
            self._hours.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return got

    def put(self, key: K, value: V) -> None:
        self._hours[key] = value
        self._hours.move_to_end(key)
        while len(self._hours) > self.max_hours:
            self._hours.popitem(last=False)


class HourCache(_Lru[_Key, tuple[Bucket, ...]]):
    """Windows of whole hours from the 1-min roll-ups, as the buckets they answer: a
    window of a whole hour (``every`` divides an hour) has no other part."""

    def __init__(self, max_hours: int = 4096) -> None:
        super().__init__(max_hours)


@dataclass(frozen=True, slots=True)
class Columns:
    """Parts by start (minutes of an hour, or instants of a minute) as columns, starts
    ascending: a run of them is merged into a window by slices summed by builtins,
    not part by part. ``mkt`` None: a part lacks it."""

    starts: list[int]
    total: list[float]
    lo: list[float]
    hi: list[float]
    count: list[float]
    mkt: list[float] | None

    @classmethod
    def of(cls, parts: dict[int, Parts]) -> Columns:
        kept = sorted((t, p) for t, p in parts.items() if p.count > 0)
        mkts = [p.mkt for _, p in kept]
        return cls(
            [t for t, _ in kept],
            [p.total for _, p in kept],
            [p.lo for _, p in kept],
            [p.hi for _, p in kept],
            [p.count for _, p in kept],
            None if any(m is None for m in mkts) else mkts,  # type: ignore[arg-type]
        )

    def merge_into(self, windows: dict[int, Parts], a: int, b: int, every_ms: int) -> None:
        """The parts starting in [a, b) into ``windows`` (of ``every_ms``; each part
        lies in one window)."""
        starts = self.starts
        i = bisect_left(starts, a)
        j = bisect_left(starts, b, i)
        while i < j:
            w = window_start(starts[i], every_ms)
            k = bisect_left(starts, w + every_ms, i, j)
            part = windows.get(w)
            if part is None:
                part = windows[w] = Parts()
            part.merge(
                sum(self.total[i:k]),
                min(self.lo[i:k]),
                max(self.hi[i:k]),
                sum(self.count[i:k]),
                None if self.mkt is None else sum(self.mkt[i:k]),
            )
            i = k


class MinuteCache(_Lru[_MinuteKey, Columns]):
    """Parts by start of the hours and minutes a read does not take whole from
    :class:`HourCache`: per minute (the 1-min roll-ups of the partial hours at the ends
    and of the marked hours) or per instant (the raw points of a partial minute at an
    end, not marked). Keyed by both generations of the device's series."""

    def __init__(self, max_hours: int = 2048) -> None:
        super().__init__(max_hours)


#: What a marked hour's 1-min roll-ups were read with: (the key's generations, the
#: series' write generations then, the hour's marked minutes then, the parts read).
_HourFill = tuple[MinuteGeneration, WriteGeneration, frozenset[int], "Columns"]


@dataclass
class _Caches:
    hours: HourCache = field(default_factory=HourCache)
    minutes: MinuteCache = field(default_factory=MinuteCache)
    #: store requests in flight or just answered, by what they read and the generations
    #: read with (single-flight: concurrent reads that miss the same cached parts wait
    #: for one request; a read just after it takes its answer while its waiters are
    #: still filling the caches); the last ``RECENT_REQUESTS`` kept, ``RECENT_S`` each
    inflight: OrderedDict[tuple[Any, ...], asyncio.Future[dict[Resolution, PartsByDevice]]] = field(
        default_factory=OrderedDict
    )
    #: the last read of each marked hour's 1-min roll-ups, by (measurement, device,
    #: metric, hour, scope): handed over when the job settles some of its minutes
    marked_hours: OrderedDict[tuple[str, str, str, int, Scope], _HourFill] = field(
        default_factory=OrderedDict
    )
    #: requests the query layer sent to the store, and reads that shared one in flight
    store_requests: int = 0
    shared: int = 0
    #: marked hours whose settled minutes were handed over from the live minutes
    handed_over: int = 0


_caches: weakref.WeakKeyDictionary[TimeSeriesStore, _Caches] = weakref.WeakKeyDictionary()


def _caches_of(tsdb: TimeSeriesStore) -> _Caches:
    caches = _caches.get(tsdb)
    if caches is None:
        caches = _caches[tsdb] = _Caches()
    return caches


def hour_cache(tsdb: TimeSeriesStore) -> HourCache:
    """The cache of this store's whole hours (one per store object)."""
    return _caches_of(tsdb).hours


def minute_cache(tsdb: TimeSeriesStore) -> MinuteCache:
    """The cache of this store's minutes and instants (one per store object)."""
    return _caches_of(tsdb).minutes


@dataclass(frozen=True, slots=True)
class QueryStats:
    """Counters of the query layer over every store of this process."""

    store_requests: int
    shared: int
    handed_over: int
    hour_hits: int
    hour_misses: int
    minute_hits: int
    minute_misses: int


def stats() -> QueryStats:
    """The query layer's counters, summed over this process's stores."""
    caches = list(_caches.values())
    return QueryStats(
        sum(c.store_requests for c in caches),
        sum(c.shared for c in caches),
        sum(c.handed_over for c in caches),
        sum(c.hours.hits for c in caches),
        sum(c.hours.misses for c in caches),
        sum(c.minutes.hits for c in caches),
        sum(c.minutes.misses for c in caches),
    )


async def windows(
    tsdb: TimeSeriesStore,
    measurement: str,
    devices: Sequence[str],
    metric: str,
    start_ms: int,
    end_ms: int,
    every_ms: int,
    *,
    rollups: RollupStateOf,
    now_ms: int | None = None,
    resolution: Resolution | None = None,
    counties: Counties = None,
) -> tuple[Resolution, dict[str, list[Bucket]]]:
    """``(resolution used, {device: buckets})``; ``resolution`` forces one; only the
    readings stored under ``counties`` (None: every county)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    chosen = resolution or choose_resolution(start_ms, end_ms, every_ms, now)
    if chosen == "raw" or not devices:
        return chosen, await tsdb.aggregate(
            measurement, devices, metric, start_ms, end_ms, every_ms, "raw", counties=counties
        )
    state = await rollups(measurement, devices, start_ms, end_ms, counties)
    # devices with the same hours and minutes pending share their queries (usually all
    # of them: the last minutes of the current hour)
    groups: dict[tuple[tuple[int, ...], tuple[int, ...] | None], list[str]] = {}
    for d in devices:
        stale = None if state.minutes is None else tuple(sorted(state.minutes.get(d, ())))
        groups.setdefault((tuple(sorted(state.pending.get(d, ()))), stale), []).append(d)
    read = _Read(tsdb, measurement, metric, every_ms, scope_of(counties), counties, state)
    for (hours, stale), ids in groups.items():
        plan = plan_spans(start_ms, end_ms, chosen, hours, stale)
        await read.group(ids, plan, set(hours), None if stale is None else set(stale))
    out: dict[str, list[Bucket]] = {}
    for d in devices:
        buckets = read.done.get(d, [])
        buckets += [p.bucket(w) for w, p in read.parts.get(d, {}).items() if p.count]
        if buckets:
            out[d] = sorted(buckets, key=attrgetter("ts_ms"))
    return chosen, out


def scope_of(counties: Counties) -> Scope:
    """The cache scope of a read's ``counties``."""
    return None if counties is None else tuple(sorted(set(counties)))


class _Read:
    """One :func:`windows` read: what the caches answer, and one request to the store for
    the rest (plus, where the caches miss, the hours and minutes they keep)."""

    def __init__(
        self,
        tsdb: TimeSeriesStore,
        measurement: str,
        metric: str,
        every_ms: int,
        scope: Scope,
        counties: Counties,
        state: RollupState,
    ) -> None:
        self.tsdb = tsdb
        self.measurement = measurement
        self.metric = metric
        self.every_ms = every_ms
        self.scope = scope
        self.counties = counties
        self.state = state
        self.mkt = is_temperature(metric)
        self.caches = _caches_of(tsdb)
        #: windows still in parts, by device
        self.parts: PartsByDevice = {}
        #: final buckets (of whole hours), by device
        self.done: dict[str, list[Bucket]] = {}
        #: the hours of the group being read that are marked
        self._marked: set[int] = set()

    async def group(
        self,
        ids: Sequence[str],
        plan: dict[Resolution, list[Span]],
        marked: set[int],
        stale: set[int] | None,
    ) -> None:
        """Devices with the same marks, and the plan of their spans."""
        # 1-min spans: whole unmarked hours (the hour cache, as buckets), the rest (the
        # partial hours at the ends, the marked hours but for their marked minutes:
        # the minute cache); raw spans in an unmarked minute (the partial minutes at
        # the ends): the minute cache, per instant; each read where not cached
        whole, rest = _split_hours(plan.pop("1m", []), marked)
        read: list[Span] = []
        cached: dict[tuple[str, int], tuple[Bucket, ...]] = {}
        missing: list[int] = []
        if whole and HOUR_MS % self.every_ms == 0:
            cached, missing = self._cached_hours(ids, whole)
            read += _runs(missing)
        else:
            read += _runs(whole)
        minutely = self.state.minute_generation is not None and stale is not None
        edges: list[Span] = []
        live: list[Span] = []
        if minutely and stale is not None:
            edges = [s for s in plan.get("raw", []) if _in_unmarked_minute(s, stale)]
            plan["raw"] = [s for s in plan.get("raw", []) if s not in edges]
            if self.state.writes is not None:
                live, plan["raw"] = _split_marked(plan.get("raw", []), stale)
        else:
            read += rest
            rest = []
        minute_hours = sorted({h for a, b in rest for h in range(_floor(a, HOUR_MS), b, HOUR_MS)})
        edge_minutes = sorted({_floor(a, MINUTE_MS) for a, _ in edges})
        live_minutes = sorted({_floor(a, MINUTE_MS) for a, _ in live})
        self._marked = marked
        minutes, minutes_missing = self._cached(ids, "1m", minute_hours, stale)
        if minutes_missing and stale is not None and self.state.writes is not None:
            handed = self._hand_over(ids, minutes_missing, stale)
            minutes.update(handed)
            minutes_missing = [h for h in minutes_missing if any((d, h) not in handed for d in ids)]
            minutes = {k: v for k, v in minutes.items() if k[1] not in minutes_missing}
        points, points_missing = self._cached(ids, "raw", edge_minutes)
        lives, lives_missing = self._cached(ids, "live", live_minutes)
        if read:
            plan["1m"] = sorted(read)
        plan = {res: spans for res, spans in plan.items() if spans}
        # every resolution's spans in one request where the store can (and beside it,
        # the hours in 1-min windows and the minutes per instant the caches keep)
        calls: list[Coroutine[Any, Any, dict[Resolution, PartsByDevice]]] = []
        if plan:
            spans = tuple((res, tuple(plan[res])) for res in sorted(plan))
            key = ("plan", spans, self.every_ms, *self._keys(ids, "plan", [0]))
            key += (tuple(self.state.generation.get(d, ()) for d in ids),)
            calls.append(self._shared(key, ids, plan, self.every_ms))
        if minutes_missing:
            runs = _runs(minutes_missing)
            key = ("1m", tuple(runs), *self._keys(ids, "1m", minutes_missing))
            calls.append(self._shared(key, ids, {"1m": runs}, MINUTE_MS))
        if points_missing or lives_missing:
            # the raw points of whole minutes, per instant: the unmarked partial minutes
            # at the ends and the marked minutes (the live ones), in one request
            spans = _minute_runs([*points_missing, *lives_missing])
            key = ("raw", tuple(spans), *self._keys(ids, "live", lives_missing))
            key += self._keys(ids, "raw", points_missing)
            calls.append(self._shared(key, ids, {"raw": spans}, 1))
        results = list(await asyncio.gather(*calls))
        got = results.pop(0) if plan else {}
        if minutes_missing:
            fetched = results.pop(0).get("1m", {})
            minutes.update(self._fill(ids, "1m", minutes_missing, HOUR_MS, fetched, stale))
        if points_missing or lives_missing:
            fetched = results.pop(0).get("raw", {})
            points.update(self._fill(ids, "raw", points_missing, MINUTE_MS, fetched))
            lives.update(self._fill(ids, "live", lives_missing, MINUTE_MS, fetched))
        for (d, _h), buckets in cached.items():
            self.done.setdefault(d, []).extend(buckets)
        if missing:
            for (d, _h), buckets in self._fill_hours(ids, missing, got.get("1m", {})).items():
                self.done.setdefault(d, []).extend(buckets)
        whole_read = set(missing)
        for res, res_parts in got.items():
            if res == "1m" and whole_read:  # the whole hours' windows: done above
                res_parts = {
                    d: {w: p for w, p in windows.items() if _floor(w, HOUR_MS) not in whole_read}
                    for d, windows in res_parts.items()
                }
            merge_parts(self.parts, res_parts)
        self._merge(minutes, rest, HOUR_MS)
        self._merge(points, edges, MINUTE_MS)
        self._merge(lives, live, MINUTE_MS)

    async def _aggregate(
        self, ids: Sequence[str], plan: dict[Resolution, list[Span]], every_ms: int
    ) -> dict[Resolution, PartsByDevice]:
        self.caches.store_requests += 1
        return await self.tsdb.aggregate_plan(
            self.measurement, ids, self.metric, plan, every_ms, mkt=self.mkt, counties=self.counties
        )

    def _keys(self, ids: Sequence[str], resolution: str, starts: Sequence[int]) -> tuple[Any, ...]:
        """What a fill of ``starts`` reads, as a key of requests in flight."""
        if not starts:
            return ()
        state = self.state
        gens = tuple(
            ((state.minute_generation or {}).get(d, ()), (state.writes or {}).get(d, ()))
            for d in ids
        )
        return (resolution, self.measurement, self.metric, tuple(ids), self.scope, self.mkt, gens)

    async def _shared(
        self,
        key: tuple[Any, ...],
        ids: Sequence[str],
        plan: dict[Resolution, list[Span]],
        every_ms: int,
    ) -> dict[Resolution, PartsByDevice]:
        """A fill of cached parts, single-flight: a read that misses what a request in
        flight reads, by the same generations, waits for that request's answer (which
        is never changed: :meth:`_fill` only reads it). A request begun after a read saw
        a generation holds every write that generation stands for."""
        inflight = self.caches.inflight
        got = inflight.get(key)
        if got is None:
            task = asyncio.ensure_future(self._aggregate(ids, plan, every_ms))
            inflight[key] = task
            while len(inflight) > RECENT_REQUESTS:
                oldest = next(iter(inflight))
                if not inflight[oldest].done():
                    break
                del inflight[oldest]

            def _forget(t: asyncio.Future[dict[Resolution, PartsByDevice]]) -> None:
                if inflight.get(key) is t:
                    del inflight[key]

            def _done(t: asyncio.Future[dict[Resolution, PartsByDevice]]) -> None:
                if t.cancelled() or t.exception() is not None:
                    _forget(t)  # a failure is not kept: the next read asks again
                else:  # kept a moment, for the reads arriving as the waiters fill the caches
                    asyncio.get_running_loop().call_later(RECENT_S, _forget, t)

            task.add_done_callback(_done)
            got = task
        else:
            self.caches.shared += 1
        # shielded: a waiter cancelled (its client gone) does not cancel the others'
        return await asyncio.shield(got)

    def _cached_hours(
        self, devices: Sequence[str], whole: Sequence[int]
    ) -> tuple[dict[tuple[str, int], tuple[Bucket, ...]], list[int]]:
        """``(cached buckets per (device, hour), whole hours missing)`` of these whole,
        unmarked hours: an hour missing for one device is read for all."""
        cached: dict[tuple[str, int], tuple[Bucket, ...]] = {}
        missing: set[int] = set()
        for d in devices:
            gen = self.state.generation.get(d, ())
            for h in whole:
                key = (self.measurement, d, self.metric, self.every_ms, h, self.scope, gen)
                got = self.caches.hours.get(key)
                if got is None:
                    missing.add(h)
                else:
                    cached[(d, h)] = got
        cached = {k: v for k, v in cached.items() if k[1] not in missing}
        return cached, sorted(missing)

    def _fill_hours(
        self, devices: Sequence[str], hours: Sequence[int], fetched: PartsByDevice
    ) -> dict[tuple[str, int], tuple[Bucket, ...]]:
        """Cache the buckets of the windows read for whole ``hours`` (an hour with no
        data too) and return them (``fetched`` is left as it is: it may be shared)."""
        out: dict[tuple[str, int], tuple[Bucket, ...]] = {}
        wanted = set(hours)
        for d in devices:
            by_hour: dict[int, list[int]] = {h: [] for h in hours}
            windows = fetched.get(d, {})
            for w in windows:
                h = _floor(w, HOUR_MS)
                if h in wanted:
                    by_hour[h].append(w)
            gen = self.state.generation.get(d, ())
            for h, starts in by_hour.items():
                buckets = tuple(windows[w].bucket(w) for w in sorted(starts) if windows[w].count)
                key = (self.measurement, d, self.metric, self.every_ms, h, self.scope, gen)
                self.caches.hours.put(key, buckets)
                out[(d, h)] = buckets
        return out

    def _cached(
        self,
        devices: Sequence[str],
        resolution: str,
        starts: Sequence[int],
        stale: set[int] | None = None,
    ) -> tuple[dict[tuple[str, int], Columns], list[int]]:
        """``(cached parts per (device, start), starts missing)`` of these hours ("1m")
        or minutes ("raw"); one missing for one device is read for all."""
        cached: dict[tuple[str, int], Columns] = {}
        missing: set[int] = set()
        if not starts:
            return cached, []
        for d in devices:
            for t in starts:
                gen = self._generation(resolution, d, t)
                key = (resolution, self.measurement, d, self.metric, t, self.scope, gen)
                got = self.caches.minutes.get(key)
                if got is None:
                    missing.add(t)
                else:
                    cached[(d, t)] = got
                    if resolution == "1m" and t in self._marked and stale is not None:
                        # valid for the minutes not marked now, by these write generations
                        self._remember(d, t, gen, stale, got)  # type: ignore[arg-type]
        cached = {k: v for k, v in cached.items() if k[1] not in missing}
        return cached, sorted(missing)

    def _fill(
        self,
        devices: Sequence[str],
        resolution: str,
        starts: Sequence[int],
        length: int,
        fetched: PartsByDevice,
        stale: set[int] | None = None,
    ) -> dict[tuple[str, int], Columns]:
        """Cache the parts read for whole hours or minutes ``starts`` (``length`` long)
        and return them per (device, start)."""
        out: dict[tuple[str, int], Columns] = {}
        if not starts:
            return out
        for d in devices:
            by_start: dict[int, dict[int, Parts]] = {t: {} for t in starts}
            for w, p in fetched.get(d, {}).items():
                got = by_start.get(_floor(w, length))
                if got is not None:
                    got[w] = p
            for t in starts:
                gen = self._generation(resolution, d, t)
                key = (resolution, self.measurement, d, self.metric, t, self.scope, gen)
                out[(d, t)] = Columns.of(by_start[t])
                self.caches.minutes.put(key, out[(d, t)])
                if resolution == "1m" and t in self._marked and stale is not None:
                    self._remember(d, t, gen, stale, out[(d, t)])  # type: ignore[arg-type]
        return out

    def _remember(
        self, device: str, hour: int, gen: MinuteGeneration, stale: set[int], columns: Columns
    ) -> None:
        """A marked hour's 1-min roll-ups as read, for :meth:`_hand_over`."""
        if self.state.writes is None:
            return
        fills = self.caches.marked_hours
        key = (self.measurement, device, self.metric, hour, self.scope)
        marked = frozenset(m for m in stale if hour <= m < hour + HOUR_MS)
        fills[key] = (gen, self.state.writes.get(device, ()), marked, columns)
        fills.move_to_end(key)
        while len(fills) > self.caches.minutes.max_hours:
            fills.popitem(last=False)

    def _hand_over(
        self, devices: Sequence[str], hours: Sequence[int], stale: set[int]
    ) -> dict[tuple[str, int], Columns]:
        """Marked hours' 1-min roll-ups not cached by the current generations, made from
        the last ones read (:meth:`_remember`) where no write came since (the same write
        generations): the job's minute pass changed only the minutes marked then, and
        those it settled (marked then, not now) are the live minutes cached by those
        write generations, folded into minutes. A minute it settled holds the readings
        written before its mark was cleared, which are those the live minutes hold:
        a write is marked (its generation bumped) before it is answered, and a minute
        is settled only after it was left alone for ``minute_settle_s``. Kept apart from
        the cache of roll-ups read (:meth:`_remember`, the same write generations only),
        so a read after the next write reads the roll-ups themselves."""
        out: dict[tuple[str, int], Columns] = {}
        writes = self.state.writes or {}
        for d in devices:
            w = writes.get(d, ())
            gen = (self.state.minute_generation or {}).get(d, ())
            hour_gen = tuple((c, g) for c, g, _ in gen)
            for h in hours:
                if h not in self._marked:
                    continue
                fill = self.caches.marked_hours.get(
                    (self.measurement, d, self.metric, h, self.scope)
                )
                if fill is None:
                    continue
                then, written, marked_then, columns = fill
                marked_now = {m for m in stale if h <= m < h + HOUR_MS}
                if written != w or tuple((c, g) for c, g, _ in then) != hour_gen:
                    continue
                if not marked_now <= marked_then:
                    continue
                if then == gen and marked_now == marked_then:
                    out[(d, h)] = columns  # handed over before, by these generations
                    continue
                settled = sorted(marked_then - marked_now)
                lives = []
                for m in settled:
                    live = self.caches.minutes.get(
                        ("live", self.measurement, d, self.metric, m, self.scope, w)
                    )
                    if live is None:
                        break
                    lives.append((m, live))
                else:
                    parts = {
                        t: Parts(
                            total=total,
                            count=count,
                            lo=lo,
                            hi=hi,
                            mkt=None if columns.mkt is None else columns.mkt[i],
                        )
                        for i, (t, total, lo, hi, count) in enumerate(
                            zip(
                                columns.starts,
                                columns.total,
                                columns.lo,
                                columns.hi,
                                columns.count,
                                strict=True,
                            )
                        )
                        if t not in marked_then
                    }
                    for m, live in lives:
                        live.merge_into(parts, m, m + MINUTE_MS, MINUTE_MS)
                    out[(d, h)] = Columns.of(parts)
                    self._remember(d, h, gen, stale, out[(d, h)])
                    self.caches.handed_over += 1
        return out

    def _generation(
        self, resolution: str, device: str, start: int
    ) -> MinuteGeneration | WriteGeneration | Generation:
        """The key of a device's cached hour or minute of ``resolution`` at ``start``:

        - raw points of a minute, marked ("live") or not ("raw"), change with writes
          only, so by the series' write generations (every write is marked, and the
          marks bump them after the points are stored);
        - the 1-min roll-ups of a marked hour change with the job's minute passes too,
          so by both roll-up generations;
        - those of an unmarked hour only with the job's recompute of the hour (its
          minutes are marked with it and settled before it), so by the roll-up
          generation alone, as :class:`HourCache`'s whole hours.

        Without write generations (None: not known), raw points by both roll-up
        generations, as the job's minute passes show writes."""
        state = self.state
        if resolution in ("live", "raw") and state.writes is not None:
            return state.writes.get(device, ())
        if resolution == "1m" and start not in self._marked:
            return state.generation.get(device, ())
        return (state.minute_generation or {}).get(device, ())

    def _merge(
        self, cached: dict[tuple[str, int], Columns], spans: Sequence[Span], length: int
    ) -> None:
        """The parts of ``spans`` from cached hours or minutes (``length`` long) into the
        windows of ``every_ms`` (a cached part lies in one window: a minute, ``every`` a
        whole number of minutes with windows starting on minutes; an instant)."""
        for (d, t), columns in cached.items():
            if not columns.starts:
                continue
            mine: dict[int, Parts] | None = None
            for a, b in spans:
                if a < t + length and b > t:
                    if mine is None:
                        mine = self.parts.setdefault(d, {})
                    columns.merge_into(mine, max(a, t), min(b, t + length), self.every_ms)


def _floor(t: int, step: int) -> int:
    return t // step * step


def _in_unmarked_minute(span: Span, marked: set[int]) -> bool:
    """Whether ``span`` lies within one minute that is not marked."""
    m = _floor(span[0], MINUTE_MS)
    return span[1] <= m + MINUTE_MS and m not in marked


def _split_marked(spans: Sequence[Span], marked: set[int]) -> tuple[list[Span], list[Span]]:
    """Raw ``spans`` -> ``(their parts in marked minutes, one per minute; the rest)``."""
    inside: list[Span] = []
    rest: list[Span] = []
    for a, b in spans:
        t = a
        while t < b:
            m = _floor(t, MINUTE_MS)
            stop = min(b, m + MINUTE_MS)
            if m in marked:
                inside.append((t, stop))
            elif rest and rest[-1][1] == t:
                rest[-1] = (rest[-1][0], stop)
            else:
                rest.append((t, stop))
            t = stop
    return inside, rest


def _minute_runs(minutes: Sequence[int]) -> list[Span]:
    """Minute starts -> spans of consecutive minutes."""
    runs: list[Span] = []
    for m in sorted(set(minutes)):
        if runs and runs[-1][1] == m:
            runs[-1] = (runs[-1][0], m + MINUTE_MS)
        else:
            runs.append((m, m + MINUTE_MS))
    return runs


def _split_hours(spans: Sequence[Span], marked: set[int]) -> tuple[list[int], list[Span]]:
    """1-min ``spans`` -> ``(whole hours not marked, the rest of the spans)``."""
    whole: list[int] = []
    rest: list[Span] = []
    for a, b in spans:
        t = a
        while t < b:
            h = _floor(t, HOUR_MS)
            stop = min(b, h + HOUR_MS)
            if t == h and stop == h + HOUR_MS and h not in marked:
                whole.append(h)
            elif rest and rest[-1][1] == t:
                rest[-1] = (rest[-1][0], stop)
            else:
                rest.append((t, stop))
            t = stop
    return whole, rest


def _runs(hours: Sequence[int]) -> list[Span]:
    """Sorted hour starts -> spans of consecutive hours."""
    runs: list[Span] = []
    for h in hours:
        if runs and runs[-1][1] == h:
            runs[-1] = (runs[-1][0], h + HOUR_MS)
        else:
            runs.append((h, h + HOUR_MS))
    return runs
