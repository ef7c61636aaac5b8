"""Ingest counters, read by tests and exposed on ``/metrics`` through prometheus_client
(a registry per worker, never the process-global one)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cloud.metrics.histogram import Histogram


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

    def registry(self, worker: str = "") -> CollectorRegistry:
        """A registry of its own (never prometheus_client's global one) serving these
        counters; :mod:`cloud.metrics.server` exposes it."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(IngestCollector(self, worker))
        return registry

    def render(self, worker: str = "") -> str:
        """Prometheus text exposition of every ingest metric."""
        return generate_latest(self.registry(worker)).decode()


class IngestCollector(Collector):
    """Reads an :class:`IngestMetrics` at scrape time: the hot path keeps plain ints."""

    def __init__(self, metrics: IngestMetrics, worker: str = "") -> None:
        self.metrics = metrics
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        if self.worker:
            info = GaugeMetricFamily(
                "dehong_ingest_info", "This worker's MQTT client id", labels=["worker"]
            )
            info.add_metric([self.worker], 1)
            yield info
        messages = CounterMetricFamily(
            "dehong_ingest_messages", "MQTT messages taken, by channel", labels=["channel"]
        )
        for channel, n in sorted(m.messages_by_channel.items()) or [("data", 0)]:
            messages.add_metric([channel], n)
        yield messages
        for name, doc, value in (
            ("points_in", "Points accepted for writing", m.points_in),
            ("points_written", "Points the time-series store took", m.points_written),
            ("batches_written", "Data batches written", m.batches_written),
            (
                "duplicates",
                "Batches delivered again after they were written (resends absorbed)",
                m.duplicates,
            ),
            (
                "shed",
                "Batches not taken because the write queue was full (the gateway resends)",
                m.shed,
            ),
            ("write_errors", "Failed write requests", m.write_errors),
            (
                "write_retries",
                "Write requests retried because the store was unavailable",
                m.write_retries,
            ),
            ("acks", "Write-ack entries published", m.acks_sent),
            (
                "cardinality_refused",
                "Series refused by the per-gateway device cap",
                m.cardinality_refused,
            ),
        ):
            yield CounterMetricFamily(f"dehong_ingest_{name}", doc, value=value)
        rejects = CounterMetricFamily(
            "dehong_ingest_rejects", "Messages or parts dead-lettered, by reason", labels=["reason"]
        )
        for code, n in sorted(m.rejects.items()) or [("none", 0)]:
            rejects.add_metric([code], n)
        yield rejects
        yield m.write_latency.family(
            "dehong_ingest_write_latency_seconds", "Time-series write request latency"
        )
        for name, doc, value in (
            (
                "lag_seconds",
                "Gateway send time to write-ack, newest batch (gateway clock)",
                m.lag_s,
            ),
            (
                "queue_lag_seconds",
                "Arrival to write-ack in this worker, newest batch",
                m.queue_lag_s,
            ),
            ("queued_points", "Points waiting to be written", m.queued_points),
            ("start_time_seconds", "Worker start, unix time", m.started),
        ):
            yield GaugeMetricFamily(f"dehong_ingest_{name}", doc, value=value)
        yield CounterMetricFamily(
            "dehong_ingest_dead_letter_errors",
            "Dead letters the relational store failed to take (message not acknowledged)",
            value=m.dead_letter_errors,
        )
        kinds = sorted(set(m.store_alerts) | {"store_unavailable"})
        alert = GaugeMetricFamily(
            "dehong_ingest_store_alert",
            "1 while the time-series store refuses writes for a reason other than the data",
            labels=["kind"],
        )
        alerts = CounterMetricFamily(
            "dehong_ingest_store_alerts",
            "Time-series store outages (auth, missing database, unavailable), by kind",
            labels=["kind"],
        )
        for kind in kinds:
            alert.add_metric([kind], 1 if kind == m.store_alert else 0)
            alerts.add_metric([kind], m.store_alerts[kind])
        yield alert
        yield alerts
