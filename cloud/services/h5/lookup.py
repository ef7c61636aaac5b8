"""The trace lookup: what a visitor types or scans, read as a lot, and the resolver's
path of its trace page.

Accepted (README.md):

- a GS1 Digital Link URI of any host, or its path alone: ``https://host/01/{gtin}[/22/
  {cpv}][/10/{lot}][/21/{serial}][?...]`` and the convenience ``/gtin/ /cpv/ /lot/ /ser/``
  (the query string is kept: a serial's ``c`` travels to the resolver);
- a GS1 element string: ``(01)…(10)…`` or unbracketed (``01…10…``, GS or ``^`` between
  fields, an optional ``]d2`` / ``]Q3`` / ``]C1`` prefix); date AIs 11-17 skipped;
- a lot number alone (GS1 AI 10, set 82): found among the lots on record; when lots of
  several products share it, the visitor picks the product.

The resolver (cloud/resolver, same floor: not imported) checks everything again; here
each input gets its reason in both languages before the visitor leaves the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.catalog.gs1 import check_gtin
from cloud.catalog.storage import Product
from cloud.trace.lots.schemas import check_lot_number
from cloud.trace.lots.storage import TraceLot

MAX_CODE = 512
#: AIs of a fixed length (digits) that may sit between the GTIN and the lot
FIXED = {"11": 6, "12": 6, "13": 6, "15": 6, "16": 6, "17": 6}
GS = "\x1d"
ALPHA = {"gtin": "01", "cpv": "22", "lot": "10", "ser": "21"}


class CodeError(ValueError):
    """A code that cannot be looked up: ``zh`` and ``en`` say why; ``status`` 422
    (bad input) or 404 (well formed, not on record)."""

    def __init__(self, zh: str, en: str, status: int = 422) -> None:
        super().__init__(en)
        self.zh, self.en, self.status = zh, en, status


@dataclass(frozen=True, slots=True)
class Choice:
    gtin: str
    lot: str
    product: str | None
    path: str


@dataclass
class Found:
    """Where the code leads: ``path`` (the resolver's), or ``choices`` when a lot number
    alone names lots of several products."""

    gtin: str | None
    lot: str | None
    serial: str | None = None
    path: str | None = None
    choices: list[Choice] = field(default_factory=list)


def _bad(zh: str, en: str) -> CodeError:
    return CodeError(zh, en)


def resolver_path(gtin: str, lot: str | None, serial: str | None = None, query: str = "") -> str:
    """The resolver's canonical path (values percent-encoded but for RFC 3986's
    unreserved characters), with ``query`` kept."""
    path = f"/01/{gtin}"
    if lot is not None:
        path += f"/10/{quote(lot, safe='-._~')}"
        if serial is not None:
            path += f"/21/{quote(serial, safe='-._~')}"
    return path + (f"?{query}" if query else "")


def _gtin(value: str) -> str:
    try:
        return check_gtin(value)
    except ValueError as exc:
        if "check digit" in str(exc):
            zh = f"商品条码（GTIN）{value} 的校验位不对，请核对是否输错"
        else:
            zh = f"商品条码（GTIN）应为 8、12、13 或 14 位数字，不是 {value!r}"
        raise _bad(zh, f"The GTIN is wrong: {exc}") from None


def _lot(value: str) -> str:
    try:
        return check_lot_number(value)
    except ValueError as exc:
        if "at most" in str(exc) or "1 to 20" in str(exc):
            zh = f"批次号应为 1 至 20 个字符，不是 {len(value)} 个"
        else:
            zh = "批次号只能包含字母、数字和 GS1 字符集 82 的符号（!\"%&'()*+,-./:;<=>?_），不能有空格或汉字"
        raise _bad(zh, f"The lot number is wrong: {exc}") from None


def parse_uri(text: str) -> tuple[str, str | None, str | None, str]:
    """(GTIN-14, lot, serial, query) of a Digital Link URI or path."""
    u = urlsplit(
        text if "://" in text else "https://x" + (text if text.startswith("/") else "/" + text)
    )
    parts = [p for p in u.path.split("/") if p != ""]
    keys: dict[str, str] = {}
    i = 0
    while i < len(parts):
        ai = ALPHA.get(parts[i].lower(), parts[i])
        if ai == "01" and "01" not in keys:
            keys = {}  # a stem before the primary key is allowed
        if ai in ("01", "22", "10", "21") and i + 1 < len(parts):
            keys[ai] = unquote(parts[i + 1])
            i += 2
            continue
        if "01" in keys:
            raise _bad(f"链接中有无法识别的部分：{parts[i]!r}",
                       f"The link has a part we do not know: {parts[i]!r}")  # fmt: skip
        i += 1
    if "01" not in keys:
        raise _bad("这个链接不是 GS1 数字链接（缺少 /01/商品条码）",
                   "This link is not a GS1 Digital Link (no /01/GTIN in it)")  # fmt: skip
    gtin = _gtin(keys["01"])
    lot = _lot(keys["10"]) if "10" in keys else None
    serial = keys.get("21")
    if serial is not None and lot is None:
        raise _bad("有序列号却没有批次号", "A serial number without a lot number")
    return gtin, lot, serial, u.query


def parse_element_string(text: str) -> tuple[str, str | None, str | None]:
    """(GTIN-14, lot, serial) of a bracketed or unbracketed element string."""
    s = re.sub(r"^\](d2|Q3|C1)", "", text.strip())
    fields: dict[str, str] = {}
    if s.startswith("("):
        for ai, value in re.findall(r"\((\d{2,4})\)([^(]*)", s):
            fields[ai] = value
    else:
        s = s.lstrip("^" + GS).replace("^", GS)
        while s:
            ai = s[:2]
            if ai == "01":
                fields["01"], s = s[2:16], s[16:]
            elif ai in FIXED:
                fields[ai], s = s[2 : 2 + FIXED[ai]], s[2 + FIXED[ai] :]
            elif ai in ("10", "21"):
                value, _, s = s[2:].partition(GS)
                fields[ai] = value
            else:
                raise _bad(f"条码中有无法识别的应用标识符 {ai!r}",
                           f"The code carries an application identifier we do not read: {ai!r}")  # fmt: skip
            s = s.lstrip(GS)
    if "01" not in fields:
        raise _bad("条码中没有商品条码（AI 01）", "The code carries no GTIN (AI 01)")
    lot = _lot(fields["10"]) if "10" in fields else None
    if "21" in fields and lot is None:
        raise _bad("有序列号却没有批次号", "A serial number without a lot number")
    return _gtin(fields["01"]), lot, fields.get("21")


def classify(code: str) -> str:
    if "://" in code or code.startswith("/"):
        return "uri"
    if re.match(r"\(\d{2,4}\)|\](d2|Q3|C1)", code) or re.fullmatch(r"01\d{14}(\d.*)?", code):
        return "element_string"
    return "lot"


async def lookup(session: AsyncSession, code: str) -> Found:
    """Where ``code`` leads; CodeError naming the reason."""
    code = (code or "").strip()
    if not code:
        raise _bad(
            "请输入或扫描批次码、追溯码或数字链接",
            "Enter or scan a lot code, trace code or Digital Link",
        )
    if len(code) > MAX_CODE:
        raise _bad(
            f"输入过长（最多 {MAX_CODE} 个字符）", f"Too long (at most {MAX_CODE} characters)"
        )
    kind = classify(code)
    query = ""
    if kind == "uri":
        gtin, lot, serial, query = parse_uri(code)
    elif kind == "element_string":
        gtin, lot, serial = parse_element_string(code)
    else:
        return await _by_lot(session, _lot(code))
    if lot is None:  # a product's code: the resolver shows the product page
        if await session.scalar(select(Product.id).where(Product.gtin == gtin).limit(1)) is None:
            raise CodeError(f"没有商品条码 {gtin} 的产品记录", f"No product of GTIN {gtin} is on record", 404)  # fmt: skip
        return Found(gtin, None, None, resolver_path(gtin, None, None, query))
    q = select(TraceLot.id).where(TraceLot.gtin == gtin, TraceLot.lot == lot).limit(1)
    if await session.scalar(q) is None:
        raise CodeError(f"没有商品条码 {gtin} 批次 {lot} 的追溯记录",
                           f"No lot {lot} of GTIN {gtin} is on record", 404)  # fmt: skip
    return Found(gtin, lot, serial, resolver_path(gtin, lot, serial, query))


async def _by_lot(session: AsyncSession, lot: str) -> Found:
    q = (
        select(TraceLot.gtin, Product.name)
        .select_from(TraceLot)
        .join(Product, Product.id == TraceLot.product_id, isouter=True)
        .where(TraceLot.lot == lot)
        .order_by(TraceLot.gtin)
        .limit(20)
    )
    rows = (await session.execute(q)).all()
    if not rows:
        raise CodeError(f"没有批次号为 {lot} 的追溯记录（请核对，或扫描包装上的二维码）",
                           f"No lot {lot} is on record (check it, or scan the QR code on the pack)",
                           404)  # fmt: skip
    choices = [Choice(g, lot, name, resolver_path(g, lot)) for g, name in rows]
    if len(choices) == 1:
        return Found(choices[0].gtin, lot, None, choices[0].path)
    return Found(None, lot, None, None, choices)
