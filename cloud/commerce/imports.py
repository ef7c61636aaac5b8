"""Import a shop's order export (CSV or XLSX) through its platform's template.

All or nothing per file: every row is checked first (a dry run stops there and lists
each bad row with its field and reason); a file with any bad row imports nothing; a
good file imports in one transaction, every order with its lines. An order already
recorded (the same channel and platform order id) is a bad row: an export is imported
once. Buyers' names, phones and addresses are never read past the city.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.commerce.drafts import (
    BEIJING,
    FUTURE_SKEW,
    Catalogue,
    LineDraft,
    OrderDraft,
    pg_connection,
    write_orders,
)
from cloud.commerce.filedecode import Sheet, read
from cloud.commerce.places import city_from_address, city_from_parts
from cloud.commerce.schemas import PLATFORM_ID_RE, ImportReport, RowError
from cloud.commerce.storage import Order, Shop
from cloud.commerce.templates import STATUS_WORDS, TEMPLATES, Template
from protocol.ids import COUNTIES

#: The largest file an import reads (a year of a busy shop's export is far smaller).
MAX_IMPORT_BYTES = 32 * 1024 * 1024
#: At most this many rows per file.
MAX_ROWS = 200_000
#: At most this many bad rows are listed (the count is always complete).
MAX_ERRORS = 1000
#: The earliest order time accepted.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_LINE_FEN = 9_999_999_999
_EXCEL_TEXT = re.compile(r'^="?(.*?)"?$')
#: Yuan as exports write them: at most 8 digits and 2 decimals, no sign.
_PLAIN_YUAN = re.compile(r"^\d{1,8}(\.\d{1,2})?$")
_GTIN = re.compile(r"^(\d{8}|\d{12,14})$")
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")


#: Every field a template may map.
FIELDS = ("order_id", "ordered_at", "status", "county", "sku", "gtin", "title", "quantity",
          "amount", "address", "province", "city", "district")  # fmt: skip


class RowProblem(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _text(v: Any) -> str:
    """A cell as text: Excel's ``="123"`` text guard and a leading ``'`` removed."""
    s = v.strip() if v.__class__ is str else str(v).strip()
    if not s or (s[0] != "=" and s[0] != "'"):
        return s
    if s[0] == "=":
        m = _EXCEL_TEXT.match(s)
        s = m.group(1) if m else s
    return s.lstrip("'").strip()


def parse_time(v: Any, now: datetime) -> datetime:
    if v.__class__ is str and len(v) == 19 and v[10] == " " and v[4] == "-":
        try:  # the common case: "2026-03-01 10:00:00", Beijing time
            at = datetime.fromisoformat(v).replace(tzinfo=BEIJING)
        except ValueError:
            pass
        else:
            if at > now + FUTURE_SKEW:
                raise RowProblem("ordered_at", f"{at.isoformat()} is in the future")
            if at < EARLIEST:
                raise RowProblem("ordered_at", f"{at.isoformat()} is before 2000")
            return at.astimezone(UTC)
    if isinstance(v, datetime):
        at = v if v.tzinfo else v.replace(tzinfo=BEIJING)
    else:
        s = _text(v)
        if not s:
            raise RowProblem("ordered_at", "missing")
        at = None
        try:
            at = datetime.fromisoformat(s)
        except ValueError:
            for fmt in _FORMATS:
                try:
                    at = datetime.strptime(s, fmt)
                    break
                except ValueError:
                    continue
        if at is None:
            raise RowProblem("ordered_at", f"{s!r} is not a time (YYYY-MM-DD HH:MM:SS)")
        if at.tzinfo is None:
            at = at.replace(tzinfo=BEIJING)  # exports are in Beijing time
    if at > now + FUTURE_SKEW:
        raise RowProblem("ordered_at", f"{at.isoformat()} is in the future")
    if at < EARLIEST:
        raise RowProblem("ordered_at", f"{at.isoformat()} is before 2000")
    return at.astimezone(UTC)


def parse_amount(v: Any) -> int:
    s = _text(v)
    if _PLAIN_YUAN.match(s):  # the common case, in integers: 12, 12.3, 12.34
        whole, _, cents = s.partition(".")
        return int(whole) * 100 + int((cents + "00")[:2])
    s = s.replace(",", "").replace("¥", "").replace("￥", "").strip()
    if not s:
        raise RowProblem("amount", "missing")
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise RowProblem("amount", f"{s!r} is not an amount in yuan") from None
    if not d.is_finite():
        raise RowProblem("amount", f"{s!r} is not an amount in yuan")
    if d < 0:
        raise RowProblem("amount", f"negative amount {s}; a refund is its own record")
    fen = d * 100
    if fen != fen.to_integral_value():
        raise RowProblem("amount", f"{s}: more than two decimals (fen)")
    if fen > MAX_LINE_FEN:
        raise RowProblem("amount", f"{s}: more than 99,999,999.99 yuan on one line")
    return int(fen)


def parse_quantity(v: Any) -> int:
    s = _text(v)
    if s.isascii() and s.isdigit() and 0 < len(s) < 7 and s[0] != "0":
        return int(s)
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise RowProblem("quantity", f"{s!r} is not a whole number") from None
    if not d.is_finite() or d != d.to_integral_value() or not 1 <= d <= 1_000_000:
        raise RowProblem("quantity", f"{s!r}: a whole number from 1 to 1,000,000")
    return int(d)


@dataclass
class Parsed:
    drafts: list[OrderDraft] = field(default_factory=list)
    #: the rows of each draft (errors about an order name them all)
    rows_of: dict[str, list[int]] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    bad_rows: set[int] = field(default_factory=set)
    rows: int = 0
    lines: int = 0

    def bad(self, row: int, field_: str, reason: str) -> None:
        self.bad_rows.add(row)
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(row=row, field=field_, reason=reason))


def _columns(t: Template, header: list[str], out: Parsed) -> dict[str, int] | None:
    index = {h: i for i, h in enumerate(header)}
    cols = {f: index[c] for f, c in t.columns.items() if c in index}
    for f in t.required + (("county",) if "county" in t.columns else ()):
        if f not in cols:
            out.bad(1, t.columns[f], f"missing column {t.columns[f]!r} of the {t.name} template")
    if "sku" not in cols and "gtin" not in cols:
        names = " or ".join(repr(t.columns[f]) for f in ("sku", "gtin") if f in t.columns)
        out.bad(1, "sku", f"missing column {names} of the {t.name} template")
    return None if out.errors else cols


def parse_sheet(sheet: Sheet, t: Template, shop: Shop, now: datetime) -> Parsed:
    """Check every row; the drafts of the orders (complete only when no error)."""
    out = Parsed(rows=len(sheet.rows))
    for e in sheet.errors:
        out.bad(e.row, e.field, e.reason)
    if not sheet.header:
        return out
    if len(sheet.rows) > MAX_ROWS:
        out.bad(1, "file", f"{len(sheet.rows)} rows; at most {MAX_ROWS} per file")
        return out
    cols = _columns(t, sheet.header, out)
    if cols is None:
        return out
    by_id: dict[str, tuple[OrderDraft, int]] = {}
    width = len(sheet.header)

    # each field's cell; a field the file lacks reads the empty cell added at the end
    idx = {f: cols.get(f, width) for f in FIELDS}
    i_oid, i_at, i_status, i_qty, i_amount, i_sku, i_gtin, i_title = (
        idx[f] for f in ("order_id", "ordered_at", "status", "quantity", "amount", "sku",
                         "gtin", "title")
    )  # fmt: skip
    has_county = "county" in cols
    pad = [""] * (width + 1)
    bad_rows = out.bad_rows
    for n, cells in sheet.rows:
        if n in bad_rows:
            continue
        if len(cells) != width:
            if len(cells) > width:
                out.bad(n, "row", f"{len(cells)} cells, the header has {width}")
                continue
            cells = [*cells, *pad[len(cells) :]]
        else:
            cells.append("")
        try:
            oid = _text(cells[i_oid])
            if not oid:
                raise RowProblem(t.columns["order_id"], "missing")
            if not PLATFORM_ID_RE.match(oid):
                raise RowProblem(t.columns["order_id"], f"{oid!r} is not an order id")
            try:
                at = parse_time(cells[i_at], now)
            except RowProblem as p:
                raise RowProblem(t.columns["ordered_at"], p.reason) from None
            word = _text(cells[i_status])
            status = STATUS_WORDS.get(word.lower()) or STATUS_WORDS.get(word)
            if status is None:
                raise RowProblem(t.columns["status"], f"unknown status {word!r}")
            if has_county:
                county = _text(cells[idx["county"]])
                if county not in COUNTIES:
                    raise RowProblem(t.columns["county"], f"unknown county code {county!r}; "
                                     f"use a GB/T 2260 code: {', '.join(COUNTIES)}")  # fmt: skip
                if county != shop.county:
                    raise RowProblem(t.columns["county"], f"county {county} is not the shop's "
                                     f"({shop.county})")  # fmt: skip
            try:
                qty = parse_quantity(cells[i_qty])
            except RowProblem as p:
                raise RowProblem(t.columns["quantity"], p.reason) from None
            try:
                fen = parse_amount(cells[i_amount])
            except RowProblem as p:
                raise RowProblem(t.columns["amount"], p.reason) from None
            sku = _text(cells[i_sku])[:64] or None
            gtin = _text(cells[i_gtin]) or None
            if gtin is not None and not _GTIN.match(gtin):
                raise RowProblem(
                    t.columns["gtin"], f"{gtin!r} is not a GTIN (8, 12, 13 or 14 digits)"
                )
            if sku is None and gtin is None:
                raise RowProblem(t.columns.get("sku", "gtin"), "missing: the line's SKU or GTIN")
            city = _destination(t, cells, idx)
        except RowProblem as p:
            out.bad(n, p.field, p.reason)
            continue
        title = _text(cells[i_title])[:200] or None
        line = LineDraft(quantity=qty, amount_fen=fen, gtin=gtin, sku=sku, title=title)
        seen = by_id.get(oid)
        if seen is None:
            d = OrderDraft(platform_order_id=oid, ordered_at=at, status=status, dest_city=city,
                           lines=[line])  # fmt: skip
            by_id[oid] = (d, n)
            out.drafts.append(d)
            out.rows_of[oid] = [n]
        else:
            d, first = seen
            for f, a, b in (("ordered_at", d.ordered_at, at), ("status", d.status, status),
                            ("city", d.dest_city, city)):  # fmt: skip
                if a != b:
                    col = t.columns.get(f) or t.columns.get("address", f)
                    out.bad(n, col, f"order {oid}: differs from row {first} ({a} vs {b})")
                    break
            else:
                if len(d.lines) >= 200:
                    out.bad(n, t.columns["order_id"], f"order {oid}: more than 200 lines")
                    continue
                d.lines.append(line)
                out.rows_of[oid].append(n)
    out.lines = sum(len(d.lines) for d in out.drafts)
    return out


def _destination(t: Template, cells: list[Any], idx: dict[str, int]) -> str | None:
    if t.destination == "address":
        return city_from_address(_text(cells[idx["address"]]))
    if t.destination == "parts":
        return city_from_parts(
            _text(cells[idx["province"]]), _text(cells[idx["city"]]),
            _text(cells[idx["district"]]),
        )  # fmt: skip
    return _text(cells[idx["city"]])[:64] or None


async def _duplicates(s: AsyncSession, shop: Shop, parsed: Parsed, t: Template) -> None:
    """Name each row of an order already recorded (same channel and platform order id)."""
    ids = [d.platform_order_id for d in parsed.drafts]
    found: list[tuple[str, int]] = []
    pg = await pg_connection(s)
    if pg is not None:  # one array parameter: no 1,000-placeholder statements to build
        async with pg.cursor() as cur:
            await cur.execute(
                "SELECT platform_order_id, id FROM commerce_orders "
                "WHERE channel = %s AND platform_order_id = ANY(%s)",
                (shop.channel, ids),
            )
            found = list(await cur.fetchall())
    else:
        for i in range(0, len(ids), 500):
            got = await s.execute(
                select(Order.platform_order_id, Order.id).where(
                    Order.channel == shop.channel, Order.platform_order_id.in_(ids[i : i + 500])
                )
            )
            found += [(oid, pk) for oid, pk in got]
    for oid, pk in found:
        for row in parsed.rows_of[oid]:
            parsed.bad(row, t.columns["order_id"],
                       f"duplicate order: {shop.channel} order {oid} is already recorded "
                       f"(order {pk})")  # fmt: skip


def _unique_violation(exc: BaseException) -> bool:
    """A unique constraint refused a row (SQLAlchemy's IntegrityError, or psycopg's own
    from the COPY path: SQLSTATE 23505)."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc, "sqlstate", None) == "23505"


async def import_file(
    s: AsyncSession,
    shop: Shop,
    template: str,
    data: bytes,
    *,
    fmt: str | None,
    dry_run: bool,
    actor: str,
    now: datetime | None = None,
) -> ImportReport:
    """Check ``data`` and, unless ``dry_run`` or a row is bad, import every order of
    it in the caller's transaction. The report says which happened."""
    t = TEMPLATES[template]
    sheet = read(data, fmt)
    parsed = parse_sheet(sheet, t, shop, now or datetime.now(UTC))
    # A file about to be written is checked for duplicates by the unique constraint
    # itself (the write fails, then the duplicates are named); a report of a dry run or
    # of a file with bad rows looks them up first, so that it lists them all.
    if parsed.drafts and (dry_run or parsed.bad_rows):
        await _duplicates(s, shop, parsed, t)
    cat = await Catalogue.load(
        s, [shop.id], gtins={ln.gtin for d in parsed.drafts for ln in d.lines if ln.gtin}
    )
    unmapped = sorted(
        {
            ln.sku or ln.gtin or ""
            for d in parsed.drafts
            for ln in d.lines
            if cat.resolve(shop.id, ln) is None
        }
    )[:100]
    imported = False
    if not parsed.bad_rows and not dry_run and parsed.drafts:
        try:
            async with s.begin_nested():
                await write_orders(s, [(shop, d) for d in parsed.drafts], cat,
                                   source=f"import:{template}", actor=actor)  # fmt: skip
        except Exception as exc:
            if not _unique_violation(exc):
                raise
            await _duplicates(s, shop, parsed, t)
            if not parsed.bad_rows:
                raise
        else:
            await record(s, actor, "orders.imported", f"shop:{shop.id}", shop.county,
                         {"template": template, "orders": len(parsed.drafts),
                          "lines": parsed.lines})  # fmt: skip
            imported = True
    parsed.errors.sort(key=lambda e: e.row)
    return ImportReport(
        template=template,
        dry_run=dry_run,
        encoding=sheet.encoding,
        rows=parsed.rows,
        orders=len(parsed.drafts),
        lines=parsed.lines,
        bad_rows=len(parsed.bad_rows),
        imported=imported,
        errors=parsed.errors,
        unmapped_skus=unmapped,
    )
