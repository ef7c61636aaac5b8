"""Builders for wire messages used across tests."""

from __future__ import annotations

import secrets
import time

from protocol.codec import encode
from protocol.messages import DataBatch, Series


def now_ms() -> int:
    return int(time.time() * 1000)


def room_series(device: str, t0: int, n: int = 60, base: float = 4.0) -> Series:
    return Series(
        device=device,
        t0=t0,
        n=n,
        dt=1000,
        values={
            "temperature": [round(base + (i % 7) / 10, 1) for i in range(n)],
            "humidity": [85.0 + (i % 3) for i in range(n)],
            "door": [0.0] * n,
            "compressor": [1.0 if i % 10 < 6 else 0.0 for i in range(n)],
        },
    )


def batch(gw: str, seq: int, *series: Series, batch_id: str | None = None) -> DataBatch:
    return DataBatch(
        gw=gw, seq=seq, id=batch_id or secrets.token_urlsafe(12), sent=now_ms(), series=list(series)
    )


def batch_bytes(
    gw: str, seq: int, t0: int | None = None, n: int = 60, room: str = "room-1"
) -> bytes:
    t0 = now_ms() - n * 1000 if t0 is None else t0
    return encode(batch(gw, seq, room_series(f"{gw}.{room}", t0, n)))
