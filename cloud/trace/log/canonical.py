"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes a log leaf is made of.

The serialisation is Trail of Bits' ``rfc8785`` package (pure Python, kept; checked
here against RFC 8785's published vectors: ES6 number serialisation of Appendix B,
object members sorted by their UTF-16 code units, the minimal string escapes). This
module only names the one entry point and turns the library's refusals into one error
type that says what to do.

Values JCS cannot represent are refused, never approximated: NaN and the infinities,
integers beyond ±(2**53 - 1) (I-JSON: they would not survive a round trip through an
IEEE double; send them as strings), lone surrogates, and non-string object keys.
"""

from __future__ import annotations

from typing import Any

import rfc8785

__all__ = ["CanonicalizationError", "canonical_json"]


class CanonicalizationError(ValueError):
    """The value has no RFC 8785 form; the message says which value and why."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical form of ``value`` (UTF-8 bytes, no trailing newline)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalizationError(
            f"not representable in RFC 8785 canonical JSON: {exc} (numbers must be finite "
            "and integers within ±(2**53 - 1); send larger values as strings)"
        ) from None
