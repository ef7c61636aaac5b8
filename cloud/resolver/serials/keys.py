"""The key of the serials' authentication codes: made once by ``dehong cloud init-db``
(and the demo), kept in a file like the trace log's signing key.

The file (``DEHONG_SERIALS_KEY_FILE``, default ``<keys_dir>/serials.key``, beside the
other keys that ``dehong backup`` saves) holds one line, ``dehong-serials-v1:`` and 32
random bytes in base64url. It is created with mode 0600 in a 0700 folder, never
replaced (a new key would turn every printed label into a forgery), and refused when
others may read it. It is never in the repository.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Protocol

KEY_FILE_NAME = "serials.key"
PREFIX = "dehong-serials-v1:"
KEY_BYTES = 32


class SerialKeySettings(Protocol):
    keys_dir: Path
    serials_key_file: Path | None


class SerialKeyError(RuntimeError):
    """The key is missing, unreadable, too open, or not a serials key."""


def key_path(settings: SerialKeySettings) -> Path:
    return settings.serials_key_file or settings.keys_dir / KEY_FILE_NAME


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``path`` (0600) unless it exists; a temp file linked into place."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if a key is there already: never replaced
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def ensure_key(settings: SerialKeySettings) -> tuple[bytes, bool]:
    """The key, made now if there is none yet (second value: made now)."""
    path = key_path(settings)
    if not path.exists():
        raw = secrets.token_bytes(KEY_BYTES)
        line = PREFIX + base64.urlsafe_b64encode(raw).decode("ascii") + "\n"
        if _write_new(path, line.encode("ascii")):
            _cache.pop(path, None)
            return raw, True
    return load_key(settings), False


#: path -> (mtime_ns, size, key): a scan reads the key without reading the file
_cache: dict[Path, tuple[int, int, bytes]] = {}


def load_key(settings: SerialKeySettings) -> bytes:
    path = key_path(settings)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SerialKeyError(
            f"the serials have no authentication key at {path}: run `dehong cloud init-db`"
        ) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SerialKeyError(f"{path} may be read by others: chmod 600 {path}")
    cached = _cache.get(path)
    if cached is not None and cached[:2] == (st.st_mtime_ns, st.st_size):
        return cached[2]
    try:
        text = path.read_text(encoding="ascii").strip()
        if not text.startswith(PREFIX):
            raise ValueError(f"it does not start with {PREFIX!r}")
        raw = base64.urlsafe_b64decode(text.removeprefix(PREFIX).encode("ascii"))
        if len(raw) != KEY_BYTES:
            raise ValueError(f"{len(raw)} bytes, not {KEY_BYTES}")
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise SerialKeyError(f"{path} is not a serials key: {exc}") from None
    _cache[path] = (st.st_mtime_ns, st.st_size, raw)
    return raw
