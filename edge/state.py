"""The gateway's small persistent state: next batch ``seq`` and the session counter.

One JSON file in ``state_dir``, replaced atomically (write a temp file, fsync it,
rename it over the old one, fsync the directory), so a power cut leaves either
the old or the new state, never a torn file. It is written once per batch and
once per connect: a few writes a minute, kind to an SD card.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "gateway-state.json"


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` durably: tmp + fsync + rename + fsync(dir)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateStore:
    """``next_seq`` and ``session``, persisted in ``{state_dir}/gateway-state.json``."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.next_seq = 0
        self.session = 0
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

    def _save(self) -> None:
        data = json.dumps({"next_seq": self.next_seq, "session": self.session}).encode()
        write_atomic(self.path, data)

    def take_seq(self) -> int:
        """The next batch seq; the one after it is persisted before this returns."""
        seq = self.next_seq
        self.next_seq += 1
        self._save()
        return seq

    def next_session(self) -> int:
        """Increment and persist the session counter (on every connect); return it."""
        self.session += 1
        self._save()
        return self.session
