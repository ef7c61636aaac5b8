"""A content-addressed file store: ``put(bytes) -> key`` and ``get(key) -> bytes``,
the key being the SHA-256 (hex) of the bytes.

:class:`LocalFileStore` keeps each file at ``{root}/{key[:2]}/{key}``, written
atomically (a temporary file in the same folder, fsynced, renamed over the
final name, the folder fsynced), so a crash leaves either the whole file or
none. An S3-compatible store can implement the same two methods later. Both
methods block (disk I/O, fsync): call them from a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Protocol

from cloud.fsutil import write_atomic
from cloud.settings import Settings

KEY_RE = re.compile(r"^[0-9a-f]{64}$")


class FileStoreError(RuntimeError):
    """A file is missing or damaged."""


class FileStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...


def key_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not KEY_RE.match(key):
            raise FileStoreError(f"file key {key!r} is not a SHA-256 in lower-case hex")
        return self.root / key[:2] / key

    def put(self, data: bytes) -> str:
        key = key_of(data)
        path = self._path(key)
        if path.exists() and path.stat().st_size == len(data):
            return key  # same content, same key: already stored
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileStoreError(f"file {key} is not in the file store at {self.root}") from None
        if key_of(data) != key:
            raise FileStoreError(
                f"file {key} in {self.root} is damaged (its SHA-256 differs); restore it "
                "from a backup"
            )
        return data


def files_for(settings: Settings) -> FileStore:
    """The file store the settings name (``DEHONG_FILESTORE_DIR``)."""
    return LocalFileStore(settings.filestore_dir)
