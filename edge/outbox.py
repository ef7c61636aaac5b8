"""Events other local programs hand to the gateway: one JSON file each in ``{state_dir}/outbox``.

The gateway's self-updater (firmware_bridge/selfupdate) runs outside the gateway
and reports a confirmed update or a rollback this way: it writes an
:class:`~protocol.messages.EventMessage` to ``outbox/{id}.json`` (atomically), and
the gateway, at every health tick, puts each file's event into its durable buffer,
waits for the buffer's commit, and only then deletes the file. So an event is
never lost (a crash before the delete sends it twice, under the same id: the
cloud's de-duplication keeps one) and the gateway never crashes on a bad file: it
is logged and moved to ``outbox/bad/``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from protocol.codec import decode, encode
from protocol.messages import EventMessage

log = logging.getLogger(__name__)

OUTBOX = "outbox"
#: At most this many files are taken per tick (a flood waits for the next ones).
MAX_PER_TICK = 100
#: A file larger than this is not an event: moved to bad/ unread.
MAX_FILE_BYTES = 256 * 1024


def outbox_dir(state_dir: Path) -> Path:
    return Path(state_dir) / OUTBOX


def write_event(state_dir: Path, event: EventMessage) -> Path:
    """Hand ``event`` to the gateway of ``state_dir`` (atomic: tmp + fsync + rename)."""
    box = outbox_dir(state_dir)
    if not box.exists():
        box.mkdir(parents=True, exist_ok=True)
        # the updater runs as root, the gateway as `dehong`: the gateway deletes the files
        st = Path(state_dir).stat()
        if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
            os.chown(box, st.st_uid, st.st_gid)
    path = box / f"{event.id}.json"
    tmp = box / f".{event.id}.tmp"
    with tmp.open("wb") as f:
        f.write(encode(event))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def _quarantine(path: Path, why: str) -> None:
    log.warning("outbox: %s is not an event (%s); moved to %s/bad", path.name, why, OUTBOX)
    bad = path.parent / "bad"
    try:
        bad.mkdir(exist_ok=True)
        os.replace(path, bad / path.name)
    except OSError as exc:
        log.warning("outbox: cannot move %s aside: %s", path, exc)


async def drain(
    state_dir: Path,
    gateway_id: str,
    put_event: Callable[[EventMessage], None],
    flush: Callable[[], Awaitable[None]],
) -> int:
    """Move the outbox's events into the buffer; returns how many were taken."""
    box = outbox_dir(state_dir)
    try:
        paths = sorted(p for p in box.glob("*.json") if p.is_file())[:MAX_PER_TICK]
    except OSError:
        return 0
    taken: list[Path] = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                _quarantine(path, f"over {MAX_FILE_BYTES} bytes")
                continue
            event = decode(EventMessage, path.read_bytes())
        except OSError as exc:
            log.warning("outbox: cannot read %s: %s", path, exc)
            continue
        except ValueError as exc:
            _quarantine(path, str(exc).splitlines()[0][:200])
            continue
        if event.gw != gateway_id:
            _quarantine(path, f"gw {event.gw!r} is not this gateway ({gateway_id!r})")
            continue
        put_event(event)
        taken.append(path)
    if not taken:
        return 0
    await flush()  # stored in the buffer (fsynced) before the files go
    for path in taken:
        try:
            path.unlink()
        except OSError as exc:
            log.warning("outbox: cannot remove %s (its event may be sent twice): %s", path, exc)
    log.info("outbox: %d event(s) taken into the buffer", len(taken))
    return len(taken)
