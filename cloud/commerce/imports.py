"""Import a shop's order export (CSV or XLSX) through its platform's template.

All or nothing per file: every row is checked first (a dry run stops there and lists
each bad row with its field and reason); a file with any bad row imports nothing; a
good file imports in one transaction, every order with its lines. An order already
recorded (the same channel and platform order id) is a bad row: an export is imported
once. Buyers' names, phones and addresses are never read past the city.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@dataclass(frozen=True, slots=True)
class _Cols:
    """Where each field of a template's rows is (a field the file lacks reads the empty
    cell added at the end of each row)."""

    t: Template
    idx: dict[str, int]
    has_county: bool


def _check_row(c: _Cols, cells: list[Any], shop: Shop, now: datetime) -> _RowValues:
    """Every check of one row, in order; the first problem raises (its field named as
    the template's column). The reference the column-wise fast path agrees with."""
    t, idx = c.t, c.idx
    oid = _text(cells[idx["order_id"]])
    if not oid:
        raise RowProblem(t.columns["order_id"], "missing")
    if not PLATFORM_ID_RE.match(oid):
        raise RowProblem(t.columns["order_id"], f"{oid!r} is not an order id")
    try:
        at = parse_time(cells[idx["ordered_at"]], now)
    except RowProblem as p:
        raise RowProblem(t.columns["ordered_at"], p.reason) from None
    word = _text(cells[idx["status"]])
    status = STATUS_WORDS.get(word.lower()) or STATUS_WORDS.get(word)
    if status is None:
        raise RowProblem(t.columns["status"], f"unknown status {word!r}")
    if c.has_county:
        county = _text(cells[idx["county"]])
        if county not in COUNTIES:
            raise RowProblem(t.columns["county"], f"unknown county code {county!r}; "
                             f"use a GB/T 2260 code: {', '.join(COUNTIES)}")  # fmt: skip
        if county != shop.county:
            raise RowProblem(t.columns["county"], f"county {county} is not the shop's "
                             f"({shop.county})")  # fmt: skip
    try:
        qty = parse_quantity(cells[idx["quantity"]])
    except RowProblem as p:
        raise RowProblem(t.columns["quantity"], p.reason) from None
    try:
        fen = parse_amount(cells[idx["amount"]])
    except RowProblem as p:
        raise RowProblem(t.columns["amount"], p.reason) from None
    sku = _text(cells[idx["sku"]])[:64] or None
    gtin = _text(cells[idx["gtin"]]) or None
    if gtin is not None and not _GTIN.match(gtin):
        raise RowProblem(t.columns["gtin"], f"{gtin!r} is not a GTIN (8, 12, 13 or 14 digits)")
    if sku is None and gtin is None:
        raise RowProblem(t.columns.get("sku", "gtin"), "missing: the line's SKU or GTIN")
    city = _destination(t, cells, idx)
    return oid, at, status, qty, fen, sku, gtin, city


#: A row's checked values: order id, time (UTC), status, quantity, fen, SKU, GTIN, city.
_RowValues = tuple[str, datetime, str, int, int, str | None, str | None, str | None]


def _texts(col: list[Any]) -> list[str]:
    """:func:`_text` of every cell of a column of text cells."""
    return [s if not s or (s[0] != "=" and s[0] != "'") else _text(s) for s in map(str.strip, col)]


def _all_text(col: Sequence[Any]) -> bool:
    return set(map(type, col)) <= {str}


def _fast_columns(
    c: _Cols, rows: list[list[Any]], shop: Shop, now: datetime
) -> tuple[list[Any], bytearray]:
    """Each field's values for a whole column at once, by the common case only: a cell
    the common case does not cover marks its row ``slow`` (1), and that row is checked
    by :func:`_check_row` instead. Whatever this accepts, ``_check_row`` accepts with the
    same value (tests/cloud/test_commerce_import.py compares the two)."""
    n = len(rows)
    slow = bytearray(n)
    idx = c.idx
    by_column = list(zip(*rows, strict=True))  # every row has the header's width here
    empty = [""] * n

    def column(f: str) -> Any:
        i = idx[f]
        return by_column[i] if i < len(by_column) else empty

    # order ids: plain, or inside Excel's ="..." text guard
    raw = column("order_id")
    if _all_text(raw):
        ids = [v[2:-1] if v[:2] == '="' and v[-1:] == '"' else v for v in raw]
        ok_id = PLATFORM_ID_RE.fullmatch
        for k, v in enumerate(ids):
            if ok_id(v) is None:
                slow[k] = 1
    else:
        ids, slow[:] = raw, b"\x01" * n
    # times: "YYYY-MM-DD HH:MM:SS" in Beijing time, inside [2000, now + skew]; the rows
    # of one order share theirs, parsed once
    hi = (now + FUTURE_SKEW).astimezone(BEIJING).replace(tzinfo=None)
    lo = EARLIEST.astimezone(BEIJING).replace(tzinfo=None)
    times: dict[Any, datetime | None] = {}
    ats: list[datetime | None] = []
    for k, v in enumerate(column("ordered_at")):
        at = times.get(v, False) if v.__class__ is str else None
        if at is False:
            at = None
            if len(v) == 19 and v[10] == " " and v[4] == "-":
                try:
                    naive = datetime.fromisoformat(v)
                except ValueError:
                    pass
                else:
                    if naive.tzinfo is None and lo <= naive <= hi:
                        at = naive.replace(tzinfo=BEIJING).astimezone(UTC)
            times[v] = at
        if at is None:
            slow[k] = 1
        ats.append(at)
    get_status = STATUS_WORDS.get
    statuses = [get_status(v) if v.__class__ is str else None for v in column("status")]
    for k, v in enumerate(statuses):
        if v is None:
            slow[k] = 1
    if c.has_county:
        mine = shop.county if shop.county in COUNTIES else None
        for k, v in enumerate(column("county")):
            if v != mine:
                slow[k] = 1
    qtys: list[int] = []
    for k, v in enumerate(column("quantity")):
        if v.__class__ is str and v.isascii() and v.isdigit() and 0 < len(v) < 7 and v[0] != "0":
            qtys.append(int(v))
        else:
            qtys.append(0)
            slow[k] = 1
    fens: list[int] = []
    plain = _PLAIN_YUAN.fullmatch
    for k, v in enumerate(column("amount")):
        if v.__class__ is str and plain(v):
            whole, _, cents = v.partition(".")
            fens.append(int(whole) * 100 + int((cents + "00")[:2]))
        else:
            fens.append(0)
            slow[k] = 1
    texts = {f: column(f) for f in ("sku", "gtin", "title", "address", "province", "city",
                                    "district")}  # fmt: skip
    if not all(_all_text(col) for col in texts.values()):
        return [ids, ats, statuses, qtys, fens, None, None, None, None], b"\x01" * n
    skus = [s[:64] or None for s in _texts(texts["sku"])]
    gtins = [s or None for s in _texts(texts["gtin"])]
    ok_gtin = _GTIN.match
    for k, (sku, gtin) in enumerate(zip(skus, gtins, strict=True)):
        if (gtin is not None and not ok_gtin(gtin)) or (sku is None and gtin is None):
            slow[k] = 1
    titles = [s[:200] or None for s in _texts(texts["title"])]
    cities = _cities(c.t, texts)
    return [ids, ats, statuses, qtys, fens, skus, gtins, cities, titles], slow


def _cities(t: Template, texts: dict[str, list[Any]]) -> list[str | None]:
    """The destination of every row (rows of one order, and repeat buyers, share an
    address: each distinct one is cut once)."""
    seen: dict[Any, str | None] = {}
    out: list[str | None] = []
    if t.destination == "address":
        for a in _texts(texts["address"]):
            city = seen.get(a, False)
            if city is False:
                city = seen[a] = city_from_address(a)
            out.append(city)
    elif t.destination == "parts":
        for p in zip(_texts(texts["province"]), _texts(texts["city"]), _texts(texts["district"]),
                     strict=True):  # fmt: skip
            city = seen.get(p, False)
            if city is False:
                city = seen[p] = city_from_parts(*p)
            out.append(city)
    else:
        out = [s[:64] or None for s in _texts(texts["city"])]
    return out


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
    width = len(sheet.header)
    c = _Cols(t, {f: cols.get(f, width) for f in FIELDS}, "county" in cols)
    # the rows to check, each of the header's width (the empty cell a missing field
    # reads is added only for a row checked one by one)
    bad_rows = out.bad_rows
    if bad_rows:
        kept = [(n, cells) for n, cells in sheet.rows if n not in bad_rows]
    else:
        kept = sheet.rows
    nums = [n for n, _ in kept]
    rows = [cells for _, cells in kept]
    if set(map(len, rows)) - {width}:
        nums, rows = [], []
        for n, cells in kept:
            if len(cells) > width:
                out.bad(n, "row", f"{len(cells)} cells, the header has {width}")
                continue
            nums.append(n)
            rows.append([*cells, *[""] * (width - len(cells))])
    values, slow = _fast_columns(c, rows, shop, now)
    if values[5] is None:  # a column not all text (XLSX): every row one by one
        values[5:] = [[None] * len(rows)] * 4
    by_id: dict[str, tuple[OrderDraft, int]] = {}
    drafts, rows_of = out.drafts, out.rows_of
    for k, n, oid, at, status, qty, fen, sku, gtin, city, title in zip(
        range(len(rows)), nums, *values, strict=True
    ):
        if slow[k]:
            cells = [*rows[k], ""]
            try:
                oid, at, status, qty, fen, sku, gtin, city = _check_row(c, cells, shop, now)
            except RowProblem as p:
                out.bad(n, p.field, p.reason)
                continue
            title = _text(cells[c.idx["title"]])[:200] or None
        line = LineDraft(qty, fen, None, gtin, sku, title)
        seen = by_id.get(oid)
        if seen is None:
            d = OrderDraft(oid, at, status, city, [line])  # type: ignore[arg-type]
            by_id[oid] = (d, n)
            drafts.append(d)
            rows_of[oid] = [n]
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
                rows_of[oid].append(n)
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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a file is decoded and checked (synchronous:
    nothing else runs meanwhile). Every object made is alive until the write, so the
    collector's passes over them (one per 700 allocations, ~10 a row) find nothing;
    they were a third of the check's time. Garbage from before is collected after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


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
    with _collector_paused():
        sheet = read(data, fmt)
        parsed = parse_sheet(sheet, t, shop, now or datetime.now(UTC))
    # A file about to be written is checked for duplicates by the unique constraint
    # itself (the write fails, then the duplicates are named); a report of a dry run or
    # of a file with bad rows looks them up first, so that it lists them all.
    if parsed.drafts and (dry_run or parsed.bad_rows):
        await _duplicates(s, shop, parsed, t)
    shop_id = shop.id
    cat = await Catalogue.load(
        s, [shop_id], gtins={ln.gtin for d in parsed.drafts for ln in d.lines if ln.gtin}
    )
    resolve = cat.resolve
    unmapped = sorted(
        {
            ln.sku or ln.gtin or ""
            for d in parsed.drafts
            for ln in d.lines
            if resolve(shop_id, ln) is None
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
