"""GS1 identifiers in EPCIS: EPC URNs and GS1 Digital Link URIs, parsed into one canonical form.

Two notations name the same object:

- the **EPC URN** of GS1's Tag Data Standard (``urn:epc:id:sgtin:0614141.107346.2017``,
  ``urn:epc:class:lgtin:...``, ``urn:epc:idpat:...``), which splits the GS1 company prefix
  from the rest and so needs the company-prefix length, and
- the **GS1 Digital Link URI** on any domain (``https://id.gs1.org/01/10614141073464/21/2017``,
  ``https://example.com/gtin/614141073464/ser/2017?x=1``).

:func:`parse_epc` reads either and answers an :class:`Epc` whose ``canonical`` is the
constrained canonical Digital Link URI (``https://id.gs1.org``, numeric AIs, GTIN-14, no
query string, the finest level of identification only, values percent-encoded except the
RFC 3986 unreserved characters). Both notations of one object have the same canonical
form; an EPC URN can always be turned into it, the reverse needs the company-prefix length.
Check digits are verified (a URN carries none; the check digit is computed for it).

Identifiers outside the GS1 keys (``urn:epc:id:gid``, ``usdod``, ``adi``, ``bic``,
``imovn``) are recognised and keep their URN as canonical form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

from cloud.catalog.gs1 import check_gtin, check_sscc, gs1_check_digit

DEFAULT_DL_BASE = "https://id.gs1.org"

#: GS1 AI encodable character set 82 (serials, lots, asset references, ...).
_CSET82 = re.compile(r"""^[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*$""")
#: GS1 AI encodable character set 39 (component / part reference, AI 8010).
_CSET39 = re.compile(r"^[#\-/0-9A-Z]*$")
#: What an EPC URN may carry unescaped in a serial-like field (TDS §5: "GS3A3" characters).
_URN_CHARS = re.compile(r"^(?:%[0-9A-Fa-f]{2}|[!'()*+,\-.0-9:;=A-Z_a-z])*$")

# Digital Link short names (DL 1.1 convenience alphas) to numeric AIs.
_ALPHA_AI = {
    "gtin": "01",
    "sscc": "00",
    "gln": "414",
    "party": "417",
    "grai": "8003",
    "giai": "8004",
    "itip": "8006",
    "cpid": "8010",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gdti": "253",
    "gcn": "255",
    "ginc": "401",
    "gsin": "402",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
    "glnx": "254",
    "cpsn": "8011",
    "tpx": "235",
}
#: Primary-key AIs and the key qualifiers each may carry, in Digital Link order.
_QUALIFIERS: dict[str, tuple[str, ...]] = {
    "01": ("22", "10", "21", "235"),
    "00": (),
    "414": ("254",),
    "417": (),
    "8003": (),
    "8004": (),
    "8006": ("22", "10", "21"),
    "8010": ("8011",),
    "8017": (),
    "8018": (),
    "253": (),
    "255": (),
    "401": (),
    "402": (),
}
_AI_NAME = {
    "01": "GTIN",
    "00": "SSCC",
    "414": "GLN",
    "417": "party GLN",
    "8003": "GRAI",
    "8004": "GIAI",
    "8006": "ITIP",
    "8010": "CPID",
    "8017": "GSRN-provider",
    "8018": "GSRN",
    "253": "GDTI",
    "255": "GCN",
    "401": "GINC",
    "402": "GSIN",
    "22": "consumer product variant",
    "10": "lot",
    "21": "serial",
    "235": "third-party serial (TPX)",
    "254": "GLN extension",
    "8011": "CPID serial",
}


class EpcError(ValueError):
    """A URI that claims to be an EPC URN or a GS1 Digital Link URI but is malformed."""


@dataclass(frozen=True)
class Epc:
    """One parsed identifier.

    ``kind``: ``sgtin`` (GTIN + serial), ``lgtin`` (GTIN + lot: a class), ``gtin`` (a product
    class: ``idpat:sgtin:...*`` or a Digital Link with only AI 01), ``sscc``, ``sgln`` (GLN
    with or without extension), ``pgln``, ``grai``, ``giai``, ``gsrn``, ``gsrnp``, ``gdti``,
    ``sgcn``, ``ginc``, ``gsin``, ``cpi``, ``itip``, ``upui``, or a non-GS1 EPC scheme
    (``gid``, ``usdod``, ``adi``, ``bic``, ``imovn``). ``is_class`` says whether it names a
    class (lot, product, pattern) rather than one object. ``key`` is the GS1 primary key
    (GTIN-14, SSCC, GLN, ...); ``lot``/``serial``/``extension`` are decoded values.
    ``notation`` is ``"urn"`` or ``"dl"``; ``urn`` is the EPC URN when the input was one.
    """

    kind: str
    is_class: bool
    canonical: str
    notation: str
    key: str | None = None
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    extension: str | None = None
    urn: str | None = None


# ---------------------------------------------------------------------------------------
# Helpers


def _q(value: str, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


def _enc(value: str) -> str:
    """Percent-encode an AI value for a Digital Link path (unreserved characters stay)."""
    return quote(value, safe="-._~")


def _urn_value(raw: str, what: str, max_len: int, *, digits: bool = False) -> str:
    if not raw:
        raise EpcError(f"the {what} is empty")
    if not _URN_CHARS.match(raw):
        raise EpcError(
            f"the {what} {_q(raw)} has characters an EPC URN must percent-escape "
            "(only A-Z a-z 0-9 ! ' ( ) * + , - . : ; = _ and %XX are allowed)"
        )
    value = unquote(raw)
    _check_value(value, what, max_len, digits=digits)
    return value


def _check_value(value: str, what: str, max_len: int, *, digits: bool = False) -> None:
    if not value:
        raise EpcError(f"the {what} is empty")
    if len(value) > max_len:
        raise EpcError(f"the {what} has {len(value)} characters; at most {max_len} are allowed")
    if digits and not (value.isascii() and value.isdigit()):
        raise EpcError(f"the {what} {_q(value)} must be digits only")
    if not _CSET82.match(value):
        raise EpcError(
            f"the {what} {_q(value)} has characters outside GS1's character set 82 "
            "(printable ASCII without space, #, $, @, [, \\, ], ^, `, {, |, }, ~)"
        )


def _digits(value: str, what: str, length: int | None = None) -> str:
    if not (value.isascii() and value.isdigit()):
        raise EpcError(f"the {what} {_q(value)} must be digits only")
    if length is not None and len(value) != length:
        raise EpcError(f"the {what} has {len(value)} digits; it needs {length}")
    return value


def _with_check_digit(body: str) -> str:
    return body + gs1_check_digit(body)


def _verify_check_digit(key: str, what: str) -> str:
    expected = gs1_check_digit(key[:-1])
    if key[-1] != expected:
        raise EpcError(
            f"{what} {key} has check digit {key[-1]} but its other digits give {expected} "
            "(GS1 mod-10); check the number for a typing error"
        )
    return key


def _split_cp(fields: list[str], n: int, scheme: str, total: int | None, example: str) -> list[str]:
    """Company prefix (6-12 digits) and the rest of a TDS URN, checked for shape."""
    if len(fields) != n:
        raise EpcError(
            f"an EPC URN of scheme {scheme} has {n} dot-separated fields "
            f"(e.g. {example}), not {len(fields)}"
        )
    cp = fields[0]
    if not (cp.isascii() and cp.isdigit() and 6 <= len(cp) <= 12):
        raise EpcError(f"the GS1 company prefix {_q(cp)} must be 6 to 12 digits")
    if total is not None:
        ref = fields[1]
        if not (ref.isascii() and (ref.isdigit() or ref == "")):
            raise EpcError(f"the reference {_q(ref)} after the company prefix must be digits")
        if len(cp) + len(ref) != total:
            raise EpcError(
                f"company prefix and reference of {scheme} together have {total} digits, "
                f"not {len(cp) + len(ref)} ({cp}.{ref})"
            )
    return fields


# ---------------------------------------------------------------------------------------
# EPC URNs

_URN_RE = re.compile(r"^urn:epc:(id|class|idpat):([a-z]+):(.+)$", re.IGNORECASE)


def _gtin_from(cp: str, itemref: str) -> str:
    """GTIN-14 from a TDS company prefix and item reference (indicator digit first)."""
    return _with_check_digit(itemref[0] + cp + itemref[1:])


def _urn_epc(uri: str) -> Epc:
    m = _URN_RE.match(uri)
    if not m:
        raise EpcError(
            "an EPC URN has the form urn:epc:id:<scheme>:<fields>, "
            "urn:epc:class:lgtin:<fields> or urn:epc:idpat:<scheme>:<fields>"
        )
    kind_ns, scheme, body = m.group(1).lower(), m.group(2).lower(), m.group(3)
    urn = f"urn:epc:{kind_ns}:{scheme}:{body}"
    f = body.split(".")

    if kind_ns == "class":
        if scheme != "lgtin":
            raise EpcError(f"urn:epc:class:{scheme} is not an EPC class scheme; use lgtin")
        cp, itemref, lot_raw = _split_cp(
            _rejoin(f, 3), 3, "lgtin", 13, "urn:epc:class:lgtin:4012345.012345.LOT7"
        )
        gtin = _gtin_from(cp, itemref)
        lot = _urn_value(lot_raw, "lot", 20)
        return Epc(
            "lgtin",
            True,
            f"{DEFAULT_DL_BASE}/01/{gtin}/10/{_enc(lot)}",
            "urn",
            key=gtin,
            gtin=gtin,
            lot=lot,
            urn=urn,
        )

    if kind_ns == "idpat":
        return _idpat(scheme, f, urn)

    if scheme == "sgtin":
        cp, itemref, serial_raw = _split_cp(
            _rejoin(f, 3), 3, scheme, 13, "urn:epc:id:sgtin:0614141.107346.2017"
        )
        gtin = _gtin_from(cp, itemref)
        serial = _urn_value(serial_raw, "serial", 20)
        return Epc(
            "sgtin",
            False,
            f"{DEFAULT_DL_BASE}/01/{gtin}/21/{_enc(serial)}",
            "urn",
            key=gtin,
            gtin=gtin,
            serial=serial,
            urn=urn,
        )
    if scheme == "sscc":
        cp, ref = _split_cp(f, 2, scheme, 17, "urn:epc:id:sscc:0614141.1234567890")
        sscc = _with_check_digit(ref[0] + cp + ref[1:])
        return Epc("sscc", False, f"{DEFAULT_DL_BASE}/00/{sscc}", "urn", key=sscc, urn=urn)
    if scheme == "sgln":
        cp, ref, ext_raw = _split_cp(
            _rejoin(f, 3), 3, scheme, 12, "urn:epc:id:sgln:0614141.07346.0"
        )
        gln = _with_check_digit(cp + ref)
        ext = _urn_value(ext_raw, "GLN extension", 20)
        canonical = f"{DEFAULT_DL_BASE}/414/{gln}"
        if ext != "0":
            canonical += f"/254/{_enc(ext)}"
        return Epc(
            "sgln",
            False,
            canonical,
            "urn",
            key=gln,
            extension=None if ext == "0" else ext,
            urn=urn,
        )
    if scheme == "pgln":
        cp, ref = _split_cp(f, 2, scheme, 12, "urn:epc:id:pgln:0614141.00777")
        gln = _with_check_digit(cp + ref)
        return Epc("pgln", False, f"{DEFAULT_DL_BASE}/417/{gln}", "urn", key=gln, urn=urn)
    if scheme == "grai":
        cp, ref, serial_raw = _split_cp(
            _rejoin(f, 3), 3, scheme, 12, "urn:epc:id:grai:0614141.12345.400"
        )
        grai = _with_check_digit("0" + cp + ref)
        serial = _urn_value(serial_raw, "GRAI serial", 16)
        return Epc(
            "grai",
            False,
            f"{DEFAULT_DL_BASE}/8003/{grai}{_enc(serial)}",
            "urn",
            key=grai,
            serial=serial,
            urn=urn,
        )
    if scheme in ("giai", "ginc"):
        cp, ref_raw = _split_cp(
            _rejoin(f, 2), 2, scheme, None, f"urn:epc:id:{scheme}:0614141.12345400"
        )
        ref = _urn_value(ref_raw, f"{scheme.upper()} reference", 30 - len(cp))
        value = cp + ref
        ai = "8004" if scheme == "giai" else "401"
        return Epc(
            scheme, False, f"{DEFAULT_DL_BASE}/{ai}/{_enc(value)}", "urn", key=value, urn=urn
        )
    if scheme in ("gsrn", "gsrnp"):
        cp, ref = _split_cp(f, 2, scheme, 17, f"urn:epc:id:{scheme}:0614141.1234567890")
        key = _with_check_digit(cp + ref)
        ai = "8018" if scheme == "gsrn" else "8017"
        return Epc(scheme, False, f"{DEFAULT_DL_BASE}/{ai}/{key}", "urn", key=key, urn=urn)
    if scheme in ("gdti", "sgcn"):
        cp, ref, serial_raw = _split_cp(
            _rejoin(f, 3), 3, scheme, 12, f"urn:epc:id:{scheme}:0614141.12345.006847"
        )
        key = _with_check_digit(cp + ref)
        if scheme == "gdti":
            serial = _urn_value(serial_raw, "GDTI serial", 17)
            ai = "253"
        else:
            serial = _digits(serial_raw, "coupon serial")
            if len(serial) > 12:
                raise EpcError("the coupon serial has at most 12 digits")
            ai = "255"
        return Epc(
            scheme,
            False,
            f"{DEFAULT_DL_BASE}/{ai}/{key}{_enc(serial)}",
            "urn",
            key=key,
            serial=serial,
            urn=urn,
        )
    if scheme == "gsin":
        cp, ref = _split_cp(f, 2, scheme, 16, "urn:epc:id:gsin:0614141.123456789")
        key = _with_check_digit(cp + ref)
        return Epc("gsin", False, f"{DEFAULT_DL_BASE}/402/{key}", "urn", key=key, urn=urn)
    if scheme == "cpi":
        if len(f) < 3:
            raise EpcError("an EPC URN of scheme cpi has the form cp.cpref.serial")
        cp, serial_raw = f[0], f[-1]
        cpref = unquote(".".join(f[1:-1]))
        _split_cp([cp, "", serial_raw], 3, scheme, None, "urn:epc:id:cpi:0614141.123ABC.123")
        value = cp + cpref
        if not _CSET39.match(cpref) or len(value) > 30:
            raise EpcError(
                f"the component/part reference {_q(cpref)} must be at most {30 - len(cp)} "
                "characters of 0-9 A-Z - # /"
            )
        serial = _digits(serial_raw, "CPI serial")
        return Epc(
            "cpi",
            False,
            f"{DEFAULT_DL_BASE}/8010/{_enc(value)}/8011/{serial}",
            "urn",
            key=value,
            serial=serial,
            urn=urn,
        )
    if scheme == "itip":
        flds = _rejoin(f, 5)
        cp, itemref, piece, total, serial_raw = _split_cp(
            flds, 5, scheme, 13, "urn:epc:id:itip:4012345.012345.01.02.987"
        )
        _digits(piece, "ITIP piece number", 2)
        _digits(total, "ITIP total count", 2)
        gtin = _gtin_from(cp, itemref)
        serial = _urn_value(serial_raw, "serial", 20)
        key = gtin + piece + total
        return Epc(
            "itip",
            False,
            f"{DEFAULT_DL_BASE}/8006/{key}/21/{_enc(serial)}",
            "urn",
            key=key,
            gtin=gtin,
            serial=serial,
            urn=urn,
        )
    if scheme == "upui":
        cp, itemref, tpx_raw = _split_cp(
            _rejoin(f, 3), 3, scheme, 13, "urn:epc:id:upui:1234567.098765.51qIgY"
        )
        gtin = _gtin_from(cp, itemref)
        tpx = _urn_value(tpx_raw, "third-party serial (TPX)", 28)
        return Epc(
            "upui",
            False,
            f"{DEFAULT_DL_BASE}/01/{gtin}/235/{_enc(tpx)}",
            "urn",
            key=gtin,
            gtin=gtin,
            serial=tpx,
            urn=urn,
        )
    if scheme in _OTHER_SCHEMES:
        pattern, example = _OTHER_SCHEMES[scheme]
        if not pattern.match(body):
            raise EpcError(f"{urn!r} is not a well-formed {scheme} EPC (e.g. {example})")
        return Epc(scheme, False, urn, "urn", urn=urn)
    raise EpcError(f"{scheme!r} is not an EPC scheme of the GS1 Tag Data Standard")


_OTHER_SCHEMES = {
    "gid": (re.compile(r"^\d{1,9}\.\d{1,8}\.\d{1,11}$"), "urn:epc:id:gid:95100000.12345.400"),
    "usdod": (
        re.compile(r"^[0-9A-HJ-NP-Z ]{5,6}\.\d{1,11}$"),
        "urn:epc:id:usdod:2S194.12345678901",
    ),
    "adi": (
        re.compile(r"^[0-9A-HJ-NP-Z]{5,6}\.[0-9A-Z/%-]{0,32}\.[0-9A-Z/#%-]{1,30}$"),
        "urn:epc:id:adi:2S194.12345.ABC",
    ),
    "bic": (re.compile(r"^[A-Z]{3}[UJZ]\d{7}$"), "urn:epc:id:bic:CSQU3054383"),
    "imovn": (re.compile(r"^\d{7}$"), "urn:epc:id:imovn:9176187"),
}


def _rejoin(fields: list[str], n: int) -> list[str]:
    """A serial-like last field may contain dots: keep the first n-1 fields, join the rest."""
    if len(fields) <= n:
        return fields
    return [*fields[: n - 1], ".".join(fields[n - 1 :])]


def _idpat(scheme: str, f: list[str], urn: str) -> Epc:
    """EPC pattern URNs: the GS1 key classes EPCIS uses in quantity lists and queries."""
    if scheme == "sgtin":
        if len(f) == 3 and f[1] == f[2] == "*":  # every GTIN of one company prefix
            _split_cp(f, 3, scheme, None, "urn:epc:idpat:sgtin:4012345.*.*")
            return Epc("sgtin", True, urn, "urn", urn=urn)
        if len(f) != 3 or f[2] != "*":
            raise EpcError(
                "an sgtin pattern has the form urn:epc:idpat:sgtin:cp.itemref.* "
                "(e.g. urn:epc:idpat:sgtin:4012345.098765.*)"
            )
        cp, itemref, _ = _split_cp(f, 3, scheme, 13, "urn:epc:idpat:sgtin:4012345.098765.*")
        gtin = _gtin_from(cp, itemref)
        return Epc(
            "gtin", True, f"{DEFAULT_DL_BASE}/01/{gtin}", "urn", key=gtin, gtin=gtin, urn=urn
        )
    shapes = {
        "grai": (3, 12, "8003"),
        "gdti": (3, 12, "253"),
        "sgcn": (3, 12, "255"),
        "itip": (5, 13, "8006"),
        "sgln": (3, 12, "414"),
        "sscc": (2, None, "00"),
        "giai": (2, None, "8004"),
        "gsrn": (2, None, "8018"),
        "gsrnp": (2, None, "8017"),
        "cpi": (3, None, "8010"),
        "upui": (3, 13, "01"),
        "pgln": (2, None, "417"),
        "ginc": (2, None, "401"),
        "gsin": (2, None, "402"),
    }
    if scheme not in shapes:
        raise EpcError(f"{scheme!r} is not an EPC pattern scheme")
    n, total, ai = shapes[scheme]
    if len(f) != n or f[-1] != "*":
        raise EpcError(f"an EPC pattern of scheme {scheme} has {n} fields ending in '*'")
    cp = f[0]
    if not (cp.isascii() and cp.isdigit() and 6 <= len(cp) <= 12):
        raise EpcError(f"the GS1 company prefix {_q(cp)} must be 6 to 12 digits")
    fixed = f[1 : n - 1] if n > 2 else []
    if any(x == "*" for x in fixed):
        # a pattern with more wildcards (cp.*.*) names every key of the company
        return Epc(scheme, True, urn, "urn", urn=urn)
    if total is not None and fixed and len(cp) + len(fixed[0]) != total:
        raise EpcError(
            f"company prefix and reference of {scheme} together have {total} digits, "
            f"not {len(cp) + len(fixed[0])}"
        )
    if scheme in ("grai",):
        key = _with_check_digit("0" + cp + fixed[0])
    elif scheme in ("gdti", "sgcn", "sgln"):
        key = _with_check_digit(cp + fixed[0])
    elif scheme in ("itip",):
        _digits(fixed[1], "ITIP piece number", 2)
        _digits(fixed[2], "ITIP total count", 2)
        key = _gtin_from(cp, fixed[0]) + fixed[1] + fixed[2]
    elif scheme == "upui":
        key = _gtin_from(cp, fixed[0])
    elif scheme == "cpi":
        key = cp + unquote(fixed[0])
    else:  # only the company prefix is fixed: no single key to name
        return Epc(scheme, True, urn, "urn", urn=urn)
    return Epc(scheme, True, f"{DEFAULT_DL_BASE}/{ai}/{_enc(key)}", "urn", key=key, urn=urn)


# ---------------------------------------------------------------------------------------
# GS1 Digital Link

_KEY_RULES: dict[str, tuple[str, int, int, bool]] = {
    # AI: (what, min length, max length, digits only)
    "00": ("SSCC", 18, 18, True),
    "414": ("GLN", 13, 13, True),
    "417": ("party GLN", 13, 13, True),
    "8017": ("GSRN-provider", 18, 18, True),
    "8018": ("GSRN", 18, 18, True),
    "402": ("GSIN", 17, 17, True),
    "8006": ("ITIP", 18, 18, True),
    "8004": ("GIAI", 1, 30, False),
    "401": ("GINC", 1, 30, False),
    "8010": ("CPID", 1, 30, False),
    "8003": ("GRAI", 14, 30, False),
    "253": ("GDTI", 13, 30, False),
    "255": ("GCN", 13, 25, True),
}
_QUAL_RULES: dict[str, tuple[int, bool]] = {
    "22": (20, False),
    "10": (20, False),
    "21": (20, False),
    "235": (28, False),
    "254": (20, False),
    "8011": (12, True),
}


@lru_cache(maxsize=32768)  # locations and lots repeat across events: split each once
def looks_like_digital_link(uri: str) -> bool:
    """An http(s) URI whose path has a GS1 primary-key segment (``/01/<digits>``, ...)."""
    if not uri.lower().startswith(("http://", "https://")):
        return False
    path = urlsplit(uri).path
    segs = [s for s in path.split("/") if s]
    for i, seg in enumerate(segs[:-1]):
        ai = _ALPHA_AI.get(seg, seg)
        if ai in _QUALIFIERS and segs[i + 1][:1].isdigit():
            return True
    return False


def _dl_epc(uri: str) -> Epc:
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise EpcError("a GS1 Digital Link URI starts with https://<domain>/")
    segs = parts.path.split("/")[1:]
    if segs and segs[-1] == "":
        segs = segs[:-1]
    # the primary key is the first AI segment followed by a value that starts with a digit
    start = None
    for i in range(len(segs) - 1):
        ai = _ALPHA_AI.get(segs[i], segs[i])
        if ai in _QUALIFIERS and segs[i + 1][:1].isdigit():
            start = i
            break
    if start is None:
        raise EpcError("no GS1 primary key (/01/<GTIN>, /00/<SSCC>, /414/<GLN>, ...) in the path")
    path = segs[start:]
    if len(path) % 2:
        raise EpcError(f"the path segment {path[-1]!r} has no value after it")
    pairs: list[tuple[str, str]] = []
    for j in range(0, len(path), 2):
        ai = _ALPHA_AI.get(path[j], path[j])
        try:
            value = unquote(path[j + 1], errors="strict")
        except UnicodeDecodeError as exc:
            raise EpcError(
                f"the value after /{path[j]}/ is not valid percent-encoded UTF-8"
            ) from exc
        pairs.append((ai, value))
    primary, key = pairs[0]
    allowed = _QUALIFIERS[primary]
    quals: dict[str, str] = {}
    last = -1
    for ai, value in pairs[1:]:
        if ai not in allowed:
            names = ", ".join(f"{q} ({_AI_NAME[q]})" for q in allowed) or "none"
            raise EpcError(
                f"AI {ai} may not follow the {_AI_NAME[primary]} (AI {primary}); "
                f"its key qualifiers are: {names}"
            )
        pos = allowed.index(ai)
        if pos <= last:
            raise EpcError(
                f"key qualifier AI {ai} is out of order; the order is {'/'.join(allowed)}"
            )
        last = pos
        max_len, digits = _QUAL_RULES[ai]
        _check_value(value, _AI_NAME[ai], max_len, digits=digits)
        quals[ai] = value

    host = DEFAULT_DL_BASE
    if primary == "01":
        try:
            gtin = check_gtin(key)
        except ValueError as exc:
            raise EpcError(str(exc)) from exc
        serial, lot, tpx, cpv = quals.get("21"), quals.get("10"), quals.get("235"), quals.get("22")
        if serial is not None and tpx is not None:
            raise EpcError("AI 21 (serial) and AI 235 (TPX) may not both follow a GTIN")
        if serial is not None:
            return Epc(
                "sgtin",
                False,
                f"{host}/01/{gtin}/21/{_enc(serial)}",
                "dl",
                key=gtin,
                gtin=gtin,
                lot=lot,
                serial=serial,
            )
        if tpx is not None:
            return Epc(
                "upui",
                False,
                f"{host}/01/{gtin}/235/{_enc(tpx)}",
                "dl",
                key=gtin,
                gtin=gtin,
                lot=lot,
                serial=tpx,
            )
        if lot is not None:
            return Epc(
                "lgtin",
                True,
                f"{host}/01/{gtin}/10/{_enc(lot)}",
                "dl",
                key=gtin,
                gtin=gtin,
                lot=lot,
            )
        canonical = f"{host}/01/{gtin}" + (f"/22/{_enc(cpv)}" if cpv is not None else "")
        return Epc("gtin", True, canonical, "dl", key=gtin, gtin=gtin)

    what, lo, hi, digits = _KEY_RULES[primary]
    if not lo <= len(key) <= hi:
        size = str(lo) if lo == hi else f"{lo} to {hi}"
        raise EpcError(f"a {what} (AI {primary}) has {size} characters, not {len(key)}")
    if digits and not (key.isascii() and key.isdigit()):
        raise EpcError(f"a {what} (AI {primary}) has digits only, not {_q(key)}")
    if primary == "8010":
        if not _CSET39.match(key):
            raise EpcError(f"a CPID (AI 8010) uses 0-9 A-Z - # / only, not {_q(key)}")
    else:
        _check_value(key, what, hi)
    if primary in ("00", "414", "417", "8017", "8018", "402"):
        _verify_check_digit(key, what)
    elif primary in ("253", "255"):
        _digits(key[:13], f"{what} document type", 13)
        _verify_check_digit(key[:13], what)
    elif primary == "8003":
        _digits(key[:14], "GRAI asset type", 14)
        if key[0] != "0":
            raise EpcError(f"a GRAI (AI 8003) starts with 0, not {key[0]}")
        _verify_check_digit(key[:14], what)
    elif primary == "8006":
        _verify_check_digit(key[:14], "the ITIP's GTIN")

    kinds = {
        "00": "sscc",
        "414": "sgln",
        "417": "pgln",
        "8003": "grai",
        "8004": "giai",
        "8006": "itip",
        "8010": "cpi",
        "8017": "gsrnp",
        "8018": "gsrn",
        "253": "gdti",
        "255": "sgcn",
        "401": "ginc",
        "402": "gsin",
    }
    kind = kinds[primary]
    canonical = f"{host}/{primary}/{_enc(key)}"
    extension = serial = lot = None
    is_class = False
    if primary == "414" and "254" in quals:
        extension = quals["254"]
        canonical += f"/254/{_enc(extension)}"
    elif primary == "8010" and "8011" in quals:
        serial = quals["8011"]
        canonical += f"/8011/{serial}"
    elif primary == "8006":
        lot = quals.get("10")
        if "21" in quals:
            serial = quals["21"]
            canonical += f"/21/{_enc(serial)}"
        elif lot is not None:
            canonical += f"/10/{_enc(lot)}"
            is_class = True
        else:
            is_class = True
    gtin = key[:14] if primary == "8006" else None
    return Epc(
        kind,
        is_class,
        canonical,
        "dl",
        key=key,
        gtin=gtin,
        lot=lot,
        serial=serial,
        extension=extension,
    )


# ---------------------------------------------------------------------------------------
# Public API


def is_epc_urn(uri: str) -> bool:
    return uri[:8].lower() == "urn:epc:"


def parse_epc(uri: str) -> Epc:
    """Parse an EPC URN or a GS1 Digital Link URI (any domain); EpcError says what is wrong."""
    if not isinstance(uri, str):
        raise EpcError(f"an identifier is a string, not {type(uri).__name__}")
    return _parse(uri)


@lru_cache(maxsize=32768)
def _parse(uri: str) -> Epc:  # identifiers repeat across events: parse each once
    if uri != uri.strip():
        raise EpcError("an identifier may not begin or end with white space")
    if is_epc_urn(uri):
        return _urn_epc(uri)
    if uri.lower().startswith(("http://", "https://")):
        return _dl_epc(uri)
    raise EpcError("not an EPC URN (urn:epc:...) nor a GS1 Digital Link URI (https://...)")


def canonical_uri(uri: str) -> str:
    """The canonical form of a GS1 identifier; any other URI is returned unchanged."""
    if is_epc_urn(uri) or looks_like_digital_link(uri):
        return parse_epc(uri).canonical
    return uri


def lot_key(uri: str) -> tuple[str, str] | None:
    """``(gtin14, lot)`` for an LGTIN class or an SGTIN Digital Link carrying AI 10, else None.

    Malformed identifiers answer None (validation reports them, not this)."""
    try:
        epc = parse_epc(uri)
    except EpcError:
        return None
    if epc.gtin is not None and epc.lot is not None and epc.kind in ("lgtin", "sgtin"):
        return epc.gtin, epc.lot
    return None


def dl_uri(
    gtin: str | None = None,
    lot: str | None = None,
    serial: str | None = None,
    sscc: str | None = None,
    *,
    base: str = DEFAULT_DL_BASE,
) -> str:
    """A GS1 Digital Link URI: ``{base}/01/{gtin14}[/10/{lot}][/21/{serial}]`` or
    ``{base}/00/{sscc}``. Check digits are verified; lot and serial are percent-encoded."""
    root = base.rstrip("/")
    if sscc is not None:
        if gtin is not None or lot is not None or serial is not None:
            raise ValueError("an SSCC Digital Link carries the SSCC alone")
        try:
            return f"{root}/00/{check_sscc(sscc)}"
        except ValueError as exc:
            raise EpcError(str(exc)) from exc
    if gtin is None:
        raise ValueError("dl_uri needs a GTIN or an SSCC")
    try:
        uri = f"{root}/01/{check_gtin(gtin)}"
    except ValueError as exc:
        raise EpcError(str(exc)) from exc
    if lot is not None:
        _check_value(lot, "lot", 20)
        uri += f"/10/{_enc(lot)}"
    if serial is not None:
        _check_value(serial, "serial", 20)
        uri += f"/21/{_enc(serial)}"
    return uri
