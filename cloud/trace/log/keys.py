"""The log's signing key: made once by ``dehong cloud init-db``, kept in a file.

The file (``DEHONG_TRACE_LOG_KEY_FILE``, default ``<keys_dir>/trace-log.key``, beside
the other signing keys that ``dehong backup`` saves) holds one line, the signer key in
golang.org/x/mod/sumdb/note's encoding: ``PRIVATE+KEY+<origin>+<key ID>+<base64>``.
It is created with mode 0600 in a 0700 folder, never replaced, and refused when
others may read it. Its name is the log's origin (``DEHONG_TRACE_LOG_ORIGIN``); a log
keeps its name for life, so a key file naming another origin is an error.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Protocol

from cloud.trace.log.checkpoint import NoteError, NoteSigner

KEY_FILE_NAME = "trace-log.key"


class LogKeySettings(Protocol):
    keys_dir: Path
    trace_log_key_file: Path | None
    trace_log_origin: str


class LogKeyError(RuntimeError):
    """The key is missing, unreadable, too open, or names another log."""


def key_path(settings: LogKeySettings) -> Path:
    return settings.trace_log_key_file or settings.keys_dir / KEY_FILE_NAME


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``path`` (0600) unless it exists; atomic: a temp file linked into place."""
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
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def ensure_key(settings: LogKeySettings) -> tuple[NoteSigner, bool]:
    """The log's signer, made now if there is none yet (second value: made now)."""
    path = key_path(settings)
    if not path.exists():
        signer = NoteSigner.generate(settings.trace_log_origin)
        if _write_new(path, (signer.skey + "\n").encode()):
            return signer, True
    return load_signer(settings), False


def load_signer(settings: LogKeySettings) -> NoteSigner:
    path = key_path(settings)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise LogKeyError(
            f"the trace log has no signing key at {path}: run `dehong cloud init-db`"
        ) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise LogKeyError(f"{path} may be read by others: chmod 600 {path}")
    try:
        signer = NoteSigner.from_skey(path.read_text(encoding="ascii").strip())
    except (NoteError, UnicodeDecodeError, OSError) as exc:
        raise LogKeyError(f"{path} is not a trace log signing key: {exc}") from None
    if signer.name != settings.trace_log_origin:
        raise LogKeyError(
            f"{path} signs for the log {signer.name!r} but DEHONG_TRACE_LOG_ORIGIN is "
            f"{settings.trace_log_origin!r}; a log keeps its name: set it back to "
            f"{signer.name!r}"
        )
    return signer
