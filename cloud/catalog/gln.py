"""A location's GS1 key: a GLN, or an SGLN (GLN + extension, AI 254), in any of the forms
an EPCIS event or a person may write it.

Accepted:

- a bare GLN, 13 digits with its check digit (``6901234000004``);
- an EPC URN, ``urn:epc:id:sgln:{company prefix}.{location reference}.{extension}``
  (the prefix and reference together are the GLN without its check digit; TDS 2.0);
- a GS1 Digital Link URI on any domain, ``https://id.example/414/{gln}[/254/{ext}]``.

The extension ``0`` of an EPC URN is TDS's "no extension" (a plain GLN); it is kept
as ``""`` here, and a Digital Link without AI 254 is the same. A key is stored as
``(gln, extension)``; :func:`location_key` turns any accepted form into it.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from cloud.catalog.gs1 import check_gln, gs1_check_digit

#: AI 254: 1-20 characters of GS1 AI encodable character set 82.
_EXTENSION = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")
_URN = re.compile(r"^urn:epc:id:sgln:(\d{6,12})\.(\d{0,6})\.(.+)$")


class LocationKey(NamedTuple):
    gln: str
    extension: str  # "" when none

    def __str__(self) -> str:
        return self.gln if not self.extension else f"{self.gln} (254) {self.extension}"


def check_extension(value: str) -> str:
    """An AI 254 extension, or ValueError saying what is wrong."""
    if not _EXTENSION.match(value):
        raise ValueError(
            f"GLN extension {value!r}: 1-20 characters of GS1 character set 82 "
            "(letters, digits and !\"%&'()*+,-./:;<=>?_)"
        )
    return value


def _from_urn(text: str) -> LocationKey:
    m = _URN.match(text)
    if m is None:
        raise ValueError(
            f"{text!r} is not an SGLN URN: urn:epc:id:sgln:<company prefix>.<location "
            "reference>.<extension>, the first two 12 digits together"
        )
    prefix, ref, ext = m.groups()
    body = prefix + ref
    if len(body) != 12:
        raise ValueError(
            f"{text!r}: company prefix and location reference have {len(body)} digits "
            "together; an SGLN's have 12"
        )
    ext = unquote(ext)
    return LocationKey(body + gs1_check_digit(body), "" if ext == "0" else check_extension(ext))


def _from_digital_link(text: str) -> LocationKey:
    parts = [unquote(p) for p in urlsplit(text).path.split("/") if p]
    try:
        at = parts.index("414")
    except ValueError:
        raise ValueError(
            f"{text!r} carries no GLN: a Digital Link names a location as /414/<gln>"
        ) from None
    if at + 1 >= len(parts):
        raise ValueError(f"{text!r}: /414/ must be followed by the 13-digit GLN")
    gln = check_gln(parts[at + 1])
    rest = parts[at + 2 :]
    if not rest:
        return LocationKey(gln, "")
    if len(rest) != 2 or rest[0] != "254":
        raise ValueError(f"{text!r}: after /414/<gln> only /254/<extension> may follow")
    return LocationKey(gln, "" if rest[1] == "0" else check_extension(rest[1]))


def location_key(value: str) -> LocationKey:
    """``(gln, extension)`` of a GLN, an SGLN URN or a Digital Link; ValueError naming
    what is wrong (a wrong check digit says which digit is expected)."""
    text = value.strip()
    if text.startswith("urn:"):
        return _from_urn(text)
    if text.startswith(("http://", "https://")):
        return _from_digital_link(text)
    return LocationKey(check_gln(text), "")


def sgln_urn(key: LocationKey, company_prefix_length: int) -> str:
    """The EPC URN of ``key``, when the company prefix length is known (6-12)."""
    if not 6 <= company_prefix_length <= 12:
        raise ValueError("a GS1 company prefix has 6 to 12 digits")
    body = key.gln[:12]
    ext = key.extension or "0"
    return f"urn:epc:id:sgln:{body[:company_prefix_length]}.{body[company_prefix_length:]}.{ext}"


def digital_link(key: LocationKey, base: str = "https://id.gs1.org") -> str:
    """The Digital Link URI of ``key`` (no company prefix length needed)."""
    tail = f"/254/{key.extension}" if key.extension else ""
    return f"{base.rstrip('/')}/414/{key.gln}{tail}"
