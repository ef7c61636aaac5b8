"""Data-driven BLE cases: ``tests/edge/cases/ble/<case>/input.yaml`` (``company_id`` or
``service_uuid`` and the payload in hex) -> ``expected.json`` (what ``dehong ble decode``
prints, or ``{"error": ...}`` and exit 2). Add a case by adding a folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dehong.cli import build_parser

CASES = Path(__file__).parent / "cases" / "ble"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_ble_case(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    given = yaml.safe_load((CASES / case / "input.yaml").read_text())
    expected = json.loads((CASES / case / "expected.json").read_text())
    which = "--company-id" if "company_id" in given else "--service-uuid"
    ident = given.get("company_id", given.get("service_uuid"))
    args = build_parser().parse_args(["ble", "decode", which, str(ident), given["hex"]])
    code = args.handler(args)
    out, err = capsys.readouterr()
    if "error" in expected:
        assert code == 2 and expected["error"] in err
    else:
        assert code == 0
        got = json.loads(out)
        assert got["format"] == expected["format"]
        assert got["values"] == pytest.approx(expected["values"])
        assert {k: v for k, v in got.items() if k not in ("format", "values")} == {
            k: v for k, v in expected.items() if k not in ("format", "values")
        }
