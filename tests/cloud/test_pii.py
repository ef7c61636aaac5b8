"""cloud/pii: envelope encryption, blind index, rotation, audited reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.audit.storage import AuditEntry
from cloud.pii import (
    Keyring,
    PiiError,
    PiiKeyError,
    blind_index,
    blind_indexes,
    key_id_of,
    keyring_for,
    open_field,
    reveal,
    rewrap,
    seal,
)
from cloud.pii.envelope import _b64, _unb64
from tests.cloud.logistics_support import database, keyring, new_keys

CTX = "logistics_drivers.phone:drv-1"


def test_round_trip_and_fresh_key_per_value() -> None:
    ring = keyring()
    a, b = seal(ring, "13800138000", CTX), seal(ring, "13800138000", CTX)
    assert a != b, "each value has its own data key and nonce"
    assert "13800138000" not in a
    assert open_field(ring, a, CTX) == open_field(ring, b, CTX) == "13800138000"
    assert open_field(ring, seal(ring, "岩温 Yan Wen", CTX), CTX) == "岩温 Yan Wen"
    assert key_id_of(a) == "k1"


def test_wrong_key_fails_loudly() -> None:
    token = seal(keyring("k1"), "secret value", CTX)
    other = keyring("k1")  # same id, other bytes
    with pytest.raises(PiiError, match="does not unwrap with master key 'k1'"):
        open_field(other, token, CTX)
    with pytest.raises(PiiKeyError, match="master key 'k1' is not configured"):
        open_field(keyring("k9"), token, CTX)


def test_tampered_ciphertext_fails() -> None:
    ring = keyring()
    token = seal(ring, "110101199003077777", CTX)
    head, kid, wrapped, data = token.split(".")
    raw = bytearray(_unb64(data))
    raw[-1] ^= 1
    with pytest.raises(PiiError, match="tampered"):
        open_field(ring, ".".join((head, kid, wrapped, _b64(bytes(raw)))), CTX)
    raw_w = bytearray(_unb64(wrapped))
    raw_w[15] ^= 0x40
    with pytest.raises(PiiError, match="does not unwrap"):
        open_field(ring, ".".join((head, kid, _b64(bytes(raw_w)), data)), CTX)
    with pytest.raises(PiiError, match="truncated"):
        open_field(ring, ".".join((head, kid, wrapped, _b64(b"short"))), CTX)
    with pytest.raises(PiiError, match="not a sealed"):
        open_field(ring, "13800138000", CTX)


def test_value_of_another_record_does_not_open() -> None:
    ring = keyring()
    token = seal(ring, "13800138000", CTX)
    with pytest.raises(PiiError):
        open_field(ring, token, "logistics_drivers.phone:drv-2")
    with pytest.raises(PiiError):
        open_field(ring, token, "logistics_drivers.id_number:drv-1")


def test_rotation_rewraps_and_old_key_can_go() -> None:
    old = keyring("k1")
    token = seal(old, "13800138000", CTX)
    both = Keyring(active="k2", keys={"k2": keyring("k2").keys["k2"], **old.keys})
    assert open_field(both, token, CTX) == "13800138000"  # old values still read
    new = rewrap(both, token, CTX)
    assert key_id_of(new) == "k2" and new.split(".")[3] == token.split(".")[3]
    assert rewrap(both, new, CTX) == new
    only_new = Keyring(active="k2", keys={"k2": both.keys["k2"]})
    assert open_field(only_new, new, CTX) == "13800138000"
    with pytest.raises(PiiKeyError):
        open_field(only_new, token, CTX)


def test_blind_index_matches_normalised_and_spans_rotation() -> None:
    ring = keyring("k1")
    assert blind_index(ring, "phone", "138-0013 8000") == blind_index(ring, "phone", "13800138000")
    assert blind_index(ring, "phone", "13800138000") != blind_index(ring, "phone", "13800138001")
    assert blind_index(ring, "phone", "x") != blind_index(ring, "id_number", "x"), "per field"
    rotated = Keyring(active="k2", keys={"k2": keyring("k2").keys["k2"], **ring.keys})
    assert blind_index(ring, "phone", "1") in blind_indexes(rotated, "phone", "1")
    assert len(blind_indexes(rotated, "phone", "1")) == 2


def test_keyring_sources(tmp_path: Path) -> None:
    with pytest.raises(PiiKeyError, match="only the demo"):
        keyring_for("", None, demo=False)
    assert keyring_for("", None, demo=True).is_demo
    text = new_keys("a", "b")
    assert keyring_for(text, None, demo=False).active == "a"
    f = tmp_path / "pii.keys"
    f.write_text(text)
    assert keyring_for("", f, demo=False).keys == Keyring.parse(text).keys
    with pytest.raises(PiiKeyError, match="32 random"):
        Keyring.parse("k1:AAAA")
    with pytest.raises(PiiKeyError, match="kid:base64"):
        Keyring.parse("no-colon")
    from cloud.pii.keys import DEMO_KEYS

    with pytest.raises(PiiKeyError, match="published demo key"):
        keyring_for(DEMO_KEYS.replace("demo:", "prod:"), None, demo=False)
    assert keyring_for(DEMO_KEYS, None, demo=True).is_demo
    with pytest.raises(PiiKeyError, match="DEHONG_PII_KEY_FILE"):
        keyring_for("", tmp_path / "missing", demo=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    async with database(request.param, tmp_path) as d:
        yield d


async def test_every_reveal_is_audited_without_the_value(db) -> None:  # type: ignore[no-untyped-def]
    ring = keyring()
    token = seal(ring, "13800138000", CTX)
    async with db.transaction() as s:
        got = await reveal(s, ring, token, context=CTX, actor="user:disp", county="533103",
                           target="driver:drv-1", field="phone")  # fmt: skip
        assert got == "13800138000"
        assert await reveal(s, ring, None, context=CTX, actor="user:disp", county="533103",
                            target="driver:drv-1", field="phone") is None  # fmt: skip
    async with db.session() as s:
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "pii.read"))).all()
    assert [(r.actor, r.target, r.detail) for r in rows] == [
        ("user:disp", "driver:drv-1", {"field": "phone"})
    ]
    assert "13800138000" not in repr([r.detail for r in rows])
    # a value that does not open is not revealed (and the read fails loudly)
    with pytest.raises(PiiError):
        async with db.transaction() as s:
            await reveal(s, keyring(), token, context=CTX, actor="user:x", county="533103",
                         target="driver:drv-1", field="phone")  # fmt: skip
