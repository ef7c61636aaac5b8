"""EPC URNs and GS1 Digital Link URIs in one canonical form (cloud/trace/epcis/identifiers.py)."""

from __future__ import annotations

import pytest

from cloud.trace.epcis.identifiers import (
    DEFAULT_DL_BASE,
    EpcError,
    canonical_uri,
    dl_uri,
    lot_key,
    parse_epc,
)

# (EPC URN, its canonical Digital Link) from GS1's EPCIS/CBV examples and TDS
SAME = [
    ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
    ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
    ("urn:epc:idpat:sgtin:4012345.098765.*", "https://id.gs1.org/01/04012345987652"),
    ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
    ("urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"),
    ("urn:epc:id:sgln:0012345.11111.0", "https://id.gs1.org/414/0012345111112"),
    ("urn:epc:id:pgln:0614141.00777", "https://id.gs1.org/417/0614141007776"),
    ("urn:epc:id:grai:4012345.55555.987", "https://id.gs1.org/8003/04012345555554987"),
    ("urn:epc:id:giai:4000001.111", "https://id.gs1.org/8004/4000001111"),
    ("urn:epc:id:gdti:0614141.00001.1618034", "https://id.gs1.org/253/06141410000121618034"),
    ("urn:epc:id:gsrn:0614141.0000010253", "https://id.gs1.org/8018/061414100000102534"),
    (
        "urn:epc:id:itip:4012345.012345.01.02.999",
        "https://id.gs1.org/8006/040123451234560102/21/999",
    ),
    ("urn:epc:id:cpi:4012345.ABC.123", "https://id.gs1.org/8010/4012345ABC/8011/123"),
    (
        "urn:epc:id:sgtin:0614141.812345.6789%2F%26",
        "https://id.gs1.org/01/80614141123458/21/6789%2F%26",
    ),
]


@pytest.mark.parametrize(("urn", "dl"), SAME)
def test_urn_and_digital_link_have_one_canonical_form(urn: str, dl: str) -> None:
    assert parse_epc(urn).canonical == dl
    assert parse_epc(dl).canonical == dl
    assert canonical_uri(urn) == canonical_uri(dl) == dl


def test_digital_link_on_any_domain_and_short_names() -> None:
    for uri in (
        "https://id.gs1.org/01/09506000134352/10/ABC1",
        "https://brand.example.com/01/9506000134352/10/ABC1?linkType=gs1:pip",
        "http://example.com/shop/gtin/09506000134352/lot/ABC1",
    ):
        epc = parse_epc(uri)
        assert epc.kind == "lgtin" and epc.is_class
        assert epc.canonical == "https://id.gs1.org/01/09506000134352/10/ABC1"


def test_finest_level_only_and_lot_kept_for_lot_key() -> None:
    epc = parse_epc("https://id.gs1.org/01/09506000134352/10/L%2F1/21/S1")
    assert epc.kind == "sgtin" and not epc.is_class
    assert epc.canonical == "https://id.gs1.org/01/09506000134352/21/S1"
    assert epc.lot == "L/1"
    assert lot_key(epc.canonical) is None  # the canonical SGTIN no longer says its lot


def test_lot_key() -> None:
    assert lot_key("urn:epc:class:lgtin:4012345.012345.998877") == ("04012345123456", "998877")
    assert lot_key("https://x.example/01/9506000134352/10/CF%2024") is None  # space: not CSET 82
    assert lot_key("https://x.example/01/9506000134352/10/CF-24/21/7") == (
        "09506000134352",
        "CF-24",
    )
    assert lot_key("urn:epc:id:sgtin:0614141.107346.2017") is None
    assert lot_key("https://id.gs1.org/00/106141412345678908") is None
    assert lot_key("not a uri") is None


def test_dl_uri() -> None:
    assert DEFAULT_DL_BASE == "https://id.gs1.org"
    assert dl_uri("9506000134352", "GB 2024/07".replace(" ", "-")) == (
        "https://id.gs1.org/01/09506000134352/10/GB-2024%2F07"
    )
    assert dl_uri("09506000134352", serial="S!1") == "https://id.gs1.org/01/09506000134352/21/S%211"
    assert dl_uri(sscc="106141412345678908", base="https://trace.example.cn/") == (
        "https://trace.example.cn/00/106141412345678908"
    )
    with pytest.raises(EpcError, match="check digit"):
        dl_uri("09506000134353", "L1")
    with pytest.raises(EpcError, match="character set 82"):
        dl_uri("09506000134352", "L 1")
    with pytest.raises(ValueError, match="GTIN or an SSCC"):
        dl_uri()
    # what dl_uri builds parses back to itself
    uri = dl_uri("09506000134352", "LOT(7)")
    assert parse_epc(uri).canonical == uri and lot_key(uri) == ("09506000134352", "LOT(7)")


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("urn:epc:id:sgtin:0614141.107346", "3 dot-separated fields"),
        ("urn:epc:id:sgtin:0614141.107346.", "serial is empty"),
        ("urn:epc:id:sgtin:061414.107346.1", "together have 13 digits"),
        ("urn:epc:id:sgtin:0614141.107346.a b", "must percent-escape"),
        ("urn:epc:id:sgtin:0614141.107346.123456789012345678901", "at most 20"),
        ("urn:epc:id:foo:1.2", "not an EPC scheme"),
        ("urn:epc:class:sgtin:0614141.107346.1", "not an EPC class scheme"),
        ("urn:epc:id:sscc:0614141.123456789", "17 digits"),
        ("https://id.gs1.org/01/09506000134353", "check digit 3"),
        ("https://id.gs1.org/01/123", "8 or 12 or 13 or 14 digits"),
        ("https://id.gs1.org/00/10614141234567890", "18 characters"),
        ("https://id.gs1.org/414/0012345111113/254/1", "check digit 3"),
        ("https://id.gs1.org/01/09506000134352/21/1/10/L", "out of order"),
        ("https://id.gs1.org/01/09506000134352/254/1", "may not follow"),
        ("https://id.gs1.org/01/09506000134352/10", "has no value after it"),
        ("https://example.com/products/123", "no GS1 primary key"),
        ("ftp://x/01/09506000134352", "not an EPC URN"),
    ],
)
def test_malformed_identifiers_say_why(uri: str, reason: str) -> None:
    with pytest.raises(EpcError, match=reason):
        parse_epc(uri)


def test_other_uris_are_left_alone() -> None:
    assert canonical_uri("urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8") == (
        "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8"
    )
    assert canonical_uri("geo:50.9475,6.9221") == "geo:50.9475,6.9221"
    assert (
        parse_epc("urn:epc:id:gid:95100000.12345.400").canonical
        == "urn:epc:id:gid:95100000.12345.400"
    )
    pattern = parse_epc("urn:epc:idpat:sgtin:4012345.*.*")
    assert pattern.is_class and pattern.canonical == "urn:epc:idpat:sgtin:4012345.*.*"
