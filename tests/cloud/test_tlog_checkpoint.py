"""cloud/trace/log/checkpoint.py: C2SP signed notes and checkpoints, Ed25519.

Interop vectors: golang.org/x/mod/sumdb/note (BSD-3-Clause), ``note_test.go``: the
PeterNeumann signer and verifier keys, the signed note of TestSign (Ed25519 is
deterministic, so our signature must be byte-identical), and the EnochRoot
signature TestOpen checks beside it. The checkpoint layout follows
c2sp.org/tlog-checkpoint.
"""

from __future__ import annotations

import base64

import pytest

from cloud.trace.log.checkpoint import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
)


def test_go_keys_parse_and_agree() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    verifier = NoteVerifier.from_vkey(PETER_VKEY)
    assert signer.verifier == verifier
    assert verifier.key_id == 0xC74F20A3 == key_id("PeterNeumann", verifier.public_key)
    assert signer.skey == PETER_SKEY and verifier.vkey == PETER_VKEY
    assert NoteVerifier.from_vkey(ENOCH_VKEY).key_id == 0xAF0CFE78


def test_signing_is_byte_identical_to_go() -> None:
    assert sign_note(TEXT, NoteSigner.from_skey(PETER_SKEY)) == TEXT + "\n" + PETER_SIG


def test_open_ignores_other_keys_and_needs_ours() -> None:
    peter = NoteVerifier.from_vkey(PETER_VKEY)
    enoch = NoteVerifier.from_vkey(ENOCH_VKEY)
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(both, peter) == TEXT
    assert open_note(both, enoch) == TEXT  # Go's TestOpen verifies Enoch's too
    with pytest.raises(NoteError, match="no signature by the key"):
        open_note(TEXT + "\n" + ENOCH_SIG, peter)
    tampered = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann"):
        open_note(tampered, peter)


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
        "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes_of_go_are_refused(msg: str) -> None:
    with pytest.raises(NoteError):
        open_note(msg, NoteVerifier.from_vkey(PETER_VKEY))


def test_mangled_verifier_keys_are_refused() -> None:
    for i in range(len(PETER_VKEY)):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    NoteVerifier.from_vkey(PETER_VKEY[:i] + PETER_VKEY[j:])
                    pytest.fail(f"cut [{i}:{j}] accepted")
    for i, c in enumerate(PETER_VKEY):
        with pytest.raises(NoteError):
            NoteVerifier.from_vkey(PETER_VKEY[:i] + chr(ord(c) + 1) + PETER_VKEY[i + 1 :])
    with pytest.raises(NoteError):  # wrong length key, with adjusted key hash (Go's case)
        NoteVerifier.from_vkey(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(NoteError):  # unknown algorithm, with adjusted key hash
        NoteVerifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_checkpoint_round_trip_and_c2sp_layout() -> None:
    signer = NoteSigner.generate("dehong.test/log")
    root = bytes(range(32))
    note = sign_checkpoint(Checkpoint("dehong.test/log", 20852163, root), signer)
    lines = note.split("\n")
    assert lines[:4] == ["dehong.test/log", "20852163", base64.b64encode(root).decode(), ""]
    assert lines[4].startswith("— dehong.test/log ") and lines[5] == ""
    raw = base64.b64decode(lines[4].split(" ")[2])
    assert int.from_bytes(raw[:4], "big") == signer.verifier.key_id and len(raw) == 68
    assert open_checkpoint(note, signer.verifier) == Checkpoint("dehong.test/log", 20852163, root)
    empty = sign_checkpoint(Checkpoint("dehong.test/log", 0, root), signer)
    assert open_checkpoint(empty, signer.verifier).size == 0


def test_every_altered_character_of_a_checkpoint_is_refused() -> None:
    signer = NoteSigner.generate("dehong.test/log")
    note = sign_checkpoint(Checkpoint("dehong.test/log", 1234, bytes(32)), signer)
    for i, c in enumerate(note):
        for other in {"A", "0", "\n", "+", chr(ord(c) ^ 1)} - {c}:
            with pytest.raises(NoteError):
                open_checkpoint(note[:i] + other + note[i + 1 :], signer.verifier)
                pytest.fail(f"character {i} {c!r} -> {other!r} accepted")
    for bad in ("dehong.test/log\n01234\n", "dehong.test/log\n-1\n", "x\n1\nAAAA\n"):
        with pytest.raises(NoteError):
            Checkpoint.parse(bad)


def test_base64_with_other_padding_bits_is_refused() -> None:
    signer = NoteSigner.generate("dehong.test/log")
    root = bytes(32)
    note = sign_checkpoint(Checkpoint("dehong.test/log", 1, root), signer)
    b64root = base64.b64encode(root).decode()  # 'AAAA...A=': the last 'A' holds 2 pad bits
    sloppy = b64root[:-2] + "B="  # decodes to the same bytes when padding bits are ignored
    assert base64.b64decode(sloppy) == root
    with pytest.raises(NoteError, match="canonical"):
        Checkpoint.parse(open_note(note, signer.verifier).replace(b64root, sloppy))
