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

from collections.abc import Sequence
from dataclasses import dataclass

from cloud.web.pdf import A4, Page, document, link, num, qr_ops, text_ascii

MARGIN = 28.35  # 10 mm
PAD = 4.0
MAX_FONT = 8.0

__all__ = ["A4", "MARGIN", "Label", "label_sheet"]


@dataclass(frozen=True)
class Label:
    uri: str
    lines: tuple[str, ...]  # human-readable text, ASCII


def _page(labels: Sequence[Label], columns: int, rows: int) -> Page:
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
        ops, _module = qr_ops(label.uri, qx, qy, side)
        out.append(ops)
        annots.append(link(label.uri, qx, qy, side, side))
        tx = qx + side + PAD
        avail = x0 + cell_w - PAD - tx
        longest = max((len(t) for t in label.lines), default=1)
        size = min(MAX_FONT, avail / (0.6 * max(longest, 1)), side / (1.3 * len(label.lines) + 0.1))
        lead = size * 1.3
        ty = qy + side / 2 + lead * (len(label.lines) - 1) / 2 - size / 3
        for k, text in enumerate(label.lines):
            out.append(text_ascii(text, tx, ty - k * lead, size))
        # a hairline cut guide around the cell
        out.append(f"0.8 G 0.2 w {num(x0)} {num(y0)} {num(cell_w)} {num(cell_h)} re S 0 G\n")
    return Page("".join(out), annots)


def label_sheet(labels: Sequence[Label], *, columns: int = 3, rows: int = 8) -> bytes:
    """The labels on A4 pages of ``columns`` x ``rows``, in order, as a PDF."""
    if not 1 <= columns <= 8 or not 1 <= rows <= 16:
        raise ValueError("a sheet has 1-8 columns and 1-16 rows")
    per_page = columns * rows
    chunks = [labels[i : i + per_page] for i in range(0, len(labels), per_page)] or [[]]
    return document([_page(chunk, columns, rows) for chunk in chunks])
