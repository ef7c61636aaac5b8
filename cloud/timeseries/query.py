"""The query layer the API and later views use: windows over a range, for one or many
devices, from the coarsest resolution that answers them exactly.

Windows of whole hours are read from the 1-h roll-ups and windows of whole minutes
from the 1-min roll-ups, however short the range: a roll-up point stands for up to
3600 raw points. Raw points answer only what the roll-ups cannot:

- windows narrower than a minute (resolution ``raw``);
- the hours not rolled up yet, as the roll-up marks say (the live tail, and late
  data whose hour is marked for recomputation);
- the partial roll-up windows at the two ends of the range.

Raw points read for a roll-up answer are folded into the same parts the roll-ups
hold (Σ, min, max, count, Σexp(−ΔH/RT)), so the result equals the one from raw
points (mean, min, max, count) and carries mean kinetic temperature throughout.

Every read covers ``counties`` (None: every county): raw points and roll-ups alike
are those stored under them, and the hours pending are those of the device's series
in them (roll-ups are per device and county).

Windows read from the 1-min roll-ups are cached per whole hour and process
(:class:`HourCache`), keyed by the county scope of the read and the generations of the
device's series in it: they change only when the roll-up job recomputes the hour, and
the job bumps the series' generation as it clears the hour's mark
(:func:`cloud.timeseries.rollup.rollup_state`). Roll-ups are written by that job only.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

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


class HourCache:
    """Windows of whole hours from the 1-min roll-ups, least recently used out."""

    def __init__(self, max_hours: int = 4096) -> None:
        self.max_hours = max_hours
        self._hours: OrderedDict[tuple[object, ...], dict[int, Parts]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: _Key | _MinuteKey) -> dict[int, Parts] | None:
        got = self._hours.get(key)
        if got is not None:
            self._hours.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return got

    def put(self, key: _Key | _MinuteKey, minutes: dict[int, Parts]) -> None:
        self._hours[key] = minutes
        self._hours.move_to_end(key)
        while len(self._hours) > self.max_hours:
            self._hours.popitem(last=False)


#: (measurement, device, metric, hour_ms, scope, minute generation): an hour's 1-min
#: roll-ups as read, valid while the series' generations (hour and minute) are these.
_MinuteKey = tuple[str, str, str, int, Scope, MinuteGeneration]


class MinuteCache(HourCache):
    """1-min roll-ups of the hours a read does not take whole from :class:`HourCache`:
    the partial hours at the ends of a range and the marked hours (the live one), whose
    unmarked minutes' roll-ups are current. Keyed by both generations of the device's
    series: the job bumps the minute generation when it recomputes minutes of a marked
    hour and clears their marks, so a minute marked since the read (read raw while
    marked) is never taken from here once its mark is gone."""

    def __init__(self, max_hours: int = 1024) -> None:
        super().__init__(max_hours)


_caches: weakref.WeakKeyDictionary[TimeSeriesStore, HourCache] = weakref.WeakKeyDictionary()
_minute_caches: weakref.WeakKeyDictionary[TimeSeriesStore, MinuteCache] = (
    weakref.WeakKeyDictionary()
)


def hour_cache(tsdb: TimeSeriesStore) -> HourCache:
    """The cache of this store's hours (one per store object)."""
    cache = _caches.get(tsdb)
    if cache is None:
        cache = _caches[tsdb] = HourCache()
    return cache


def minute_cache(tsdb: TimeSeriesStore) -> MinuteCache:
    """The cache of this store's minutes of partial and marked hours (one per store)."""
    cache = _minute_caches.get(tsdb)
    if cache is None:
        cache = _minute_caches[tsdb] = MinuteCache()
    return cache


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
    parts: PartsByDevice = {}
    mkt = is_temperature(metric)
    cache, by_minute = hour_cache(tsdb), minute_cache(tsdb)
    scope = scope_of(counties)
    keys = (measurement, metric, every_ms, scope)
    for (hours, stale), ids in groups.items():
        plan = plan_spans(start_ms, end_ms, chosen, hours, stale)
        # 1-min spans: whole unmarked hours (the hour cache, in windows), the rest (the
        # partial hours at the ends, the marked hours but for their marked minutes:
        # the minute cache), each read where not cached
        whole, rest = _split_hours(plan.pop("1m", []), set(hours))
        read: list[Span] = []
        cached: dict[tuple[str, int], dict[int, Parts]] = {}
        missing: list[int] = []
        if whole and HOUR_MS % every_ms == 0:
            cached, missing = _cached_hours(cache, keys, ids, whole, state)
            read += _runs(missing)
        else:
            read += _runs(whole)
        minutes: dict[tuple[str, int], dict[int, Parts]] = {}
        minutes_missing: list[int] = []
        if rest and state.minute_generation is not None:
            minutes, minutes_missing = _cached_minutes(
                by_minute, (measurement, metric, scope), ids, rest, state
            )
        else:
            read += rest
        if read:
            plan["1m"] = sorted(read)
        # every resolution's spans in one request where the store can (and the hours
        # read for the minute cache, in 1-min windows, beside it)
        calls = [
            tsdb.aggregate_plan(
                measurement, ids, metric, plan, every_ms, mkt=mkt, counties=counties
            )
        ]
        if minutes_missing:
            calls.append(
                tsdb.aggregate_plan(
                    measurement,
                    ids,
                    metric,
                    {"1m": _runs(minutes_missing)},
                    MINUTE_MS,
                    mkt=mkt,
                    counties=counties,
                )
            )
        got, *more = await asyncio.gather(*calls)
        if minutes_missing:
            minutes.update(
                _fill_minutes(
                    by_minute,
                    (measurement, metric, scope),
                    ids,
                    minutes_missing,
                    more[0].get("1m", {}),
                    state,
                )
            )
        for (d, _h), windows in cached.items():
            merge_parts(parts, {d: windows})
        if missing:
            _fill_cache(cache, keys, ids, missing, got.get("1m", {}), state)
        for res_parts in got.values():
            merge_parts(parts, res_parts)
        _merge_minutes(parts, minutes, rest, every_ms)
    return chosen, {
        d: [p.bucket(w) for w, p in sorted(ws.items()) if p.count] for d, ws in parts.items() if ws
    }


def scope_of(counties: Counties) -> Scope:
    """The cache scope of a read's ``counties``."""
    return None if counties is None else tuple(sorted(set(counties)))


def _split_hours(spans: Sequence[Span], marked: set[int]) -> tuple[list[int], list[Span]]:
    """1-min ``spans`` -> ``(whole hours not marked, the rest of the spans)``."""
    whole: list[int] = []
    rest: list[Span] = []
    for a, b in spans:
        t = a
        while t < b:
            h = t // HOUR_MS * HOUR_MS
            stop = min(b, h + HOUR_MS)
            if t == h and stop == h + HOUR_MS and h not in marked:
                whole.append(h)
            elif rest and rest[-1][1] == t:
                rest[-1] = (rest[-1][0], stop)
            else:
                rest.append((t, stop))
            t = stop
    return whole, rest


def _cached_hours(
    cache: HourCache,
    keys: tuple[str, str, int, Scope],
    devices: Sequence[str],
    whole: Sequence[int],
    state: RollupState,
) -> tuple[dict[tuple[str, int], dict[int, Parts]], list[int]]:
    """``(cached windows per (device, hour), whole hours missing)`` of these whole,
    unmarked hours: an hour missing for one device is read for all."""
    measurement, metric, every_ms, scope = keys
    cached: dict[tuple[str, int], dict[int, Parts]] = {}
    missing: set[int] = set()
    for d in devices:
        gen = state.generation.get(d, ())
        for h in whole:
            got = cache.get((measurement, d, metric, every_ms, h, scope, gen))
            if got is None:
                missing.add(h)
            else:
                cached[(d, h)] = got
    cached = {k: v for k, v in cached.items() if k[1] not in missing}
    return cached, sorted(missing)


def _fill_cache(
    cache: HourCache,
    keys: tuple[str, str, int, Scope],
    devices: Sequence[str],
    hours: Sequence[int],
    fetched: PartsByDevice,
    state: RollupState,
) -> None:
    """Cache the windows read for whole ``hours`` (an hour with no data too)."""
    measurement, metric, every_ms, scope = keys
    for d in devices:
        by_hour: dict[int, dict[int, Parts]] = {h: {} for h in hours}
        for w, p in fetched.get(d, {}).items():
            hour = by_hour.get(w // HOUR_MS * HOUR_MS)
            if hour is not None:
                hour[w] = p
        gen = state.generation.get(d, ())
        for h, windows in by_hour.items():
            cache.put((measurement, d, metric, every_ms, h, scope, gen), windows)


def _cached_minutes(
    cache: MinuteCache,
    keys: tuple[str, str, Scope],
    devices: Sequence[str],
    spans: Sequence[Span],
    state: RollupState,
) -> tuple[dict[tuple[str, int], dict[int, Parts]], list[int]]:
    """``(cached 1-min roll-ups per (device, hour), hours missing)`` of the hours these
    spans touch; an hour missing for one device is read (whole) for all."""
    measurement, metric, scope = keys
    generations = state.minute_generation or {}
    hours = sorted({h for a, b in spans for h in range(a // HOUR_MS * HOUR_MS, b, HOUR_MS)})
    cached: dict[tuple[str, int], dict[int, Parts]] = {}
    missing: set[int] = set()
    for d in devices:
        gen = generations.get(d, ())
        for h in hours:
            got = cache.get((measurement, d, metric, h, scope, gen))
            if got is None:
                missing.add(h)
            else:
                cached[(d, h)] = got
    cached = {k: v for k, v in cached.items() if k[1] not in missing}
    return cached, sorted(missing)


def _fill_minutes(
    cache: MinuteCache,
    keys: tuple[str, str, Scope],
    devices: Sequence[str],
    hours: Sequence[int],
    fetched: PartsByDevice,
    state: RollupState,
) -> dict[tuple[str, int], dict[int, Parts]]:
    """Cache the 1-min roll-ups read for whole ``hours``; returns them per (device, hour)."""
    measurement, metric, scope = keys
    generations = state.minute_generation or {}
    out: dict[tuple[str, int], dict[int, Parts]] = {}
    for d in devices:
        for h in hours:
            out[(d, h)] = {}
        for w, p in fetched.get(d, {}).items():
            hour = out.get((d, w // HOUR_MS * HOUR_MS))
            if hour is not None:
                hour[w] = p
        gen = generations.get(d, ())
        for h in hours:
            cache.put((measurement, d, metric, h, scope, gen), out[(d, h)])
    return out


def _merge_minutes(
    parts: PartsByDevice,
    minutes: dict[tuple[str, int], dict[int, Parts]],
    spans: Sequence[Span],
    every_ms: int,
) -> None:
    """The minutes of ``spans`` (from the minute cache) into the windows of ``every_ms``
    (each minute lies in one window: ``every_ms`` is a whole number of minutes and
    windows start on minutes)."""
    for (d, h), by_minute in minutes.items():
        clipped = [(max(a, h), min(b, h + HOUR_MS)) for a, b in spans if a < h + HOUR_MS and b > h]
        if not clipped or not by_minute:
            continue
        mine = parts.setdefault(d, {})
        for w, p in by_minute.items():
            if any(a <= w < b for a, b in clipped):
                mine.setdefault(window_start(w, every_ms), Parts()).merge(
                    p.total, p.lo, p.hi, p.count, p.mkt
                )


def _runs(hours: Sequence[int]) -> list[Span]:
    """Sorted hour starts -> spans of consecutive hours."""
    runs: list[Span] = []
    for h in hours:
        if runs and runs[-1][1] == h:
            runs[-1] = (runs[-1][0], h + HOUR_MS)
        else:
            runs.append((h, h + HOUR_MS))
    return runs
