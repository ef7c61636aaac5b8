"""Lot bundles and ``dehong trace verify``: a bundle built from the log verifies
offline, and every change to it is detected: every value of every event (and every
member name, a removed or an added member), every character of every proof hash, of
the checkpoint (its lines and signature) and of the key, every leaf index, the format.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.db import Database
from cloud.db.migrate import upgrade_async
from cloud.trace.log import service
from cloud.trace.log.bundle import BundleError, build_bundle, load_bundle, verify_bundle
from cloud.trace.log.checkpoint import Checkpoint, NoteSigner, open_checkpoint, sign_checkpoint
from cloud.trace.log.scope import DECLARATION_SUFFIX

ORIGIN = "dehong.test/trace-log"


def event(i: int, **more: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:6f1c0e2a-0000-4000-8000-{i:012d}",
        "eventTime": "2026-03-01T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "recordTime": "2026-03-01T00:00:01.250Z",
        "action": "OBSERVE",
        "bizStep": "storing",
        "disposition": "in_progress",
        "epcList": [f"https://id.gs1.org/01/06901234567892/21/{i}"],
        "quantityList": [{"epcClass": "https://id.gs1.org/01/06901234567892/10/MS-2026-01",
                          "quantity": 120.5, "uom": "KGM"}],
        "readPoint": {"id": "https://id.gs1.org/414/6901234567892"},
        "sensorElementList": [{"sensorMetadata": {"startTime": "2026-03-01T00:00:00Z"},
                               "sensorReport": [{"type": "gs1:Temperature", "minValue": 15,
                                                 "maxValue": 19.75, "uom": "CEL"}]}],
        "ext:coldChain": True,
        "ext:grade": None,
        "ext:note": "芒市小粒咖啡",
        **more,
    }  # fmt: skip


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], NoteSigner]:
    """One bundle for the module (read-only: each test copies what it changes)."""
    built = asyncio.run(_build(tmp_path_factory.mktemp("bundle")))
    return json.loads(json.dumps(built[0])), built[1]


async def _build(tmp_path: Path) -> tuple[dict[str, Any], NoteSigner]:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    await upgrade_async(url)
    db = Database(url)
    signer = NoteSigner.generate(ORIGIN)
    declared = event(2)
    declared_body = declared | {"errorDeclaration": {"declarationTime": "2026-03-02T00:00:00Z",
                                                     "reason": "incorrect_data"}}  # fmt: skip
    async with db.transaction() as s:
        await service.append_events(s, [(f"other-{i}", {"n": i}) for i in range(20)])
        await service.append_events(
            s, [(event(1)["eventID"], event(1)), (event(2)["eventID"], declared)]
        )
        await service.append_events(s, [(f"later-{i}", {"n": i}) for i in range(9)])
        await service.append_events(s, [(declared["eventID"] + DECLARATION_SUFFIX, declared_body)])
    items = [(event(1)["eventID"], event(1)), (event(2)["eventID"], declared),
             (declared["eventID"] + DECLARATION_SUFFIX, declared_body)]  # fmt: skip
    async with db.transaction() as s:
        built = await build_bundle(s, items, signer)
    await db.dispose()
    return built, signer


def test_a_bundle_verifies_offline(bundle: tuple[dict[str, Any], NoteSigner]) -> None:
    b, signer = bundle
    got = verify_bundle(b, signer.verifier.vkey)
    assert got.tree_size == 32 and got.origin == ORIGIN
    assert [e["leaf_index"] for e in b["entries"]] == [20, 21, 31]
    assert got.event_ids == [event(1)["eventID"], event(2)["eventID"], event(2)["eventID"]]
    assert verify_bundle(load_bundle(json.dumps(b, indent=2, ensure_ascii=False).encode()))


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _put(b: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(b)
    target = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return out


def _char_changes(s: str) -> Iterator[str]:
    """Every character replaced, two ways each (a near one and a far one)."""
    for i, c in enumerate(s):
        for other in {chr(ord(c) ^ 1), "A" if c != "A" else "B"}:
            if other != c:
                yield s[:i] + other + s[i + 1 :]


def _scalar_changes(v: Any) -> list[Any]:
    if isinstance(v, bool):
        return [not v, int(v), str(v).lower()]
    if isinstance(v, int | float):
        return [v + 1, v - 1, str(v), float(v) + 0.5]
    if v is None:
        return [0, "null", False]
    if isinstance(v, str):
        return [v + "x", v[:-1], v.upper() if v.upper() != v else v.lower() + "q", 1]
    return []


def mutations(b: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, value in _paths(b):
        where = "/".join(map(str, path)) or "(bundle)"
        whole_string = path in (("checkpoint",), ("log_key",)) or (
            len(path) == 4 and path[2] == "inclusion_proof"
        )
        if isinstance(value, str) and whole_string:
            for changed in _char_changes(value):
                yield f"{where} char", _put(b, path, changed)
        if not isinstance(value, dict | list):
            for changed in _scalar_changes(value):
                yield f"{where} = {changed!r}", _put(b, path, changed)
            continue
        if isinstance(value, dict):
            for k in value:
                renamed = {(k + "x" if key == k else key): v for key, v in value.items()}
                yield f"{where} rename {k}", _put(b, path, renamed) if path else renamed
                less = {key: v for key, v in value.items() if key != k}
                yield f"{where} drop {k}", _put(b, path, less) if path else less
            more = {**value, "extra": 1}
            yield f"{where} add member", _put(b, path, more) if path else more
        if isinstance(value, list) and path != ("entries",):  # a subset of events is valid
            for i in range(len(value)):
                yield f"{where} drop [{i}]", _put(b, path, value[:i] + value[i + 1 :])
            if value:
                yield f"{where} duplicate", _put(b, path, [*value, value[-1]])
                yield (
                    f"{where} reversed",
                    _put(b, path, value[::-1])
                    if len(value) > 1
                    else _put(b, path, [*value, value[0]]),
                )


def test_every_change_to_a_bundle_is_detected(bundle: tuple[dict[str, Any], NoteSigner]) -> None:
    b, _ = bundle
    undetected = []
    count = 0
    for what, changed in mutations(b):
        if changed == b:  # e.g. reversing a list of equal items
            continue
        count += 1
        try:
            verify_bundle(changed)
        except BundleError:
            continue
        undetected.append(what)
    assert not undetected, undetected[:20]
    assert count > 1500  # every value, every character of hashes, checkpoint and key


def test_the_checkpoint_lines_and_the_signature_are_each_checked(
    bundle: tuple[dict[str, Any], NoteSigner],
) -> None:
    b, _ = bundle
    lines = b["checkpoint"].split("\n")  # origin, size, root, "", signature, ""
    for i in range(len(lines) - 1):
        for changed in (lines[:i] + lines[i + 1 :], [*lines[:i], lines[i], *lines[i:]]):
            with pytest.raises(BundleError, match="checkpoint"):
                verify_bundle(b | {"checkpoint": "\n".join(changed)})
    with pytest.raises(BundleError, match="checkpoint"):
        verify_bundle(b | {"checkpoint": b["checkpoint"].replace("\n\n", "\nextension\n\n")})


def test_a_bundle_re_signed_by_another_key_fails_only_against_the_published_key(
    bundle: tuple[dict[str, Any], NoteSigner],
) -> None:
    b, signer = bundle
    forger = NoteSigner.generate(ORIGIN)
    cp = open_checkpoint(b["checkpoint"], signer.verifier)
    forged = b | {
        "log_key": forger.verifier.vkey,
        "checkpoint": sign_checkpoint(Checkpoint(ORIGIN, cp.size, cp.root_hash), forger),
    }
    verify_bundle(forged)  # self-consistent: why --key matters
    with pytest.raises(BundleError, match="published key"):
        verify_bundle(forged, signer.verifier.vkey)
    with pytest.raises(BundleError, match="no signature by the key"):  # old note, new key
        verify_bundle(b | {"log_key": forger.verifier.vkey})


def test_strict_json(bundle: tuple[dict[str, Any], NoteSigner]) -> None:
    b, _ = bundle
    text = json.dumps(b)
    dup = text.replace('"format": ', '"format": "x", "format": ', 1)
    with pytest.raises(BundleError, match="twice"):
        load_bundle(dup)
    with pytest.raises(BundleError, match="not JSON"):
        load_bundle(text.replace('"quantity": 120.5', '"quantity": NaN', 1))
    with pytest.raises(BundleError, match="not a JSON bundle"):
        load_bundle(text[:-1])


async def test_a_stored_event_changed_after_logging_cannot_be_bundled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    await upgrade_async(url)
    db = Database(url)
    async with db.transaction() as s:
        await service.append_events(s, [(event(1)["eventID"], event(1))])
    changed = event(1) | {"bizStep": "shipping"}
    with pytest.raises(BundleError, match="was changed after it was logged"):
        async with db.transaction() as s:
            await build_bundle(s, [(event(1)["eventID"], changed)], NoteSigner.generate(ORIGIN))
    with pytest.raises(BundleError, match="not in the log"):
        async with db.transaction() as s:
            await build_bundle(s, [("urn:uuid:none", event(3))], NoteSigner.generate(ORIGIN))
    await db.dispose()


def test_dehong_trace_verify(
    bundle: tuple[dict[str, Any], NoteSigner],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dehong.cli import main

    b, signer = bundle
    good = tmp_path / "lot.json"
    good.write_text(json.dumps(b, ensure_ascii=False), encoding="utf-8")
    key = tmp_path / "log.vkey"
    key.write_text(signer.verifier.vkey + "\n")

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(["trace", "verify", *argv])
        out = capsys.readouterr()
        return int(exc.value.code or 0), out.out, out.err

    code, out, _ = run(str(good), "--key", str(key))
    assert code == 0 and "OK: 3 events are in the log dehong.test/trace-log" in out
    assert "tree size 32" in out and signer.verifier.vkey in out and "not pinned" not in out
    code, out, _ = run(str(good))
    assert code == 0 and "not pinned" in out

    bad = copy.deepcopy(b)
    bad["entries"][1]["event"]["quantityList"][0]["quantity"] = 121.5
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code, _, err = run(str(tmp_path / "bad.json"))
    assert code == 1 and "FAILED: entries[1]:" in err and event(2)["eventID"] in err

    code, _, err = run(str(good), "--key", NoteSigner.generate(ORIGIN).verifier.vkey)
    assert code == 1 and "FAILED: log_key" in err
    code, _, err = run(str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err
