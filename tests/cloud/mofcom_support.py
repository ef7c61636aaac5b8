"""A small world for the MOFCOM export (tests/cloud/test_mofcom_*.py): the commerce
world's order in HOME and OTHER (March 2026), a cold-chain alarm and a tracked trip of
HOME in March, and the same again in April (so a month's bounds are seen)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cloud.coldchain.storage import ColdchainAlarm
from cloud.logistics.trips.storage import TrackedTrip
from tests.cloud.commerce_cases import world
from tests.support.api import HOME, OTHER, ApiEnv

#: Beijing 1 March 2026 00:30 (UTC 28 Feb 16:30): March in Beijing, February in UTC
EARLY_MARCH = datetime(2026, 2, 28, 16, 30, tzinfo=UTC)
APRIL = datetime(2026, 4, 2, 4, 0, tzinfo=UTC)


async def build(env: ApiEnv) -> None:
    await world(env, HOME)
    await world(env, OTHER)
    async with env.db.transaction() as s:
        for i, at in enumerate((EARLY_MARCH, APRIL)):
            ms = int(at.timestamp() * 1000)
            s.add(ColdchainAlarm(
                county=HOME, device=f"gw-m1.room-{i}", metric="temperature", rule="range",
                source="cloud", severity="critical", status="raised", first_ms=ms,
                last_ms=ms, raised_at=at,
            ))  # fmt: skip
            s.add(TrackedTrip(
                vehicle=f"truck-{i}", county=HOME, start_ms=ms, end_ms=ms + 3_600_000,
                lat=24.4, lon=98.6, end_lat=24.5, end_lon=98.7, distance_m=12_345.0,
                n_fixes=100, after_gap=False, end_reason="stop",
            ))  # fmt: skip


@dataclass
class Receiver:
    """A real HTTP server on loopback that answers the scripted statuses in turn (then
    200), and keeps what it was sent."""

    script: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@contextmanager
def receiver(script: list[int]) -> Iterator[Receiver]:
    got = Receiver(list(script))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            got.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = got.script.pop(0) if got.script else 200
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "1")
            payload = b'{"ok": true}' if status == 200 else b"busy"
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_address[1]}/mofcom/inbox?k=secret"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
