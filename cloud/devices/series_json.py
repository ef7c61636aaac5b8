"""Series responses streamed as JSON: the head (device, metric, range, resolution) is
rendered by the response model itself, the buckets follow in chunks, so the shape is
exactly the documented one (``SeriesOut``, ``MultiSeriesOut``) without building a model
per bucket.

The parts are rendered as they are sent (:class:`JsonStream`): a body that stays under
``STREAM_BYTES`` goes out as one message with its length, a longer one in chunks of
about that size (chunked transfer encoding), so the memory held is a chunk's whatever
the number of windows, and a small answer costs one write."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from functools import lru_cache

import orjson
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from cloud.devices.schemas import DeviceSeries, MultiSeriesOut, SeriesOut
from cloud.timeseries import Bucket

#: Buckets rendered at a time.
CHUNK = 256
#: A body up to this size is sent whole; a longer one streamed in chunks of about this.
STREAM_BYTES = 256 * 1024
_EMPTY_BUCKETS = b'"buckets":[]}'


@lru_cache(maxsize=65536)
def iso_ms(ms: int) -> str:
    """Epoch ms as the response models render a UTC datetime: ``...T16:00:00Z`` or
    ``...T16:00:00.123000Z``. Cached: window starts repeat from answer to answer, and
    rendering one costs ten times the look-up."""
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


def _gather(parts: Iterator[bytes]) -> Iterator[bytes]:
    """Parts joined into pieces of about ``STREAM_BYTES`` (the last one shorter)."""
    piece: list[bytes] = []
    size = 0
    for part in parts:
        piece.append(part)
        size += len(part)
        if size >= STREAM_BYTES:
            yield b"".join(piece)
            piece, size = [], 0
    yield b"".join(piece)


class JsonStream(Response):
    """JSON rendered part by part on the event loop (each part is quick to render) and
    sent as it comes: in one message with ``content-length`` when it all fits in
    ``STREAM_BYTES``, else streamed. No task per response (Starlette's
    ``StreamingResponse`` starts one to watch for a disconnect; a client gone
    mid-answer costs here at most the rendering of the rest)."""

    media_type = "application/json"

    def __init__(self, parts: Iterator[bytes]) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers()  # no body yet: no content-length
        self._pieces = _gather(parts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = next(self._pieces)
        following = next(self._pieces, None)
        if following is None:  # all of it
            headers = [*self.raw_headers, (b"content-length", str(len(first)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": first})
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": first, "more_body": True})
        for piece in self._pieces:
            await send({"type": "http.response.body", "body": following, "more_body": True})
            following = piece
        await send({"type": "http.response.body", "body": following, "more_body": False})


def stream_series(head: SeriesOut, buckets: Sequence[Bucket]) -> JsonStream:
    """``head`` with ``buckets=[]``; the buckets are streamed in its place."""
    return JsonStream(_one(head, buckets))


def stream_multi_series(
    head: MultiSeriesOut, series: Sequence[tuple[str, str, Sequence[Bucket]]]
) -> JsonStream:
    """``head`` with ``series=[]``; ``(device, kind, buckets)`` are streamed in its place."""
    return JsonStream(_many(head, series))
