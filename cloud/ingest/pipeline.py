"""Validate -> coalesce -> write -> acknowledge.

:class:`Ingest` takes raw MQTT messages (topic, payload) and never raises on
input: whatever breaks the wire contract goes to the dead-letter store with the
field and the reason, and the good data beside it is still written.

Data batches are validated on arrival and queued; ``write_concurrency`` writer
tasks coalesce queued batches into large writes (up to ``write_points`` points,
lingering at most ``linger_s`` for more), and only after the time-series store
has taken a write is the write-ack published to the gateway. If the store is
down, a writer holds its group and retries with backoff
(:mod:`cloud.ingest.writer`); the queue is bounded, so further batches are *shed*
(not acknowledged, not lost: the gateway keeps and resends them). Points the
store refuses for their content are found by bisection and dead-lettered one by
one with the store's reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from itertools import accumulate

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.owners import Owners
from cloud.db import Database, utcnow
from cloud.db.upsert import dialect_insert, upsert
from cloud.devices import commands, completeness
from cloud.devices.storage import READING_COUNTERS, GatewayHealth
from cloud.ingest import ownership
from cloud.ingest.alerts import StoreAlerts
from cloud.ingest.cardinality import CardinalityGuard
from cloud.ingest.convert import MOBILE_KINDS, point_batch, series_block
from cloud.ingest.deadletter import DeadLetters
from cloud.ingest.hooks import IngestHooks
from cloud.ingest.metrics import IngestMetrics
from cloud.ingest.registry import DeviceSeen, KnownGateway, Registry, ms_to_dt
from cloud.ingest.storage import EventRecord, ReceivedBatch
from cloud.ingest.writer import PointWriter, Refused
from cloud.inspections.ingest import record_inspection
from cloud.timeseries import (
    QUALITY_SUFFIX,
    Point,
    PointBlock,
    TimeSeriesError,
    TimeSeriesStore,
    rollup,
)
from protocol import positions
from protocol.codec import ProtocolError, decode, encode
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import (
    AckEntry,
    AssetKind,
    Birth,
    CommandAck,
    DataBatch,
    Death,
    EventMessage,
    Health,
    Series,
    WriteAck,
)
from protocol.topics import Channel, Topic, TopicError
from protocol.window import check_batch

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]


@dataclass(slots=True)
class _Accepted:
    """A validated data batch waiting to be written; or (``batch`` None) the point of
    a health or inspection message, queued like data so that a hung store never
    stalls the receive loop."""

    topic: Topic
    batch: DataBatch | None
    #: the points to write, one block per series
    blocks: list[PointBlock]
    #: points in ``blocks``, less those the store refused
    points: int
    rejected: int
    devices: list[DeviceSeen]
    #: readings (metric values) in ``blocks``
    stored: int = 0
    received: float = field(default_factory=time.monotonic)
    #: for a non-data item: the ack to publish once written (an event's), if any
    ack: AckEntry | None = None
    #: for a non-data item: the message, dead-lettered as it is if its point is refused
    payload: bytes = b""


class Ingest:
    def __init__(
        self,
        db: Database,
        tsdb: TimeSeriesStore,
        publish: Publish,
        *,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.time,
        write_points: int = 5000,
        linger_s: float = 0.05,
        max_queued_points: int = 500_000,
        retry_max_s: float = 10.0,
        write_concurrency: int = 2,
        max_devices_per_gateway: int = 2000,
        dead_letters: DeadLetters | None = None,
        remark_after_s: float = 0.0,
        worker: str = "",
        hooks: IngestHooks | None = None,
    ) -> None:
        self.db = db
        self.tsdb = tsdb
        self.publish = publish
        self.limits = limits
        self.clock = clock
        self.write_points = write_points
        self.linger_s = linger_s
        self.max_queued_points = max_queued_points
        self.retry_max_s = retry_max_s
        if write_concurrency < 1:
            raise ValueError("write_concurrency: at least 1 writer is needed")
        self.write_concurrency = write_concurrency
        self.registry = Registry(db)
        self.owners = Owners(db)
        self.dead = dead_letters if dead_letters is not None else DeadLetters(db)
        self.metrics = IngestMetrics()
        self.alerts = StoreAlerts(db, self.metrics, worker)
        self.writer = PointWriter(
            tsdb,
            retry_max_s=retry_max_s,
            on_latency=self.metrics.write_latency.observe,
            on_retry=self._on_retry,
            on_success=self.alerts.ok,
        )
        self.devices = CardinalityGuard(db, max_devices_per_gateway)
        self.marks = rollup.Marker(db, remark_after_s)
        #: post-write hooks (:mod:`cloud.ingest.hooks`): higher floors register here
        self.hooks = hooks if hooks is not None else IngestHooks()
        self._queue: asyncio.Queue[_Accepted] = asyncio.Queue()
        self._queued_points = 0
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ input

    def _on_retry(self, exc: TimeSeriesError) -> None:
        self.metrics.write_errors += 1
        self.metrics.write_retries += 1
        self.alerts.failed(exc)

    async def handle(self, topic: str, payload: bytes) -> ProtocolError | None:
        """Take one message. Never raises on bad input: returns the rejection (already
        dead-lettered) or None. An infrastructure failure (the relational store down)
        is logged and the message left unacknowledged."""
        self.metrics.messages_in += 1
        self.metrics.messages_by_channel[_channel_label(topic)] += 1
        try:
            await self._dispatch(topic, payload)
        except _Reject as r:
            self.metrics.rejects[r.error.code] += 1
            try:
                await self._put_dead(
                    topic, payload, r.error.code, r.error.field, r.error.reason, r.county, r.gateway
                )
            except _Unstored:
                return _UNSTORED
            return r.error
        except _Unstored:
            return _UNSTORED
        except Exception:
            # Not an input error: a bug or an outage. Nothing is acknowledged, so the
            # gateway resends; log loudly and keep the worker alive.
            log.exception("ingest failed on %s; the message stays unacknowledged", topic)
            return ProtocolError("internal", "", "not processed; see the worker log")
        return None

    async def _dispatch(self, topic_str: str, payload: bytes) -> None:
        try:
            topic = Topic.parse(topic_str)
        except TopicError as exc:
            raise _Reject(ProtocolError("bad_topic", "topic", str(exc))) from None
        ctx = {"county": topic.county, "gateway": topic.gateway}
        if not payload and topic.channel in (Channel.BIRTH, Channel.DEATH):
            return  # a cleared retained message
        try:
            match topic.channel:
                case Channel.DATA:
                    await self._on_data(topic, payload)
                case Channel.BIRTH:
                    birth = decode(Birth, payload, self.limits)
                    await self._authorize(topic, birth.gw)
                    await self.registry.on_birth(birth)
                case Channel.DEATH:
                    death = decode(Death, payload, self.limits)
                    await self._authorize(topic, death.gw)
                    await self.registry.on_death(death)
                case Channel.EVENT:
                    await self._on_event(topic, payload)
                case Channel.HEALTH:
                    await self._on_health(topic, payload)
                case Channel.CMD_ACK:
                    ack = decode(CommandAck, payload, self.limits)
                    await self._authorize(topic, ack.gw)
                    log.info("cmd/ack %s from %s: %s", ack.id, ack.gw, ack.status)
                    await commands.record_ack(self.db, ack)
                case _:
                    raise ProtocolError(
                        "wrong_direction", "topic", f"channel {topic.channel} is cloud -> gateway"
                    )
        except ProtocolError as exc:
            raise _Reject(exc, **ctx) from None

    async def _authorize(self, topic: Topic, payload_gw: str) -> KnownGateway:
        """topic gateway = payload gateway = a registered gateway of that county."""
        if payload_gw != topic.gateway:
            raise ProtocolError(
                "gateway_mismatch",
                "gw",
                f"payload gateway {payload_gw!r} is not the topic's gateway {topic.gateway!r}",
            )
        known = await self.registry.gateway(topic.gateway)
        if known is None:
            raise ProtocolError(
                "unregistered",
                "gw",
                f"gateway {topic.gateway!r} is not registered; provision it with "
                "`dehong cloud gateway add`",
            )
        if known.county != topic.county:
            raise ProtocolError(
                "county_mismatch",
                "topic",
                f"gateway {topic.gateway!r} belongs to county {known.county}, not {topic.county}",
            )
        if known.revoked:
            raise ProtocolError("revoked", "gw", f"gateway {topic.gateway!r} is revoked")
        return known

    async def _on_data(self, topic: Topic, payload: bytes) -> None:
        batch = decode(DataBatch, payload, self.limits)
        known = await self._authorize(topic, batch.gw)
        now_ms = int(self.clock() * 1000)
        skip: dict[int, set[int]] = defaultdict(set)
        for rej in check_batch(batch, now_ms, self.limits):
            skip[rej.series_index].update(rej.indices)
            await self._reject_part(topic, payload, rej.code, rej.field, rej.reason)
        blocks: list[PointBlock] = []
        npoints = 0
        devices: list[DeviceSeen] = []
        rejected = 0
        stored = 0
        owners = await self.owners.owners(s.device for s in batch.series if s.kind in MOBILE_KINDS)
        for i, series in enumerate(batch.series):
            why = await ownership.refusal(series, batch.gw, self.registry)
            if why is not None:
                await self._reject_part(
                    topic, payload, "device_not_owned", f"series[{i}].device", why
                )
                rejected += series.reading_count()
                continue
            county = ownership.reading_county(series, known.county, owners)
            if not await self.devices.admit(batch.gw, series.device):
                self.metrics.cardinality_refused += 1
                await self._reject_part(
                    topic,
                    payload,
                    "too_many_devices",
                    f"series[{i}].device",
                    f"gateway {batch.gw!r} already reports {self.devices.cap} devices, the cap "
                    f"per gateway; new device {series.device!r} refused. Register fewer "
                    "devices or raise DEHONG_INGEST_MAX_DEVICES_PER_GATEWAY",
                )
                rejected += series.reading_count()
                continue
            dropped = 0
            if series.kind == AssetKind.VEHICLE:
                series, dropped = await self._position_values(topic, payload, i, series)
            block = series_block(series, county, known.site, skip.get(i, ()))
            refused_here = _readings_at(series, skip.get(i, ()))
            rejected += dropped
            rejected += refused_here
            if block is not None:
                blocks.append(block)
                npoints += len(block)
                readings = series.reading_count() - refused_here
                stored += readings
                devices.append(
                    DeviceSeen(
                        series.device,
                        county,
                        series.kind.value,
                        series.site or known.site,
                        batch.gw,
                        set(series.values),
                        max(block.ts_ms),
                        readings,
                    )
                )
        self.metrics.points_in += npoints
        item = _Accepted(topic, batch, blocks, npoints, rejected, devices, stored)
        if not npoints:
            # Nothing storable: every reading went to the dead-letter store. Acknowledge
            # as rejected so the gateway does not resend it forever.
            await self._finish([item])
            return
        if not self._enqueue(item):
            log.warning(
                "write queue full (%d points): batch %s of %s not taken; the gateway resends it",
                self._queued_points,
                batch.id,
                batch.gw,
            )

    def _enqueue(self, item: _Accepted) -> bool:
        """Queue an item for the writers; False (shed, counted) when the queue is full."""
        if self._queued_points + item.points > self.max_queued_points:
            self.metrics.shed += 1
            return False
        self._queued_points += item.points
        self.metrics.queued_points = self._queued_points
        self._idle.clear()
        self._queue.put_nowait(item)
        return True

    def _enqueue_point(
        self, topic: Topic, point: Point, payload: bytes, ack: AckEntry | None = None
    ) -> bool:
        block = PointBlock(
            point.measurement,
            point.device,
            point.county,
            point.site,
            [point.ts_ms],
            {k: [v] for k, v in point.fields.items()},
        )
        item = _Accepted(topic, None, [block], 1, 0, [], 0, ack=ack, payload=payload)
        if not self._enqueue(item):
            return False
        self.metrics.points_in += 1
        return True

    async def _position_values(
        self, topic: Topic, payload: bytes, index: int, series: Series
    ) -> tuple[Series, int]:
        """A vehicle's position values outside their ranges (``protocol.positions``:
        lat 95, a negative speed, ...) are dead-lettered with the field and the reason,
        one dead letter per metric; the series goes on without them (and without the
        other half of a bad lat or lon at that instant), its other readings stored.
        Returns the series to store and how many readings were refused."""
        bad = positions.out_of_range(series.values)
        if not bad:
            return series, 0
        values = {m: list(column) for m, column in series.values.items()}
        dropped = 0
        for metric, found in bad.items():
            first, reason = found[0]
            more = f" ({len(found)} readings of {metric} in this series)" if len(found) > 1 else ""
            await self._reject_part(
                topic,
                payload,
                "position_out_of_range",
                f"series[{index}].values.{metric}[{first}]",
                reason + more,
            )
            partner = positions.PAIRED.get(metric)
            for i, _ in found:
                for m in (metric, partner):
                    if m is not None and m in values and values[m][i] is not None:
                        values[m][i] = None
                        dropped += 1
        return series.model_copy(update={"values": values}), dropped

    async def _reject_part(
        self, topic: Topic, payload: bytes, code: str, field: str, reason: str
    ) -> None:
        self.metrics.rejects[code] += 1
        await self._put_dead(str(topic), payload, code, field, reason, topic.county, topic.gateway)

    async def _put_dead(
        self,
        topic: str,
        payload: bytes,
        code: str,
        field: str,
        reason: str,
        county: str,
        gateway: str,
    ) -> None:
        """Store a dead letter; if the relational store fails, raise :class:`_Unstored`
        (logged and counted) so that nothing of the message is acknowledged: the gateway
        resends it and the letter is stored then."""
        try:
            await self.dead.put(topic, payload, code, field, reason, county, gateway)
        except Exception as exc:
            self.metrics.dead_letter_errors += 1
            log.exception(
                "dead letter %s [%s] not stored; the message stays unacknowledged", topic, code
            )
            raise _Unstored from exc

    async def _on_event(self, topic: Topic, payload: bytes) -> None:
        ev = decode(EventMessage, payload, self.limits)
        known = await self._authorize(topic, ev.gw)
        async with self.db.transaction() as s:
            await upsert(
                s,
                EventRecord,
                {
                    "gateway_id": ev.gw,
                    "event_id": ev.id,
                    "county": known.county,
                    "ts": ms_to_dt(ev.ts),
                    "type": ev.type.value,
                    "device": ev.device,
                    "severity": ev.severity.value,
                    "message": ev.message,
                    "attrs": ev.model_dump(mode="json")["attrs"],
                },
                keys=("gateway_id", "event_id"),
            )
        self.hooks.event_stored(ev, known.county)
        ack = AckEntry(kind="event", id=ev.id, status="stored", stored=1)
        point = await record_inspection(self.db, ev, known)  # issue 5; None for other events
        if point is None:
            await self._send_acks(topic, [ack])
        elif not self._enqueue_point(topic, point, payload, ack):
            log.warning(
                "write queue full: inspection %s of %s not taken; the gateway resends it",
                ev.id,
                ev.gw,
            )

    async def _on_health(self, topic: Topic, payload: bytes) -> None:
        h = decode(Health, payload, self.limits)
        known = await self._authorize(topic, h.gw)
        fields = {
            k: float(v)
            for k, v in h.model_dump(
                include={
                    "uptime_s",
                    "buffer_depth",
                    "pending_batches",
                    "thinned",
                    "dropped",
                    "rss_bytes",
                    "cpu_percent",
                    "disk_free_bytes",
                    "sd_write_bytes",
                    *READING_COUNTERS,
                }
            ).items()
            if v is not None
        }
        if h.buffer_oldest_ms is not None:
            fields["buffer_oldest_age_s"] = max(0.0, (h.ts - h.buffer_oldest_ms) / 1000)
        fields["clock_trusted"] = 1.0 if h.clock == "trusted" else 0.0
        async with self.db.transaction() as s:
            await upsert(
                s,
                GatewayHealth,
                {
                    "gateway_id": h.gw,
                    "ts_ms": h.ts,
                    "pending_batches": h.pending_batches,
                    "buffer_depth": h.buffer_depth,
                    "buffer_oldest_ms": h.buffer_oldest_ms,
                    "clock": h.clock,
                    **{name: getattr(h, name) for name in READING_COUNTERS},
                },
                keys=("gateway_id",),
                update=(
                    "ts_ms", "pending_batches", "buffer_depth", "buffer_oldest_ms", "clock",
                    *READING_COUNTERS,
                ),
            )  # fmt: skip
        point = Point("gateway_health", h.gw, known.county, known.site, h.ts, fields)
        if not self._enqueue_point(topic, point, payload):
            # the relational row above is current; the next health message comes soon
            log.warning("write queue full: health of %s at %d not written", h.gw, h.ts)

    # ----------------------------------------------------------------- writer

    async def run_writer(self) -> None:
        """Run ``write_concurrency`` writers: each coalesces queued batches into one
        write of up to ``write_points`` points and acknowledges what is stored."""
        async with asyncio.TaskGroup() as tg:
            for i in range(self.write_concurrency):
                tg.create_task(self._writer_loop(), name=f"ingest-writer-{i}")

    async def _writer_loop(self) -> None:
        while True:
            first = await self._queue.get()
            self._inflight += 1
            group = [first]
            npoints = first.points
            deadline = time.monotonic() + self.linger_s
            while npoints < self.write_points:
                try:
                    timeout = deadline - time.monotonic()
                    item = (
                        self._queue.get_nowait()
                        if timeout <= 0
                        else await asyncio.wait_for(self._queue.get(), timeout)
                    )
                except (TimeoutError, asyncio.QueueEmpty):
                    break
                group.append(item)
                npoints += item.points
            try:
                await self._write_group(group)
            except Exception:
                # Not the data: the relational store or the broker (publishing the acks)
                # failed. Nothing more is acknowledged, the gateways resend, the writer
                # carries on with the next group.
                self.metrics.write_errors += 1
                log.exception(
                    "writing or acknowledging %d batches failed; they stay unacknowledged",
                    len(group),
                )
            finally:
                self._queued_points -= npoints
                self.metrics.queued_points = self._queued_points
                self._inflight -= 1
                if self._queue.empty() and self._inflight == 0:
                    self._idle.set()

    async def drained(self) -> None:
        """Wait until every queued batch is written (for tests and shutdown)."""
        await self._idle.wait()

    async def _write_group(self, group: list[_Accepted]) -> None:
        blocks = [b for item in group for b in item.blocks]
        refused = await self.writer.write(blocks)
        self.metrics.points_written += sum(item.points for item in group) - len(refused)
        if refused:
            await self._dead_letter_refused(group, refused)
        # the hours these points touched get their roll-ups recomputed (late data too;
        # an hour marked for a refused point alone is recomputed to what it holds)
        await self.marks.mark_blocks(blocks)
        stored = _stored_blocks(blocks, refused) if self.hooks.stored or self.hooks.written else []
        if self.hooks.stored:
            await self.hooks.blocks_stored(stored)
        await self._finish(group)
        if self.hooks.written:
            self.hooks.blocks_written(stored)

    async def _dead_letter_refused(self, group: list[_Accepted], refused: list[Refused]) -> None:
        """Exactly the points the store refused go to the dead-letter store, each as a
        one-reading batch (replayable) with the store's reason; the rest are stored."""
        self.metrics.write_errors += len(refused)
        # where each item's points start among the group's (the order they were written)
        starts = list(accumulate((item.points for item in group), initial=0))
        for r in sorted(refused, key=lambda r: r.index):
            item = group[bisect_right(starts, r.index) - 1]
            p = r.point
            self.metrics.rejects["store_refused"] += 1
            item.points -= 1
            if item.ack is not None:  # an inspection's point: the event as it came
                item.ack = item.ack.model_copy(update={"status": "rejected", "stored": 0})
            item.rejected += _metric_count(p)
            item.stored -= _metric_count(p)
            await self._put_dead(
                str(item.topic),
                encode(point_batch(item.batch, p)) if item.batch is not None else item.payload,
                "store_refused",
                f"series[device={p.device}].t={p.ts_ms}",
                f"the time-series store refused this point: {r.reason}",
                item.topic.county,
                item.topic.gateway,
            )

    async def _finish(self, group: list[_Accepted]) -> None:
        """Record the batches (counting duplicates), update the registry, send acks."""
        batches = [(item, item.batch) for item in group if item.batch is not None]
        if batches:
            try:
                async with self.db.transaction() as s:
                    fresh = await self._record_batches(s, [item for item, _ in batches])
                    by_gateway: dict[str, list[int]] = defaultdict(list)
                    for item in fresh:
                        assert item.batch is not None
                        by_gateway[item.batch.gw].append(item.batch.seq)
                    await completeness.advance(s, by_gateway)
                    devices = [d for item in fresh for d in item.devices]
                    await self.registry.seen((b.gw for _, b in batches), devices, s)
            except BaseException:
                self.registry.forget_metrics()
                raise
        self.metrics.batches_written += len(batches)
        now = self.clock()
        for item, b in batches:
            self.metrics.queue_lag_s = time.monotonic() - item.received
            if b.sent is not None:
                self.metrics.lag_s = max(0.0, now - b.sent / 1000)
        by_topic: dict[Topic, list[AckEntry]] = defaultdict(list)
        for item in group:
            if item.batch is None:
                if item.ack is not None:
                    by_topic[item.topic].append(item.ack)
                continue
            stored = item.stored
            status = "stored" if not item.rejected else ("partial" if stored else "rejected")
            by_topic[item.topic].append(
                AckEntry(
                    id=item.batch.id,
                    seq=item.batch.seq,
                    status=status,
                    stored=stored,
                    rejected=item.rejected,
                )
            )
        # one publish per gateway, all at once: each waits for the broker's PUBACK
        results = await asyncio.gather(
            *(self._send_acks(topic, entries) for topic, entries in by_topic.items()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _record_batches(self, s: AsyncSession, group: list[_Accepted]) -> list[_Accepted]:
        """Record each batch of the group not recorded before (one statement) and return
        those; a batch recorded already is a duplicate (a resend), its deliveries counted."""
        now = utcnow()
        first: dict[tuple[str, str], _Accepted] = {}
        for item in group:
            first.setdefault((item.batch.gw, item.batch.id), item)
        rows = [
            {
                "gateway_id": gw,
                "batch_id": batch_id,
                "seq": item.batch.seq,
                "points": item.points,
                "rejected": item.rejected,
                "deliveries": 1,
                "first_at": now,
                "last_at": now,
            }
            for (gw, batch_id), item in sorted(first.items())
        ]
        result = await s.execute(
            dialect_insert(s, ReceivedBatch)
            .on_conflict_do_nothing(index_elements=["gateway_id", "batch_id"])
            .returning(ReceivedBatch.gateway_id, ReceivedBatch.batch_id),
            rows,
        )
        inserted = {(gw, batch_id) for gw, batch_id in result}
        fresh = [first[key] for key in first if key in inserted]
        self.metrics.duplicates += len(group) - len(fresh)
        # every delivery of a batch recorded before (a later copy of one first seen in
        # this group is counted as a duplicate only)
        again = Counter(
            (item.batch.gw, item.batch.id)
            for item in group
            if (item.batch.gw, item.batch.id) not in inserted
        )
        for (gw, batch_id), n in sorted(again.items()):
            await s.execute(
                update(ReceivedBatch)
                .where(ReceivedBatch.gateway_id == gw, ReceivedBatch.batch_id == batch_id)
                .values(
                    deliveries=ReceivedBatch.deliveries + n,
                    last_at=ms_to_dt(int(self.clock() * 1000)),
                )
            )
        return fresh

    async def _send_acks(self, topic: Topic, entries: list[AckEntry]) -> None:
        ack = WriteAck(gw=topic.gateway, ts=int(self.clock() * 1000), acks=entries)
        target = Topic(topic.county, topic.gateway, Channel.ACK)
        await self.publish(str(target), encode(ack))
        self.metrics.acks_sent += len(entries)


class _Unstored(Exception):
    """A dead letter could not be stored (the relational store failed); logged already."""


_UNSTORED = ProtocolError(
    "internal", "", "refused, but the dead letter was not stored; not acknowledged (resend)"
)


class _Reject(Exception):
    def __init__(self, error: ProtocolError, county: str = "", gateway: str = "") -> None:
        super().__init__(str(error))
        self.error = error
        self.county = county
        self.gateway = gateway


def _stored_blocks(blocks: list[PointBlock], refused: list[Refused]) -> list[PointBlock]:
    """The blocks as stored: without the points the store refused."""
    if not refused:
        return blocks
    gone = {(r.point.device, r.point.ts_ms) for r in refused}
    out = []
    for b in blocks:
        keep = [i for i, t in enumerate(b.ts_ms) if (b.device, t) not in gone]
        if len(keep) == len(b.ts_ms):
            out.append(b)
        elif keep:
            out.append(
                PointBlock(
                    b.measurement,
                    b.device,
                    b.county,
                    b.site,
                    [b.ts_ms[i] for i in keep],
                    {k: [c[i] for i in keep] for k, c in b.columns.items()},
                )
            )
    return out


def _metric_count(p: Point) -> int:
    """Readings in a point: its fields other than quality flags."""
    return sum(1 for k in p.fields if QUALITY_SUFFIX not in k)


def _channel_label(topic: str) -> str:
    """The channel of a topic, for the messages counter; bounded to known channels."""
    try:
        return Topic.parse(topic).channel.value
    except TopicError:
        return "bad_topic"


def _readings_at(series: Series, indices: Collection[int]) -> int:
    """How many readings (non-null values) a series has at these positions."""
    if not indices:
        return 0
    return sum(1 for column in series.values.values() for i in indices if column[i] is not None)
