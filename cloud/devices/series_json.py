"""Series responses streamed as JSON: the head (device, metric, range, resolution) is
rendered by the response model itself, the buckets follow in chunks, so the shape is
exactly the documented one (``SeriesOut``, ``MultiSeriesOut``) without building a model
per bucket."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence

import orjson
from fastapi.responses import StreamingResponse

from cloud.devices.schemas import DeviceSeries, MultiSeriesOut, SeriesOut
from cloud.timeseries import Bucket

#: Buckets per chunk written to the socket.
CHUNK = 256
_EMPTY_BUCKETS = b'"buckets":[]}'


def iso_ms(ms: int) -> str:
    """Epoch ms as the response models render a UTC datetime: ``...T16:00:00Z`` or
    ``...T16:00:00.123000Z``."""
    secs, rem = divmod(ms, 1000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{rem:03d}000Z" if rem else f"{base}Z"


def _buckets(buckets: Sequence[Bucket]) -> Iterator[bytes]:
    """``[{...},{...}]`` in chunks."""
    yield b"["
    for i in range(0, len(buckets), CHUNK):
        chunk = orjson.dumps(
            [
                {
                    "ts": iso_ms(b.ts_ms),
                    "ts_ms": b.ts_ms,
                    "mean": b.mean,
                    "min": b.min,
                    "max": b.max,
                    "count": b.count,
                    "mkt": b.mkt,
                }
                for b in buckets[i : i + CHUNK]
            ]
        )
        yield (b"," if i else b"") + chunk[1:-1]
    yield b"]"


def _open(head: bytes) -> bytes:
    """A head rendered with no buckets, cut before its empty list."""
    if not head.endswith(_EMPTY_BUCKETS):
        raise ValueError("series head: 'buckets' must be its last field, and empty")
    return head[: -len(_EMPTY_BUCKETS)] + b'"buckets":'


def _one(head: SeriesOut, buckets: Sequence[Bucket]) -> Iterator[bytes]:
    yield _open(head.model_dump_json().encode())
    yield from _buckets(buckets)
    yield b"}"


def _many(
    head: MultiSeriesOut, series: Sequence[tuple[str, str, Sequence[Bucket]]]
) -> Iterator[bytes]:
    top = head.model_dump_json().encode()
    if not top.endswith(b'"series":[]}'):
        raise ValueError("multi-series head: 'series' must be its last field, and empty")
    yield top[:-2]
    for i, (device, kind, buckets) in enumerate(series):
        one = DeviceSeries(device=device, kind=kind, buckets=[]).model_dump_json().encode()
        yield (b"," if i else b"") + _open(one)
        yield from _buckets(buckets)
        yield b"}"
    yield b"]}"


async def _chunks(parts: Iterator[bytes]) -> AsyncIterator[bytes]:
    """On the event loop: each chunk is small and quick to render (a sync iterator
    would be moved to a worker thread chunk by chunk)."""
    for part in parts:
        yield part


def stream_series(head: SeriesOut, buckets: Sequence[Bucket]) -> StreamingResponse:
    """``head`` with ``buckets=[]``; the buckets are streamed in its place."""
    return StreamingResponse(_chunks(_one(head, buckets)), media_type="application/json")


def stream_multi_series(
    head: MultiSeriesOut, series: Sequence[tuple[str, str, Sequence[Bucket]]]
) -> StreamingResponse:
    """``head`` with ``series=[]``; ``(device, kind, buckets)`` are streamed in its place."""
    return StreamingResponse(_chunks(_many(head, series)), media_type="application/json")
