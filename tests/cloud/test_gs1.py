"""GS1 keys (cloud/catalog/gs1.py) against published example keys."""

from __future__ import annotations

import pytest

from cloud.catalog.gs1 import check_gln, check_gtin, check_sscc, gs1_check_digit

# (key, where it is published)
GTINS = [
    ("09506000134352", "GS1 Digital Link standard, the running example GTIN-14"),
    ("4006381333931", "EAN-13 example (Wikipedia, International Article Number)"),
    ("5901234123457", "EAN-13 example of the GS1 check digit explanation"),
    ("036000291452", "UPC-A example (Wikipedia, Universal Product Code)"),
    ("96385074", "EAN-8 example (Wikipedia, EAN-8)"),
    ("10614141073464", "GTIN-14 from the EPCIS 2.0 examples (urn:epc:class:lgtin:0614141.107346)"),
]


@pytest.mark.parametrize(("gtin", "source"), GTINS)
def test_published_gtins_pass_and_pad_to_14(gtin: str, source: str) -> None:
    assert check_gtin(gtin) == gtin.zfill(14), source
    assert gs1_check_digit(gtin[:-1]) == gtin[-1]


def test_check_digit_weights_three_from_the_right() -> None:
    # 629104150021 -> 3 (the GS1 check digit calculator's worked example)
    assert gs1_check_digit("629104150021") == "3"
    assert gs1_check_digit("0") == "0"
    assert gs1_check_digit("1") == "7"  # 1*3 = 3 -> 7


def test_wrong_check_digit_names_expected_and_given() -> None:
    with pytest.raises(ValueError, match=r"check digit 3 but .* give 2"):
        check_gtin("09506000134353")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0950600013435", "check digit"),  # 13 digits, wrong check digit
        ("123", "8 or 12 or 13 or 14 digits"),
        ("0950600013435X", "digits only"),
        ("", "digits only"),
        ("095060001343520", "not 15"),
        ("０９５０６０００１３４３５２", "digits only"),  # full-width digits
    ],
)
def test_bad_gtins(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_gtin(value)


def test_gtin_strips_spaces() -> None:
    assert check_gtin(" 4006381333931 ") == "04006381333931"


def test_gln() -> None:
    assert check_gln("0614141000005") == "0614141000005"
    assert check_gln("9521234000006") == "9521234000006"
    with pytest.raises(ValueError, match="13 digits"):
        check_gln("061414100000")
    with pytest.raises(ValueError, match=r"check digit 6 but .* give 5"):
        check_gln("0614141000006")


def test_sscc() -> None:
    # GS1 General Specifications: the SSCC example (00) 1 0614141 234567890 8 style key
    assert check_sscc("106141412345678908") == "106141412345678908"
    with pytest.raises(ValueError, match="18 digits"):
        check_sscc("10614141234567890")
    with pytest.raises(ValueError, match=r"check digit 9 but .* give 8"):
        check_sscc("106141412345678909")


def test_non_digit_input_to_check_digit() -> None:
    with pytest.raises(ValueError, match="digits only"):
        gs1_check_digit("12a")
