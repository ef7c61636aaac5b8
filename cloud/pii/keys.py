"""Master keys: where they come from and which one is active.

Master keys never enter the database. They come from ``DEHONG_PII_KEYS`` (an env
variable or ``.env``: ``kid:base64key[,kid:base64key...]``, the FIRST is the active one)
or from ``DEHONG_PII_KEY_FILE`` (the same text in a file, mode 0600, outside the
database and its backups). Each key is 32 random bytes (AES-256); ``kid`` is a short
name (letters, digits, ``-``), stored with every sealed value so that old values stay
readable after a new key becomes active (rotation: put the new key first, keep the
old ones, run the rewrap).

With neither set, only a demo (``DEHONG_DEMO=1``) gets :data:`DEMO_KEYS`, a clearly
marked demo default; anything else raises :class:`PiiKeyError` on first use.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

#: DEMO DEFAULT, NOT A SECRET: the demo's master key (32 bytes, published here). Real
#: deployments set DEHONG_PII_KEYS or DEHONG_PII_KEY_FILE.
DEMO_KEY_ID = "demo"
DEMO_KEYS = "demo:ZGVtby1vbmx5LXBpaS1rZXktbm90LWEtc2VjcmV0ISE="

KEY_BYTES = 32
_KID = re.compile(r"^[A-Za-z0-9-]{1,16}$")


class PiiKeyError(RuntimeError):
    """No usable master key (missing, malformed, or the one a value names is gone)."""


@dataclass(frozen=True)
class Keyring:
    """The master keys by id; ``active`` seals new values."""

    active: str
    keys: dict[str, bytes]

    def key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise PiiKeyError(
                f"master key {kid!r} is not configured (known: {', '.join(self.keys)}); "
                "add it back to DEHONG_PII_KEYS to read the values sealed with it"
            ) from None

    @property
    def is_demo(self) -> bool:
        return DEMO_KEY_ID in self.keys

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """``kid:base64key[,kid:base64key...]`` (whitespace and newlines allowed)."""
        keys: dict[str, bytes] = {}
        for part in re.split(r"[,\s]+", text.strip()):
            if not part:
                continue
            kid, sep, b64 = part.partition(":")
            if not sep or not _KID.match(kid):
                raise PiiKeyError(
                    f"pii key {kid[:16]!r}: write each key as kid:base64 (kid: 1-16 letters, "
                    "digits or -)"
                )
            try:
                raw = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise PiiKeyError(f"pii key {kid!r}: not valid base64") from None
            if len(raw) != KEY_BYTES:
                raise PiiKeyError(
                    f"pii key {kid!r}: {len(raw)} bytes; a master key is {KEY_BYTES} random "
                    "bytes (python -c 'import os,base64;print(base64.b64encode(os.urandom(32))"
                    ".decode())')"
                )
            if kid in keys:
                raise PiiKeyError(f"pii key {kid!r} given twice")
            keys[kid] = raw
        if not keys:
            raise PiiKeyError("no pii master key given")
        return cls(active=next(iter(keys)), keys=keys)


def keyring_for(keys: str, key_file: Path | None, *, demo: bool) -> Keyring:
    """The keyring of the settings (``pii_keys``, ``pii_key_file``, ``demo``)."""
    if keys.strip():
        return _not_demo(Keyring.parse(keys), demo)
    if key_file is not None:
        try:
            text = Path(key_file).read_text(encoding="ascii")
        except OSError as exc:
            raise PiiKeyError(f"DEHONG_PII_KEY_FILE {key_file}: {exc.strerror}") from None
        return _not_demo(Keyring.parse(text), demo)
    if demo:
        return Keyring.parse(DEMO_KEYS)
    raise PiiKeyError(
        "personal data needs a master key: set DEHONG_PII_KEYS (kid:base64 of 32 random "
        "bytes) or DEHONG_PII_KEY_FILE; only the demo (DEHONG_DEMO=1) has a default"
    )


def _not_demo(ring: Keyring, demo: bool) -> Keyring:
    """The published demo key is refused outside the demo, under any id."""
    public = Keyring.parse(DEMO_KEYS).keys[DEMO_KEY_ID]
    if not demo and public in ring.keys.values():
        raise PiiKeyError(
            "DEHONG_PII_KEYS holds the published demo key, allowed only with DEHONG_DEMO=1"
        )
    return ring
