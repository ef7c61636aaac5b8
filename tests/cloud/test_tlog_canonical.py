"""cloud/trace/log/canonical.py: RFC 8785 (JCS) against its published vectors, and the
log's fast encoder against the reference library on generated JSON values.

Sources: RFC 8785 Appendix B (number serialisation: the IEEE-754 value and its ES6
form), and the RFC author's test data (cyberphone/json-canonicalization, Apache-2.0,
``testdata/input/*.json`` and ``testdata/output/*.json``: arrays, French, structures,
Unicode, values, weird). The inputs are parsed with Python's json, as the leaves are.
"""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.trace.log.canonical import (
    CanonicalizationError,
    canonical_json,
    reference_canonical_json,
)

# RFC 8785 Appendix B: IEEE-754 bits (hex) -> the canonical text; None: not representable.
NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("7fffffffffffffff", None),  # NaN
    ("7ff0000000000000", None),  # Infinity
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),  # round to even
]


@pytest.mark.parametrize(("bits", "text"), NUMBERS)
def test_number_serialisation_of_appendix_b(bits: str, text: str | None) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    if text is None:
        assert math.isnan(value) or math.isinf(value)
        with pytest.raises(CanonicalizationError, match="finite"):
            canonical_json(value)
    else:
        assert canonical_json(value) == text.encode()


# The RFC author's test files: input text -> expected canonical text.
FILES = {
    "arrays": ('[\n  56,\n  {\n    "d": true,\n    "10": null,\n    "1": [ ]\n  }\n]',
               '[56,{"1":[],"10":null,"d":true}]'),
    "french": ('{\n  "peach": "This sorting order",\n  "péché": "is wrong according to French",\n'
               '  "pêche": "but canonicalization MUST",\n  "sin":   "ingnore locale"\n}\n',
               '{"peach":"This sorting order","péché":"is wrong according to French",'
               '"pêche":"but canonicalization MUST","sin":"ingnore locale"}'),
    "structures": ('{\n  "1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},\n  "10": { },\n'
                   '  "": "empty",\n  "a": { },\n  "111": [ { } ],\n  "A": { }\n}',
                   '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],'
                   '"A":{},"a":{}}'),
    "unicode": ('{\n  "Unnormalized Unicode":"\\u1e0d\\u0307"\n}\n',
                '{"Unnormalized Unicode":"\u1e0d\u0307"}'),
    "values": ('{\n  "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],\n'
               '  "escaping": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n'
               '  "literals": [null, true, false]\n}',
               '{"escaping":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/","literals":[null,true,false],'
               '"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}'),
    "weird": ('{\n  "\\u20ac": "Euro Sign",\n  "1": "One",\n  "\\u0080": "Control\\u007f",\n'
              '  "\\ud83d\\ude02": "Smiley",\n  "\\u00f6": "Latin Small Letter O With Diaeresis",\n'
              '  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n  "</script>": "Browser Challenge"\n}\n',
              '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
              '"ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","\U0001f602":"Smiley",'
              '"\ufb33":"Hebrew Letter Dalet With Dagesh"}'),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_rfc_authors_test_files(name: str) -> None:
    source, expected = FILES[name]
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F602 is D83D DE02 in UTF-16: before U+FB33 there, after it by code point.
    out = canonical_json({"\ufb33": 1, "\U0001f602": 2, "\ue000": 3})
    assert out == '{"\U0001f602":2,"\ue000":3,"\ufb33":1}'.encode()


def test_what_has_no_canonical_form_is_refused_with_a_reason() -> None:
    for bad in (2**53, -(2**53), float("inf"), "\udead", {1: "x"}, {"a": {1, 2}}):
        with pytest.raises(CanonicalizationError, match="RFC 8785"):
            canonical_json(bad)
    assert canonical_json(2**53 - 1) == b"9007199254740991"


# ------------------------------------------------ the fast encoder against the reference

_keys = st.text(st.characters(codec="utf-8"), max_size=6)  # any Unicode scalar, BMP or not
_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [struct.unpack(">d", bytes.fromhex(b))[0] for b, t in NUMBERS if t is not None]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | _floats
    | st.text(st.characters(codec="utf-8"), max_size=12)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_the_fast_encoder_equals_the_reference(value: object) -> None:
    assert canonical_json(value) == reference_canonical_json(value)


@pytest.mark.parametrize(("bits", "text"), [n for n in NUMBERS if n[1] is not None])
def test_both_encoders_on_appendix_b(bits: str, text: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json([value]) == reference_canonical_json([value]) == f"[{text}]".encode()


def test_both_refuse_the_same_values() -> None:
    for bad in (2**53, float("nan"), "\ud800", {"\udc00": 1}, {1: 2}, {"a": (1,)}, b"x"):
        for encode in (canonical_json, reference_canonical_json):
            if encode is reference_canonical_json and isinstance(bad, dict) and "a" in bad:
                continue  # rfc8785 takes a tuple for a list; JSON bodies never hold one
            with pytest.raises(CanonicalizationError, match="RFC 8785"):
                encode(bad)
