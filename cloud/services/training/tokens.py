"""Short-lived signed check-in codes (pure, no I/O).

A code is ``<session>.<expires unix s>.<nonce>.<mac>``: the MAC (HMAC-SHA-256, 96 bits
kept, base64url) covers the first three parts under a key derived from the app's JWT
secret for this purpose only (``dehong/training/checkin/v1``), so a code cannot be made
or altered without the server. The nonce makes each code unique: the attendance row
keeps it, and the same code presented again for the same trainee is a replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

#: How long a code shown in the room is accepted (the screen shows a new one before).
DEFAULT_TTL_S = 120
LABEL = b"dehong/training/checkin/v1"
_CODE = re.compile(r"^(\d{1,10})\.(\d{1,12})\.([A-Za-z0-9_-]{8,32})\.([A-Za-z0-9_-]{16})$")


class CodeError(ValueError):
    """Why a code is refused: ``reason`` is ``malformed``, ``forged`` or ``expired``."""

    def __init__(self, reason: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.reason = reason
        self.zh = zh
        self.en = en


@dataclass(frozen=True, slots=True)
class Code:
    session_id: int
    expires: int
    nonce: str


def derive_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), LABEL, hashlib.sha256).digest()


def _mac(key: bytes, body: str) -> str:
    raw = hmac.new(key, body.encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def make(key: bytes, session_id: int, now: datetime, ttl_s: int = DEFAULT_TTL_S) -> tuple[str, int]:
    """A new code for ``session_id`` and the unix second it expires."""
    expires = int(now.timestamp()) + ttl_s
    body = f"{session_id}.{expires}.{secrets.token_urlsafe(9)}"
    return f"{body}.{_mac(key, body)}", expires


def check(key: bytes, token: str, now: datetime) -> Code:
    """The code's contents, or :class:`CodeError` naming why it is refused."""
    m = _CODE.match(token.strip())
    if m is None:
        raise CodeError("malformed", "这不是有效的签到码", "not a check-in code")
    body = f"{m[1]}.{m[2]}.{m[3]}"
    if not hmac.compare_digest(_mac(key, body), m[4]):
        raise CodeError("forged", "签到码无效（签名不符）", "the code's signature does not match")
    expires = int(m[2])
    if now.timestamp() > expires:
        at = datetime.fromtimestamp(expires, UTC).isoformat()
        raise CodeError(
            "expired",
            "签到码已过期，请扫描屏幕上的新二维码",
            f"the code expired at {at}; scan the new QR on the screen",
        )
    return Code(int(m[1]), expires, m[3])
