"""QR codes (Digital Link URIs, waybill links) with segno: SVG and PNG (pure, no I/O).

Error correction M at least (segno raises it to Q or H when that fits the same
version: ``boost_error``); never a Micro QR (phones' scanners read only full QR); the
quiet zone is the standard's 4 modules.
"""

from __future__ import annotations

import io

import segno

QUIET_ZONE = 4


def make_qr(uri: str) -> segno.QRCode:
    return segno.make(uri, error="m", micro=False, boost_error=True)


def qr_svg(uri: str, *, scale: int = 4, title: str | None = None) -> bytes:
    """An SVG of the QR (``scale`` px per module), with ``title`` for screen readers."""
    buf = io.BytesIO()
    make_qr(uri).save(buf, kind="svg", scale=scale, border=QUIET_ZONE, xmldecl=False,
                      title=title)  # fmt: skip
    return buf.getvalue()


def qr_png(uri: str, *, scale: int = 8) -> bytes:
    """A PNG of the QR (``scale`` px per module; 1 bit per pixel)."""
    buf = io.BytesIO()
    make_qr(uri).save(buf, kind="png", scale=scale, border=QUIET_ZONE)
    return buf.getvalue()


def qr_matrix(uri: str) -> tuple[bytearray, ...]:
    """The modules (rows of 0/1), without the quiet zone."""
    return make_qr(uri).matrix  # type: ignore[no-any-return]
