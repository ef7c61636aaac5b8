"""A local tile stub: ``/tiles/stub/{z}/{x}/{y}.png``, generated 256x256 PNG tiles (a
plain colour, grid lines every 32 px, a darker edge and ``z/x/y`` written in a small
bitmap font), for tests and the offline demo. No image library: the PNG is written
by hand (zlib, one IDAT, filter 0).

Public (a tile holds no data). Z 0-22; x, y within 0..2^z-1 (422 otherwise)."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

SIZE = 256
GRID = 32
BACKGROUND = (238, 241, 234)
GRID_LINE = (214, 220, 208)
EDGE = (176, 186, 170)
INK = (168, 178, 164)
MAX_ZOOM = 22

# 3x5 glyphs, rows top to bottom, bit 2 = left column
_GLYPHS: dict[str, tuple[int, ...]] = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 2, 2, 2),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), "/": (1, 1, 2, 4, 4), "z": (0, 7, 2, 4, 7),
    " ": (0, 0, 0, 0, 0),
}  # fmt: skip
SCALE = 3


def check_tile(z: int, x: int, y: int) -> None:
    """ValueError naming the coordinate out of range."""
    if not 0 <= z <= MAX_ZOOM:
        raise ValueError(f"z: {z} is outside 0..{MAX_ZOOM}")
    n = 1 << z
    if not 0 <= x < n:
        raise ValueError(f"x: {x} is outside 0..{n - 1} at zoom {z}")
    if not 0 <= y < n:
        raise ValueError(f"y: {y} is outside 0..{n - 1} at zoom {z}")


def _png(width: int, height: int, rows: list[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


@lru_cache(maxsize=256)
def tile_png(z: int, x: int, y: int) -> bytes:
    """The stub tile ``z/x/y`` as PNG bytes."""
    check_tile(z, x, y)
    plain = bytearray(BACKGROUND * SIZE)
    for c in range(0, SIZE, GRID):
        plain[c * 3 : c * 3 + 3] = bytes(GRID_LINE)
    plain[0:3] = bytes(EDGE)
    line = bytearray(GRID_LINE * SIZE)
    line[0:3] = bytes(EDGE)
    rows = [bytearray(plain) for _ in range(SIZE)]
    for r in range(0, SIZE, GRID):
        rows[r] = bytearray(line)
    rows[0] = bytearray(EDGE * SIZE)
    text = f"z{z} {x}/{y}"
    left, top = 8, 8
    for i, ch in enumerate(text):
        glyph = _GLYPHS.get(ch, _GLYPHS[" "])
        gx = left + i * 4 * SCALE
        for gy, bits in enumerate(glyph):
            for col in range(3):
                if bits & (4 >> col):
                    for dy in range(SCALE):
                        row = rows[top + gy * SCALE + dy]
                        for dx in range(SCALE):
                            px = gx + col * SCALE + dx
                            if px < SIZE:
                                row[px * 3 : px * 3 + 3] = bytes(INK)
    return _png(SIZE, SIZE, rows)
