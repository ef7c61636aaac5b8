"""Ingest counters. Tests read them; ``/metrics`` will expose them (Prometheus text)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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
    acks_sent: int = 0
    rejects: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, object]:
        return {
            "messages_in": self.messages_in,
            "points_in": self.points_in,
            "points_written": self.points_written,
            "batches_written": self.batches_written,
            "duplicates": self.duplicates,
            "shed": self.shed,
            "write_errors": self.write_errors,
            "acks_sent": self.acks_sent,
            "rejects": dict(self.rejects),
        }
