"""A blind index: a keyed hash (HMAC-SHA-256) of a normalised value, so that an exact
match ("the driver with this phone number") is a query on an indexed column while the
value stays sealed. The index key of each master key is derived from it with HKDF
(``info`` names the field), so one field's index says nothing about another's.

After a rotation, values indexed under the old key keep their index until rewrapped:
:func:`blind_indexes` gives the index under every configured key, for an ``IN`` query.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloud.pii.keys import Keyring

#: Hex characters kept (128 bits): collisions are negligible, the column short.
INDEX_CHARS = 32


def normalise(value: str) -> str:
    """NFKC, trimmed, inner whitespace and ``-`` removed, case-folded (phone and ID
    numbers are matched however they were typed)."""
    text = unicodedata.normalize("NFKC", value).casefold()
    return "".join(ch for ch in text if not ch.isspace() and ch != "-")


def _index_key(master: bytes, field: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"dehong-pii-index|{field}".encode()
    ).derive(master)


def _index(master: bytes, field: str, value: str) -> str:
    mac = hmac.new(_index_key(master, field), normalise(value).encode(), hashlib.sha256)
    return mac.hexdigest()[:INDEX_CHARS]


def blind_index(keyring: Keyring, field: str, value: str) -> str:
    """The index of ``value`` for ``field`` under the active master key."""
    return _index(keyring.key(keyring.active), field, value)


def blind_indexes(keyring: Keyring, field: str, value: str) -> list[str]:
    """The index under every configured master key (search across a rotation)."""
    return [_index(key, field, value) for key in keyring.keys.values()]
