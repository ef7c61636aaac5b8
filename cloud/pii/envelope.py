"""Envelope encryption of one personal field (pure: no I/O, no database).

:func:`seal` draws a fresh 256-bit data key, encrypts the value with it (AES-256-GCM)
and wraps the data key with the active master key (AES-256-GCM again); the stored
text is ``pii1.<kid>.<wrapped key>.<ciphertext>`` (base64url, about 90 characters
plus the value). Both layers authenticate ``context`` (for example
``logistics_drivers.phone:<driver ref>``), so a value copied into another record or
column does not open. :func:`open_field` fails loudly (:class:`PiiError`) on a wrong
or missing key, a tampered value or a wrong context: never a wrong plaintext.
:func:`rewrap` re-wraps the data key with the active master key (rotation) without
touching the ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloud.pii.keys import Keyring

PREFIX = "pii1"
NONCE = 12
#: The longest plaintext sealed (bytes of UTF-8): personal fields are short.
MAX_PLAINTEXT = 4096


class PiiError(ValueError):
    """A sealed value that cannot be opened (tampered, wrong key, wrong context)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _wrap_aad(kid: str, context: str) -> bytes:
    return f"{PREFIX}|wrap|{kid}|{context}".encode()


def _data_aad(context: str) -> bytes:
    return f"{PREFIX}|data|{context}".encode()


def seal(keyring: Keyring, value: str, context: str) -> str:
    """``value`` encrypted under a fresh data key wrapped by the active master key."""
    plain = value.encode("utf-8")
    if len(plain) > MAX_PLAINTEXT:
        raise PiiError(f"a personal field holds at most {MAX_PLAINTEXT} bytes")
    kid = keyring.active
    dek = AESGCM.generate_key(bit_length=256)
    wrap_nonce, data_nonce = os.urandom(NONCE), os.urandom(NONCE)
    wrapped = AESGCM(keyring.key(kid)).encrypt(wrap_nonce, dek, _wrap_aad(kid, context))
    sealed = AESGCM(dek).encrypt(data_nonce, plain, _data_aad(context))
    return f"{PREFIX}.{kid}.{_b64(wrap_nonce + wrapped)}.{_b64(data_nonce + sealed)}"


def _parts(token: str) -> tuple[str, bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise PiiError(f"not a sealed personal field (expected {PREFIX}.<kid>.<key>.<data>)")
    try:
        return parts[1], _unb64(parts[2]), _unb64(parts[3])
    except (binascii.Error, ValueError):
        raise PiiError("sealed personal field: damaged base64") from None


def key_id_of(token: str) -> str:
    """The id of the master key that wraps ``token``'s data key."""
    return _parts(token)[0]


def _unwrap(keyring: Keyring, kid: str, wrapped: bytes, context: str) -> bytes:
    if len(wrapped) <= NONCE:
        raise PiiError("sealed personal field: wrapped key truncated")
    try:
        return AESGCM(keyring.key(kid)).decrypt(
            wrapped[:NONCE], wrapped[NONCE:], _wrap_aad(kid, context)
        )
    except InvalidTag:
        raise PiiError(
            f"sealed personal field: its data key does not unwrap with master key {kid!r} "
            "(wrong key, tampered value, or a value of another record)"
        ) from None


def open_field(keyring: Keyring, token: str, context: str) -> str:
    """The plaintext of ``token`` (sealed with ``context``); :class:`PiiError` otherwise."""
    kid, wrapped, data = _parts(token)
    dek = _unwrap(keyring, kid, wrapped, context)
    if len(data) <= NONCE:
        raise PiiError("sealed personal field: ciphertext truncated")
    try:
        plain = AESGCM(dek).decrypt(data[:NONCE], data[NONCE:], _data_aad(context))
    except InvalidTag:
        raise PiiError("sealed personal field: ciphertext tampered or of another record") from None
    return plain.decode("utf-8")


def rewrap(keyring: Keyring, token: str, context: str) -> str:
    """``token`` with its data key wrapped by the active master key (rotation); the
    same token when it already is. The data ciphertext is kept as it is."""
    kid, wrapped, data = _parts(token)
    if kid == keyring.active:
        return token
    dek = _unwrap(keyring, kid, wrapped, context)
    nonce = os.urandom(NONCE)
    new = AESGCM(keyring.key(keyring.active)).encrypt(
        nonce, dek, _wrap_aad(keyring.active, context)
    )
    return f"{PREFIX}.{keyring.active}.{_b64(nonce + new)}.{_b64(data)}"
