"""``dehong edge status``: the gateway's state read from its files, online or not.

Reads the buffer's SQLite file read-only (WAL readers never block the running
gateway) and ``status.json``, which the gateway rewrites with every health
message and when it stops. Needs no broker and no running gateway.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from edge.config import GatewayConfig
from edge.counters import read_counters
from edge.store import Store


def _age(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = max(0, int(time.time() - ms / 1000))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))
    return f"{stamp} ({seconds // 3600} h {seconds % 3600 // 60} min ago)"


def read_status(config: GatewayConfig) -> dict[str, Any]:
    path = config.buffer_path()
    if not path.exists():
        raise FileNotFoundError(f"no buffer at {path}: has this gateway ever run with this config?")
    store = Store(path, readonly=True)
    try:
        counts = store.counts()
        meta = store.meta()
        oldest = [b.t_min for b in store.batches()[:1]]
        first = store.db.execute("SELECT min(ts_ms) FROM samples").fetchone()[0]
    finally:
        store.close()
    readings = read_counters(path)
    if first is not None:
        oldest.append(int(first))
    status_file = config.gateway.state_dir / "status.json"
    live: dict[str, Any] = {}
    if status_file.exists():
        live = orjson.loads(status_file.read_bytes())
    return {
        "gateway": config.gateway.id,
        "buffer": str(path),
        **counts,
        "oldest_ms": min(oldest) if oldest else None,
        "last_ack_ms": meta.get("last_ack_ms"),
        "last_good_clock_ms": meta.get("last_good_ms"),
        "status_ts": live.get("ts"),
        "connected": live.get("connected"),
        "drivers": live.get("drivers", {}),
        "devices": live.get("devices", {}),
        "rules_active": live.get("rules_active", []),
        # taken, sent, acked, thinned, dropped (since the file was created), pending;
        # all in readings (edge/counters.py)
        "readings": readings,
    }


def _readings_line(r: dict[str, Any]) -> str:
    """The counters; their unit is the reading (one value of one metric of one device
    at one instant), see edge/counters.py."""
    return (
        f"readings (one value of one metric of one device at one instant):\n  "
        f"taken {r['taken']}, sent {r['sent']}, acked {r['acked']}, "
        f"thinned {r['thinned']}, dropped {r['dropped']} since the buffer was created; "
        f"pending {r['pending']} (batched, not yet batched and held)"
    )


def render(s: dict[str, Any]) -> str:
    lines = [
        f"gateway {s['gateway']}  (buffer {s['buffer']})",
        f"pending: {s['batches']} batch(es), {s['batch_readings']} readings, "
        f"{s['batch_bytes']} bytes; {s['samples']} sample(s) not yet batched, "
        f"{s['held']} held for the clock; {s['events']} event(s)",
        f"oldest reading: {_age(s['oldest_ms'])}",
        _readings_line(s["readings"]),
        f"last write-ack: {_age(s['last_ack_ms'])}",
        f"last good clock: {_age(s['last_good_clock_ms'])}",
        f"as of {_age(s['status_ts'])}: "
        + (
            "connected"
            if s["connected"]
            else "not connected"
            if s["connected"] is not None
            else "never ran"
        ),
    ]
    for name, state in s["drivers"].items():
        lines.append(f"  driver {name}: {state}")
    for device, state in s["devices"].items():
        lines.append(f"  device {device}: {state}")
    if s["rules_active"]:
        lines.append(f"  alarms firing: {', '.join(s['rules_active'])}")
    return "\n".join(lines)
