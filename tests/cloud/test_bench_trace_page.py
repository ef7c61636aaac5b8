"""The pieces of ``dehong bench trace-page`` on a tiny server of our own (a thread):
the open-loop load measures latency from the schedule (a server that falls behind
shows it, and so does a wait on the client's side; a closed loop at the same server
does not), and the first-view byte counter
fetches what a browser would (stylesheets, module imports, dynamic imports and lazy
images marked, nothing external, comments ignored) and counts exactly the bytes the
server wrote, compressed as sent."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from bench.firstview import first_view, references
from bench.load import closed_loop, forwarded, open_loop, percentile, schedule

pytestmark = pytest.mark.timeout(30)

FILES: dict[str, tuple[str, bytes]] = {
    "/page": (
        "text/html; charset=utf-8",
        b"""<!doctype html><html><head><link rel="stylesheet" href="/s/app.css">
<script src="/s/lang.js"></script><script src="https://cdn.example/x.js"></script></head>
<body><img src="/s/logo.png"><img src="/s/thumb.jpg" loading="lazy">
<a href="/elsewhere">not loaded</a><script type="module" src="/s/app.js"></script></body></html>""",
    ),
    "/s/app.css": (
        "text/css",
        b"body{background:url('bg.png')} .x{color:red}" * 40
        + b'.i{background:url("data:image/png;base64,AAAA")}',
    ),
    "/s/lang.js": ("text/javascript", b"document.documentElement.dataset.lang='zh';"),
    "/s/app.js": (
        "text/javascript",
        b"""/* import "./ghost.js"; a comment */
import { verify } from "./verify.js";
// import "./also-ghost.js";
export { x } from './re.js';
async function fallback() { return import("./vendor/lib.js"); }
""",
    ),
    "/s/verify.js": ("text/javascript", b"export const verify = () => true;"),
    "/s/re.js": ("text/javascript", b"export const x = 1;"),
    "/s/vendor/lib.js": (
        "text/javascript",
        b"/**\n * ```js\nimport * as ed from '@noble/ed25519';\n```\n */\nimport './util.js';",
    ),
    "/s/vendor/util.js": ("text/javascript", b"export {};"),
    "/s/logo.png": ("image/png", b"\x89PNG" + b"\x00" * 500),
    "/s/thumb.jpg": ("image/jpeg", b"\xff\xd8" + b"\x01" * 3000 + b"\xff\xd9"),
    "/s/bg.png": ("image/png", b"\x89PNG" + b"\x02" * 200),
}
SLOW_S = 0.04
_one_at_a_time = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    written: ClassVar[dict[str, int]] = {}

    def log_message(self, *_args: Any) -> None:
        pass

    def _send(self, status: int, ctype: str, body: bytes, gz: bool = False) -> None:
        head = [f"HTTP/1.1 {status} {self.responses[status][0]}"]
        head += [f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
        if gz:
            head.append("Content-Encoding: gzip")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        self.wfile.write(data)
        Handler.written[self.path] = Handler.written.get(self.path, 0) + len(data)

    def do_GET(self) -> None:
        if self.path == "/slow":
            with _one_at_a_time:  # one request at a time: 25 per second at most
                time.sleep(SLOW_S)
            self._send(200, "text/plain", b"ok")
            return
        found = FILES.get(self.path)
        if found is None:
            self._send(404, "text/plain", b"no")
            return
        ctype, body = found
        gz = ctype == "text/css" and "gzip" in self.headers.get("Accept-Encoding", "")
        self._send(200, ctype, gzip.compress(body) if gz else body, gz)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def test_schedule_percentile_and_addresses() -> None:
    offs = schedule(50, 2)
    assert len(offs) == 100 and offs[0] == 0 and offs[1] == pytest.approx(0.02)
    assert offs[-1] == pytest.approx(1.98)
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.99) == 99.0 and percentile(values, 0.5) == 50.0
    assert percentile([], 0.99) is None
    pool = forwarded(3)
    got = [next(pool) for _ in range(4)]
    assert got[0] == got[3] and len(set(got[:3])) == 3


def test_js_references_skip_comments_and_bare_specifiers() -> None:
    code = FILES["/s/app.js"][1].decode()
    refs = references("js", code)
    assert [(u, dyn) for u, _k, _lazy, dyn in refs] == [
        ("./verify.js", False),
        ("./re.js", False),
        ("./vendor/lib.js", True),
    ]
    assert references("js", FILES["/s/vendor/lib.js"][1].decode()) == [
        ("./util.js", "js", False, False)
    ]


async def test_open_loop_counts_queueing_that_a_closed_loop_hides(server: str) -> None:
    url = f"{server}/slow"
    closed = await closed_loop([url], {}, 1, 0.5)
    assert closed["errors"] == 0 and closed["p99_ms"] < 300, closed
    # 40 requests/s at a server that answers 25/s: the queue grows all second long
    opened = await open_loop([url], {}, 40, 1.0)
    assert opened["requests"] == 40 and opened["errors"] == 0, opened
    assert opened["p99_ms"] > 400, opened  # the last one waited behind ~15 others
    assert opened["max_start_lag_ms"] < 250, opened  # the schedule was kept
    # the same when the wait is on our side (one connection: requests wait in the
    # client's pool before they are sent): latency counts from the schedule, not the send
    queued = await open_loop([url], {}, 40, 1.0, max_connections=1)
    assert queued["requests"] == 40 and queued["p99_ms"] > 400, queued
    # well under capacity, the same open loop sees the service time
    light = await open_loop([url], {}, 5, 0.6)
    assert light["requests"] == 3 and light["p99_ms"] < 400, light


async def test_first_view_counts_what_the_server_wrote(server: str) -> None:
    Handler.written.clear()
    fv = await first_view(f"{server}/page")
    paths = {r["url"].removeprefix(server): r for r in fv.resources}
    assert set(paths) == {
        "/page", "/s/app.css", "/s/lang.js", "/s/app.js", "/s/verify.js", "/s/re.js",
        "/s/vendor/lib.js", "/s/vendor/util.js", "/s/logo.png", "/s/thumb.jpg", "/s/bg.png",
    }  # fmt: skip
    assert fv.external == ["https://cdn.example/x.js"] and fv.failed == []
    for path, r in paths.items():  # each resource: exactly the bytes sent
        assert r["bytes"] == Handler.written[path], (path, r)
    assert fv.total() == sum(Handler.written.values())
    css = paths["/s/app.css"]
    assert css["encoding"] == "gzip" and css["bytes"] < css["body_decoded"]
    assert paths["/s/thumb.jpg"]["lazy"] and not paths["/s/logo.png"]["lazy"]
    assert paths["/s/vendor/lib.js"]["dynamic"] and paths["/s/vendor/util.js"]["dynamic"]
    eager = fv.total(lazy=False, dynamic=False)
    lazy_or_dynamic = sum(
        Handler.written[p] for p in ("/s/thumb.jpg", "/s/vendor/lib.js", "/s/vendor/util.js")
    )
    assert eager == fv.total() - lazy_or_dynamic
    s = fv.summary()
    assert s["bytes_all"] == fv.total() and s["encodings"] == ["gzip", "identity"]
