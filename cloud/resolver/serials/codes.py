"""The authentication code ``c`` of a serial: a truncated HMAC-SHA256 (pure, no I/O).

``c = base32(HMAC-SHA256(key, "dehong-c1" NUL gtin14 NUL lot NUL serial))[:10]``:
the first 50 bits of the MAC in RFC 4648 base32 (A-Z, 2-7; read case-insensitively),
10 characters. The fields are joined with NUL, which none of them may hold (GS1's
set 82), so no two (GTIN, lot, serial) share an input.

Why 50 bits: a forger who knows a valid GTIN, lot and serial must guess ``c``; each
guess is one request to the resolver, rate-limited per client address. At a million
guesses a day (far past what the limiter lets a botnet of thousands of addresses
through unnoticed) the chance of one hit in a year is 365e6 / 2**50 = 3e-7. 8
characters (40 bits) would give 3e-4 at the same rate; 10 cost two more characters in
the QR. A copied genuine code is not a guess: the scan log counts and flags those.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

CODE_LENGTH = 10
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_DOMAIN = b"dehong-c1"


def make_code(key: bytes, gtin: str, lot: str, serial: str) -> str:
    """The code of one serial of one lot."""
    msg = b"\x00".join((_DOMAIN, gtin.encode(), lot.encode(), serial.encode()))
    mac = hmac.new(key, msg, hashlib.sha256).digest()
    return base64.b32encode(mac).decode("ascii")[:CODE_LENGTH]


def normal_code(c: str) -> str | None:
    """``c`` upper-cased if it has the code's form, else None."""
    up = c.strip().upper()
    if len(up) != CODE_LENGTH or not set(up) <= _ALPHABET:
        return None
    return up


def code_matches(key: bytes, gtin: str, lot: str, serial: str, c: str) -> bool:
    """Whether ``c`` is the serial's code (compared in constant time)."""
    up = normal_code(c)
    if up is None:
        return False
    return hmac.compare_digest(make_code(key, gtin, lot, serial), up)
