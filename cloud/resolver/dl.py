"""GS1 Digital Link URI syntax 1.x: parse, validate, canonicalise; element strings.

Pure (no I/O but reading the vendored syntax dictionary once). The AI table — each AI's
format, whether an FNC1 separator follows it, and which key qualifiers each primary key
takes in the path, in which order — is GS1's own Syntax Dictionary
(``gs1-syntax-dictionary.txt`` next to this module, Apache-2.0, source noted in it).

What a URI must satisfy (GS1 Digital Link URI syntax 1.x, as GS1's reference parser, the
Barcode Syntax Engine, checks it):

- ``http://`` or ``https://`` (all lower or all upper case), a domain without ``_~?#@!$&'()*+,;=%``,
  then an optional stem and the path ``/{primary key AI}/{value}[/{qualifier}/{value}...]``
  found by walking back from the end of the path over known AIs to the rightmost primary
  key; only characters allowed in URIs; no trailing slash.
- The qualifiers follow the key in the order the dictionary gives (``01``: ``22``, ``10``,
  ``21`` or else ``235``); any other AI in the path, or the right ones out of order, is
  an error naming the AI.
- Each value fits its AI: length, character set (82 for lots and serials), check
  digit, dates ``YYMMDD`` (``DD=00`` where the dictionary says ``yymmd0``: 11, 12, 13,
  15, 16, 17).
- Query parameters with a numeric name are AIs (data attributes): known, not empty, valid
  for the AI, not a duplicate, not a qualifier that belongs in the path. Others (``c``,
  ``linkType``, ...) are kept as they are; ``+`` is a space in the query, not in the path.
- ``%XX`` escapes are decoded (``%00`` refused); a ``%`` not followed by two hex digits
  stays a ``%``.

Two leniencies the issue asks for and GS1's canonical rules do not require: GTIN-8, -12
and -13 in the path are padded to GTIN-14, and the convenience alphas (``/gtin/``,
``/lot/``, ``/ser/``, ``/cpv/``, ...) are read as their AIs. The canonical form (what the
resolver redirects to and :func:`DigitalLink.path` writes) has neither: numeric AIs,
GTIN-14, values percent-encoded except RFC 3986's unreserved characters.

The resolver serves GTINs (AI 01): :func:`parse` answers a :class:`DigitalLink` for them
and refuses other keys; :func:`parse_uri` reads any primary key (the CLI, the tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import quote

from cloud.catalog.gs1 import gs1_check_digit
from cloud.trace.lots.schemas import SET_82

DICTIONARY = Path(__file__).with_name("gs1-syntax-dictionary.txt")

#: GS1 AI encodable character sets 82 (lots' own, cloud.trace), 39 and 64 (X, Y, Z).
CSET82 = SET_82
CSET39 = frozenset("#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
CSET64 = frozenset("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz=")
_DIGITS = frozenset("0123456789")
_CHARSETS = {"N": _DIGITS, "X": CSET82, "Y": CSET39, "Z": CSET64}
_CSET_NAMES = {
    "N": ("数字 0-9", "digits 0-9"),
    "X": (
        "GS1 字符集 82（不含空格和 #$@[\\]^`{|}~ 的可打印 ASCII）",
        "GS1 character set 82 (printable ASCII without space, #, $, @, [, \\, ], ^, `, {, |, }, ~)",
    ),
    "Y": ("GS1 字符集 39（0-9 A-Z # - /）", "GS1 character set 39 (0-9 A-Z # - /)"),
    "Z": ("GS1 字符集 64（base64url）", "GS1 character set 64 (base64url)"),
}

#: Characters a URI may hold (RFC 3986 reserved and unreserved, and %).
URI_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)
_BAD_DOMAIN_CHARS = frozenset("_~?#@!$&'()*+,;=%")
#: RFC 3986 unreserved: left as they are in the canonical form, everything else escaped.
_UNRESERVED = "-._~"

#: Digital Link 1.x convenience alphas (deprecated in 1.2, still printed on packs).
ALPHA_AI: dict[str, str] = {
    "cpid": "8010",
    "cpsn": "8011",
    "cpv": "22",
    "gcn": "255",
    "gdti": "253",
    "giai": "8004",
    "ginc": "401",
    "gln": "414",
    "glnx": "254",
    "gmn": "8013",
    "grai": "8003",
    "gsin": "402",
    "gsrn": "8018",
    "gsrnp": "8017",
    "gtin": "01",
    "itip": "8006",
    "lot": "10",
    "party": "417",
    "refno": "8020",
    "ser": "21",
    "srin": "8019",
    "sscc": "00",
}

#: The query parameter naming the link type asked for.
LINK_TYPE = "linkType"
#: The GS1 Web Vocabulary namespace of link types (``gs1:pip`` is ``{GS1_VOC}pip``).
GS1_VOC = "https://gs1.org/voc/"

GS = "\x1d"  # ASCII group separator: FNC1 as a separator in transmitted data
#: The element string form of the AIs the resolver reads: GTIN, then these in this order.
_GTIN_QUALIFIERS = ("22", "10", "21", "235")


# ---------------------------------------------------------------------------------------
# Errors


class DigitalLinkError(ValueError):
    """A URI or element string that is not valid GS1 Digital Link / AI syntax.

    ``field``: the AI at fault (``"01"``, ``"10"``, ``"17"``), or ``"uri"``, ``"path"``,
    ``"query"``, ``"element_string"``; ``zh`` and ``en`` say why.
    """

    def __init__(self, field: str, zh: str, en: str) -> None:
        super().__init__(f"{field}: {en}")
        self.field = field
        self.zh = zh
        self.en = en


def _shown(value: str, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


# ---------------------------------------------------------------------------------------
# The AI table (GS1 Syntax Dictionary)


@dataclass(frozen=True, slots=True)
class Component:
    cset: str  # N, X, Y, Z
    min_len: int
    max_len: int
    optional: bool
    linters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AiSpec:
    ai: str
    title: str
    #: pre-defined length ("*" in the dictionary): no FNC1 separator after it
    predefined: bool
    components: tuple[Component, ...]
    #: a Digital Link primary key: its alternative qualifier sequences (``((),)`` for
    #: a key without qualifiers); None for other AIs
    qualifiers: tuple[tuple[str, ...], ...] | None

    @property
    def max_len(self) -> int:
        return sum(c.max_len for c in self.components)

    @property
    def fixed_len(self) -> int | None:
        """The value's length when every component is fixed and mandatory."""
        if all(c.min_len == c.max_len and not c.optional for c in self.components):
            return self.max_len
        return None


_COMPONENT = re.compile(r"^(\[?)([NXYZ])(\.\.)?(\d+)(\]?)((?:,\w+)*)$")


def _parse_dictionary(text: str) -> dict[str, AiSpec]:
    table: dict[str, AiSpec] = {}
    for raw in text.splitlines():
        line, _, title = raw.partition("#")
        tokens = line.split()
        if not tokens:
            continue
        ais, rest = tokens[0], tokens[1:]
        predefined = False
        if rest and set(rest[0]) <= {"*", "?"}:
            predefined = "*" in rest[0]
            rest = rest[1:]
        components: list[Component] = []
        qualifiers: tuple[tuple[str, ...], ...] | None = None
        for tok in rest:
            if tok == "dlpkey":
                qualifiers = ((),)
            elif tok.startswith("dlpkey="):
                qualifiers = tuple(
                    tuple(a for a in alt.split(",") if a) for alt in tok[7:].split("|")
                )
            elif "=" in tok:
                continue  # req=, ex=: pairing rules, not checked here
            else:
                m = _COMPONENT.match(tok)
                if m is None:
                    raise ValueError(f"{DICTIONARY.name}: cannot read {tok!r} in {raw!r}")
                n = int(m.group(4))
                variable = bool(m.group(3))
                optional = bool(m.group(1))
                components.append(
                    Component(
                        m.group(2),
                        0 if optional else (1 if variable else n),
                        n,
                        optional,
                        tuple(x for x in m.group(6).split(",") if x),
                    )
                )
        lo, _, hi = ais.partition("-")
        for number in range(int(lo), int(hi or lo) + 1):
            ai = str(number).zfill(len(lo))
            table[ai] = AiSpec(ai, title.strip(), predefined, tuple(components), qualifiers)
    return table


@cache
def ai_table() -> dict[str, AiSpec]:
    """Every AI of the syntax dictionary, by AI."""
    return _parse_dictionary(DICTIONARY.read_text(encoding="utf-8"))


def spec(ai: str) -> AiSpec | None:
    return ai_table().get(ai)


# ---------------------------------------------------------------------------------------
# Value validation


def _valid_yymmdd(v: str, *, zero_day: bool) -> bool:
    mm, dd, yy = int(v[2:4]), int(v[4:6]), int(v[0:2])
    if not 1 <= mm <= 12:
        return False
    if dd == 0:
        return zero_day
    days = [31, 29 if yy % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mm - 1]
    return dd <= days


def _lint(ai: str, linter: str, v: str) -> tuple[str, str] | None:
    """(zh, en) when the component ``v`` fails ``linter``; None when it passes (linters
    of no consequence here, e.g. ISO country codes, are not checked)."""
    if linter == "csum":
        if v[-1] != gs1_check_digit(v[:-1]):
            want = gs1_check_digit(v[:-1])
            return (
                f"校验位 {v[-1]} 不对，按前面的数字应为 {want}（GS1 模 10）",
                f"check digit {v[-1]} does not verify: the other digits give {want} (GS1 mod-10)",
            )
    elif linter in ("yymmdd", "yymmd0"):
        if not _valid_yymmdd(v[:6], zero_day=linter == "yymmd0"):
            zero = "（日可为 00）" if linter == "yymmd0" else ""
            zero_en = " (DD may be 00)" if linter == "yymmd0" else ""
            return (
                f"日期 {v} 无效，应为 YYMMDD{zero}",
                f"{v} is not a valid date YYMMDD{zero_en}",
            )
    elif linter == "yymmddhh":
        if not _valid_yymmdd(v[:6], zero_day=False) or int(v[6:8]) > 23:
            return (f"时间 {v} 无效，应为 YYMMDDHH", f"{v} is not a valid YYMMDDHH")
    elif linter == "hhmm":
        if int(v[:2]) > 23 or int(v[2:4]) > 59:
            return (f"时间 {v} 无效，应为 HHMM", f"{v} is not a valid time HHMM")
    elif linter == "zero":
        if v != "0":
            return ("此处须为 0", "this digit must be 0")
    elif linter == "nonzero":
        if int(v) == 0:
            return ("不可为零", "must not be zero")
    elif linter == "nozeroprefix":
        if len(v) > 1 and v[0] == "0":
            return ("不可以 0 开头", "must not start with 0")
    elif linter == "yesno":
        if v not in ("0", "1"):
            return ("须为 0 或 1", "must be 0 or 1")
    elif linter == "pieceoftotal":
        piece, total = int(v[:2]), int(v[2:])
        if piece == 0 or total == 0 or piece > total:
            return ("件号/总件数无效", "piece number and total are invalid")
    elif linter == "key":
        # GS1 Syntax Engine's "key": starts with a GS1 Company Prefix, at least 4 digits
        if len(v) < 4 or not v[:4].isdigit():
            return (
                "须以 GS1 厂商识别代码（至少 4 位数字）开头",
                "must start with a GS1 Company Prefix (at least 4 digits)",
            )
    elif linter == "csumalpha":
        if not _csumalpha_ok(v):
            return (
                "字母数字校验字符对不对（GS1 通用规范）",
                "the alphanumeric check character pair does not verify (GS1 General Specifications)",
            )
    elif linter == "pcenc":
        if re.search(r"%(?![0-9A-Fa-f]{2})", v):
            return ("百分号编码无效", "has an invalid percent-encoding")
    elif linter == "hyphen":
        if v and v != "-":
            return ("此处只能是 -", "only '-' may follow here")
    return None


_PRIMES = (
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
    97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181,
)  # fmt: skip
_CSET82_ORDER = (
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
_CSET32_ORDER = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _csumalpha_ok(v: str) -> bool:
    """GS1's alphanumeric check character pair (GMN, AI 8013): the data characters'
    set-82 values weighted by primes rising from the right, modulo 1021, split into two
    5-bit values written in set 32."""
    if len(v) < 2 or len(v) - 2 > len(_PRIMES):
        return False
    data, pair = v[:-2], v[-2:]
    if any(c not in _CSET82_ORDER for c in data):
        return False
    total = (
        sum(_CSET82_ORDER.index(c) * _PRIMES[len(data) - 1 - i] for i, c in enumerate(data)) % 1021
    )
    return pair == _CSET32_ORDER[total >> 5] + _CSET32_ORDER[total & 31]


def check_value(ai: str, value: str) -> str:
    """``value`` checked against AI ``ai``'s format; DigitalLinkError naming the AI."""
    s = spec(ai)
    if s is None:
        raise DigitalLinkError(ai, f"{ai} 不是已知的 GS1 AI", f"{ai} is not a known GS1 AI")
    name = f"AI ({ai}) {s.title}".strip()
    if not value:
        raise DigitalLinkError(ai, f"{name} 的值为空", f"the value of {name} is empty")
    if len(value) > s.max_len:
        raise DigitalLinkError(
            ai,
            f"{name} 最多 {s.max_len} 个字符，这里有 {len(value)} 个",
            f"{name} has at most {s.max_len} characters, not {len(value)}",
        )
    pos = 0
    for comp in s.components:
        rest = value[pos:]
        if not rest:
            if comp.optional:
                break
            raise DigitalLinkError(
                ai,
                f"{name} 太短：{_shown(value)}",
                f"{name} is too short: {_shown(value)}",
            )
        if comp.min_len == comp.max_len and not comp.optional:
            part = rest[: comp.max_len]
            if len(part) < comp.max_len:
                raise DigitalLinkError(
                    ai,
                    f"{name} 长度不对：{_shown(value)}",
                    f"{name} has the wrong length: {_shown(value)}",
                )
        else:
            part = rest[: comp.max_len]
        bad = sorted({c for c in part if c not in _CHARSETS[comp.cset]})
        if bad:
            zh_set, en_set = _CSET_NAMES[comp.cset]
            shown = " ".join(repr(c) for c in bad[:5])
            raise DigitalLinkError(
                ai,
                f"{name} 含有不允许的字符 {shown}：只能用{zh_set}",
                f"{name} has characters outside its set ({shown}): use {en_set}",
            )
        for linter in comp.linters:
            problem = _lint(ai, linter, part)
            if problem is not None:
                raise DigitalLinkError(ai, f"{name}：{problem[0]}", f"{name}: {problem[1]}")
        pos += len(part)
    if pos != len(value):
        raise DigitalLinkError(
            ai,
            f"{name} 太长：{_shown(value)}",
            f"{name} is too long: {_shown(value)}",
        )
    return value


# ---------------------------------------------------------------------------------------
# Percent-encoding


def unescape(raw: str, *, query: bool, field: str) -> str:
    """Decode ``%XX`` (a ``%`` not followed by two hex digits stays); ``+`` is a space in
    the query only. ``%00`` and undecodable UTF-8 are refused."""
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "%" and i + 2 < n and _is_hex(raw[i + 1 : i + 3]):
            b = int(raw[i + 1 : i + 3], 16)
            if b == 0:
                raise DigitalLinkError(field, "值中不可含 %00", "a value may not hold %00 (NUL)")
            out.append(b)
            i += 3
            continue
        out.extend(b" " if query and c == "+" else c.encode("utf-8"))
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise DigitalLinkError(
            field,
            "百分号编码不是有效的 UTF-8",
            "the percent-encoded value is not valid UTF-8",
        ) from None


def _is_hex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789abcdefABCDEF" for c in s)


def escape(value: str) -> str:
    """Percent-encode for a path segment or query value (only unreserved stay)."""
    return quote(value, safe=_UNRESERVED)


# ---------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class ParsedUri:
    """A GS1 Digital Link URI taken apart: the path's AIs (primary key first), the
    query's AIs, and its other parameters, in the order given."""

    stem: str
    path_ais: tuple[tuple[str, str], ...]
    query_ais: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, str], ...]
    #: every query parameter with a value (AIs and others), in the order given
    query_items: tuple[tuple[str, str], ...] = ()

    @property
    def primary(self) -> str:
        return self.path_ais[0][0]

    @property
    def ais(self) -> tuple[tuple[str, str], ...]:
        return self.path_ais + self.query_ais


def _ai_of(segment: str, *, alphas: bool) -> str | None:
    if alphas and segment in ALPHA_AI:
        return ALPHA_AI[segment]
    return segment if segment in ai_table() else None


def _pad_gtin(value: str) -> str:
    if len(value) in (8, 12, 13) and value.isascii() and value.isdigit():
        return value.zfill(14)
    return value


def parse_path(
    path: str, query: str = "", *, alphas: bool = True, zero_suppressed: bool = True
) -> ParsedUri:
    """The path (``/[stem/]01/...``, percent-encoded as sent) and query string of a
    Digital Link URI, validated; DigitalLinkError says what is wrong."""
    bad = sorted({c for c in path + query if c not in URI_CHARS})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise DigitalLinkError(
            "uri",
            f"URI 含有不允许的字符 {shown}（须百分号编码）",
            f"the URI has characters that must be percent-encoded: {shown}",
        )
    if not path.startswith("/"):
        raise DigitalLinkError("path", "路径须以 / 开头", "the path must start with /")
    segs = path.split("/")[1:]
    if segs and segs[-1] == "" and len(segs) > 1:
        raise DigitalLinkError("path", "路径不可以 / 结尾", "the path may not end with a slash")
    # walk back from the end over /AI/value pairs to the rightmost primary key
    start = None
    i = len(segs) - 2
    while i >= 0:
        ai = _ai_of(segs[i], alphas=alphas)
        if ai is None:
            break
        s = spec(ai)
        if s is not None and s.qualifiers is not None:
            start = i
            break
        i -= 2
    if start is None:
        raise DigitalLinkError(
            "path",
            "路径中没有 GS1 主键（如 /01/<GTIN>）",
            "no GS1 primary key in the path (e.g. /01/<GTIN>)",
        )
    stem = "/" + "/".join(segs[:start]) if start else ""
    pairs: list[tuple[str, str]] = []
    for j in range(start, len(segs), 2):
        ai = _ai_of(segs[j], alphas=alphas)
        assert ai is not None  # walked over above
        raw = segs[j + 1]
        if raw == "":
            raise DigitalLinkError(ai, f"AI ({ai}) 的值为空", f"the value of AI ({ai}) is empty")
        value = unescape(raw, query=False, field=ai)
        if ai == "01" and zero_suppressed:
            value = _pad_gtin(value)
        pairs.append((ai, value))

    primary = pairs[0][0]
    key_spec = spec(primary)
    assert key_spec is not None and key_spec.qualifiers is not None
    path_quals = [ai for ai, _ in pairs[1:]]
    alternatives = [alt for alt in key_spec.qualifiers if _in_order(path_quals, alt)]
    if not alternatives:
        _qualifier_error(primary, key_spec, path_quals)
    for ai, value in pairs:
        check_value(ai, value)

    query_ais: list[tuple[str, str]] = []
    params: list[tuple[str, str]] = []
    items: list[tuple[str, str]] = []
    seen = {ai for ai, _ in pairs}
    possible_quals = {q for alt in alternatives for q in alt}
    for item in query.split("&"):
        if not item:
            continue
        name, eq, raw = item.partition("=")
        if not eq:
            continue  # a singleton: no value, ignored
        if name.isascii() and name.isdigit():
            if spec(name) is None:
                raise DigitalLinkError(
                    name,
                    f"查询参数 {name} 不是已知的 GS1 AI",
                    f"query parameter {name} is numeric but not a known GS1 AI",
                )
            if name in seen:
                raise DigitalLinkError(
                    name, f"AI ({name}) 出现了两次", f"AI ({name}) appears twice"
                )
            if name in possible_quals:
                raise DigitalLinkError(
                    name,
                    f"AI ({name}) 是 ({primary}) 的限定符，应放在路径中而不是查询中",
                    f"AI ({name}) qualifies ({primary}): it belongs in the path, not the query",
                )
            value = unescape(raw, query=True, field=name)
            if name == "01" and zero_suppressed:
                value = _pad_gtin(value)
            check_value(name, value)
            seen.add(name)
            query_ais.append((name, value))
            items.append((name, value))
        else:
            params.append((_lenient(name), _lenient(raw)))
            items.append(params[-1])
    return ParsedUri(stem, tuple(pairs), tuple(query_ais), tuple(params), tuple(items))


def _lenient(raw: str) -> str:
    try:
        return unescape(raw, query=True, field="query")
    except DigitalLinkError:
        return raw


def _in_order(quals: list[str], alternative: tuple[str, ...]) -> bool:
    pos = 0
    for q in quals:
        try:
            pos = alternative.index(q, pos) + 1
        except ValueError:
            return False
    return True


def _qualifier_error(primary: str, key_spec: AiSpec, quals: list[str]) -> None:
    allowed = {q for alt in key_spec.qualifiers or () for q in alt}
    orders = " 或 ".join("/".join(alt) for alt in key_spec.qualifiers or () if alt) or "无"
    orders_en = " or ".join("/".join(alt) for alt in key_spec.qualifiers or () if alt) or "none"
    for q in quals:
        if q not in allowed:
            raise DigitalLinkError(
                q,
                f"AI ({q}) 不能出现在路径中 ({primary}) 之后；({primary}) 的限定符依次为：{orders}"
                f"（其他 AI 放在查询中，如 ?{q}=...）",
                f"AI ({q}) is not allowed in the path after ({primary}); its key qualifiers, "
                f"in order, are: {orders_en} (other AIs go in the query, e.g. ?{q}=...)",
            )
    raise DigitalLinkError(
        quals[-1] if quals else primary,
        f"({primary}) 的限定符顺序不对：{'/'.join(quals)}；应为 {orders}",
        f"the key qualifiers of ({primary}) are out of order: {'/'.join(quals)}; "
        f"the order is {orders_en}",
    )


_SCHEME = re.compile(r"^(https?|HTTPS?)://")


def parse_uri(uri: str, *, alphas: bool = True, zero_suppressed: bool = True) -> ParsedUri:
    """A whole Digital Link URI (any domain, any primary key)."""
    bad = sorted({c for c in uri if c not in URI_CHARS})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise DigitalLinkError(
            "uri",
            f"URI 含有不允许的字符 {shown}（须百分号编码）",
            f"the URI has characters that must be percent-encoded: {shown}",
        )
    m = _SCHEME.match(uri)
    if m is None:
        raise DigitalLinkError(
            "uri",
            "URI 须以 https:// 或 http:// 开头",
            "the URI must start with https:// or http://",
        )
    rest = uri[m.end() :]
    slash = rest.find("/")
    if slash < 1:
        raise DigitalLinkError("uri", "URI 须有域名和路径", "the URI needs a domain and a path")
    domain = rest[:slash]
    if any(c in _BAD_DOMAIN_CHARS for c in domain):
        raise DigitalLinkError(
            "uri", "域名含有不允许的字符", "the domain has characters not allowed"
        )
    tail = rest[slash:].split("#", 1)[0]
    path, _, query = tail.partition("?")
    return parse_path(path, query, alphas=alphas, zero_suppressed=zero_suppressed)


# ---------------------------------------------------------------------------------------
# The resolver's view: a GTIN with lot and serial


def normalise_link_type(value: str) -> str:
    """``gs1:pip`` for ``gs1:pip``, ``https://gs1.org/voc/pip`` or ``https://ref.gs1.org/voc/pip``;
    ``linkset`` for ``linkset`` and the older ``all``; anything else as given."""
    v = value.strip()
    for ns in (
        GS1_VOC,
        "http://gs1.org/voc/",
        "https://www.gs1.org/voc/",
        "https://ref.gs1.org/voc/",
    ):
        if v.startswith(ns):
            return "gs1:" + v[len(ns) :]
    if v == "all":
        return "linkset"
    return v


@dataclass(frozen=True)
class DigitalLink:
    """A GS1 Digital Link for a GTIN, as the resolver reads it.

    ``attributes``: the query's parameters other than ``linkType``, in order (AI data
    attributes such as ``17`` and others such as the authentication code ``c``).
    ``link_type``: as asked (``gs1:pip``, ``linkset``, ...), None when not asked.
    """

    gtin: str
    lot: str | None = None
    serial: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    link_type: str | None = None
    #: AI 22 (consumer product variant) and AI 235 (third-party serial), rare
    cpv: str | None = None
    tpx: str | None = None

    def qualifiers(self) -> list[tuple[str, str]]:
        pairs = [("22", self.cpv), ("10", self.lot), ("21", self.serial), ("235", self.tpx)]
        return [(ai, v) for ai, v in pairs if v is not None]

    def path(self) -> str:
        """The canonical path: ``/01/{gtin14}[/22/..][/10/{lot}][/21/{serial}]``."""
        out = f"/01/{self.gtin}"
        for ai, value in self.qualifiers():
            out += f"/{ai}/{escape(value)}"
        return out

    def query(self) -> str:
        items = [f"{escape(k)}={escape(v)}" for k, v in self.attributes.items()]
        if self.link_type is not None:
            items.append(f"{LINK_TYPE}={quote(self.link_type, safe=_UNRESERVED + ':/')}")
        return "&".join(items)

    def uri(self, base: str) -> str:
        """The canonical URI on ``base`` with the query (attributes incl. ``c``; linkType)."""
        q = self.query()
        return base.rstrip("/") + self.path() + (f"?{q}" if q else "")

    def ais(self) -> list[tuple[str, str]]:
        """The AIs in element-string order: 01, the qualifiers, the data attributes."""
        out = [("01", self.gtin), *self.qualifiers()]
        out += [(k, v) for k, v in self.attributes.items() if k.isdigit()]
        return out


def _from_parsed(p: ParsedUri) -> DigitalLink:
    if p.primary != "01":
        raise DigitalLinkError(
            "path",
            f"本解析器只解析 GTIN（AI 01），不解析 AI ({p.primary})",
            f"this resolver serves GTINs (AI 01), not AI ({p.primary})",
        )
    quals = dict(p.path_ais[1:])
    attributes: dict[str, str] = {}
    link_type = None
    for name, value in p.query_items:
        if name == LINK_TYPE:
            link_type = normalise_link_type(value)
        else:
            attributes.setdefault(name, value)
    return DigitalLink(
        gtin=p.path_ais[0][1],
        lot=quals.get("10"),
        serial=quals.get("21"),
        attributes=attributes,
        link_type=link_type,
        cpv=quals.get("22"),
        tpx=quals.get("235"),
    )


def parse(path: str, query: str = "") -> DigitalLink:
    """A resolver request's path (percent-encoded as sent) and query string; accepts the
    short names, GTIN-8/12/13 and %-encoding. DigitalLinkError says what is wrong."""
    return _from_parsed(parse_path(path, query))


def is_canonical(path: str, query: str = "") -> bool:
    """Whether ``path`` is already the canonical path (the query is kept as it is)."""
    return path == parse(path, query).path()


# ---------------------------------------------------------------------------------------
# Element strings


def element_string_of(ais: Iterable[tuple[str, str]], *, bracketed: bool, fnc1: str = GS) -> str:
    """``(01)...(10)...`` or the unbracketed form, with ``fnc1`` after each AI that is
    not of pre-defined length unless it comes last (GS1 General Specifications 7.8)."""
    pairs = list(ais)
    if bracketed:
        return "".join(f"({ai})" + value.replace("(", "\\(") for ai, value in pairs)
    out = ""
    for n, (ai, value) in enumerate(pairs):
        out += ai + value
        s = spec(ai)
        if n < len(pairs) - 1 and (s is None or not s.predefined):
            out += fnc1
    return out


def element_string(dl: DigitalLink, *, bracketed: bool) -> str:
    """The AIs of ``dl`` as an element string: bracketed, or unbracketed with GS (0x1D)."""
    return element_string_of(dl.ais(), bracketed=bracketed)


_BRACKETED = re.compile(r"\((\d{2,4})\)((?:\\\(|[^(])*)")


def parse_element_string(text: str) -> list[tuple[str, str]]:
    """The AIs of a bracketed (``(01)...(10)...``) or unbracketed element string
    (GS or ``^`` separators; a leading ``^``, ``]C1``, ``]d2``, ``]Q3``, ``]e0`` or
    ``]J1`` symbology identifier is skipped), each value checked."""
    t = text.strip("\r\n")
    pairs: list[tuple[str, str]] = []
    if t.startswith("("):
        pos = 0
        while pos < len(t):
            m = _BRACKETED.match(t, pos)
            if m is None:
                raise DigitalLinkError(
                    "element_string",
                    f"无法读取第 {pos + 1} 个字符起的内容",
                    f"cannot read the element string from character {pos + 1}",
                )
            pairs.append((m.group(1), m.group(2).replace("\\(", "(")))
            pos = m.end()
    else:
        for prefix in ("]C1", "]d2", "]Q3", "]e0", "]J1", "^"):
            if t.startswith(prefix):
                t = t[len(prefix) :]
                break
        t = t.replace("^", GS)
        pos = 0
        while pos < len(t):
            ai = next((t[pos : pos + n] for n in (2, 3, 4) if t[pos : pos + n] in ai_table()), None)
            if ai is None:
                raise DigitalLinkError(
                    "element_string",
                    f"第 {pos + 1} 个字符处不是已知的 AI",
                    f"no known AI at character {pos + 1}",
                )
            s = ai_table()[ai]
            pos += len(ai)
            if s.predefined and s.fixed_len is not None:
                value = t[pos : pos + s.fixed_len]
                pos += s.fixed_len
                if pos < len(t) and t[pos] == GS:
                    pos += 1
            else:
                end = t.find(GS, pos)
                end = len(t) if end < 0 else end
                value = t[pos:end]
                pos = end + 1
            pairs.append((ai, value))
    if not pairs:
        raise DigitalLinkError("element_string", "元素串为空", "the element string is empty")
    seen: set[str] = set()
    for ai, value in pairs:
        if ai in seen:
            raise DigitalLinkError(ai, f"AI ({ai}) 出现了两次", f"AI ({ai}) appears twice")
        seen.add(ai)
        check_value(ai, value)
    return pairs


def from_element_string(text: str) -> DigitalLink:
    """The DigitalLink of an element string holding a GTIN (01): 22/10/21/235 go into
    the path, the other AIs become query attributes in their order."""
    pairs = parse_element_string(text)
    found = dict(pairs)
    if "01" not in found:
        raise DigitalLinkError(
            "01", "元素串中没有 GTIN (01)", "the element string holds no GTIN (01)"
        )
    if "21" in found and "235" in found:
        raise DigitalLinkError(
            "235", "(21) 与 (235) 不能同时使用", "(21) and (235) may not both qualify a GTIN"
        )
    if "235" in found and ("22" in found or "10" in found):
        raise DigitalLinkError(
            "235",
            "(235) 不能与 (22)/(10) 一起作为 GTIN 的限定符",
            "(235) may not qualify a GTIN together with (22) or (10)",
        )
    attributes = {ai: v for ai, v in pairs if ai != "01" and ai not in _GTIN_QUALIFIERS}
    return DigitalLink(
        gtin=found["01"],
        lot=found.get("10"),
        serial=found.get("21"),
        attributes=attributes,
        cpv=found.get("22"),
        tpx=found.get("235"),
    )


def make(
    gtin: str,
    lot: str | None = None,
    serial: str | None = None,
    *,
    expiry: str | None = None,
    attributes: dict[str, str] | None = None,
) -> DigitalLink:
    """A DigitalLink from its parts (GTIN-8/12/13/14, lot, serial, expiry YYMMDD), each
    checked as the parser checks it."""
    g = _pad_gtin(gtin.strip())
    check_value("01", g)
    if lot is not None:
        check_value("10", lot)
    if serial is not None:
        check_value("21", serial)
    attrs = dict(attributes or {})
    if expiry is not None:
        attrs = {"17": expiry, **attrs}
    for ai, value in attrs.items():
        if ai.isdigit():
            check_value(ai, value)
    return DigitalLink(gtin=g, lot=lot, serial=serial, attributes=attrs)
