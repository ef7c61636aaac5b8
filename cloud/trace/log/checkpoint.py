"""Signed tree heads: C2SP signed notes (c2sp.org/signed-note) carrying C2SP checkpoints
(c2sp.org/tlog-checkpoint), signed with Ed25519 (note signature type 0x01), pure.

A checkpoint::

    dehong.local/trace-log          <- origin (the log's name; = the key name)
    1234                            <- tree size, decimal, no leading zeros
    Pj8Rw0...=                      <- base64 of the RFC 9162 root hash at that size

    — dehong.local/trace-log AbCdEf...   <- em dash, space, key name, space,
                                           base64(4-byte key ID ‖ 64-byte signature)

The key ID is ``SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]``, big-endian.
Keys travel in the encodings of golang.org/x/mod/sumdb/note, so Go's tools read
them: the verifier key ``<name>+<key ID, 8 hex>+<base64(0x01 ‖ public key)>`` and the
signer key ``PRIVATE+KEY+<name>+<key ID>+<base64(0x01 ‖ 32-byte seed)>``.

Parsing is strict, so that any altered byte is refused: base64 must be the canonical
encoding of its bytes (no other padding bits), numbers have no leading zeros, and a
note must be valid UTF-8 without control characters other than newline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

__all__ = [
    "ALG_ED25519",
    "Checkpoint",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "b64decode_strict",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
    "sign_note",
]

#: signed-note signature type of Ed25519.
ALG_ED25519 = 0x01
#: A note with more signature lines is refused (Go's note package: 100; the spec: >= 16).
MAX_SIGNATURES = 100
SIG_PREFIX = "— "  # em dash U+2014, space


class NoteError(ValueError):
    """A note, checkpoint or key that is malformed or whose signature does not verify."""


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 section 4) that must be the canonical encoding of its bytes."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def check_name(name: str, what: str = "key name") -> str:
    """A key name: non-empty, no Unicode space, no '+' (signed-note)."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"{what} {name!r} must be non-empty, without spaces or '+'")
    return name


def key_id(name: str, public_key: bytes) -> int:
    """SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte Ed25519 public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int(struct.unpack(">I", digest[:4])[0])


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 note verifier: the key name, its key ID and the 32-byte public key."""

    name: str
    public_key: bytes
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("an Ed25519 public key is 32 bytes")
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<key ID hex>+<base64(0x01 ‖ public key)>``; the ID must match."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
        name, hash16, key64 = parts
        check_name(name)
        if len(hash16) != 8 or any(c not in "0123456789abcdef" for c in hash16):
            raise NoteError("the verifier key's ID is not 8 lower-case hex digits")
        raw = b64decode_strict(key64, "the verifier key's public key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("the verifier key is not an Ed25519 key (0x01 and 32 bytes)")
        verifier = cls(name, raw[1:])
        if verifier.key_id != int(hash16, 16):
            raise NoteError(
                f"the verifier key's ID {hash16} does not match its name and key "
                f"({verifier.key_id:08x})"
            )
        return verifier

    @property
    def vkey(self) -> str:
        """The verifier key string (golang.org/x/mod/sumdb/note)."""
        return f"{self.name}+{self.key_id:08x}+{b64(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 note signer (the private key) and its verifier."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        if len(self.seed) != 32:
            raise NoteError("an Ed25519 private key (seed) is 32 bytes")

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        key = Ed25519PrivateKey.generate()
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(name, seed)

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<key ID>+<base64(0x01 ‖ seed)>``; the ID must match."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>")
        _, _, name, hash16, key64 = parts
        if len(hash16) != 8 or any(c not in "0123456789abcdef" for c in hash16):
            raise NoteError("the signer key's ID is not 8 lower-case hex digits")
        raw = b64decode_strict(key64, "the signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("the signer key is not an Ed25519 key (0x01 and 32 bytes)")
        signer = cls(name, raw[1:])
        if signer.verifier.key_id != int(hash16, 16):
            raise NoteError("the signer key's ID does not match its name and key")
        return signer

    @property
    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, _raw_public(self._key.public_key()))

    @property
    def skey(self) -> str:
        """The signer key string (golang.org/x/mod/sumdb/note). Secret."""
        kid = self.verifier.key_id
        return f"PRIVATE+KEY+{self.name}+{kid:08x}+{b64(bytes([ALG_ED25519]) + self.seed)}"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


# ------------------------------------------------------------------ notes


def _check_note_chars(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    for c in text:
        if c < " " and c != "\n":
            raise NoteError(f"{what} contains the control character U+{ord(c):04X}")


def sign_note(text: str, signer: NoteSigner) -> str:
    """The signed note: ``text`` (ending in a newline), a blank line, one signature line."""
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    _check_note_chars(text, "the note text")
    sig = signer.sign(text.encode("utf-8"))
    payload = struct.pack(">I", signer.verifier.key_id) + sig
    return f"{text}\n{SIG_PREFIX}{signer.name} {b64(payload)}\n"


def open_note(note: str, verifier: NoteVerifier) -> str:
    """The text of a signed note that ``verifier`` signed; :class:`NoteError` otherwise.

    As the spec (and golang.org/x/mod/sumdb/note's Open) says: signatures of other keys
    are ignored; a signature of this key (same name and key ID) that does not verify
    rejects the note; so does a note with no signature of this key.
    """
    _check_note_chars(note, "the note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no blank line before its signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise NoteError("the note's signature lines must end with a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_SIGNATURES} signatures")
    verified = False
    for n, line in enumerate(lines, 1):
        what = f"signature line {n}"
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"{what} does not start with an em dash and a space")
        name, sep, b64sig = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not b64sig:
            raise NoteError(f"{what} is not '— <key name> <base64 signature>'")
        check_name(name, f"the key name of {what}")
        raw = b64decode_strict(b64sig, f"the signature of {what}")
        if len(raw) < 5:
            raise NoteError(f"the signature of {what} is too short")
        (kid,) = struct.unpack(">I", raw[:4])
        if name != verifier.name or kid != verifier.key_id:
            continue  # another key's signature (a witness, an old key): ignored
        if verified:  # stricter than Go's Open, which skips the repeat: nothing added passes
            raise NoteError(f"the note is signed twice by the key {name}+{kid:08x} ({what})")
        if not verifier.verify(text.encode("utf-8"), raw[4:]):
            raise NoteError(f"invalid signature for key {name}+{kid:08x} ({what})")
        verified = True
    if not verified:
        raise NoteError(
            f"the note has no signature by the key {verifier.name}+{verifier.key_id:08x}"
        )
    return text


# ------------------------------------------------------------------ checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """The note text of a checkpoint: origin, tree size, root hash (and extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        if not self.origin or "\n" in self.origin:
            raise NoteError("a checkpoint's origin is one non-empty line")
        if self.size < 0 or len(self.root_hash) != 32:
            raise NoteError("a checkpoint has a size >= 0 and a 32-byte root hash")
        if any(not e or "\n" in e for e in self.extensions):
            raise NoteError("a checkpoint's extension lines are non-empty single lines")
        lines = [self.origin, str(self.size), b64(self.root_hash), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise NoteError("the checkpoint text does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("a checkpoint has at least 3 lines: origin, tree size, root hash")
        origin, size_line, root_line, *extensions = lines
        if not origin:
            raise NoteError("the checkpoint's origin line is empty")
        if not size_line.isascii() or not size_line.isdigit():
            raise NoteError("the checkpoint's tree size is not a decimal number")
        if size_line != str(int(size_line)):
            raise NoteError("the checkpoint's tree size has leading zeros")
        root = b64decode_strict(root_line, "the checkpoint's root hash")
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        if any(not e for e in extensions):
            raise NoteError("the checkpoint has an empty extension line")
        return cls(origin, int(size_line), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed note of a checkpoint; the log's key name is its origin."""
    if checkpoint.origin != signer.name:
        raise NoteError(
            f"the checkpoint's origin {checkpoint.origin!r} is not the key's name {signer.name!r}"
        )
    return sign_note(checkpoint.text(), signer)


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """The checkpoint of a signed note, verified against the log's key, whose name
    must be the checkpoint's origin."""
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if checkpoint.origin != verifier.name:
        raise NoteError(
            f"the checkpoint's origin {checkpoint.origin!r} is not the log {verifier.name!r}"
        )
    return checkpoint
