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

import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from cloud.timeseries.base import Bucket, Counties, TimeSeriesStore
from cloud.timeseries.windows import (
    HOUR_MS,
    Parts,
    PartsByDevice,
    Resolution,
    Span,
    choose_resolution,
    is_temperature,
    merge_parts,
    plan_spans,
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

#: (measurement, device, metric, every_ms, hour_ms, scope, generation): an hour read
#: for one scope is never served to another (a prefecture admin's hour of a tag heard
#: by two counties holds both counties' readings; a county user's, its own only).
_Key = tuple[str, str, str, int, int, Scope, Generation]


class HourCache:
    """Windows of whole hours from the 1-min roll-ups, least recently used out."""

    def __init__(self, max_hours: int = 4096) -> None:
        self.max_hours = max_hours
        self._hours: OrderedDict[_Key, dict[int, Parts]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: _Key) -> dict[int, Parts] | None:
        got = self._hours.get(key)
        if got is not None:
            self._hours.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return got

    def put(self, key: _Key, minutes: dict[int, Parts]) -> None:
        self._hours[key] = minutes
        self._hours.move_to_end(key)
        while len(self._hours) > self.max_hours:
            self._hours.popitem(last=False)


_caches: weakref.WeakKeyDictionary[TimeSeriesStore, HourCache] = weakref.WeakKeyDictionary()


def hour_cache(tsdb: TimeSeriesStore) -> HourCache:
    """The cache of this store's hours (one per store object)."""
    cache = _caches.get(tsdb)
    if cache is None:
        cache = _caches[tsdb] = HourCache()
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
    # devices with the same hours pending share their queries (usually all of them:
    # the current hour)
    groups: dict[tuple[int, ...], list[str]] = {}
    for d in devices:
        groups.setdefault(tuple(sorted(state.pending.get(d, ()))), []).append(d)
    parts: PartsByDevice = {}
    mkt = is_temperature(metric)
    cache = hour_cache(tsdb)
    keys = (measurement, metric, every_ms, scope_of(counties))
    for hours, ids in groups.items():
        plan = plan_spans(start_ms, end_ms, chosen, hours)
        minutes = plan.get("1m", [])
        cached: dict[tuple[str, int], dict[int, Parts]] = {}
        missing: list[int] = []
        if minutes and HOUR_MS % every_ms == 0:
            # whole hours of 1-min roll-ups from the cache; read the rest
            cached, missing, plan["1m"] = _cached_hours(cache, keys, ids, minutes, state)
        # every resolution's spans in one request where the store can
        got = await tsdb.aggregate_plan(
            measurement, ids, metric, plan, every_ms, mkt=mkt, counties=counties
        )
        for (d, _h), windows in cached.items():
            merge_parts(parts, {d: windows})
        if missing:
            _fill_cache(cache, keys, ids, missing, got.get("1m", {}), state)
        for res_parts in got.values():
            merge_parts(parts, res_parts)
    return chosen, {
        d: [p.bucket(w) for w, p in sorted(ws.items()) if p.count] for d, ws in parts.items() if ws
    }


def scope_of(counties: Counties) -> Scope:
    """The cache scope of a read's ``counties``."""
    return None if counties is None else tuple(sorted(set(counties)))


def _cached_hours(
    cache: HourCache,
    keys: tuple[str, str, int, Scope],
    devices: Sequence[str],
    spans: Sequence[Span],
    state: RollupState,
) -> tuple[dict[tuple[str, int], dict[int, Parts]], list[int], list[Span]]:
    """``(cached windows per (device, hour), whole hours missing, spans to read)``:
    the spans to read are the missing whole hours and the partial hours."""
    measurement, metric, every_ms, scope = keys
    whole = [
        h for a, b in spans for h in range(-(-a // HOUR_MS) * HOUR_MS, b - HOUR_MS + 1, HOUR_MS)
    ]
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
    # an hour missing for one device is read for all: drop what is cached of it
    cached = {k: v for k, v in cached.items() if k[1] not in missing}
    whole_set = set(whole)
    partial = [cut for a, b in spans for cut in _cut(a, b, whole_set)]
    return cached, sorted(missing), sorted([*_runs(sorted(missing)), *partial])


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


def _cut(a: int, b: int, whole: set[int]) -> list[Span]:
    """[a, b) without the whole hours in ``whole``."""
    out: list[Span] = []
    t = a
    while t < b:
        h = t // HOUR_MS * HOUR_MS
        if h in whole:
            t = h + HOUR_MS
            continue
        stop = min(b, h + HOUR_MS)
        if out and out[-1][1] == t:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((t, stop))
        t = stop
    return out


def _runs(hours: Sequence[int]) -> list[Span]:
    """Sorted hour starts -> spans of consecutive hours."""
    runs: list[Span] = []
    for h in hours:
        if runs and runs[-1][1] == h:
            runs[-1] = (runs[-1][0], h + HOUR_MS)
        else:
            runs.append((h, h + HOUR_MS))
    return runs
