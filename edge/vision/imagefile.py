"""Image files checked from their header before anything is decoded.

A PNG that claims 20000×20000 is refused from its 24-byte header, before OpenCV
allocates 1.2 GB for it; a zero-byte file, a truncated JPEG or PNG, an image too
small to inspect, or a format we do not take get a clear :class:`ImageError`.
Memory stays bounded by ``max_file_bytes`` + one decoded image within ``max_pixels``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageError(ValueError):
    """An image file we refuse, with what is wrong and what to do."""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_file_bytes: int = 40 * 1024 * 1024
    #: pixels of the decoded image (width × height); 24 MP covers a 6000×4000 camera
    max_pixels: int = 24_000_000
    min_side: int = 64


@dataclass(frozen=True, slots=True)
class Header:
    format: str  # "png" | "jpeg"
    width: int
    height: int


def read_header(data: bytes) -> Header:
    """Format and dimensions from the first bytes; ImageError when unreadable."""
    if not data:
        raise ImageError(
            "empty file (0 bytes); the camera or the copy failed, take the photo again"
        )
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 33 or data[12:16] != b"IHDR":
            raise ImageError("PNG header truncated (no IHDR chunk); the file is damaged")
        width, height = struct.unpack(">II", data[16:24])
        return Header("png", width, height)
    if data.startswith(b"\xff\xd8"):
        return Header("jpeg", *_jpeg_size(data))
    raise ImageError("not a PNG or JPEG file; save the photo as JPEG or PNG")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ImageError(f"JPEG header damaged at byte {i}; the file is not a valid JPEG")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            if i + 9 > n:
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        i += 2 + length
    raise ImageError("JPEG truncated or damaged before its frame header; take the photo again")


def check(header: Header, data: bytes, limits: ImageLimits) -> None:
    """Dimensions, pixel budget and completeness, all before decoding."""
    w, h = header.width, header.height
    if w == 0 or h == 0:
        raise ImageError(f"image claims {w}×{h} pixels; the file is damaged")
    if w * h > limits.max_pixels:
        raise ImageError(
            f"image claims {w}×{h} = {w * h / 1e6:.0f} MP, more than the "
            f"{limits.max_pixels / 1e6:.0f} MP limit; set the camera to a lower resolution"
        )
    if min(w, h) < limits.min_side:
        raise ImageError(
            f"image is {w}×{h} pixels, too small to inspect (at least {limits.min_side} px a side)"
        )
    if header.format == "jpeg" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ImageError(
            "JPEG truncated (no end-of-image marker); the transfer was cut, send it again"
        )
    if header.format == "png" and b"IEND" not in data[-16:]:
        raise ImageError("PNG truncated (no IEND chunk); the transfer was cut, send it again")


def decode(data: bytes, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Checked bytes -> BGR uint8 image. ImageError on anything we refuse."""
    if len(data) > limits.max_file_bytes:
        raise ImageError(
            f"file is {len(data)} bytes, more than the {limits.max_file_bytes} byte limit"
        )
    header = read_header(data)
    check(header, data, limits)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"{header.format.upper()} data is damaged and cannot be decoded")
    if img.shape[:2] != (header.height, header.width):
        raise ImageError(
            f"decoded {img.shape[1]}×{img.shape[0]} but the header says "
            f"{header.width}×{header.height}; the file is damaged"
        )
    return img


def read_file(path: Path, limits: ImageLimits = ImageLimits()) -> bytes:
    """The file's bytes, refusing an oversized file from its size alone."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror})") from None
    if size > limits.max_file_bytes:
        raise ImageError(f"{path}: {size} bytes, more than the {limits.max_file_bytes} byte limit")
    return path.read_bytes()
