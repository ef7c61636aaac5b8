"""A minimal PDF 1.4 writer (pure, no I/O) shared by the QR label sheets
(cloud/resolver/labels) and the waybill (cloud/logistics/waybills/pdf.py).

Why no PDF library: a page here is rectangles (QR modules, one per run of dark
modules in a row, and rules) and text; reportlab would add a C-extension dependency
of several MB for the same few operators. Two fonts, neither embedded: Courier
(``/F1``, one of the 14 fonts every reader has: ASCII only) and STSong-Light
(``/F2``, Adobe's CJK font for simplified Chinese that every reader substitutes, as
reportlab's ``UnicodeCIDFont`` does), text in UTF-16BE through ``UniGB-UTF16-H``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cloud.web.qr import QUIET_ZONE, qr_matrix

A4 = (595.276, 841.89)  # points (1/72 in)

_COURIER = b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>"
_CJK_DESC = (
    b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
    b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> "
    b"/FontDescriptor << /Type /FontDescriptor /FontName /STSong-Light /Flags 6 "
    b"/FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 "
    b"/CapHeight 880 /StemV 93 >> /DW 1000 /W [1 95 500] >>"
)


def esc(text: str) -> str:
    """A PDF literal string's escapes (ASCII text)."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def text_ascii(text: str, x: float, y: float, size: float) -> str:
    """Courier text (ASCII) at (x, y)."""
    return f"BT /F1 {num(size)} Tf {num(x)} {num(y)} Td ({esc(text)}) Tj ET\n"


def text_cjk(text: str, x: float, y: float, size: float) -> str:
    """Text in any script of GB 18030 (Chinese, Latin) in STSong-Light at (x, y)."""
    return f"BT /F2 {num(size)} Tf {num(x)} {num(y)} Td <{text.encode('utf-16-be').hex()}> Tj ET\n"


def text_mixed(text: str, x: float, y: float, size: float) -> str:
    """Chinese and Latin text at (x, y): ASCII runs in Courier (0.6 em each), the rest in
    STSong-Light (1 em each: CJK is full width), so the two never overlap whatever
    font the reader substitutes for the non-embedded STSong-Light. Needs ``cjk=True``."""
    out: list[str] = []
    run = ""
    for ch in text + "\0":
        if run and (ch == "\0" or ch.isascii() != run[0].isascii()):
            if run[0].isascii():
                out.append(text_ascii(run, x, y, size))
                x += 0.6 * size * len(run)
            else:
                out.append(text_cjk(run, x, y, size))
                x += size * len(run)
            run = ""
        run += ch
    return "".join(out)


def qr_ops(uri: str, x: float, y: float, side: float) -> tuple[str, float]:
    """Fill operators of the QR whose quiet zone's lower-left corner is (x, y); and the
    module size."""
    matrix = qr_matrix(uri)
    n = len(matrix)
    module = side / (n + 2 * QUIET_ZONE)
    ops: list[str] = []
    for r, row in enumerate(matrix):
        top = y + side - (QUIET_ZONE + r + 1) * module
        c = 0
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                ops.append(
                    f"{num(x + (QUIET_ZONE + start) * module)} {num(top)} "
                    f"{num((c - start) * module)} {num(module)} re"
                )
            else:
                c += 1
    return "0 g\n" + "\n".join(ops) + "\nf\n", module


def link(uri: str, x: float, y: float, w: float, h: float) -> str:
    """A link annotation over (x, y, w, h) opening ``uri``."""
    return (
        f"<< /Type /Annot /Subtype /Link /Border [0 0 0] /Rect [{num(x)} {num(y)} "
        f"{num(x + w)} {num(y + h)}] /A << /S /URI /URI ({esc(uri)}) >> >>"
    )


@dataclass
class Page:
    content: str
    annots: list[str] = field(default_factory=list)


def document(pages: Sequence[Page], *, cjk: bool = False, title: str | None = None) -> bytes:
    """The pages (A4) as a PDF; ``cjk`` adds the Chinese font ``/F2``."""
    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    tree = add(b"")
    fonts = f"/F1 {add(_COURIER)} 0 R"
    if cjk:
        desc = add(_CJK_DESC)
        type0 = add(
            f"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light-UniGB-UTF16-H "
            f"/Encoding /UniGB-UTF16-H /DescendantFonts [{desc} 0 R] >>".encode()
        )
        fonts += f" /F2 {type0} 0 R"
    kids: list[int] = []
    for page in pages or [Page("")]:
        data = zlib.compress(page.content.encode("ascii"), 6)
        stream = add(
            f"<< /Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode()
            + data
            + b"\nendstream"
        )
        kids.append(
            add(
                (
                    f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 {num(A4[0])} "
                    f"{num(A4[1])}] /Resources << /Font << {fonts} >> >> "
                    f"/Contents {stream} 0 R /Annots [{' '.join(page.annots)}] >>"
                ).encode("ascii")
            )
        )
    info = ""
    if title is not None:
        hexed = title.encode("utf-16-be").hex()
        info = f" /Info {add(f'<< /Title <feff{hexed}> >>'.encode())} 0 R"
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {tree} 0 R >>".encode()
    objects[tree - 1] = (
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    ).encode()
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R{info} >>\nstartxref\n{xref}\n"
        "%%EOF\n"
    ).encode()
    return bytes(out)
