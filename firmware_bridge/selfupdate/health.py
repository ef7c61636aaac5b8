"""Is the gateway that runs from a release healthy? Judged from its own ``status.json``.

The gateway rewrites ``{state_dir}/status.json`` with every health message
(``health_interval_s``, published only while MQTT is connected) and at stop
(edge/gateway.py ``write_status``). It names the process (``pid``), the environment
it runs from (``prefix``, the real path of ``sys.prefix``), whether MQTT is
connected, whether the durable buffer's writer is working (``buffer``: ``ok`` or the
error that stopped it) and each driver's state. A release is healthy when a status
written by a live process from that release's venv, since the switch and not stale,
says: connected, buffer ok, every driver running.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str
    #: the status's own time (the gateway's wall clock), ms; for people, not for timing
    ts_ms: int | None = None


def read_status(state_dir: Path) -> tuple[dict[str, Any] | None, int | None]:
    """``status.json`` and when it was written (its mtime, ms: the kernel's clock, the
    one the updater reads too; the status's own ``ts`` never goes back before the
    gateway's last good time, so it stands still on a Pi booted without NTP)."""
    path = state_dir / STATUS_FILE
    try:
        written_ms = path.stat().st_mtime_ns // 1_000_000
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None, None  # absent, being replaced or damaged: judged "no status"
    return (data if isinstance(data, dict) else None), written_ms


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def judge(
    status: dict[str, Any] | None,
    *,
    written_ms: int | None,
    venv: Path,
    since_ms: int,
    now_ms: int,
    stale_ms: int,
) -> Verdict:
    """The health of the gateway running from ``venv``, from its ``status.json`` written
    at ``written_ms`` (all times on the updater's clock)."""
    if status is None or written_ms is None:
        return Verdict(False, "no status.json from the gateway yet")
    ts = status.get("ts") if isinstance(status.get("ts"), int) else None
    prefix = status.get("prefix")
    if not isinstance(prefix, str) or os.path.realpath(prefix) != os.path.realpath(venv):
        return Verdict(False, f"the running gateway is not this release (prefix {prefix})", ts)
    if written_ms < since_ms:
        return Verdict(False, "no status.json written since the switch", ts)
    if now_ms - written_ms > stale_ms:
        return Verdict(False, f"status.json is {(now_ms - written_ms) / 1000:.0f} s old", ts)
    drivers = status.get("drivers") or {}
    down = sorted(f"{name}: {state}" for name, state in drivers.items() if state != "running")
    if not _alive(status.get("pid")):
        why = f"; driver(s) not up: {', '.join(down)}" if down else ""
        return Verdict(False, f"the gateway process {status.get('pid')} exited{why}", ts)
    if down:
        return Verdict(False, f"driver(s) not up: {', '.join(down)}", ts)
    buffer = status.get("buffer")
    if buffer != "ok":
        return Verdict(False, f"the buffer is not writable: {buffer}", ts)
    if status.get("connected") is not True:
        return Verdict(False, "MQTT is not connected", ts)
    return Verdict(True, f"connected, buffer ok, {len(drivers)} driver(s) running", ts)
