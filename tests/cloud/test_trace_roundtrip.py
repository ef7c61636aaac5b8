"""Round trip (issue 11): every GS1 example document (tests/data/epcis/examples/)
captures, and queried back gives the same events (same fields and values; we add
recordTime, and eventID where the event had none); every export validates against
GS1's schema. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cloud.auth.principal import Role
from cloud.trace.epcis import validate_document
from cloud.trace.events.capture import event_list
from tests.support.api import HOME, ApiEnv, api_env
from tests.support.epcis import capture

EXAMPLES = sorted(
    (Path(__file__).resolve().parents[1] / "data" / "epcis" / "examples").glob("*.jsonld")
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _without_ours(event: dict[str, Any], had_id: bool) -> dict[str, Any]:
    drop = {"recordTime"} | (set() if had_id else {"eventID"})
    return {k: v for k, v in event.items() if k not in drop}


async def _export(env: ApiEnv, h: dict[str, str], event_id: str) -> dict[str, Any]:
    r = await env.client.get(f"/api/v1/epcis/events/{quote(event_id, safe='')}", headers=h)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    errors = validate_document(doc)
    assert errors == [], [str(e) for e in errors]
    return doc


async def test_every_gs1_example_captures_and_round_trips(env: ApiEnv) -> None:
    assert len(EXAMPLES) >= 10
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    for path in EXAMPLES:
        doc = json.loads(path.read_text(encoding="utf-8"))
        job = await capture(env, doc, h)
        assert job["success"] is True, (path.name, job["errors"])
        _, sent = event_list(doc)
        # the events of this document, in document order, by the ids the job gave
        ids = [e.get("eventID") for e in sent]
        new = iter(job["eventIDs"])
        ids = [i if i is not None else next(new) for i in ids]
        for event, event_id in zip(sent, ids, strict=True):
            answer = await _export(env, h, event_id)
            (got,) = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            assert _without_ours(got, "eventID" in event) == _without_ours(event, True), path.name
            assert got["recordTime"]
            # the document's extension namespaces come back with the event
            for entry in doc["@context"][1:] if isinstance(doc["@context"], list) else []:
                if isinstance(entry, dict):
                    merged = {k: v for c in answer["@context"] if isinstance(c, dict)
                              for k, v in c.items()}  # fmt: skip
                    assert entry.items() <= merged.items(), path.name
    # the whole history as one query document, paged, each page valid
    url: str | None = "/api/v1/epcis/events?perPage=5"
    while url is not None:
        r = await env.client.get(url, headers=h)
        assert r.status_code == 200
        assert validate_document(r.json()) == []
        link = r.headers.get("link")
        url = link[1 : link.index(">")] if link else None
