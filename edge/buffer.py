"""The durable store-and-forward buffer: every reading taken survives kill -9.

Flow of a reading::

    driver --put_sample--> incoming (memory, not yet taken)
           --group commit (<= commit_interval_ms, one fsync)--> samples table: TAKEN
           --> batcher (memory mirror of the samples table)
           --cut--> batches table (same transaction deletes its samples)
           --session sends, live first, backlog under a token bucket-->
           --the cloud's write-ack names it--> deleted

- A reading *counts as taken* only when the commit that holds it has returned,
  i.e. after SQLite fsynced the WAL (``synchronous=FULL``). :attr:`Buffer.taken`
  counts them, :attr:`Buffer.commit_latency_ms` keeps hand-over-to-fsync times.
- One writer task owns the database; every SQL statement runs in one worker
  thread, so the event loop never waits on the disk.
- Nothing leaves the ``batches`` table except through a write-ack, the age
  bound or the size bound. ``max_bytes`` bounds batches and events together.
  Past it, the oldest batches are first thinned (every Nth instant kept, under
  a new batch id; flagged THINNED unless the batch was published before, see
  :mod:`edge.thinning`), and only when every batch is thinned are the oldest
  batches and non-alarm events dropped, oldest first. (That a batch was handed
  out to be published is fsynced before the publish.) Alarms are never dropped
  by that bound; they have their own cap, ``max_alarm_bytes``, past which the
  oldest alarms go. Every thinning and drop is counted and reported as one
  ``buffer`` notice per kind, coalesced (``repeats``) while it is not sent.
- A cut that fails (the state file or the disk full) changes nothing: the
  samples stay in the file and in the batcher, and the cut is retried. Any
  other error in the writer is a bug: it is logged, :meth:`Buffer.flush` raises
  :class:`BufferFailed`, and the gateway ends with an error (systemd restarts
  it); what was taken is in the file.
- A batch is stored (fsynced) before it is published, with the next seq in
  ``meta``; on open, seqs the state file took beyond that were never published
  and are used again, so a crash between the two writes leaves no gap.
- After a reconnect, batches cut since then (live data) go first and at once;
  the backlog follows, oldest first, under a token bucket of
  ``drain_readings_per_s`` and at most ``max_inflight`` unacknowledged.
- Clocks (see :mod:`edge.clock`): every sample is stored with the wall time,
  monotonic time and boot it was taken under. While the wall clock is not
  trusted, samples are *held* (stored, not batched). Once it is trusted, held
  samples of this boot get their wall time recomputed from the monotonic time;
  held samples of an earlier boot, and any held longer than ``clock.hold_s``,
  are sent with their recorded time. Both carry the ``CLOCK_SUSPECT`` flag.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from edge.aio import wait_event
from edge.batcher import Batcher, new_batch_id
from edge.clock import Clock, now_ms
from edge.config import BufferConfig
from edge.counters import ReadingTotals, readings_of
from edge.drivers.base import Sample
from edge.state import StateStore
from edge.store import NewBatch, SampleRow, Store, Work
from edge.thinning import thin_batch
from edge.tokenbucket import TokenBucket
from protocol.codec import decode, encode
from protocol.limits import DEFAULT_LIMITS
from protocol.messages import AssetKind, DataBatch, EventMessage, EventType, Severity
from protocol.quality import Quality

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Keep this many hand-over-to-fsync latencies for percentiles.
LATENCY_WINDOW = 100_000
#: Wait this long before retrying a failed commit (disk full, I/O error), s.
COMMIT_RETRY_S = 1.0
#: After the size bound is hit, thin or drop until the telemetry is this share of it.
LOW_WATER = 0.9
#: Events that are never dropped by ``max_bytes`` (they have ``max_alarm_bytes``).
ALARM_TYPES = (EventType.ALARM.value, EventType.ALARM_CLEAR.value)
#: Numeric attrs of a buffer notice that add up when notices are coalesced.
ADDITIVE = ("readings", "batches", "events", "alarms")


class BufferFailed(RuntimeError):
    """The buffer's writer stopped on an unexpected error; the gateway must exit."""


@dataclass(slots=True)
class PendingBatch:
    """A stored batch waiting for its write-ack. ``payload`` is loaded only to send."""

    id: str
    seq: int
    readings: int
    size: int
    t_min: int
    thinned: bool = False
    #: Handed out to be published (persisted before that): the cloud may hold it.
    published: bool = False
    #: The id it was cut with (its key here); ``id`` changes when it is thinned.
    origin: str = ""
    #: Cut during the current connection and not sent yet: goes before the backlog.
    live: bool = False
    payload: bytes = b""
    #: Monotonic time of the last send; None while not sent since the last (re)connect.
    sent_at: float | None = None
    attempts: int = 0


@dataclass(slots=True)
class PendingEvent:
    id: str
    ts_ms: int
    payload: bytes
    sent_at: float | None = None
    attempts: int = 0
    #: The event type (``alarm``, ``buffer``, ...).
    kind: str = ""

    @property
    def alarm(self) -> bool:
        return self.kind in ALARM_TYPES


@dataclass(slots=True)
class BufferCounters:
    taken: int = 0  # readings (not None values) committed
    taken_samples: int = 0
    held: int = 0  # samples waiting for a trusted clock
    released: int = 0  # held samples sent flagged CLOCK_SUSPECT
    commits: int = 0
    batches: int = 0
    acked: int = 0  # batches removed by a write-ack
    thinned: int = 0  # readings removed by thinning
    thinned_batches: int = 0
    dropped: int = 0  # readings dropped (size or age bound)
    dropped_batches: int = 0
    dropped_events: int = 0  # non-alarm events dropped by max_bytes
    dropped_alarms: int = 0  # alarms dropped past max_alarm_bytes
    events_acked: int = 0
    cut_failures: int = 0  # cuts that failed and were retried (state file, disk)


@dataclass(slots=True)
class _Incoming:
    samples: list[tuple[Sample, int, int, bool, float]] = field(default_factory=list)
    events: list[EventMessage] = field(default_factory=list)
    #: A batch cut was asked for (the batch timer, a flush at shutdown).
    cut: bool = False


def sample_body(sample: Sample) -> bytes:
    return orjson.dumps(
        [
            sample.device,
            str(sample.kind),
            sample.site,
            sample.flags,
            sample.values,
            sample.metric_flags,
        ]
    )


def sample_from_row(row: SampleRow | tuple[int, bytes], ts_ms: int, extra_flags: int = 0) -> Sample:
    body = row.body if isinstance(row, SampleRow) else row[1]
    device, kind, site, flags, values, metric_flags = orjson.loads(body)
    return Sample(
        device=device,
        ts_ms=ts_ms,
        values=values,
        kind=AssetKind(kind),
        site=site,
        flags=int(flags) | extra_flags,
        metric_flags=metric_flags,
    )


class Buffer:
    """The gateway's durable buffer; also the pending set the MQTT session sends from."""

    def __init__(
        self,
        path: str | Path,
        gateway_id: str,
        state: StateStore,
        config: BufferConfig | None = None,
        *,
        ack_timeout_s: float = 30.0,
        clock: Clock | None = None,
        hold_s: float = 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.gateway_id = gateway_id
        self.config = config or BufferConfig()
        self.ack_timeout_s = ack_timeout_s
        self.clock = clock or Clock()
        self.hold_s = hold_s
        self.monotonic = monotonic
        self.batcher = Batcher(gateway_id, state)
        self.counters = BufferCounters()
        #: Readings taken, sent, acked, thinned, dropped since the file was created
        #: (edge/counters.py); written to ``meta`` with the commit that makes them true.
        self.totals = ReadingTotals()
        self._totals_written = ReadingTotals()
        self.commit_latency_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.bucket = TokenBucket(
            self.config.drain_readings_per_s,
            self.config.drain_burst or self.config.drain_readings_per_s,
            clock=monotonic,
        )
        #: Called with the number of readings each commit took (tests, chaos, bench).
        self.on_taken: Callable[[list[Sample]], None] | None = None
        #: By the id each batch was cut with (``PendingBatch.origin``).
        self._items: OrderedDict[str, PendingBatch] = OrderedDict()
        #: A thinned batch's current id -> its key in ``_items``.
        self._alias: dict[str, str] = {}
        self._events: OrderedDict[str, PendingEvent] = OrderedDict()
        self._bytes = 0  # batch payloads
        self._event_bytes = 0  # event payloads, alarms included
        self._alarm_bytes = 0
        #: The unsent buffer notice of each action, coalesced into (see _notice).
        self._notices: dict[str, EventMessage] = {}
        # writer thread only, like the batcher:
        self._batched_ids: list[int] = []  # sample rows in the batcher
        self._unfed: deque[tuple[Sample, int]] = deque()  # taken, not in the batcher yet
        self._full = False  # the batcher reached the limits; cut before adding more
        self._cut_wanted = False  # a cut was asked for and has not happened yet
        self._cut_batches: list[NewBatch] = []  # cut, not stored yet
        #: What stopped the writer (a bug); flush() raises BufferFailed once set.
        self.failed: BaseException | None = None
        self._dead = asyncio.Event()
        self._first_unbatched: int | None = None
        self._held: list[SampleRow] = []
        self._incoming = _Incoming()
        self._deferred = Work()  # acks and drops, written with the next commit
        self._flush_waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._changed = asyncio.Event()
        self._events_changed = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._executor: ThreadPoolExecutor | None = None
        self._store: Store | None = None
        self._writer: asyncio.Task[None] | None = None
        self._next_id = 1
        self._boot_no = 0
        self._trusted = True
        self._started_mono = 0
        self.last_ack_ms: int | None = None

    # ------------------------------------------------------------- lifecycle

    @property
    def is_open(self) -> bool:
        return self._store is not None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        """Open (or create) the database, reload what a previous run left, start writing."""
        if self._store is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dehong-buffer")
        self._store = store = await self._run(Store, self.path)
        meta = await self._run(store.meta)
        self.clock.last_good_ms = max(self.clock.last_good_ms, meta.get("last_good_ms", 0))
        self.last_ack_ms = meta.get("last_ack_ms")
        self.totals = ReadingTotals.from_meta(meta)
        self._totals_written = self.totals.copy()
        self._boot_no = await self._run(store.boot_no, self.clock.boot)
        self._next_id = await self._run(store.max_sample_id) + 1
        self._started_mono = self.clock.mono_ms()
        self._trusted = self.clock.trusted()
        self._items.clear()
        self._bytes = 0
        rows = await self._run(store.batches)
        for row in rows:
            self._index(
                PendingBatch(
                    row.id, row.seq, row.readings, row.size, row.t_min, row.thinned, row.sent
                )
            )
        await self._run(self._reconcile_seq, meta, max((r.seq for r in rows), default=-1))
        for event_id, ts_ms, payload in await self._run(store.events):
            kind = str(orjson.loads(payload).get("type", ""))
            self._index_event(PendingEvent(event_id, ts_ms, payload, kind=kind))
        unbatched = await self._run(store.samples, False)
        await self._stored(await self._run(self._reload, unbatched))
        self._held = await self._run(store.samples, True)
        self.counters.held = len(self._held)
        if self._items or self._events or self._batched_ids or self._held:
            log.info(
                "buffer %s: reloaded %d batch(es), %d event(s), %d sample(s), %d held",
                self.path,
                len(self._items),
                len(self._events),
                len(unbatched),
                len(self._held),
            )
        self._writer = asyncio.create_task(self._write_loop(), name="buffer-writer")
        if self._unfed or self._full or self._cut_batches:
            self._wake.set()  # a cut at reload failed: the writer retries

    def _reconcile_seq(self, meta: dict[str, int], max_seq: int) -> None:
        """Make the state file's next seq agree with the batches this file stored.

        A batch is published only after its row is fsynced, with ``meta.next_seq``
        in the same transaction. Seqs the state file took beyond that (a crash or a
        failure between the two writes) were never published: use them again, or
        the cloud would wait for them forever. A state file behind the stored
        batches (restored from an old backup) is moved forward: a seq is never
        given to two different batches."""
        state = self.batcher.state
        stored_next = max(meta.get("next_seq", 0), max_seq + 1)
        if "next_seq" in meta and state.next_seq > stored_next:
            log.warning(
                "buffer %s: seq %d..%d were taken but no batch with them was stored "
                "(a crash between the state file and the buffer); they are used again",
                self.path,
                stored_next,
                state.next_seq - 1,
            )
            state.set_next_seq(stored_next)
        elif state.next_seq < stored_next:
            log.warning(
                "buffer %s: the state file says next seq %d, stored batches reach %d; "
                "continuing after them",
                self.path,
                state.next_seq,
                stored_next - 1,
            )
            state.set_next_seq(stored_next)

    async def close(self) -> None:
        """Commit what is handed over (no cut), stop the writer, close the file.

        After a writer failure it closes the file without the flush (what was taken
        is in it already)."""
        if self._store is None:
            return
        if self.failed is None:
            try:
                await self.flush()
            except BufferFailed:
                pass  # logged by the writer; close the file all the same
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        if self.totals != self._totals_written and self.failed is None:
            self._deferred.meta.update(self.totals.meta())
        if not self._deferred.empty() and self.failed is None:
            work, self._deferred = self._deferred, Work()
            try:
                await self._run(self._store.commit, work)
            except (sqlite3.Error, OSError) as exc:  # acks are resent by the cloud; no loss
                log.error("buffer %s: last commit at close failed: %s", self.path, exc)
        await self._run(self._store.close)
        self._store = None
        assert self._executor is not None
        self._executor.shutdown(wait=True)
        self._executor = None

    # ----------------------------------------------------------------- input

    def put_sample(self, sample: Sample) -> None:
        """Hand over one sample; it is taken once the next group commit returns."""
        self._incoming.samples.append(
            (sample, self.clock.wall_ms(), self.clock.mono_ms(), self._trusted, time.perf_counter())
        )
        self._wake.set()

    def put_event(self, event: EventMessage) -> None:
        """Hand over one event; stored durably, sent, deleted only on the cloud's ack."""
        self._incoming.events.append(event)
        self._wake.set()
        self._urgent.set()

    def cut(self) -> None:
        """Cut what is taken into a batch (built and stored by the next commit round)."""
        self._incoming.cut = True
        self._wake.set()
        self._urgent.set()

    async def flush(self) -> None:
        """Wait until everything handed over so far is committed (fsynced).

        Raises :class:`BufferFailed` if the writer stopped (it never hangs on it)."""
        if self._store is None:
            raise RuntimeError("buffer is not open; call open() first")
        self._raise_if_failed()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flush_waiters.append(fut)
        self._wake.set()
        self._urgent.set()
        await fut

    def _raise_if_failed(self) -> None:
        if self.failed is not None:
            raise BufferFailed(
                f"buffer {self.path}: the writer stopped: {self.failed!r}"
            ) from self.failed

    async def wait_failed(self) -> None:
        """Return only by raising :class:`BufferFailed` once the writer has stopped."""
        await self._dead.wait()
        self._raise_if_failed()

    # ------------------------------------------------------------ the writer

    def _index(self, item: PendingBatch) -> None:
        item.origin = item.origin or item.id
        self._items[item.origin] = item
        self._bytes += item.size
        self._empty.clear()

    def _unindex(self, batch_id: str) -> PendingBatch | None:
        """Forget a batch by any of its ids (the one it was cut with, or its thinned one)."""
        item = self._items.pop(self._alias.get(batch_id, batch_id), None)
        if item is not None:
            self._bytes -= item.size
            self._alias.pop(item.id, None)
        if not self._items:
            self._empty.set()
        return item

    def _index_event(self, ev: PendingEvent) -> None:
        old = self._events.pop(ev.id, None)
        if old is not None:  # a coalesced notice replaces its earlier version
            self._unsize_event(old)
        self._events[ev.id] = ev
        self._event_bytes += len(ev.payload)
        if ev.alarm:
            self._alarm_bytes += len(ev.payload)

    def _unsize_event(self, ev: PendingEvent) -> None:
        self._event_bytes -= len(ev.payload)
        if ev.alarm:
            self._alarm_bytes -= len(ev.payload)

    def _unindex_event(self, event_id: str) -> PendingEvent | None:
        ev = self._events.pop(event_id, None)
        if ev is not None:
            self._unsize_event(ev)
        return ev

    async def _write_loop(self) -> None:
        linger = self.config.commit_interval_ms / 1000
        try:
            while True:
                await self._wake.wait()
                if not self._urgent.is_set() and self._incoming.samples:
                    # group commit: wait until the oldest sample is commit_interval old
                    waited = time.perf_counter() - self._incoming.samples[0][4]
                    await wait_event(self._urgent, max(0.0, linger - waited))
                self._wake.clear()
                self._urgent.clear()
                await self._commit_round()
        except Exception as exc:  # noqa: BLE001 - any error here is a bug: stop loudly
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """The writer hit an error it cannot handle (a bug): stop loudly, never silently."""
        log.critical(
            "buffer %s: the writer stopped on an unexpected error; the gateway exits so that "
            "systemd restarts it. Every reading taken so far is in the file",
            self.path,
            exc_info=exc,
        )
        self.failed = exc
        waiters, self._flush_waiters = self._flush_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(BufferFailed(f"buffer {self.path}: the writer stopped: {exc!r}"))
        self._dead.set()

    async def _commit_round(self) -> None:
        assert self._store is not None
        incoming, self._incoming = self._incoming, _Incoming()
        waiters, self._flush_waiters = self._flush_waiters, []
        try:
            await self._commit_and_batch(incoming, waiters)
        except BaseException:
            # a bug or a cancellation: the round's flush waiters must not hang
            self._flush_waiters[:0] = [w for w in waiters if not w.done()]
            raise

    async def _commit_and_batch(
        self, incoming: _Incoming, waiters: list[asyncio.Future[None]]
    ) -> None:
        work, self._deferred = self._deferred, Work()
        trusted = self.clock.trusted()
        self._trusted = trusted
        fresh: list[tuple[Sample, int, int, int, bool, float]] = []
        for sample, wall, mono, was_trusted, handed in incoming.samples:
            sid = self._next_id
            self._next_id += 1
            held = not was_trusted
            fresh.append((sample, sid, sample.ts_ms if not held else wall, mono, held, handed))
        events = [(ev, encode(ev)) for ev in incoming.events]
        work.events = [(ev.id, ev.ts, payload) for ev, payload in events]
        held_before, released_before = self._held, self.counters.released
        released = self._release_held(work, trusted) if self._held else []
        good = self.clock.mark_good()
        if good is not None:
            work.meta["last_good_ms"] = good
        # the totals as this commit makes them true, in its own transaction
        taken_now = sum(readings_of(f[0].values) for f in fresh)
        totals = self.totals.copy()
        totals.taken += taken_now
        if totals != self._totals_written:
            work.meta.update(totals.meta())
        try:
            committed = await self._run(self._write_round, work, fresh)
        except (sqlite3.Error, OSError) as exc:
            # nothing of this round is taken; give it back and retry in a second
            log.error(
                "buffer %s: commit failed (%s); retrying in %.0f s. Check the disk "
                "(space, permissions, a read-only remount after SD card errors)",
                self.path,
                exc,
                COMMIT_RETRY_S,
            )
            self._next_id -= len(fresh)
            self._held, self.counters.released = held_before, released_before
            self.counters.held = len(held_before)
            self._requeue(incoming, waiters, work)
            self._wake.set()
            await asyncio.sleep(COMMIT_RETRY_S)
            return
        self.totals.taken += taken_now
        self._totals_written = totals
        taken: list[Sample] = []
        for sample, sid, _ts, mono, held, handed in fresh:
            self.commit_latency_ms.append((committed - handed) * 1000)
            self.counters.taken_samples += 1
            self.counters.taken += sum(1 for v in sample.values.values() if v is not None)
            taken.append(sample)
            if held:
                self._held.append(
                    SampleRow(sid, sample.ts_ms, mono, self._boot_no, True, sample_body(sample))
                )
                self.counters.held += 1
        for ev, payload in events:
            self._index_event(PendingEvent(ev.id, ev.ts, payload, kind=ev.type.value))
        if events:
            self._events_changed.set()
        # taken: from here on nothing requeues these samples; a failed cut keeps them
        batched, new = await self._run(self._batch_round, fresh, released, incoming.cut)
        await self._stored(new, bound=bool(new or events))
        if self.on_taken is not None and taken:
            self.on_taken(taken)
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        if not batched:
            self._wake.set()
            await asyncio.sleep(COMMIT_RETRY_S)

    async def _stored(self, new: list[NewBatch], bound: bool = True) -> None:
        """Index batches the writer thread stored; enforce the bounds."""
        for b in new:
            self._index(PendingBatch(b.id, b.seq, b.readings, len(b.payload), b.t_min, live=True))
            self.counters.batches += 1
        if new:
            self._changed.set()
        if bound:
            await self._enforce_bounds()

    # -------------------------------------------------- in the writer thread

    def _write_round(
        self, work: Work, fresh: list[tuple[Sample, int, int, int, bool, float]]
    ) -> float:
        """One group commit: the fsync that makes the samples taken. Writer thread."""
        assert self._store is not None
        work.samples = [
            (sid, ts, mono, self._boot_no, int(held), sample_body(sample))
            for sample, sid, ts, mono, held, _handed in fresh
        ]
        if not work.empty():
            self._store.commit(work)
            self.counters.commits += 1
        return time.perf_counter()

    def _batch_round(
        self,
        fresh: list[tuple[Sample, int, int, int, bool, float]],
        released: list[tuple[Sample, int]],
        cut: bool,
    ) -> tuple[bool, list[NewBatch]]:
        """Batch what was just taken and store the batches cut. Writer thread, so
        building and encoding batches never stall the event loop (and the Modbus
        polls on it). False when a cut or a store failed (retried next round)."""
        self._unfed.extend((sample, sid) for sample, sid, _t, _m, held, _h in fresh if not held)
        self._unfed.extend(released)
        self._cut_wanted = self._cut_wanted or cut
        batched = self._batch()
        new = self._store_cut_batches()
        return batched and not self._cut_batches, new

    def _batch(self) -> bool:
        """Feed taken samples to the batcher, cutting when it is full or a cut is due.

        A cut that fails (the state file: ENOSPC, EIO) changes nothing: the batcher
        keeps its rows, the samples their rows in the file; False, to retry."""
        try:
            if self._full:
                self._cut_into_pending()
            while self._unfed:
                sample, sid = self._unfed[0]
                # ValueError here is a bug (the config check refuses such devices):
                # it stops the writer, loudly.
                full = self.batcher.add(sample)
                self._unfed.popleft()
                self._batched_ids.append(sid)
                if self._first_unbatched is None:
                    self._first_unbatched = sample.ts_ms
                if full:
                    self._full = True
                    self._cut_into_pending()
            if self._cut_wanted:
                self._cut_into_pending()
                self._cut_wanted = False
        except (sqlite3.Error, OSError) as exc:
            self.counters.cut_failures += 1
            log.error(
                "buffer %s: cutting a batch failed (%s); its samples stay in the file and "
                "the cut is retried. Check the disk of the state file (space, errors)",
                self.path,
                exc,
            )
            return False
        return True

    def _store_cut_batches(self) -> list[NewBatch]:
        """Store the batches cut so far (one fsynced transaction, with the next seq);
        on failure keep them for the next round."""
        new, self._cut_batches = self._cut_batches, []
        if not new:
            return []
        assert self._store is not None
        try:
            self._store.commit(Work(batches=new, meta={"next_seq": new[-1].seq + 1}))
        except (sqlite3.Error, OSError) as exc:
            log.error(
                "buffer %s: storing %d batch(es) failed (%s); retrying", self.path, len(new), exc
            )
            self._cut_batches[:0] = new
            return []
        self.counters.commits += 1
        self._first_unbatched = self.batcher.first_ts()
        return new

    def _cut_into_pending(self) -> None:
        """Cut the batcher into a batch to store. If taking the seq fails, it raises
        and nothing changed."""
        batch = self.batcher.build()
        if batch is None:
            self._full = False
            return
        payload = encode(batch)
        if len(payload) > DEFAULT_LIMITS.max_payload_bytes:
            log.error(
                "batch %s is %d bytes, over the %d-byte limit: the cloud will refuse it; "
                "lower batch.interval_s or the number of devices per gateway",
                batch.id,
                len(payload),
                DEFAULT_LIMITS.max_payload_bytes,
            )
        self.batcher.clear()
        ids, self._batched_ids = self._batched_ids, []
        self._first_unbatched = None
        self._full = False
        t_min = min(s.t0 for s in batch.series)
        self._cut_batches.append(
            NewBatch(batch.id, batch.seq, now_ms(), t_min, batch.reading_count(), payload, ids)
        )

    def _reload(self, rows: list[SampleRow]) -> list[NewBatch]:
        self._unfed.extend((sample_from_row(row, row.ts_ms), row.id) for row in rows)
        self._batch()
        return self._store_cut_batches()

    # ------------------------------------------------------------ on the loop

    def _requeue(
        self, incoming: _Incoming, waiters: list[asyncio.Future[None]], work: Work
    ) -> None:
        self._incoming.samples[:0] = incoming.samples
        self._incoming.events[:0] = incoming.events
        self._incoming.cut = self._incoming.cut or incoming.cut
        self._flush_waiters[:0] = waiters
        self._deferred.acked_batches += work.acked_batches
        self._deferred.acked_events += work.acked_events
        self._deferred.dropped_batches += work.dropped_batches
        self._deferred.dropped_events += work.dropped_events
        self._deferred.sent_batches += work.sent_batches
        self._deferred.meta = {**work.meta, **self._deferred.meta}

    def _release_held(self, work: Work, trusted: bool) -> list[tuple[Sample, int]]:
        """Held samples whose time is now known (or past ``hold_s``): released, flagged."""
        mono_now = self.clock.mono_ms()
        hold_ms = self.hold_s * 1000
        out: list[tuple[Sample, int]] = []
        keep: list[SampleRow] = []
        for row in self._held:
            this_boot = row.boot == self._boot_no
            if trusted and this_boot and row.mono_ms:
                ts = self.clock.recompute(row.mono_ms)
            elif (
                trusted
                or (this_boot and row.mono_ms and mono_now - row.mono_ms >= hold_ms)
                or (not this_boot and mono_now - self._started_mono >= hold_ms)
            ):
                ts = row.ts_ms  # cannot be established: the recorded (never-backwards) time
            else:
                keep.append(row)
                continue
            work.released.append((ts, row.id))
            out.append((sample_from_row(row, ts, int(Quality.CLOCK_SUSPECT)), row.id))
        self._held = keep
        self.counters.released += len(out)
        self.counters.held = len(keep)
        return out

    # ----------------------------------------------------------------- bounds

    @property
    def stored_bytes(self) -> int:
        """What counts against ``max_bytes``: batch and event payloads."""
        return self._bytes + self._event_bytes

    async def _enforce_bounds(self) -> None:
        assert self._store is not None
        cfg = self.config
        oldest_ok = self.clock.wall_ms() - int(cfg.max_age_s * 1000)
        aged = [i for i in self._items.values() if i.t_min < oldest_ok]
        if aged:
            self._drop(aged, f"older than buffer.max_age_s ({cfg.max_age_s:.0f} s)")
        if self._alarm_bytes > cfg.alarm_cap:
            self._drop_alarms()
        if self.stored_bytes <= cfg.max_bytes:
            return
        target = int(cfg.max_bytes * LOW_WATER)
        # 1. thin, oldest first: batches never published, then those the cloud may hold
        candidates = [i for i in self._items.values() if not i.thinned and not i.published]
        candidates += [i for i in self._items.values() if not i.thinned and i.published]
        thinned_readings = thinned_batches = 0
        for item in candidates:
            if self.stored_bytes <= target:
                break
            removed = await self._thin(item)
            if removed is not None:
                thinned_readings += removed
                thinned_batches += 1
        if thinned_batches:
            self.counters.thinned += thinned_readings
            self.totals.thinned += thinned_readings
            self.counters.thinned_batches += thinned_batches
            self._notice(
                Severity.WARNING,
                f"buffer over {cfg.max_bytes} bytes: thinned old batches to every "
                f"{cfg.thin_keep_every}th reading",
                {"action": "thin", "readings": thinned_readings, "batches": thinned_batches,
                 "thinned_total": self.counters.thinned},
            )  # fmt: skip
        if self.stored_bytes > target:
            self._drop_oldest(target)

    async def _thin(self, item: PendingBatch) -> int | None:
        """Thin one stored batch under a new id; the readings removed, None if gone."""
        assert self._store is not None
        old_id = item.id
        payload = (await self._run(self._store.payloads, [old_id])).get(old_id)
        if payload is None or self._items.get(item.origin) is not item:
            return None  # acknowledged or dropped meanwhile
        full = decode(DataBatch, payload)
        row_id = old_id
        while True:
            # a published batch may be stored in full: keep its flags (see edge.thinning)
            flag = not item.published
            thin = thin_batch(full, self.config.thin_keep_every, new_batch_id(), flag=flag)
            new_payload = encode(thin)
            readings = thin.reading_count()
            await self._run(self._store.replace_payload, row_id, thin.id, new_payload, readings)
            row_id = thin.id
            if self._items.get(item.origin) is not item:
                # acknowledged while the file was written: its row has the new id now
                self._deferred.acked_batches.append(thin.id)
                self._wake.set()
                return None
            if not (flag and item.published):
                break
            # published (in full) while it was being thinned: thin it again, unflagged
        self._alias.pop(old_id, None)
        self._alias[thin.id] = item.origin
        self._bytes += len(new_payload) - item.size
        removed = item.readings - readings
        item.id, item.size, item.readings, item.thinned, item.payload = (
            thin.id, len(new_payload), readings, True, b"",
        )  # fmt: skip
        return removed

    def _drop_oldest(self, target: int) -> None:
        """Past the bound with every batch thinned: drop the oldest batches and non-alarm
        events (buffer notices are kept: coalesced, there are few) down to ``target``."""
        pool: list[tuple[int, int, PendingBatch | PendingEvent]] = [
            (i.t_min, 0, i) for i in self._items.values()
        ]
        pool += [
            (e.ts_ms, 1, e)
            for e in self._events.values()
            if not e.alarm and e.kind != EventType.BUFFER.value
        ]
        pool.sort(key=lambda p: (p[0], p[1]))
        excess = self.stored_bytes - target
        batches: list[PendingBatch] = []
        events: list[PendingEvent] = []
        for _t, _k, obj in pool:
            if excess <= 0:
                break
            if isinstance(obj, PendingBatch):
                batches.append(obj)
                excess -= obj.size
            else:
                events.append(obj)
                excess -= len(obj.payload)
        why = f"buffer over {self.config.max_bytes} bytes with every batch thinned"
        if batches:
            self._drop(batches, why)
        if events:
            self._drop_events(events, why, "drop_events")

    def _drop_alarms(self) -> None:
        """Alarms past ``max_alarm_bytes``: the oldest go, counted and reported."""
        excess = self._alarm_bytes - self.config.alarm_cap
        victims: list[PendingEvent] = []
        for ev in self._events.values():
            if excess <= 0:
                break
            if ev.alarm:
                victims.append(ev)
                excess -= len(ev.payload)
        self._drop_events(
            victims, f"alarms over buffer.max_alarm_bytes ({self.config.alarm_cap})",
            "drop_alarms",
        )  # fmt: skip

    def _drop_events(self, victims: list[PendingEvent], why: str, action: str) -> None:
        for ev in victims:
            self._unindex_event(ev.id)
            self._deferred.dropped_events.append(ev.id)
        key = "alarms" if action == "drop_alarms" else "events"
        if action == "drop_alarms":
            self.counters.dropped_alarms += len(victims)
        else:
            self.counters.dropped_events += len(victims)
        log.error("buffer: dropped %d %s: %s; fix the uplink or raise the bound", len(victims),
                  key, why)  # fmt: skip
        self._notice(
            Severity.CRITICAL,
            f"dropped {key}: {why}",
            {"action": action, key: len(victims),
             "dropped_events_total": self.counters.dropped_events,
             "dropped_alarms_total": self.counters.dropped_alarms},
        )  # fmt: skip
        self._wake.set()

    def _drop(self, victims: list[PendingBatch], why: str) -> None:
        readings = sum(i.readings for i in victims)
        for item in victims:
            self._unindex(item.origin)
            self._deferred.dropped_batches.append(item.id)
        self.counters.dropped += readings
        self.totals.dropped += readings
        self.counters.dropped_batches += len(victims)
        log.error(
            "buffer: dropped %d batch(es), %d readings: %s; fix the uplink or raise the bound",
            len(victims),
            readings,
            why,
        )
        self._notice(
            Severity.CRITICAL,
            f"dropped batches: {why}",
            {"action": "drop", "readings": readings, "batches": len(victims),
             "first_seq": victims[0].seq, "dropped_total": self.counters.dropped},
        )  # fmt: skip
        self._wake.set()

    def _notice(self, severity: Severity, message: str, attrs: dict[str, Any]) -> None:
        """A ``buffer`` event. While the last one of the same action is not sent, it is
        replaced (same id) by one that adds up the counts, with ``repeats``."""
        action = str(attrs["action"])
        now = self.clock.wall_ms()
        prev = self._notices.get(action)
        pending = self._events.get(prev.id) if prev is not None else None
        unsent = pending is not None and pending.attempts == 0 and pending.sent_at is None
        if prev is not None and (unsent or any(e is prev for e in self._incoming.events)):
            merged = dict(prev.attrs)
            for key, value in attrs.items():
                if key in ADDITIVE and isinstance(value, int):
                    merged[key] = int(merged.get(key) or 0) + value
                elif key == "first_seq":
                    merged[key] = min(int(merged.get(key) or value), int(value))  # type: ignore[arg-type]
                else:
                    merged[key] = value
            merged["repeats"] = int(merged.get("repeats") or 1) + 1
            counts = ", ".join(f"{merged[k]} {k}" for k in ADDITIVE if k in merged)
            event = prev.model_copy(update={
                "ts": now, "severity": severity, "attrs": merged,
                "message": f"{message}; {merged['repeats']} times since "
                           f"{merged['since_ms']} ms UTC, {counts} in all"[:500],
            })  # fmt: skip
            self._incoming.events = [e for e in self._incoming.events if e.id != prev.id]
        else:
            counts = ", ".join(f"{attrs[k]} {k}" for k in ADDITIVE if k in attrs)
            event = EventMessage(
                gw=self.gateway_id,
                id=secrets.token_urlsafe(12),
                ts=now,
                type=EventType.BUFFER,
                severity=severity,
                message=f"{message}; {counts}"[:500],
                attrs={**attrs, "repeats": 1, "since_ms": now},
            )
        self._notices[action] = event
        self.put_event(event)

    # --------------------------------------------------- the session's side

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, batch_id: object) -> bool:
        return isinstance(batch_id, str) and self._alias.get(batch_id, batch_id) in self._items

    def ids(self) -> list[str]:
        """The current id of every pending batch, oldest first."""
        return [i.id for i in self._items.values()]

    @property
    def pending_readings(self) -> int:
        return sum(i.readings for i in self._items.values())

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    @property
    def pending_events(self) -> int:
        return len(self._events)

    def oldest_ms(self) -> int | None:
        """Time of the oldest reading not yet acknowledged (batched, unbatched or held)."""
        times = [i.t_min for i in self._items.values()]
        if self._held:
            times.append(min(r.ts_ms for r in self._held))
        first = self._first_unbatched
        if first is not None:
            times.append(first)
        return min(times) if times else None

    def reset_sent(self) -> None:
        """After a (re)connect: everything stored is backlog and due again."""
        for item in self._items.values():
            item.sent_at = None
            item.live = False
        for ev in self._events.values():
            ev.sent_at = None
        self._changed.set()
        self._events_changed.set()

    def mark_sent(self, item: PendingBatch) -> None:
        if item.attempts == 0:
            self.totals.sent += item.readings
        item.sent_at = self.monotonic()
        item.attempts += 1
        item.live = False
        item.payload = b""  # reloaded from the file for a resend; keeps RSS flat

    def _timed_out(self, sent_at: float | None, now: float) -> bool:
        return sent_at is None or now - sent_at >= self.ack_timeout_s

    def _select(self, use_bucket: bool) -> tuple[list[PendingBatch], float | None]:
        """Due batches (live first, then backlog within the bucket) and the next wake-up."""
        now = self.monotonic()
        live = [i for i in self._items.values() if i.live and i.sent_at is None]
        inflight = sum(
            1
            for i in self._items.values()
            if i.sent_at is not None and not self._timed_out(i.sent_at, now)
        )
        picked: list[PendingBatch] = []
        wake: float | None = None
        for item in self._items.values():
            if item.live and item.sent_at is None:
                continue
            if not self._timed_out(item.sent_at, now):
                deadline = item.sent_at + self.ack_timeout_s  # type: ignore[operator]
                wake = deadline if wake is None else min(wake, deadline)
                continue
            if inflight >= self.config.max_inflight:
                break  # an ack (or a timeout) wakes us
            if use_bucket and not self.bucket.take(item.readings):
                at = now + self.bucket.wait_s(item.readings)
                wake = at if wake is None else min(wake, at)
                break
            picked.append(item)
            inflight += 1
        return live + picked, wake

    async def _load(self, items: list[PendingBatch]) -> list[PendingBatch]:
        missing = [i.id for i in items if not i.payload]
        if missing and self._store is not None:
            payloads = await self._run(self._store.payloads, missing)
            for item in items:
                if not item.payload:
                    item.payload = payloads.get(item.id, b"")
        return [i for i in items if i.payload and self._items.get(i.origin) is i]

    async def _publishing(self, items: list[PendingBatch]) -> list[PendingBatch]:
        """Before a batch is published the first time, record durably that it was: from
        then on the cloud may hold it in full, and thinning must keep its flags."""
        first = [i for i in items if not i.published]
        if first:
            for item in first:
                item.published = True
                self._deferred.sent_batches.append(item.id)
            await self.flush()
        # thinned or acknowledged during the flush: skipped now, the new version is due later
        return [i for i in items if i.payload and self._items.get(i.origin) is i]

    async def due(self) -> list[PendingBatch]:
        """Everything due now, payloads loaded, without the token bucket (shutdown flush)."""
        items, _ = self._select(use_bucket=False)
        return await self._publishing(await self._load(items))

    async def wait_due(self) -> list[PendingBatch]:
        """Wait until some batch may be sent; return them with payloads, live first."""
        while True:
            self._changed.clear()
            items, wake = self._select(use_bucket=True)
            if items:
                loaded = await self._publishing(await self._load(items))
                if loaded:
                    return loaded
                continue
            timeout = None if wake is None else max(0.0, wake - self.monotonic())
            await wait_event(self._changed, timeout)

    def ack(self, batch_ids: Iterable[str]) -> list[PendingBatch]:
        """Forget the batches a write-ack names (deleted with the next commit)."""
        removed = []
        for batch_id in batch_ids:
            item = self._unindex(batch_id)  # by its own id, or the one it was cut with
            if item is not None:
                removed.append(item)
                self._deferred.acked_batches.append(item.id)
        if removed:
            self.counters.acked += len(removed)
            self.totals.acked += sum(i.readings for i in removed)
            self.last_ack_ms = now_ms()
            self._deferred.meta["last_ack_ms"] = self.last_ack_ms
            self._changed.set()
            self._wake.set()
        return removed

    async def wait_empty(self, within_s: float | None = None) -> bool:
        """Wait until every batch is acknowledged; False if ``within_s`` passed first."""
        return await wait_event(self._empty, within_s)

    # events

    def due_events(self) -> list[PendingEvent]:
        now = self.monotonic()
        return [e for e in self._events.values() if self._timed_out(e.sent_at, now)]

    async def wait_events_due(self) -> list[PendingEvent]:
        while True:
            self._events_changed.clear()
            due = self.due_events()
            if due:
                return due
            deadlines = [e.sent_at + self.ack_timeout_s for e in self._events.values() if e.sent_at]
            timeout = max(0.0, min(deadlines) - self.monotonic()) if deadlines else None
            await wait_event(self._events_changed, timeout)

    def mark_event_sent(self, event: PendingEvent) -> None:
        event.sent_at = self.monotonic()
        event.attempts += 1

    def ack_events(self, event_ids: Iterable[str]) -> int:
        n = 0
        for event_id in event_ids:
            if self._unindex_event(event_id) is not None:
                self._deferred.acked_events.append(event_id)
                n += 1
        if n:
            self.counters.events_acked += n
            self._wake.set()
        return n
