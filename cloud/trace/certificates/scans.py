"""The scan of a certificate: a PDF, JPEG or PNG, size-limited, kept in the file store
(``DEHONG_FILESTORE_DIR``, content-addressed by SHA-256) and served back only to those
who may read the certificate.

The declared media type must be one of :data:`MEDIA_TYPES` and the bytes must start
as that type's files do (its magic number): a renamed file is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cloud.errors import ApiError
from cloud.inspections.files import FileStore

#: media type -> (the bytes its files start with, what it is)
MEDIA_TYPES: dict[str, tuple[bytes, str]] = {
    "application/pdf": (b"%PDF-", "PDF"),
    "image/jpeg": (b"\xff\xd8\xff", "JPEG"),
    "image/png": (b"\x89PNG\r\n\x1a\n", "PNG"),
}


@dataclass(frozen=True, slots=True)
class Scan:
    sha256: str
    content_type: str
    size: int


def media_type(header: str | None) -> str:
    """The declared media type (parameters dropped), or 415 naming the header."""
    value = (header or "").split(";", 1)[0].strip().lower()
    if value not in MEDIA_TYPES:
        shown = value or "none"
        raise ApiError(
            415,
            f"Content-Type: a scan is a PDF, JPEG or PNG ({', '.join(MEDIA_TYPES)}), not "
            f"{shown}; send the file as the request body with its type",
            field="header.Content-Type",
        )
    return value


def _too_large(limit: int, what: str) -> ApiError:
    return ApiError(
        413,
        f"body: the scan {what}; scans are at most {limit} bytes: scan at a lower "
        "resolution or compress the PDF",
        field="body",
    )


async def read_limited(
    chunks: AsyncIterator[bytes], declared_length: str | None, limit: int
) -> bytes:
    """The body, refused (413) once it passes ``limit``: a declared length over it
    before a byte is read, a streamed body at the chunk that passes it."""
    if declared_length is not None:
        try:
            length = int(declared_length)
        except ValueError:
            raise ApiError(
                400, "Content-Length is not a number", field="header.Content-Length"
            ) from None
        if length > limit:
            raise _too_large(limit, f"is {length} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, f"passes {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def check_content(data: bytes, content_type: str) -> None:
    """422 unless ``data`` is a non-empty file of ``content_type``."""
    magic, _ = MEDIA_TYPES[content_type]
    if not data:
        raise ApiError(422, "body: the scan is empty; send the file", field="body")
    if not data.startswith(magic):
        found = next(
            (n for m, n in MEDIA_TYPES.values() if data.startswith(m)), "not a PDF, JPEG or PNG"
        )
        raise ApiError(
            422,
            f"body: the file is declared {content_type} but is {found}; send it with its "
            "own Content-Type",
            field="body",
        )


async def store_scan(files: FileStore, data: bytes, content_type: str) -> Scan:
    """Check and store the scan; its SHA-256 is its key in the file store."""
    check_content(data, content_type)
    key = await asyncio.to_thread(files.put, data)
    if key != hashlib.sha256(data).hexdigest():  # the store's contract
        raise RuntimeError("the file store keyed a scan by something other than its SHA-256")
    return Scan(key, content_type, len(data))


async def load_scan(files: FileStore, sha256: str) -> bytes:
    """The scan's bytes (the store checks their SHA-256)."""
    return await asyncio.to_thread(files.get, sha256)
