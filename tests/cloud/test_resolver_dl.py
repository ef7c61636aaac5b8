"""cloud/resolver/dl.py against GS1's own Digital Link test cases (vendored under
tests/data/digital_link with their source) and ours; element strings both ways; the
``dehong trace dl parse|make`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.resolver import dl
from dehong.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "digital_link"


def _cases(name: str) -> list[dict[str, Any]]:
    doc = json.loads((DATA / name).read_text(encoding="utf-8"))
    assert doc["source"]  # every vendored file says where it comes from
    return list(doc["cases"])


def _id(case: dict[str, Any]) -> str:
    return (case.get("uri") or case.get("path", "")) + (
        "?" + case["query"] if case.get("query") else ""
    )


def _fnc1(ais: Any) -> str:
    return "^" + dl.element_string_of(ais, bracketed=False, fnc1="^")


@pytest.mark.parametrize("case", _cases("gs1_syntax_engine.json"), ids=_id)
def test_gs1_syntax_engine_cases(case: dict[str, Any]) -> None:
    if case["valid"]:
        parsed = dl.parse_uri(case["uri"])
        assert _fnc1(parsed.ais) == case["fnc1"]
    else:
        with pytest.raises(dl.DigitalLinkError) as exc:
            dl.parse_uri(case["uri"])
        assert exc.value.zh and exc.value.en  # a reason in both languages


@pytest.mark.parametrize("case", _cases("gs1_dl_simple_parser.json"), ids=_id)
def test_gs1_simple_parser_element_strings(case: dict[str, Any]) -> None:
    parsed = dl.parse_uri(case["uri"])
    assert dl.element_string_of(parsed.ais, bracketed=True) == case["bracketed"]
    assert _fnc1(parsed.ais) == case["fnc1"]
    # and back: the element strings give the same AIs
    assert dl.parse_element_string(case["bracketed"]) == list(parsed.ais)
    assert dl.parse_element_string(case["fnc1"]) == list(parsed.ais)


@pytest.mark.parametrize("case", _cases("dehong.json"), ids=_id)
def test_resolver_rules(case: dict[str, Any]) -> None:
    query = case.get("query", "")
    if case["valid"]:
        link = dl.parse(case["path"], query)
        assert link.path() == case["canonical"]
        assert dl.is_canonical(case["path"], query) == (case["path"] == case["canonical"])
        assert dl.element_string(link, bracketed=True) == case["bracketed"]
        assert dl.parse(link.path(), query) == link  # the canonical form reads back the same
    else:
        with pytest.raises(dl.DigitalLinkError) as exc:
            dl.parse(case["path"], query)
        assert exc.value.field == case["field"], (exc.value.field, exc.value.en)
        assert any("\u4e00" <= c <= "\u9fff" for c in exc.value.zh)


def test_query_attributes_keep_their_order_and_the_link_type_is_apart() -> None:
    link = dl.parse(
        "/01/09520123456788/10/L", "c=AB12&17=261231&linkType=https%3A%2F%2Fgs1.org%2Fvoc%2Fpip"
    )
    assert list(link.attributes) == ["c", "17"]
    assert link.link_type == "gs1:pip"
    assert link.uri("https://x.cn/") == (
        "https://x.cn/01/09520123456788/10/L?c=AB12&17=261231&linkType=gs1:pip"
    )
    assert dl.parse("/01/09520123456788", "linkType=all").link_type == "linkset"


def test_unbracketed_puts_gs_after_variable_fields_only() -> None:
    link = dl.make("09520123456788", "ABC1", "12345", expiry="180426")
    text = dl.element_string(link, bracketed=False)
    # 01 is of pre-defined length (no separator), 10 and 21 are variable, 17 last
    assert text == "010952012345678810ABC1\x1d2112345\x1d17180426"
    assert dl.from_element_string(text) == link
    assert dl.from_element_string("]d2" + text) == link
    assert dl.from_element_string("(01)09520123456788(10)ABC1(21)12345(17)180426") == link


def test_bracketed_escapes_an_opening_bracket_in_data() -> None:
    link = dl.make("09520123456788", "A(1)")
    assert dl.element_string(link, bracketed=True) == "(01)09520123456788(10)A\\(1)"
    assert dl.from_element_string("(01)09520123456788(10)A\\(1)").lot == "A(1)"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("(01)09520123456789", "01"),
        ("(10)ABC", "01"),  # no GTIN
        ("(01)09520123456788(10)ABC(10)DEF", "10"),
        ("0109520123456788\x1d89X", "element_string"),
        ("(01)09520123456788(21)S(235)T", "235"),
        ("(01)09520123456788(17)261340", "17"),
        ("", "element_string"),
    ],
)
def test_bad_element_strings(text: str, field: str) -> None:
    with pytest.raises(dl.DigitalLinkError) as exc:
        dl.from_element_string(text)
    assert exc.value.field == field


_SET82 = sorted(dl.CSET82)


@given(
    lot=st.text(alphabet=_SET82, min_size=1, max_size=20),
    serial=st.one_of(st.none(), st.text(alphabet=_SET82, min_size=1, max_size=20)),
)
def test_make_parse_round_trip(lot: str, serial: str | None) -> None:
    link = dl.make("9520123456788", lot, serial)
    assert dl.parse(link.path()) == link
    assert dl.from_element_string(dl.element_string(link, bracketed=False)) == link
    assert dl.from_element_string(dl.element_string(link, bracketed=True)) == link


def test_the_table_is_gs1s_dictionary() -> None:
    t = dl.ai_table()
    assert t["01"].qualifiers == (("22", "10", "21"), ("235",))
    assert t["10"].max_len == 20 and not t["10"].predefined
    assert t["17"].predefined and t["17"].components[0].linters == ("yymmd0",)
    assert "3103" in t and "99" in t and "89" not in t


# ---------------------------------------------------------------------------------------
# dehong trace dl


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_cli_parse_prints_both_element_strings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        [
            "trace", "dl", "parse", "--base", "https://t.example.cn",
            "https://example.com/gtin/9520123456788/lot/AB%2FC/ser/12?17=261200&c=XYZ",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["gtin"] == "09520123456788" and doc["lot"] == "AB/C" and doc["serial"] == "12"
    assert doc["canonical_uri"] == (
        "https://t.example.cn/01/09520123456788/10/AB%2FC/21/12?17=261200&c=XYZ"
    )
    es = doc["element_string"]
    assert es["bracketed"] == "(01)09520123456788(10)AB/C(21)12(17)261200"
    assert es["unbracketed"] == "010952012345678810AB/C\x1d2112\x1d17261200"
    assert es["fnc1"] == "^010952012345678810AB/C^2112^17261200"


def test_cli_parse_reads_an_element_string_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        ["trace", "dl", "parse", "--base", "https://t.cn", "^010952012345678810ABC^3103000195"],
        capsys,
    )
    assert code == 0
    assert json.loads(out)["canonical_uri"] == "https://t.cn/01/09520123456788/10/ABC?3103=000195"


@pytest.mark.parametrize(
    "uri",
    [
        "https://a/01/09520123456789/10/X",
        "https://a/01/09520123456788/17/261231",
        "https://a/01/09520123456788/10/" + "A" * 21,
        "not a uri",
    ],
)
def test_cli_parse_bad_uri_exits_2_with_the_reason(
    uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["trace", "dl", "parse", uri], capsys)
    assert code == 2 and out == ""
    assert "dehong trace dl parse:" in err and len(err.splitlines()) == 2


def test_cli_make(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cloud.settings import get_settings

    monkeypatch.setenv("DEHONG_PUBLIC_BASE_URL", "https://trace.example.cn")
    get_settings.cache_clear()
    try:
        code, out, _ = _run(
            ["trace", "dl", "make", "--gtin", "9520123456788", "--lot", "L 1".replace(" ", "/"),
             "--serial", "7", "--expiry", "261231", "--element-string"],
            capsys,
        )  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert code == 0
    assert out.splitlines() == [
        "https://trace.example.cn/01/09520123456788/10/L%2F1/21/7?17=261231",
        "(01)09520123456788(10)L/1(21)7(17)261231",
    ]
    code, _, err = _run(["trace", "dl", "make", "--gtin", "9520123456788", "--lot", "a b"], capsys)
    assert code == 2 and "10:" in err


@pytest.mark.parametrize(
    ("uri", "valid"),
    [
        # GMN check pairs from GS1's own linter tests (gs1-syntax-engine lint_csumalpha.c)
        ("https://id.gs1.org/8013/1987654Ad4X4bL5ttr2310c2K", True),
        ("https://id.gs1.org/8013/12345678901234567890123NT", True),
        ("https://id.gs1.org/8013/1987654Ad4X4bL5ttr2310cXK", False),
        ("https://id.gs1.org/8013/1987654Ad4X4bL5ttr2310c2X", False),
        # "key": a GS1 Company Prefix (4 digits at least) leads the GINC
        ("https://id.gs1.org/401/95201234ABC", True),
        ("https://id.gs1.org/401/952A1234ABC", False),
        # ITIP: GTIN with check digit, then piece of total
        ("https://id.gs1.org/8006/095201234567880102/21/S", True),
        ("https://id.gs1.org/8006/095201234567880302", False),
        # "pcenc" in a data attribute
        ("https://id.gs1.org/00/952012345678912345?4300=ACME%252C", True),
        ("https://id.gs1.org/00/952012345678912345?4300=ACME%25ZZ", False),
    ],
)
def test_linters_of_other_keys(uri: str, valid: bool) -> None:
    if valid:
        assert dl.parse_uri(uri).ais
    else:
        with pytest.raises(dl.DigitalLinkError):
            dl.parse_uri(uri)


_PIECES = st.sampled_from(
    ["/", "01", "gtin", "10", "21", "22", "235", "17", "00", "8006", "%", "%2F", "%00", "%ZZ",
     "+", "?", "&", "=", "#", "09520123456788", "9520123456788", "A", "(", "\x1d", "^"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    path=st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=12).map("".join),
    query=st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=8).map("".join),
)
def test_the_parsers_raise_only_digital_link_errors(path: str, query: str) -> None:
    for call in (
        lambda: dl.parse("/" + path, query),
        lambda: dl.parse_uri("https://a/" + path + "?" + query),
        lambda: dl.from_element_string(path),
    ):
        try:
            call()
        except dl.DigitalLinkError as exc:
            assert exc.field and exc.zh and exc.en
