"""Bad files get a clear ImageError from their header, before any decoding."""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from edge.vision.imagefile import ImageError, decode


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    head = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 64)
    body = (
        struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + head + body + end


def _jpeg(w: int = 200, h: int = 150) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((h, w, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def test_png_claiming_20000_squared_is_refused_from_its_header() -> None:
    data = _png_claiming(20000, 20000)
    tracemalloc.start()
    with pytest.raises(ImageError, match=r"20000×20000.*limit"):
        decode(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000  # nothing was allocated for the pixels


def test_truncated_jpeg() -> None:
    data = _jpeg()
    with pytest.raises(ImageError, match="JPEG truncated"):
        decode(data[: len(data) // 2])
    with pytest.raises(ImageError, match="JPEG truncated"):
        decode(data[:20])


def test_zero_bytes() -> None:
    with pytest.raises(ImageError, match="empty file"):
        decode(b"")


def test_one_by_one() -> None:
    ok, buf = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ImageError, match="1×1 pixels, too small"):
        decode(buf.tobytes())


def test_not_an_image() -> None:
    with pytest.raises(ImageError, match="not a PNG or JPEG"):
        decode(b"GIF89a" + b"\x00" * 100)


def test_good_jpeg_decodes() -> None:
    assert decode(_jpeg()).shape == (150, 200, 3)
