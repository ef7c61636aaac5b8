"""``dehong grafana push`` against a recording HTTP peer that answers as Grafana's API
does (no Grafana server is installable here): the prefecture's folder and dashboards,
and a county's org, its Infinity data source with the county's display key, and the
county dashboard, each in that org (``X-Grafana-Org-Id``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cloud.commerce.screen.catalogue import DASHBOARDS

pytest.importorskip(
    "grafana_client", reason="grafana-client (pyproject, cloud extra) not installed"
)


class Peer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, Any]] = []
        self.orgs: dict[str, int] = {}
        self.datasources: set[str] = set()
        self.folders: set[str] = set()


def _handler(peer: Peer) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _do(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n)) if n else None
            org = self.headers.get("X-Grafana-Org-Id")
            peer.calls.append((self.command, self.path, org, body))
            if self.headers.get("Authorization") != "Bearer sa-token":
                return self._answer(401, {"message": "unauthorized"})
            m, p = self.command, self.path
            if m == "POST" and p == "/api/folders":
                if (org, body["uid"]) in peer.folders:
                    return self._answer(409, {"message": "a folder with that uid already exists"})
                peer.folders.add((org, body["uid"]))  # type: ignore[arg-type]
                return self._answer(200, {"uid": body["uid"]})
            if m == "POST" and p == "/api/dashboards/db":
                return self._answer(200, {"status": "success", "uid": body["dashboard"]["uid"]})
            if m == "GET" and p.startswith("/api/orgs/name/"):
                from urllib.parse import unquote

                name = unquote(p.rsplit("/", 1)[1])
                if name in peer.orgs:
                    return self._answer(200, {"id": peer.orgs[name], "name": name})
                return self._answer(404, {"message": "Organization not found"})
            if m == "POST" and p == "/api/orgs":
                peer.orgs[body["name"]] = len(peer.orgs) + 2
                return self._answer(200, {"orgId": peer.orgs[body["name"]]})
            if p.startswith("/api/datasources/uid/"):
                uid = p.rsplit("/", 1)[1]
                if m == "GET":
                    if (org, uid) in peer.datasources:
                        return self._answer(200, {"uid": uid})
                    return self._answer(404, {"message": "Data source not found"})
                return self._answer(200, {"message": "Datasource updated"})
            if m == "POST" and p == "/api/datasources":
                peer.datasources.add((org, body["uid"]))  # type: ignore[arg-type]
                return self._answer(200, {"id": 1, "message": "Datasource added"})
            return self._answer(404, {"message": f"no {m} {p}"})

        do_GET = do_POST = do_PUT = _do

    return H


@pytest.fixture
def peer() -> Iterator[tuple[Peer, str]]:
    p = Peer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(p))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield p, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_push_sends_the_prefectures_dashboards(peer: tuple[Peer, str]) -> None:
    from cloud.commerce.screen.push import push

    p, url = peer
    report = push(url, "sa-token")
    assert report.dashboards == [d.uid for d in DASHBOARDS]
    posted = [b["dashboard"]["uid"] for m, path, _, b in p.calls if path == "/api/dashboards/db"]
    assert posted == [d.uid for d in DASHBOARDS]
    assert all(b["overwrite"] and b["folderUid"] == "dehong" for m, path, _, b in p.calls
               if path == "/api/dashboards/db")  # fmt: skip
    push(url, "sa-token")  # again: the folder exists (409), the dashboards are overwritten
    assert len([c for c in p.calls if c[1] == "/api/folders"]) == 2


def test_push_of_a_county_makes_its_own_org_with_its_key(peer: tuple[Peer, str]) -> None:
    from cloud.commerce.screen.push import push

    p, url = peer
    report = push(url, "sa-token", county="533124", county_key="dh_display_key")
    assert report.org_id == 2 and report.dashboards == ["dehong-county-533124"]
    in_org = [c for c in p.calls if c[2] == "2"]
    ds = next(b for m, path, _, b in in_org if path == "/api/datasources")
    assert ds["uid"] == "dehong-api-533124"
    assert ds["secureJsonData"]["httpHeaderValue1"] == "dh_display_key"
    assert ds["jsonData"]["httpHeaderName1"] == "X-API-Key"
    dash = next(b for m, path, _, b in in_org if path == "/api/dashboards/db")["dashboard"]
    assert {t["datasource"]["uid"] for q in dash["panels"] for t in q["targets"]} == {
        "dehong-api-533124"
    }
    # the prefecture org is never written for a county
    assert not [
        c for c in p.calls if c[1] in ("/api/datasources", "/api/dashboards/db") and c[2] != "2"
    ]
    push(url, "sa-token", county="533124", county_key="rotated")  # again: same org, updated
    assert p.orgs == {"德宏 533124": 2}
    assert any(m == "PUT" and b["secureJsonData"]["httpHeaderValue1"] == "rotated"
               for m, _, _, b in p.calls if b)  # fmt: skip


def test_push_refuses_a_county_without_a_key(peer: tuple[Peer, str]) -> None:
    from cloud.commerce.screen.push import push

    with pytest.raises(ValueError, match="county_key"):
        push(peer[1], "sa-token", county="533124", county_key=None)
