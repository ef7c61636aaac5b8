"""A gateway's reading counters: taken, sent, acked, pending (and thinned, dropped).

Unit, everywhere (``dehong edge status``, the ``health`` message, the API): **readings**.
A reading is one value of one metric of one device at one instant (device x metric x
instant, as the wire contract defines it); a metric a driver could not read (None) is
no reading. A Modbus poll of a room that returns temperature, humidity and door state
is one *sample* (a device-instant) and three readings.

- ``taken``: committed to the buffer (the group commit's fsync returned); counted in
  the same transaction that stores them.
- ``sent``: in data batches published to the broker. A batch counts once per run
  of the gateway: a resend after an ack timeout or a reconnect is not counted again,
  a resend after a restart is (delivery is at-least-once; ``acked`` is what arrived).
- ``acked``: in batches a cloud write-ack named (the batch is then deleted).
- ``pending``: in the buffer now and not acknowledged: not yet batched, held for the
  clock, or in batches waiting for their write-ack.
- ``thinned`` / ``dropped``: removed by the buffer's size and age bounds.

The totals count from the day the buffer file was created (they live in its ``meta``
table and survive restarts), so that, with the gateway stopped,
``taken = acked + pending + thinned + dropped``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.store import Store

UNIT = "readings"
#: The buffer's ``meta`` keys of the totals.
META_PREFIX = "readings_"


def readings_of(values: dict[str, float | None]) -> int:
    """The readings in one sample's values: the metrics that were read."""
    return sum(1 for v in values.values() if v is not None)


@dataclass(slots=True)
class ReadingTotals:
    """Readings counted since the buffer file was created (see the module docstring)."""

    taken: int = 0
    sent: int = 0
    acked: int = 0
    thinned: int = 0
    dropped: int = 0

    @classmethod
    def from_meta(cls, meta: dict[str, int]) -> ReadingTotals:
        return cls(**{k: int(meta.get(META_PREFIX + k, 0)) for k in asdict(cls())})

    def meta(self) -> dict[str, int]:
        return {META_PREFIX + k: v for k, v in asdict(self).items()}

    def copy(self) -> ReadingTotals:
        return ReadingTotals(**asdict(self))


def read_counters(path: Path) -> dict[str, Any]:
    """The totals and the pending readings of a buffer file, from one read snapshot.

    Opens the file read-only (a WAL reader never blocks the running gateway); used by
    ``dehong edge status`` offline and by the gateway for its health message."""
    store = Store(path, readonly=True)
    try:
        store.db.execute("BEGIN")
        try:
            totals = ReadingTotals.from_meta(store.meta())
            pending = store.pending_readings()
        finally:
            store.db.execute("COMMIT")
    finally:
        store.close()
    return {"unit": UNIT, **asdict(totals), "pending": pending}
