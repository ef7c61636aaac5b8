"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes a log leaf is made of.

Two implementations, one answer:

- :func:`reference_canonical_json` is Trail of Bits' ``rfc8785`` package (pure Python,
  kept), checked against RFC 8785's published vectors (Appendix B's ES6 number
  serialisation, members sorted by UTF-16 code units, minimal string escapes);
- :func:`canonical_json`, which the log uses, builds the same bytes about five times
  faster (the log canonicalises every event it appends, and appends are a measured
  goal): strings through the standard library's C JSON string encoder, which escapes
  exactly what JCS escapes (``"``, ``\\``, ``\\b \\f \\n \\r \\t``, other control
  characters as lower-case ``\\u00xx``, nothing else); floats by ECMAScript's
  Number::toString over Python's shortest round-trip digits (as ``rfc8785`` and the
  RFC's reference code do), integers by ``str``; members sorted by their UTF-16 code
  units.
  tests/cloud/test_tlog_canonical.py holds it to the RFC's vectors and to the
  reference on generated JSON values.

Values JCS cannot represent are refused, never approximated: NaN and the infinities,
integers beyond ±(2**53 - 1) (I-JSON: they would not survive a round trip through an
IEEE double; send them as strings), lone surrogates, non-string member names, and any
type that is not JSON (dict, list, str, int, float, bool, None).
"""

from __future__ import annotations

import json.encoder
from typing import Any

import rfc8785

__all__ = ["CanonicalizationError", "canonical_json", "reference_canonical_json"]

#: The C string encoder of ``json.dumps(..., ensure_ascii=False)``: quotes and minimal
#: escapes, non-ASCII characters as they are.
_encode_str = json.encoder.encode_basestring
_INT_LIMIT = 2**53 - 1
_INF = float("inf")
_HINT = (
    "numbers must be finite and integers within ±(2**53 - 1) (send larger values as "
    "strings); member names are strings; text is valid Unicode"
)


class CanonicalizationError(ValueError):
    """The value has no RFC 8785 form; the message says which value and why."""


def reference_canonical_json(value: Any) -> bytes:
    """RFC 8785 by the ``rfc8785`` package (the reference the fast encoder is held to)."""
    try:
        return rfc8785.dumps(value)
    # rfc8785 0.1.4 lets a lone surrogate in a member name out as a UnicodeEncodeError
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
        raise CanonicalizationError(
            f"not representable in RFC 8785 canonical JSON: {exc} ({_HINT})"
        ) from None


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _float(f: float) -> str:
    """ECMAScript's Number::toString (ECMA-262 7.1.12.1), which RFC 8785 3.2.2.3 uses:
    the shortest digits that round-trip (Python's repr finds the same ones), placed
    by ES6's rules."""
    if f != f or f in (_INF, -_INF):
        raise CanonicalizationError(f"not representable in RFC 8785 canonical JSON: {f} ({_HINT})")
    if f == 0:
        return "0"  # and -0
    if f < 0:
        return "-" + _float(-f)
    mantissa, _, exp = repr(f).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    n = len(whole) + (int(exp) if exp else 0)  # value = 0.digits x 10**n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    s = stripped.rstrip("0")
    k = len(s)
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + s
    e = n - 1
    sign = "+" if e >= 0 else "-"
    return (s if k == 1 else s[0] + "." + s[1:]) + "e" + sign + str(abs(e))


def _bad_name(key: Any) -> CanonicalizationError:
    return CanonicalizationError(
        f"not representable in RFC 8785 canonical JSON: the member name {key!r} is not a "
        f"string ({_HINT})"
    )


def _sorted_names(value: dict[Any, Any]) -> list[str]:
    """Member names in UTF-16 code unit order (for ASCII names: plain string order)."""
    names = list(value)
    for k in names:
        if type(k) is not str:
            raise _bad_name(k)
    if all(k.isascii() for k in names):
        names.sort()
    else:
        names.sort(key=_utf16)
    return names


def _dump(value: Any, out: list[str]) -> None:
    # Exact type checks: bool is an int, and str/int subclasses (enums) are not JSON.
    t = type(value)
    if t is str:
        out.append(_encode_str(value))
    elif t is dict:
        sep = "{"
        for k in _sorted_names(value):
            out.append(sep)
            out.append(_encode_str(k))
            out.append(":")
            v = value[k]
            if type(v) is str:  # the common case, without a call
                out.append(_encode_str(v))
            else:
                _dump(v, out)
            sep = ","
        out.append("}" if sep == "," else "{}")
    elif t is list:
        sep = "["
        for v in value:
            out.append(sep)
            if type(v) is str:
                out.append(_encode_str(v))
            else:
                _dump(v, out)
            sep = ","
        out.append("]" if sep == "," else "[]")
    elif t is int:
        if not -_INT_LIMIT <= value <= _INT_LIMIT:
            raise CanonicalizationError(
                f"not representable in RFC 8785 canonical JSON: {value} exceeds the safe "
                f"integer domain ({_HINT})"
            )
        out.append(str(value))
    elif t is float:
        out.append(_float(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    else:
        raise CanonicalizationError(
            f"not representable in RFC 8785 canonical JSON: a {t.__name__} is not JSON ({_HINT})"
        )


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical form of ``value`` (UTF-8 bytes, no trailing newline)."""
    out: list[str] = []
    try:
        _dump(value, out)
    except RecursionError:
        raise CanonicalizationError("the JSON value is nested too deeply") from None
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalizationError(
            f"not representable in RFC 8785 canonical JSON: a lone surrogate "
            f"{exc.object[exc.start : exc.end]!r} is not Unicode text ({_HINT})"
        ) from None
