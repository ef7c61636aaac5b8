"""Round trip (issue 11): every GS1 example document (tests/data/epcis/examples/)
captures, and queried back gives the same events (same fields and values; we add
recordTime, and eventID where the event had none); every export validates against
GS1's schema. On SQLite and PostgreSQL.

GS1 gave two different events one eventID (``AssociationEvent-f`` and
``Example-Type-sourceOrDestination,...``), which a conformant repository refuses (409):
such an example is captured into a database of its own (see ``_batches``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cloud.auth.principal import Role
from cloud.trace.epcis import event_hash, validate_document
from cloud.trace.epcis.documents import document_context
from cloud.trace.events.capture import event_list
from tests.support.api import HOME, ApiEnv, api_env
from tests.support.epcis import capture, gs1_examples

EXAMPLES = gs1_examples()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _same_event(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same event, or an error declaration of it (EPCIS 2.0: the event again, with
    errorDeclaration added)."""
    drop = {"errorDeclaration", "recordTime"}
    return {k: v for k, v in a.items() if k not in drop} == {
        k: v for k, v in b.items() if k not in drop
    }


def _batches(paths: list[Path]) -> list[list[tuple[Path, dict[str, Any]]]]:
    """The examples with their documents, in order, in batches that one database can
    hold: an example that reuses an earlier example's eventID for another event starts a
    new batch (capturing it after the other is a 409, rightly)."""
    batches: list[list[tuple[Path, dict[str, Any]]]] = [[]]
    seen: dict[str, dict[str, Any]] = {}
    for path in paths:
        doc = json.loads(path.read_text(encoding="utf-8"))
        _, events = event_list(doc)
        mine = {e["eventID"]: e for e in events if "eventID" in e}
        if any(i in seen and not _same_event(seen[i], e) for i, e in mine.items()):
            batches.append([])
            seen = {}
        batches[-1].append((path, doc))
        seen.update(mine)
    return batches


def test_examples_that_reuse_an_event_id_go_to_their_own_database() -> None:
    names = [[p.name for p, _ in batch] for batch in _batches(EXAMPLES)]
    assert len(names) >= 2  # GS1 reused 5f7c472b...: AssociationEvent-f and Example-Type-...
    for batch in names:
        assert not {"AssociationEvent-f.jsonld",
                    "Example-Type-sourceOrDestination,measurement,bizTransaction.jsonld"} <= set(batch)  # fmt: skip


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


async def test_every_gs1_example_captures_and_round_trips(backend: str, tmp_path: Path) -> None:
    assert len(EXAMPLES) >= 40
    for n, batch in enumerate(_batches(EXAMPLES)):
        async with api_env(backend, tmp_path / str(n)) as env:
            h = await env.headers(Role.COUNTY_ADMIN, HOME)
            for path, doc in batch:
                await _round_trip(env, h, path, doc)
            await _export_all(env, h)


async def _round_trip(env: ApiEnv, h: dict[str, str], path: Path, doc: dict[str, Any]) -> None:
    job = await capture(env, doc, h)
    assert job["success"] is True, (path.name, job["errors"])
    _, sent = event_list(doc)
    # the events of this document, in document order: an event without eventID is
    # stored under its CBV 2.0 event hash (the job lists only events new to the store)
    context = document_context(doc)
    ids = [e.get("eventID") or event_hash(e, context) for e in sent]
    assert set(job["eventIDs"]) <= set(ids), path.name
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


async def _export_all(env: ApiEnv, h: dict[str, str]) -> None:
    """The whole history as one query document, paged, each page valid."""
    url: str | None = "/api/v1/epcis/events?perPage=5"
    while url is not None:
        r = await env.client.get(url, headers=h)
        assert r.status_code == 200
        assert validate_document(r.json()) == []
        link = r.headers.get("link")
        url = link[1 : link.index(">")] if link else None
