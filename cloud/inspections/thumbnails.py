"""A thumbnail from the wire: base64 of a JPEG, decoded and checked before it is
stored. What fails raises :class:`ThumbnailError` with the reason; ingest then
stores the inspection without its thumbnail and keeps the reason."""

from __future__ import annotations

import base64
import binascii

#: Decoded bytes (the wire allows 200,000 base64 characters, ~146 kB). The gateway
#: sends a 640 px JPEG at quality 75, typically 30-80 kB.
MAX_THUMBNAIL_BYTES = 120_000


class ThumbnailError(ValueError):
    """The thumbnail is not a usable JPEG."""


def decode_thumbnail(text: str, max_bytes: int = MAX_THUMBNAIL_BYTES) -> bytes:
    if len(text) > (max_bytes * 4) // 3 + 4:
        raise ThumbnailError(
            f"inspection.thumbnail_jpeg: {len(text)} base64 characters decode to more than "
            f"the {max_bytes} byte limit; send a smaller thumbnail (640 px, JPEG quality 75)"
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ThumbnailError(
            "inspection.thumbnail_jpeg: not valid base64; send the JPEG bytes base64-encoded"
        ) from None
    if not data:
        raise ThumbnailError("inspection.thumbnail_jpeg: empty; omit the field instead")
    if len(data) > max_bytes:
        raise ThumbnailError(
            f"inspection.thumbnail_jpeg: {len(data)} bytes, more than the {max_bytes} byte "
            "limit; send a smaller thumbnail (640 px, JPEG quality 75)"
        )
    if not data.startswith(b"\xff\xd8\xff"):
        raise ThumbnailError(
            "inspection.thumbnail_jpeg: not a JPEG (no start-of-image marker); send a JPEG"
        )
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ThumbnailError(
            "inspection.thumbnail_jpeg: JPEG truncated (no end-of-image marker); send it whole"
        )
    return data
