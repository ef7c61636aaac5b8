"""The buffer's SQLite file: schema, settings and every statement, synchronous.

All calls come from one thread (the buffer's writer, see :mod:`edge.buffer`);
this module knows SQL, not asyncio.

Settings, and why (the README argues power loss from them):

- ``journal_mode=WAL``: a commit appends to the write-ahead log; readers
  (``dehong edge status``) never block the writer.
- ``synchronous=FULL``: every commit fsyncs the WAL before it returns, so a
  committed row survives a crash of the process *and* of the OS. (NORMAL, the
  usual WAL setting, may lose the last commits on power loss.)
- one transaction per group commit (many samples, one fsync), at most one
  group commit per ``commit_interval_ms``; cutting a batch (insert the batch,
  delete its samples, record the next seq in ``meta``, one transaction) is
  fsynced too: the state file already holds the batch's seq, and a batch may be
  published only once it survives a power cut (else a resend after the cut
  would be missing and the seq a permanent gap);
- ``journal_size_limit``: the WAL is truncated back after checkpoints, so the
  SD card does not keep a large file around.

Tables:

- ``samples``: readings handed over by drivers and not yet in a batch (one row
  per device and instant, ``body`` = orjson of the values), with the wall time,
  monotonic time and boot they were taken under; ``held`` while their wall time
  cannot be established;
- ``batches``: encoded data batches waiting for the cloud's write-ack; ``sent``
  once published (the cloud may hold it, so thinning must not flag its points);
- ``events``: encoded events waiting for the cloud's write-ack (never dropped);
- ``boots``: boot ids, numbered; ``meta``: last good wall time, last ack, the
  seq after the last batch stored (``next_seq``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS boots (no INTEGER PRIMARY KEY, boot_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    mono_ms INTEGER NOT NULL,
    boot INTEGER NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    t_min INTEGER NOT NULL,
    readings INTEGER NOT NULL,
    thinned INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    payload BLOB NOT NULL
);
"""

log = logging.getLogger(__name__)

#: WAL size kept after a checkpoint, bytes.
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SampleRow:
    id: int
    ts_ms: int
    mono_ms: int
    boot: int
    held: bool
    body: bytes


@dataclass(frozen=True, slots=True)
class BatchRow:
    id: str
    seq: int
    created_ms: int
    t_min: int
    readings: int
    thinned: bool
    size: int
    sent: bool = False


@dataclass(frozen=True, slots=True)
class NewBatch:
    id: str
    seq: int
    created_ms: int
    t_min: int
    readings: int
    payload: bytes
    #: The sample rows this batch was cut from; deleted in the same transaction.
    sample_ids: Sequence[int]


@dataclass(slots=True)
class Work:
    """Everything one group commit writes, in one transaction."""

    samples: list[tuple[int, int, int, int, int, bytes]] = field(default_factory=list)
    released: list[tuple[int, int]] = field(default_factory=list)  # (ts_ms, id)
    batches: list[NewBatch] = field(default_factory=list)
    events: list[tuple[str, int, bytes]] = field(default_factory=list)
    acked_batches: list[str] = field(default_factory=list)
    acked_events: list[str] = field(default_factory=list)
    dropped_batches: list[str] = field(default_factory=list)
    dropped_events: list[str] = field(default_factory=list)
    sent_batches: list[str] = field(default_factory=list)
    meta: dict[str, int] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (
            self.samples
            or self.released
            or self.batches
            or self.events
            or self.acked_batches
            or self.acked_events
            or self.dropped_batches
            or self.dropped_events
            or self.sent_batches
            or self.meta
        )


def id_ranges(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted ids as inclusive ``(first, last)`` runs: few DELETEs for many rows."""
    out: list[tuple[int, int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


class Checkpointer:
    """Checkpoints the WAL from its own thread and connection, off the writer's path.

    A PASSIVE checkpoint never blocks the writer; the next commit after a complete
    one rewinds the WAL (and ``journal_size_limit`` truncates it). Durability does
    not depend on it: every commit is already fsynced in the WAL.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wake = threading.Event()
        self._closed = False
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="buffer-checkpoint", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA synchronous=FULL")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closed:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # the next request tries again
                    log.warning("buffer checkpoint of %s failed: %s", self.path, exc)
                    continue
                self.checkpoints += 1
        finally:
            db.close()


class Store:
    """One buffer database. Not thread-safe: use it from one thread."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            uri = f"file:{self.path}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            # a file from before the ``sent`` column (``dehong edge status`` after an upgrade)
            self._sent = "sent" if "sent" in self._columns("batches") else "0"
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(
                f"{self.path}: SQLite refused WAL mode ({mode}); put the buffer on a local "
                "filesystem (not NFS or a FAT-formatted stick)"
            )
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        # No checkpoint on the writer's commits: a checkpoint copies the WAL into the
        # database and fsyncs it, which on an SD card held a hand-over for hundreds of
        # ms. The checkpointer thread does it beside the writer (WAL mode lets it).
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self.db.executescript(SCHEMA)
        if "sent" not in self._columns("batches"):  # a file from before the column
            self.db.execute("ALTER TABLE batches ADD COLUMN sent INTEGER NOT NULL DEFAULT 0")
        self._sent = "sent"
        self._wal = Path(f"{self.path}-wal")
        self._checkpointer = Checkpointer(self.path)

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        checkpointer = getattr(self, "_checkpointer", None)
        if checkpointer is not None:
            checkpointer.close()
        self.db.close()

    def _after_commit(self) -> None:
        """Ask for a checkpoint once the WAL has grown past ~16 MiB."""
        try:
            size = os.stat(self._wal).st_size
        except FileNotFoundError:
            return
        if size >= JOURNAL_SIZE_LIMIT:
            self._checkpointer.request()

    # ------------------------------------------------------------------ reads

    def pragma(self, name: str) -> int | str:
        return self.db.execute(f"PRAGMA {name}").fetchone()[0]  # type: ignore[no-any-return]

    def meta(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def boot_no(self, boot_id: str) -> int:
        row = self.db.execute("SELECT no FROM boots WHERE boot_id = ?", (boot_id,)).fetchone()
        if row is not None:
            return int(row[0])
        cur = self.db.execute("INSERT INTO boots (boot_id) VALUES (?)", (boot_id,))
        return int(cur.lastrowid or 0)

    def max_sample_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM samples").fetchone()[0])

    def samples(self, held: bool) -> list[SampleRow]:
        rows = self.db.execute(
            "SELECT id, ts_ms, mono_ms, boot, held, body FROM samples WHERE held = ? ORDER BY id",
            (1 if held else 0,),
        )
        return [SampleRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def batches(self) -> list[BatchRow]:
        rows = self.db.execute(
            "SELECT id, seq, created_ms, t_min, readings, thinned, length(payload), "
            f"{self._sent} FROM batches ORDER BY seq"
        )
        return [BatchRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], bool(r[7])) for r in rows]

    def payloads(self, ids: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for batch_id in ids:
            row = self.db.execute(
                "SELECT payload FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            if row is not None:
                out[batch_id] = row[0]
        return out

    def events(self) -> list[tuple[str, int, bytes]]:
        return list(self.db.execute("SELECT id, ts_ms, payload FROM events ORDER BY ts_ms, id"))

    def counts(self) -> dict[str, int]:
        one = self.db.execute
        return {
            "samples": int(one("SELECT count(*) FROM samples WHERE held = 0").fetchone()[0]),
            "held": int(one("SELECT count(*) FROM samples WHERE held = 1").fetchone()[0]),
            "batches": int(one("SELECT count(*) FROM batches").fetchone()[0]),
            "batch_readings": int(
                one("SELECT coalesce(sum(readings), 0) FROM batches").fetchone()[0]
            ),
            "batch_bytes": int(
                one("SELECT coalesce(sum(length(payload)), 0) FROM batches").fetchone()[0]
            ),
            "events": int(one("SELECT count(*) FROM events").fetchone()[0]),
        }

    def pending_readings(self) -> int:
        """Readings not yet acknowledged: in batches, plus the values that were read
        (not null) of samples not yet batched or held (a body's 5th item, the values)."""
        one = self.db.execute
        batched = one("SELECT coalesce(sum(readings), 0) FROM batches").fetchone()[0]
        unbatched = one(
            "SELECT count(*) FROM samples, json_each(CAST(samples.body AS TEXT), '$[4]') AS v "
            "WHERE v.type <> 'null'"
        ).fetchone()[0]
        return int(batched) + int(unbatched)

    # ----------------------------------------------------------------- writes

    def commit(self, work: Work) -> None:
        """Write ``work`` in one transaction; returns after the fsync (synchronous=FULL)."""
        self._commit(work)

    def _commit(self, work: Work) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if work.samples:
                db.executemany(
                    "INSERT INTO samples (id, ts_ms, mono_ms, boot, held, body) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    work.samples,
                )
            if work.released:
                db.executemany("UPDATE samples SET held = 0, ts_ms = ? WHERE id = ?", work.released)
            for b in work.batches:
                db.execute(
                    "INSERT OR REPLACE INTO batches "
                    "(id, seq, created_ms, t_min, readings, thinned, payload) "
                    "VALUES (?, ?, ?, ?, ?, 0, ?)",
                    (b.id, b.seq, b.created_ms, b.t_min, b.readings, b.payload),
                )
                db.executemany(
                    "DELETE FROM samples WHERE id BETWEEN ? AND ?", id_ranges(b.sample_ids)
                )
            if work.events:
                db.executemany(
                    "INSERT OR REPLACE INTO events (id, ts_ms, payload) VALUES (?, ?, ?)",
                    work.events,
                )
            if work.sent_batches:
                db.executemany(
                    "UPDATE batches SET sent = 1 WHERE id = ?", [(i,) for i in work.sent_batches]
                )
            gone = work.acked_batches + work.dropped_batches
            if gone:
                db.executemany("DELETE FROM batches WHERE id = ?", [(i,) for i in gone])
            gone = work.acked_events + work.dropped_events
            if gone:
                db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in gone])
            if work.meta:
                db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", work.meta.items()
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._after_commit()

    def replace_payload(self, batch_id: str, new_id: str, payload: bytes, readings: int) -> None:
        """Store a thinned batch in place of ``batch_id`` under ``new_id`` (same seq)."""
        self.db.execute(
            "UPDATE batches SET id = ?, payload = ?, readings = ?, thinned = 1 WHERE id = ?",
            (new_id, payload, readings, batch_id),
        )
