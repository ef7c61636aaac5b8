"""Bytes of an uploaded export -> rows of cells, each row with its number.

CSV: UTF-8 (with or without a BOM) or GBK/GB18030, which Chinese Excel writes. A file
decodes in one encoding; a file that mixes them (rows pasted from a GBK export into a
UTF-8 one) is refused row by row: each row of the minority encoding is named.
XLSX: the first sheet, through openpyxl in read-only mode.

Row numbers count records as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud.commerce.schemas import RowError

BOM = b"\xef\xbb\xbf"
XLSX_MAGIC = b"PK\x03\x04"
#: Longest field we read (a title or an address is far shorter): csv's own limit.
csv.field_size_limit(10_000)


@dataclass
class Sheet:
    header: list[str]
    #: (row number, cells) of every non-empty record after the header.
    rows: list[tuple[int, list[Any]]]
    errors: list[RowError]
    encoding: str


def _records(lines: list[str]) -> list[tuple[int, list[str], int, int]]:
    """(record number, cells, first physical line, last physical line), 1-based."""
    reader = csv.reader(lines)
    out = []
    last = 0
    for n, cells in enumerate(reader, 1):
        out.append((n, cells, last + 1, reader.line_num))
        last = reader.line_num
    return out


def _sheet(
    records: list[tuple[int, list[str], int, int]], errors: list[RowError], enc: str
) -> Sheet:
    if not records:
        return Sheet([], [], [*errors, RowError(row=1, field="file", reason="the file is empty")],
                     enc)  # fmt: skip
    header = [c.strip() for c in records[0][1]]
    strip = str.strip
    rows = [(n, cells) for n, cells, _, _ in records[1:] if any(map(strip, cells))]
    return Sheet(header, rows, errors, enc)


def _sheet_of_text(text: str) -> Sheet:
    """A CSV decoded as a whole: records numbered without tracking physical lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return _sheet([], [], "utf-8")
    strip = str.strip
    # a record of blank cells only is skipped; its number still counts
    rows = [(n, cells) for n, cells in enumerate(reader, 2) if any(map(strip, cells))]
    return Sheet([c.strip() for c in header], rows, [], "utf-8")


def read_csv(data: bytes) -> Sheet:
    body = data[len(BOM) :] if data.startswith(BOM) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return _sheet_of_text(text)
    # Not UTF-8 as a whole: line by line (GBK trail bytes are never a newline).
    raw = body.split(b"\n")
    lines: list[str] = []
    tags: list[str] = []
    for chunk in raw:
        try:
            lines.append(chunk.decode("utf-8") + "\n")
            tags.append("ascii" if chunk.isascii() else "utf-8")
        except UnicodeDecodeError:
            try:
                lines.append(chunk.decode("gb18030") + "\n")
                tags.append("gbk")
            except UnicodeDecodeError:
                lines.append(chunk.decode("gb18030", errors="replace") + "\n")
                tags.append("bad")
    n_utf8, n_gbk = tags.count("utf-8"), tags.count("gbk")
    enc = "gbk" if n_gbk >= n_utf8 else "utf-8"
    records = _records(lines)
    errors: list[RowError] = []
    bad = {"utf-8": {"bad", "gbk"}, "gbk": {"bad", "utf-8"}}[enc]
    for n, _cells, first, last in records:
        found = {tags[i] for i in range(first - 1, min(last, len(tags)))}
        if "bad" in found:
            errors.append(RowError(row=n, field="encoding",
                                   reason="bytes that are neither UTF-8 nor GBK"))  # fmt: skip
        elif found & bad:
            other = (found & bad).pop()
            errors.append(
                RowError(
                    row=n,
                    field="encoding",
                    reason=f"mixed encodings: this row is {other.upper()}, the file is "
                    f"{enc.upper()}; save the whole file in one encoding",
                )
            )
    return _sheet(records, errors, enc)


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, datetime | str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    return str(v)  # an int, or a float's shortest round-trip text (never its binary value)


def read_xlsx(data: bytes) -> Sheet:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - a cloud install has it (pyproject)
        return Sheet([], [], [RowError(row=1, field="file", reason="XLSX needs openpyxl; "
                                       "install dehong[cloud] or send CSV")], "xlsx")  # fmt: skip
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a broken file
        return Sheet([], [], [RowError(row=1, field="file",
                                       reason=f"not a readable XLSX file: {exc}")], "xlsx")  # fmt: skip
    try:
        ws = wb.worksheets[0]
        records = [
            (n, [_cell(v) for v in row]) for n, row in enumerate(ws.iter_rows(values_only=True), 1)
        ]
    finally:
        wb.close()
    if not records:
        return Sheet([], [], [RowError(row=1, field="file", reason="the sheet is empty")], "xlsx")
    header = [str(c).strip() for c in records[0][1]]
    rows = [(n, c) for n, c in records[1:] if any(str(x).strip() for x in c)]
    return Sheet(header, rows, [], "xlsx")


def read(data: bytes, fmt: str | None) -> Sheet:
    """``fmt`` ``csv`` or ``xlsx``; None: XLSX when the bytes are a zip, else CSV."""
    if fmt == "xlsx" or (fmt is None and data.startswith(XLSX_MAGIC)):
        return read_xlsx(data)
    return read_csv(data)
