"""GS1 identification keys: GTIN, GLN and SSCC with their mod-10 check digit.

GS1 General Specifications §7.9: the check digit of a key is computed over its other
digits, weighting them 3, 1, 3, 1, ... from the right (the digit next to the check digit
weighs 3); the check digit brings the weighted sum up to a multiple of 10.

- GTIN-8, GTIN-12 (UPC-A), GTIN-13 (EAN-13) and GTIN-14 are one key: a shorter GTIN is a
  GTIN-14 with leading zeros, and :func:`check_gtin` always answers the GTIN-14.
- GLN (global location number): 13 digits.
- SSCC (serial shipping container code): 18 digits.
"""

from __future__ import annotations

GTIN_LENGTHS = (8, 12, 13, 14)


def gs1_check_digit(digits: str) -> str:
    """The check digit to append to ``digits`` (the key without its check digit)."""
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"a GS1 check digit is computed over digits only, not {digits!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _check_key(value: str, kind: str, lengths: tuple[int, ...]) -> str:
    key = value.strip() if isinstance(value, str) else value
    if not isinstance(key, str):
        raise ValueError(f"a {kind} is a string of digits, not {type(value).__name__}")
    if not key.isascii() or not key.isdigit():
        raise ValueError(f"a {kind} has digits only, not {value!r}")
    if len(key) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        raise ValueError(f"a {kind} has {wanted} digits, not {len(key)} ({key})")
    expected = gs1_check_digit(key[:-1])
    if key[-1] != expected:
        raise ValueError(
            f"{kind} {key} has check digit {key[-1]} but its first {len(key) - 1} digits "
            f"give {expected} (GS1 mod-10); check the number for a typing error"
        )
    return key


def check_gtin(value: str) -> str:
    """The GTIN-14 (zero-padded from GTIN-8/12/13) or ValueError saying what is wrong."""
    return _check_key(value, "GTIN", GTIN_LENGTHS).zfill(14)


def check_gln(value: str) -> str:
    """The 13-digit GLN or ValueError saying what is wrong."""
    return _check_key(value, "GLN", (13,))


def check_sscc(value: str) -> str:
    """The 18-digit SSCC or ValueError saying what is wrong."""
    return _check_key(value, "SSCC", (18,))
