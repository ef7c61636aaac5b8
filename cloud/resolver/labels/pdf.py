"""A printable A4 sheet of QR labels, written as PDF 1.4 directly (pure, no I/O).

Why no PDF library: a sheet is rectangles (the QR modules, one per run of dark
modules in a row) and three lines of ASCII text per label (GS1 human-readable
interpretation, ``(01) GTIN``, ``(10) lot``, ``(21) serial``: AI 10 and 21 are ASCII by
definition) in Courier, one of the 14 fonts every PDF reader has, so nothing is
embedded. That is some 150 lines here; reportlab would add a C-extension dependency
of several MB for the same two operators. Each label also carries a link annotation
with its URI (clicking the QR on screen opens it; tests compare it with the decoded
QR).

Layout: ``columns`` x ``rows`` cells in a 10 mm margin; in each cell the QR (quiet
zone included) on the left as tall as the cell allows, the text to its right, sized
to fit (Courier is 0.6 em wide per character).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from cloud.resolver.labels.qr import QUIET_ZONE, qr_matrix

A4 = (595.276, 841.89)  # points (1/72 in)
MARGIN = 28.35  # 10 mm
PAD = 4.0
MAX_FONT = 8.0


@dataclass(frozen=True)
class Label:
    uri: str
    lines: tuple[str, ...]  # human-readable text, ASCII


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def _qr_ops(uri: str, x: float, y: float, side: float) -> tuple[str, float]:
    """Fill operators of the QR whose quiet zone's lower-left corner is (x, y)."""
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
                    f"{_num(x + (QUIET_ZONE + start) * module)} {_num(top)} "
                    f"{_num((c - start) * module)} {_num(module)} re"
                )
            else:
                c += 1
    return "0 g\n" + "\n".join(ops) + "\nf\n", module


def _page(labels: Sequence[Label], columns: int, rows: int) -> tuple[bytes, list[str]]:
    """A page's content stream and its link annotations."""
    width, height = A4
    cell_w = (width - 2 * MARGIN) / columns
    cell_h = (height - 2 * MARGIN) / rows
    side = min(cell_h - 2 * PAD, (cell_w - 2 * PAD) * 0.6)
    out: list[str] = []
    annots: list[str] = []
    for i, label in enumerate(labels):
        col, row = i % columns, i // columns
        x0 = MARGIN + col * cell_w
        y0 = height - MARGIN - (row + 1) * cell_h
        qx, qy = x0 + PAD, y0 + (cell_h - side) / 2
        ops, _module = _qr_ops(label.uri, qx, qy, side)
        out.append(ops)
        annots.append(
            f"<< /Type /Annot /Subtype /Link /Border [0 0 0] /Rect [{_num(qx)} {_num(qy)} "
            f"{_num(qx + side)} {_num(qy + side)}] /A << /S /URI /URI ({_esc(label.uri)}) >> >>"
        )
        tx = qx + side + PAD
        avail = x0 + cell_w - PAD - tx
        longest = max((len(t) for t in label.lines), default=1)
        size = min(MAX_FONT, avail / (0.6 * max(longest, 1)), side / (1.3 * len(label.lines) + 0.1))
        lead = size * 1.3
        ty = qy + side / 2 + lead * (len(label.lines) - 1) / 2 - size / 3
        for k, text in enumerate(label.lines):
            out.append(
                f"BT /F1 {_num(size)} Tf {_num(tx)} {_num(ty - k * lead)} Td ({_esc(text)}) Tj ET\n"
            )
        # a hairline cut guide around the cell
        out.append(f"0.8 G 0.2 w {_num(x0)} {_num(y0)} {_num(cell_w)} {_num(cell_h)} re S 0 G\n")
    return "".join(out).encode("ascii"), annots


def label_sheet(labels: Sequence[Label], *, columns: int = 3, rows: int = 8) -> bytes:
    """The labels on A4 pages of ``columns`` x ``rows``, in order, as a PDF."""
    if not 1 <= columns <= 8 or not 1 <= rows <= 16:
        raise ValueError("a sheet has 1-8 columns and 1-16 rows")
    per_page = columns * rows
    chunks = [labels[i : i + per_page] for i in range(0, len(labels), per_page)] or [[]]
    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>")
    kids: list[int] = []
    for chunk in chunks:
        content, annots = _page(chunk, columns, rows)
        data = zlib.compress(content, 6)
        stream = add(
            f"<< /Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode()
            + data
            + b"\nendstream"
        )
        kids.append(
            add(
                (
                    f"<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 {_num(A4[0])} "
                    f"{_num(A4[1])}] /Resources << /Font << /F1 {font} 0 R >> >> "
                    f"/Contents {stream} 0 R /Annots [{' '.join(annots)}] >>"
                ).encode("ascii")
            )
        )
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages} 0 R >>".encode()
    objects[pages - 1] = (
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
        f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)
