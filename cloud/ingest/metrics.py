"""Ingest counters, read by tests and rendered as Prometheus text on ``/metrics``."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from cloud.metrics.text import Exposition, Histogram


@dataclass
class IngestMetrics:
    messages_in: int = 0
    points_in: int = 0
    points_written: int = 0
    batches_written: int = 0
    #: Batches delivered again after they were already written (resends absorbed).
    duplicates: int = 0
    #: Messages not taken because the write queue was full; the gateway resends them.
    shed: int = 0
    write_errors: int = 0
    write_retries: int = 0
    acks_sent: int = 0
    #: Devices refused by the per-gateway cardinality guard (readings dead-lettered).
    cardinality_refused: int = 0
    #: Dead letters the relational store failed to take (the message was not acknowledged).
    dead_letter_errors: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    #: The active alert about the time-series store ("" when none), and episodes by kind.
    store_alert: str = ""
    store_alerts: Counter[str] = field(default_factory=Counter)
    messages_by_channel: Counter[str] = field(default_factory=Counter)
    write_latency: Histogram = field(default_factory=Histogram)
    #: Seconds from a batch's ``sent`` (gateway clock) to its write-ack, last value.
    lag_s: float = 0.0
    #: Seconds from arrival to write-ack, last value (this worker's own queueing).
    queue_lag_s: float = 0.0
    queued_points: int = 0
    started: float = field(default_factory=time.time)

    def snapshot(self) -> dict[str, object]:
        return {
            "messages_in": self.messages_in,
            "points_in": self.points_in,
            "points_written": self.points_written,
            "batches_written": self.batches_written,
            "duplicates": self.duplicates,
            "shed": self.shed,
            "write_errors": self.write_errors,
            "write_retries": self.write_retries,
            "acks_sent": self.acks_sent,
            "cardinality_refused": self.cardinality_refused,
            "dead_letter_errors": self.dead_letter_errors,
            "rejects": dict(self.rejects),
            "queued_points": self.queued_points,
            "store_alert": self.store_alert,
            "store_alerts": dict(self.store_alerts),
        }

    def render(self, worker: str = "") -> str:
        """Prometheus text exposition of every ingest metric."""
        e = Exposition()
        if worker:
            e.gauge("dehong_ingest_info", "This worker's MQTT client id", [({"worker": worker}, 1)])
        e.counter(
            "dehong_ingest_messages_total",
            "MQTT messages taken, by channel",
            [({"channel": ch}, n) for ch, n in sorted(self.messages_by_channel.items())]
            or [({"channel": "data"}, 0)],
        )
        e.counter("dehong_ingest_points_in_total", "Points accepted for writing", self.points_in)
        e.counter(
            "dehong_ingest_points_written_total",
            "Points the time-series store took",
            self.points_written,
        )
        e.counter(
            "dehong_ingest_batches_written_total", "Data batches written", self.batches_written
        )
        e.counter(
            "dehong_ingest_duplicates_total",
            "Batches delivered again after they were written (resends absorbed)",
            self.duplicates,
        )
        e.counter(
            "dehong_ingest_shed_total",
            "Batches not taken because the write queue was full (the gateway resends)",
            self.shed,
        )
        e.counter(
            "dehong_ingest_rejects_total",
            "Messages or parts dead-lettered, by reason",
            [({"reason": code}, n) for code, n in sorted(self.rejects.items())]
            or [({"reason": "none"}, 0)],
        )
        e.counter("dehong_ingest_write_errors_total", "Failed write requests", self.write_errors)
        e.counter(
            "dehong_ingest_write_retries_total",
            "Write requests retried because the store was unavailable",
            self.write_retries,
        )
        e.counter("dehong_ingest_acks_total", "Write-ack entries published", self.acks_sent)
        e.counter(
            "dehong_ingest_cardinality_refused_total",
            "Series refused by the per-gateway device cap",
            self.cardinality_refused,
        )
        e.counter(
            "dehong_ingest_dead_letter_errors_total",
            "Dead letters the relational store failed to take (message not acknowledged)",
            self.dead_letter_errors,
        )
        kinds = sorted(set(self.store_alerts) | {"store_unavailable"})
        e.gauge(
            "dehong_ingest_store_alert",
            "1 while the time-series store refuses writes for a reason other than the data",
            [({"kind": k}, 1 if k == self.store_alert else 0) for k in kinds],
        )
        e.counter(
            "dehong_ingest_store_alerts_total",
            "Time-series store outages (auth, missing database, unavailable), by kind",
            [({"kind": k}, self.store_alerts[k]) for k in kinds],
        )
        e.histogram(
            "dehong_ingest_write_latency_seconds",
            "Time-series write request latency",
            self.write_latency,
        )
        e.gauge(
            "dehong_ingest_lag_seconds",
            "Gateway send time to write-ack, newest batch (gateway clock)",
            self.lag_s,
        )
        e.gauge(
            "dehong_ingest_queue_lag_seconds",
            "Arrival to write-ack in this worker, newest batch",
            self.queue_lag_s,
        )
        e.gauge("dehong_ingest_queued_points", "Points waiting to be written", self.queued_points)
        e.gauge("dehong_ingest_start_time_seconds", "Worker start, unix time", self.started)
        return e.render()
