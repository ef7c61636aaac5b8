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
    #: the status's own time (the gateway's wall clock), ms
    ts_ms: int | None = None


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / STATUS_FILE).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # being replaced or damaged: judged "no status"
    return data if isinstance(data, dict) else None


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
    venv: Path,
    since_ms: int,
    now_ms: int,
    stale_ms: int,
) -> Verdict:
    """The health of the gateway running from ``venv``, from its ``status.json``."""
    if status is None:
        return Verdict(False, "no status.json from the gateway yet")
    ts = status.get("ts")
    if not isinstance(ts, int):
        return Verdict(False, "status.json has no time")
    prefix = status.get("prefix")
    if not isinstance(prefix, str) or os.path.realpath(prefix) != os.path.realpath(venv):
        return Verdict(False, f"the running gateway is not this release (prefix {prefix})", ts)
    if ts < since_ms:
        return Verdict(False, "no status.json written since the switch", ts)
    if now_ms - ts > stale_ms:
        return Verdict(False, f"status.json is {(now_ms - ts) / 1000:.0f} s old", ts)
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
