"""A real HTTP receiver for notification tests: ``http.server`` on a free loopback
port in a thread, answering from a script of statuses (then 200 with ``ok_body``),
recording every request (path with query, headers, JSON body)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    url: str = ""
    script: list[tuple[int, bytes]] = field(default_factory=list)
    ok_body: bytes = b'{"errcode": 0, "errmsg": "ok"}'
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        """Block until ``n`` requests have arrived (AssertionError after ``timeout``);
        from async code: ``await asyncio.to_thread(rec.wait_for, n)``."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, not {n}")

    def answer(self) -> tuple[int, bytes]:
        return self.script.pop(0) if self.script else (200, self.ok_body)


@contextmanager
def http_receiver(script: list[tuple[int, bytes]] | None = None) -> Iterator[Receiver]:
    rec = Receiver(script=list(script or []))

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            n = int(self.headers.get("Content-Length", "0") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with rec.changed:
                rec.requests.append(Received(self.command, self.path, dict(self.headers), body))
                status, out = rec.answer()
                rec.changed.notify_all()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            rec.arrived.set()

        do_POST = _handle
        do_PUT = _handle

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
