"""The unified social credit code (统一社会信用代码, GB 32100-2015) of an organisation.

18 characters from ``0-9 A-H J-N P-R T U W-Y`` (no I, O, Z, S, V): registration
authority (1), organisation type (1), administrative division (6, GB/T 2260),
organisation code (9) and a check character computed over the first 17 with the
weights 3^i mod 31.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, ...


def check_char(first17: str) -> str:
    """The check character of the first 17 characters (valid characters assumed)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def check_uscc(value: str) -> str:
    """The code, upper-cased, or ValueError saying what is wrong with it."""
    code = value.strip().upper()
    if len(code) != 18:
        raise ValueError(f"a unified social credit code has 18 characters, not {len(code)}")
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        raise ValueError(
            f"characters {''.join(bad)!r} are not used in a unified social credit code "
            "(0-9 and A-Y without I, O, S, V, Z)"
        )
    if not code[2:8].isdigit():
        raise ValueError(
            f"characters 3-8 ({code[2:8]}) must be the GB/T 2260 division code, all digits"
        )
    expected = check_char(code[:17])
    if code[17] != expected:
        raise ValueError(
            f"check character is {code[17]!r} but the first 17 characters give {expected!r} "
            "(GB 32100-2015); check the code for a typing error"
        )
    return code
