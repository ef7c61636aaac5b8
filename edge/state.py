"""The gateway's small persistent state: next batch ``seq`` and the session counter.

One JSON file in ``state_dir``, replaced atomically (write a temp file of its own,
fsync it, rename it over the old one, fsync the directory), so a power cut leaves
either the old or the new state, never a torn file. It is written once per batch
and once per connect: a few writes a minute, kind to an SD card.

Two threads write it: the buffer's writer thread (:meth:`StateStore.take_seq`,
when a batch is cut) and the event loop (:meth:`StateStore.next_session`, on every
connect). A lock serialises them, and the in-memory value changes only after the
file holds it, so a failed write (ENOSPC, EIO) changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "gateway-state.json"


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    # The same as cloud.fsutil.write_atomic: edge/ and cloud/ may not import each
    # other, and protocol/ (which both may) holds the wire contract, not file I/O.
    """Replace ``path`` with ``data`` durably: a temp file of its own beside it, fsync,
    rename, fsync of the folder. Readers see the old file or the new one, never a part;
    on failure the temp file is removed and ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateStore:
    """``next_seq`` and ``session``, persisted in ``{state_dir}/gateway-state.json``.

    Thread-safe: every read-modify-write holds one lock."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.next_seq = 0
        self.session = 0
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            data = json.loads(raw)
            self.next_seq = int(data["next_seq"])
            self.session = int(data["session"])
        except (ValueError, KeyError, TypeError) as exc:
            # never reuse a seq silently: refuse to start rather than guess
            raise RuntimeError(
                f"gateway state file {self.path} is unreadable ({exc}); restore it from a backup, "
                "or delete it only if the cloud may see seq numbers restart from 0"
            ) from None

    def _save(self, next_seq: int, session: int) -> None:
        """Persist both values (the caller holds the lock), then adopt them."""
        data = json.dumps({"next_seq": next_seq, "session": session}).encode()
        write_atomic(self.path, data)
        self.next_seq, self.session = next_seq, session

    def take_seq(self) -> int:
        """The next batch seq; the one after it is persisted before this returns.

        If the write fails, the exception propagates and nothing changed."""
        with self._lock:
            seq = self.next_seq
            self._save(seq + 1, self.session)
            return seq

    def next_session(self) -> int:
        """Increment and persist the session counter (on every connect); return it."""
        with self._lock:
            self._save(self.next_seq, self.session + 1)
            return self.session

    def set_next_seq(self, next_seq: int) -> None:
        """Set the next seq (the buffer reconciles it with the batches it stored)."""
        with self._lock:
            if next_seq != self.next_seq:
                self._save(next_seq, self.session)
