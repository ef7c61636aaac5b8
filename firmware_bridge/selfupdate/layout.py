"""Where releases live on a gateway, and the update's persisted state.

::

    /opt/dehong/                      (root; --root)
      releases/<version>/venv/        one virtual environment per release
      releases/<version>/wheels/      the verified wheels it was installed from
      releases/<version>/manifest.json
      releases/<version>/.complete    written last: a release without it is half-built
      current  -> releases/<version>  what dehong-edge.service runs (current/venv/bin/dehong)
      previous -> releases/<version>  what a rollback returns to
      update.json                     the last update: trial, confirmed, rolled_back, failed
      update.lock                     one update at a time

The durable buffer and the gateway's state live elsewhere (``/var/lib/dehong``): an
update or a rollback never touches them. Both links are relative
(``releases/<version>``) and swapped atomically (a new link renamed over the old
one, then the directory fsynced), so a power cut leaves the old or the new link,
never none.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path("/opt/dehong")
COMPLETE = ".complete"


def now_ms() -> int:
    return int(time.time() * 1000)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@dataclass
class UpdateState:
    """The last update, persisted in ``update.json`` (survives a reboot mid-trial)."""

    #: trial (switched, health being watched), confirmed, rolled_back, failed
    state: str
    to_version: str
    from_version: str | None
    started_ms: int
    deadline_ms: int
    reason: str | None = None
    updated_ms: int = field(default_factory=now_ms)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> UpdateState:
        raw: dict[str, Any] = json.loads(data)
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.releases = self.root / "releases"
        self.current = self.root / "current"
        self.previous = self.root / "previous"
        self.state_file = self.root / "update.json"
        self.lock_file = self.root / "update.lock"

    def release(self, version: str) -> Path:
        return self.releases / version

    def venv(self, version: str) -> Path:
        return self.release(version) / "venv"

    def is_complete(self, version: str) -> bool:
        return (self.release(version) / COMPLETE).exists()

    def _target(self, link: Path) -> str | None:
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            return None
        return Path(target).name

    def current_version(self) -> str | None:
        return self._target(self.current)

    def previous_version(self) -> str | None:
        return self._target(self.previous)

    def point(self, link: Path, version: str) -> None:
        """Make ``link`` point at ``releases/<version>``, atomically."""
        tmp = link.with_name(f".{link.name}.new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(f"releases/{version}", tmp)
        os.replace(tmp, link)
        fsync_dir(self.root)

    def read_state(self) -> UpdateState | None:
        try:
            return UpdateState.from_json(self.state_file.read_bytes())
        except FileNotFoundError:
            return None

    def write_state(self, state: UpdateState) -> None:
        state.updated_ms = now_ms()
        write_atomic(self.state_file, state.to_json())

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold ``update.lock``: a second update waits for none, it is refused."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock_file.open("a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"{self.lock_file}: another update is running") from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def installed(self) -> list[str]:
        if not self.releases.is_dir():
            return []
        return sorted(p.name for p in self.releases.iterdir() if (p / COMPLETE).exists())
